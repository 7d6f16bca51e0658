"""Benchmark: the statistics and encode stages on a process cluster vs this process, and (with
--s3) an object store vs local disk.

- analyze: correlated float32 latents (default 170,000 x 256, the study's size) written to a
  store as encode writes them (ChunkedWriter, ~2 MB chunks); zspace's statistics passes
  (`analyze_latents`: both passes, every array written) on a distributed cluster of `--workers`
  worker processes (one thread each) vs dask threads in this process (`--workers` threads).
  Same number of parts, so the same sums: the fingerprints must match. Rounds interleaved,
  best time kept. Bytes the store gives out per analysis: two passes over the stored
  (compressed) latents; bytes written: the statistics folder. Peak RSS: each worker's,
  sampled every 0.2 s with `client.run`; for threads, this process's during the run.
- with --s3 ENDPOINT: the same latents in a bucket at that endpoint (credentials from the
  environment), analyzed on the cluster with the statistics written there too.
- encode: `--encode-images` random 96x96 images through an untrained celeba-vae encoder
  (seeded), in this process vs on the cluster (workers load TensorFlow and the model on their
  first chunk: `cold`; a second encode into another store: `warm`); latents bit-identical.

Per-row costs (core-microseconds) are printed for projections. Prints one JSON line;
temporary files are removed.

    python benchmarks/remote.py [--n 170000] [--z 256] [--workers 2] [--rounds 2]
        [--encode-images 2048] [--s3 http://127.0.0.1:5000 --s3-bucket zspace-bench] [--tmp DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np

from zspace.storage import ChunkedWriter, Store
from zspace.storage.store import chunk_rows_for

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from dask_cluster import record_untrained_run  # noqa: E402  (the tests' run writer)

STATS = {"n_artificial": 2000, "bootstrap_replicates": 50}


def write_latents(store: Store, n: int, z: int, seed: int = 0) -> str:
    """Correlated latents (sparse mixing of Gaussians), in encode's chunking; their URL."""
    rng = np.random.default_rng(seed)
    mix = np.eye(z) + rng.standard_normal((z, z)) * (rng.random((z, z)) < 4 / z) * 0.6
    rows = chunk_rows_for((z,), np.float32, 2 << 20)
    w = ChunkedWriter(store, "latents/z_mean", (n, z), rows, np.float32, {"bench": "remote"})
    for i in range(w.n_chunks):
        m = min(rows, n - i * rows)
        w.write_chunk(i, (rng.standard_normal((m, z)) @ mix).astype(np.float32))
    w.finalize()
    return store.join("latents/z_mean")


def stored_bytes(url: str) -> int:
    import fsspec

    fs, path = fsspec.core.url_to_fs(url)
    return int(fs.du(path)) if fs.exists(path) else 0


class PeakRss:
    """Peak RSS (MB) of the cluster's workers (by address) or of this process, sampled."""

    def __init__(self, client: Any = None, every: float = 0.2):
        self.client, self.every = client, every
        self.peak: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> dict[str, int]:
        import psutil

        if self.client is None:
            return {"local": psutil.Process().memory_info().rss}
        return self.client.run(lambda: psutil.Process().memory_info().rss)

    def _run(self) -> None:
        while not self._stop.is_set():
            for k, v in self._sample().items():
                self.peak[k] = max(self.peak.get(k, 0.0), round(v / 2**20, 1))
            self._stop.wait(self.every)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def analyze_rounds(url: str, out_root: str, clusters: dict[str, tuple[Any, str]], workers: int,
                   rounds: int, label: str) -> dict[str, Any]:
    """Interleaved rounds of threads here vs each cluster (name: (client, address))."""
    from zspace.tasks.analyze import analyze_latents

    modes = ["threads", *clusters]
    times: dict[str, list[float]] = {m: [] for m in modes}
    peaks: dict[str, dict[str, float]] = {m: {} for m in modes}
    res: dict[str, Any] = {}
    fingerprints = set()
    for r in range(rounds):
        for mode in modes:
            out = Store(f"{out_root}/{label}-{mode}-{r}")
            client, address = clusters.get(mode, (None, None))
            kw = {"dask_address": address} if address else {"workers": workers}
            with PeakRss(client) as rss:
                s, summary = timed(lambda out=out, kw=kw: analyze_latents(
                    url, out, "", STATS, show_progress=False, **kw))
            times[mode].append(round(s, 3))
            fingerprints.add(summary["fingerprint"])
            for k, v in rss.peak.items():
                peaks[mode][k] = max(peaks[mode].get(k, 0.0), v)
            res["written_bytes"] = stored_bytes(out.url)
            out.remove("")
    res["identical"] = len(fingerprints) == 1
    for mode in modes:
        res[f"{mode}_s"] = times[mode]
    for mode in clusters:
        res[f"ratio_{mode}_over_threads"] = round(min(times[mode]) / min(times["threads"]), 3)
        res[f"peak_rss_mb_per_worker_{mode}"] = sorted(peaks[mode].values())
    res["peak_rss_mb_threads_process"] = peaks["threads"].get("local")
    return res


