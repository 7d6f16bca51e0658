"""Ingest throughput: zspace's parallel ingest (zarr write included) vs a plain PIL loop.

Both read the same photo-like 178x218 JPEGs (quality 90) and produce 96x96 RGB arrays; the
plain loop keeps them in memory and writes nothing. Prints one JSON line.
Usage: python benchmarks/ingest.py [--n 4000] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from zspace.storage import Store
from zspace.tasks.common.parallel import default_workers
from zspace.tasks.ingest.decode import centre_square
from zspace.tasks.ingest.params import IngestParams
from zspace.tasks.ingest.stage import ingest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'tests'))
from samples import write_sample_jpegs

CELEBA_N = 202_599


def plain_loop(files: list[Path], size: int) -> np.ndarray:
    out = np.empty((len(files), size, size, 3), np.uint8)
    for i, f in enumerate(files):
        with Image.open(f) as im:
            rgb = im.convert("RGB")
            box = centre_square(*rgb.size)
            out[i] = np.asarray(rgb.resize((size, size), Image.Resampling.LANCZOS, box=box))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=4000)
    ap.add_argument("--size", type=int, default=96)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="zspace-bench-ingest-"))
    try:
        files = write_sample_jpegs(tmp / "img_align_celeba", args.n, seed=1)
        plain_s, zspace_s = [], []
        for r in range(args.repeats):  # interleaved, so both see the same machine load
            t = time.perf_counter()
            ref = plain_loop(files, args.size)
            plain_s.append(time.perf_counter() - t)
            store = tmp / f"store{r}"
            t = time.perf_counter()
            summary = ingest(IngestParams(source=str(tmp / "img_align_celeba"), store=str(store),
                                          name="bench", size=args.size))
            zspace_s.append(time.perf_counter() - t)
            got = Store(store).open_array(Store(store).dataset("bench").images)[:]
            assert summary["n_images"] == args.n and np.array_equal(got, ref), "outputs differ"
            shutil.rmtree(store)
        t = time.perf_counter()
        store = tmp / "store-rerun"
        cfg = IngestParams(source=str(tmp / "img_align_celeba"), store=str(store), name="bench",
                           size=args.size)
        ingest(cfg)
        t = time.perf_counter()
        ingest(cfg)
        rerun_s = time.perf_counter() - t
        zs, ps = min(zspace_s), min(plain_s)
        print(json.dumps({
            "benchmark": "ingest",
            "n_images": args.n,
            "size": args.size,
            "workers": default_workers(),
            "zspace_img_s": round(args.n / zs, 1),
            "plain_img_s": round(args.n / ps, 1),
            "ratio": round(ps / zs, 3),
            "zspace_s": [round(x, 3) for x in zspace_s],
            "plain_s": [round(x, 3) for x in plain_s],
            "rerun_noop_s": round(rerun_s, 3),
            "projected_celeba_min": round(CELEBA_N / (args.n / zs) / 60, 1),
            "identical_to_plain": True,
            "machine": f"{platform.machine()}, {os.cpu_count()} cpus",
        }))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
