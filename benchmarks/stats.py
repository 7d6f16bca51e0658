"""Benchmark: zspace's exact correlation matrix vs np.corrcoef, on zarr latents of the study's sizes.

For N x z in (170,000 x 256), (1,700,000 x 256), (170,000 x 1600): write correlated float32
latents to a temporary zarr array (chunked along N as the encode stage does), then time, each
in a fresh process and with that process's peak RSS (VmHWM):

- zspace_s:    zspace.tasks.analyze.correlation_matrix (one streaming pass, dask, float64 Gram)
- numpy_s:     load the whole array, np.corrcoef
- subsample_s: np.corrcoef on 5,000 random rows (study.CORRELATION_SUBSAMPLE), as the study
               did "because of RAM"
- floor_s:     the machine's floor: read the array chunk by chunk and accumulate one float64
               Gram matrix with numpy (best of one BLAS thread and the default)

max_abs_diff is between zspace's and numpy's full matrices; subsample_max_abs_err between
the subsample's and the exact one. At 170,000 x 256 every process runs 3 times and the best
time is kept (the machine is shared). Prints one JSON line; temporary files are removed.

    python benchmarks/stats.py [--sizes 170000x256,1700000x256,170000x1600] [--tmp DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

from zspace import study

_N = study.N_TRAIN_IMAGES
SIZES = (f"{_N}x{study.Z_DIM},{10 * _N}x{study.Z_DIM},"
         f"{_N}x{study.SECOND_AE_Z_DIM}")
SUBSAMPLE = study.CORRELATION_SUBSAMPLE


def rss_mb() -> float:
    """Peak RSS of this process. VmHWM, not getrusage's ru_maxrss: on Linux the latter keeps
    the parent's high-water mark across fork + exec, which would charge the data generation
    in the parent to every child."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def write_latents(url: str, n: int, z: int, seed: int = 0) -> None:
    """Correlated latents: sparse mixing of Gaussians, a few shifted and widened components."""
    import zarr

    from zspace.storage.store import chunk_rows_for, default_compressors

    rng = np.random.default_rng(seed)
    mix = np.eye(z) + rng.standard_normal((z, z)) * (rng.random((z, z)) < 4 / z) * 0.6
    offset = rng.normal(0, 0.3, z)
    offset[rng.choice(z, max(1, z // 16), replace=False)] += rng.normal(0, 1.5, max(1, z // 16))
    rows = chunk_rows_for((z,), np.float32)
    arr = zarr.create_array(store=url, shape=(n, z), chunks=(rows, z), dtype="float32",
                            compressors=default_compressors(np.float32))
    step = rows * max(1, (64 << 20) // (rows * z * 8))
    for s in range(0, n, step):
        m = min(step, n - s)
        arr[s : s + m] = (rng.standard_normal((m, z)) @ mix + offset).astype(np.float32)


# -- one measurement per process ----------------------------------------------------------
def child(method: str, url: str, out: str) -> dict:
    import zarr

    t0 = time.perf_counter()
    if method == "zspace":
        import dask.threaded  # noqa: F401  (imports are not timed, for any method)
        import threadpoolctl  # noqa: F401

        from zspace.tasks.analyze import correlation_matrix

        t0 = time.perf_counter()
        corr = correlation_matrix(url)
    elif method == "numpy":
        x = zarr.open_array(url, mode="r")[:]
        corr = np.corrcoef(x, rowvar=False)
    elif method == "subsample":
        arr = zarr.open_array(url, mode="r")
        idx = np.sort(np.random.default_rng(1).choice(arr.shape[0], SUBSAMPLE, replace=False))
        corr = np.corrcoef(arr.oindex[idx, :], rowvar=False)
    elif method.startswith("floor"):
        from threadpoolctl import threadpool_limits

        threads = 1 if method == "floor1" else None
        arr = zarr.open_array(url, mode="r")
        n, z = arr.shape
        c = int(arr.chunks[0])
        with threadpool_limits(threads):
            t0 = time.perf_counter()
            gram = np.zeros((z, z))
            for s in range(0, n, c):
                d = arr[s : s + c].astype(np.float64)
                gram += d.T @ d
        corr = gram
    else:
        raise ValueError(method)
    seconds = time.perf_counter() - t0
    if out:
        np.save(out, corr)
    return {"seconds": seconds, "rss_mb": rss_mb()}


def measure(method: str, url: str, out: str = "", repeat: int = 1) -> dict:
    best = None
    for _ in range(repeat):
        proc = subprocess.run([sys.executable, __file__, "--child", method, url, out],
                              capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"{method} failed:\n{proc.stderr[-3000:]}")
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        if best is None or res["seconds"] < best["seconds"]:
            best = {**res, "rss_mb": max(res["rss_mb"], (best or res)["rss_mb"])}
    return best


def bench_size(tmp: str, n: int, z: int) -> dict:
    url = os.path.join(tmp, f"latents-{n}x{z}.zarr")
    t0 = time.perf_counter()
    write_latents(url, n, z)
    write_s = time.perf_counter() - t0
    repeat = 3 if n * z <= study.N_TRAIN_IMAGES * study.Z_DIM else 1
    zs = measure("zspace", url, os.path.join(tmp, "zspace.npy"), repeat)
    npy = measure("numpy", url, os.path.join(tmp, "numpy.npy"), repeat)
    sub = measure("subsample", url, os.path.join(tmp, "sub.npy"), repeat)
    floors = {m: measure(m, url, "", repeat) for m in ("floor1", "floor")}
    a = np.load(os.path.join(tmp, "zspace.npy"))
    b = np.load(os.path.join(tmp, "numpy.npy"))
    s = np.load(os.path.join(tmp, "sub.npy"))
    floor_s = min(f["seconds"] for f in floors.values())
    shutil.rmtree(url, ignore_errors=True)
    return {
        "n": n, "z": z,
        "zspace_s": round(zs["seconds"], 3), "zspace_rss_mb": round(zs["rss_mb"], 1),
        "numpy_s": round(npy["seconds"], 3), "numpy_rss_mb": round(npy["rss_mb"], 1),
        "subsample_s": round(sub["seconds"], 3), "floor_s": round(floor_s, 3),
        "max_abs_diff": float(np.abs(a - b).max()),
        "zspace_over_floor": round(zs["seconds"] / floor_s, 3),
        "subsample_max_abs_err": round(float(np.abs(s - a).max()), 4),
        "floor_blas1_s": round(floors["floor1"]["seconds"], 3),
        "floor_blas_default_s": round(floors["floor"]["seconds"], 3),
        "floor_rss_mb": round(min(f["rss_mb"] for f in floors.values()), 1),
        "write_s": round(write_s, 1),
    }


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(child(sys.argv[2], sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else "")))
        return
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default=SIZES)
    p.add_argument("--tmp", default=None, help="folder for the temporary arrays (default: system temp)")
    args = p.parse_args()
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    tmp = tempfile.mkdtemp(prefix="zspace-bench-stats-", dir=args.tmp)
    try:
        out = [bench_size(tmp, n, z) for n, z in sizes]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps({"sizes": out, "cpus": len(os.sched_getaffinity(0))}))


if __name__ == "__main__":
    main()