def encode_setup(stores: list[Store], n: int, seed: int = 0) -> None:
    """The same random images and untrained celeba-vae model in each store, as a trained run."""
    import keras

    from zspace.models import build_model, load_preset

    images = np.random.default_rng(seed).integers(0, 256, (n, 96, 96, 3), dtype=np.uint8)
    keras.utils.set_random_seed(seed)
    model = build_model(load_preset("celeba-vae")[0])
    model.encode(images[:2])
    record_untrained_run(stores, images, model, "bench", chunk_rows_for((96, 96, 3), np.uint8))


def encode_compare(root: str, address: str, n: int) -> dict[str, Any]:
    """Encode here, then on the cluster twice (cold workers, warm workers)."""
    from zspace.tasks.encode.stage import encode_run

    stores = [Store(f"{root}/encode-{k}") for k in ("local", "cold", "warm")]
    encode_setup(stores, n)
    chunk = max(1, n // 8)
    times, rows = {}, 0
    for st, mode in zip(stores, ("local", "cold", "warm"), strict=True):
        times[mode], res = timed(lambda st=st, mode=mode: encode_run(
            st, "vae", chunk_images=chunk, dask_address=None if mode == "local" else address))
        rows = res["chunk_rows"]
    arrays = [np.asarray(Store(st.url).open_array(st.run("vae").latents("z_mean"))[:])
              for st in stores]
    return {"images": n, "chunk_rows": rows,
            "local_img_s": round(n / times["local"], 1),
            "cluster_cold_img_s": round(n / times["cold"], 1),
            "cluster_warm_img_s": round(n / times["warm"], 1),
            "identical": all(np.array_equal(arrays[0], a) for a in arrays[1:])}


def use_s3(endpoint: str, bucket: str) -> str:
    """Point s3fs (here and in worker processes) at the endpoint; make the bucket."""
    import fsspec
    import fsspec.config

    conf = {"client_kwargs": {"endpoint_url": endpoint}}
    fsspec.config.conf["s3"] = conf
    os.environ["FSSPEC_S3"] = json.dumps(conf)
    fs = fsspec.filesystem("s3")
    if not fs.exists(bucket):
        fs.mkdir(bucket)
    return f"s3://{bucket}/zspace-bench-{os.getpid()}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=170_000)
    ap.add_argument("--z", type=int, default=256)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--encode-images", type=int, default=2048, help="0: no encode comparison")
    ap.add_argument("--s3", default=None, help="an S3 endpoint URL (e.g. a moto server)")
    ap.add_argument("--s3-bucket", default="zspace-bench")
    ap.add_argument("--tmp", default=None)
    ap.add_argument("--pipeline", action="store_true",
                    help="also time `zspace run --preset demo` on local disk vs on the bucket")
    a = ap.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # the workers' TensorFlow, quiet
    s3_root = use_s3(a.s3, a.s3_bucket) if a.s3 else None
    tmp = tempfile.mkdtemp(prefix="zspace-remote-", dir=a.tmp)
    try:
        print(json.dumps(run(a, tmp, s3_root)))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if s3_root:
            Store(s3_root).remove("")


def pipeline_compare(local: str, bucket: str) -> dict[str, Any]:
    """`zspace run --preset demo` from nothing, as a user types it, on each store in turn
    (same seeds, so the same statistics: checked by fingerprint)."""
    import subprocess
    import sys

    seconds, prints = {}, {}
    for name, root in (("disk", local), ("s3", bucket)):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "zspace.cli", "run", "--preset", "demo", "--store",
                        root], check=True, capture_output=True, text=True)
        seconds[name] = round(time.perf_counter() - t, 1)
        st = Store(root)
        prints[name] = sorted(st.read_json(st.run(r).stats.summary)["fingerprint"]
                              for r in st.runs())
    return {"seconds": seconds, "ratio_s3_over_disk": round(seconds["s3"] / seconds["disk"], 3),
            "identical": prints["disk"] == prints["s3"]}


def process_cluster(stack: ExitStack, workers: int, trim: bool) -> tuple[Any, str]:
    """A LocalCluster of worker processes under nannies, as `dask worker` starts them; with
    trim=False, without the MALLOC_TRIM_THRESHOLD_ that dask's nannies set by default."""
    import dask
    from distributed import Client, LocalCluster

    env = None if trim else {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}
    with dask.config.set(env or {}):
        cluster = stack.enter_context(LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None))
    client = stack.enter_context(Client(cluster, set_as_default=False))
    return client, cluster.scheduler_address


def run(a: argparse.Namespace, tmp: str, s3_root: str | None) -> dict[str, Any]:
    url = write_latents(Store(f"{tmp}/disk"), a.n, a.z)
    out: dict[str, Any] = {"benchmark": "remote", "n": a.n, "z": a.z, "workers": a.workers,
                           "cpus": len(os.sched_getaffinity(0)),
                           "stored_bytes": stored_bytes(url), "latent_bytes": a.n * a.z * 4}
    out["store_bytes_read_per_analysis"] = 2 * out["stored_bytes"]
    with ExitStack() as stack:
        # untrimmed first: a nanny leaves the variable in its own process's environment
        untrimmed = process_cluster(stack, a.workers, trim=False)
        clusters = {"cluster": process_cluster(stack, a.workers, trim=True),
                    "cluster_untrimmed": untrimmed}
        out["workers_malloc_trim"] = {name: sorted(set(c.run(
            lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_", "unset")).values()))
            for name, (c, _) in clusters.items()}
        out["analyze_disk"] = analyze_rounds(url, f"{tmp}/out", clusters, a.workers,
                                             a.rounds, "disk")
        if s3_root:
            s3_url = write_latents(Store(f"{s3_root}/in"), a.n, a.z)
            out["analyze_s3"] = analyze_rounds(s3_url, f"{s3_root}/out", clusters, a.workers,
                                               a.rounds, "s3")
            out["s3_over_disk_cluster"] = round(min(out["analyze_s3"]["cluster_s"])
                                                / min(out["analyze_disk"]["cluster_s"]), 3)
        if a.encode_images:
            out["encode"] = encode_compare(tmp, clusters["cluster"][1], a.encode_images)
    best = min(out["analyze_disk"]["threads_s"])
    out["analyze_core_us_per_row"] = round(best * a.workers / a.n * 1e6, 2)
    if a.pipeline and s3_root:
        out["pipeline_demo"] = pipeline_compare(f"{tmp}/demo", f"{s3_root}/demo")
    if "encode" in out:
        out["encode_core_us_per_image"] = round(out["cpus"] / out["encode"]["local_img_s"] * 1e6, 1)
    return out


if __name__ == "__main__":
    main()
