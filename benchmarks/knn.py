"""Benchmark: kNN-based fragmentation statistics and intrinsic dimension at the study's size.

On N x z float32 synthetic correlated Gaussian latents (default 170,000 x 256, one dominant
principal component, written chunk by chunk to a temporary zarr array as the encode stage does):

- moments_s:        mean and covariance, one chunked float64 pass
- fragmentation_s:  zspace.tasks.analyze.fragmentation_summary with its defaults
                    (two disjoint 20,000-row samples, two Gaussian surrogate draws, exact blocked
                    kNN on each, 19 surrogates for the zoom windows)
- windows_s:        the zoom-window part alone (all N rows projected, 19 N-point surrogates per
                    plane), timed again separately
- with --all-n only: all_knn_s, an approximate kNN graph of ALL N rows (faiss HNSW when
                    installed, else pynndescent; k = 20), with recall@k measured against exact
                    neighbours of `--queries` rows, and TwoNN / Levina-Bickel MLE from that graph
                    (not the pipeline's path: see BENCHMARKS for why)

Prints one JSON line with the timings, peak RSS (VmHWM) and the load average before/after.

    python benchmarks/knn.py [--n 170000] [--z 256] [--all-n] [--queries 500] [--tmp DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import tempfile
import time

import numpy as np

CHUNK_ROWS = 10_000


def synthetic_latents(root: str, n: int, z: int, seed: int = 0):
    """Correlated float32 Gaussian rows in a zarr array: a decaying spectrum, one dominant."""
    import zarr

    rng = np.random.default_rng(seed)
    scales = np.concatenate([[4.0], 1.5 * np.exp(-np.arange(z - 1) / 40.0) + 0.3])
    q, _ = np.linalg.qr(rng.normal(size=(z, z)))
    mix = (q * scales).T
    arr = zarr.create_array(store=os.path.join(root, "z.zarr"), shape=(n, z),
                            chunks=(CHUNK_ROWS, z), dtype="float32")
    for lo in range(0, n, CHUNK_ROWS):
        hi = min(lo + CHUNK_ROWS, n)
        arr[lo:hi] = (rng.standard_normal((hi - lo, z)) @ mix + 0.5).astype(np.float32)
    return arr


def moments(arr) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (ddof 1) in one chunked float64 pass (shifted by the first row)."""
    n, z = arr.shape
    shift = np.asarray(arr[0], dtype=np.float64)
    s, g = np.zeros(z), np.zeros((z, z))
    for lo in range(0, n, CHUNK_ROWS):
        x = np.asarray(arr[lo:lo + CHUNK_ROWS], dtype=np.float64) - shift
        s += x.sum(axis=0)
        g += x.T @ x
    mean = s / n
    return mean + shift, (g - n * np.outer(mean, mean)) / (n - 1)


def all_knn(x: np.ndarray, k: int, queries: int, seed: int = 0) -> dict:
    """An approximate kNN graph of ALL rows (faiss HNSW, M=16; pynndescent when faiss is
    missing), recall@k against exact neighbours (faiss flat / scikit-learn brute) of sampled
    query rows, and TwoNN / Levina-Bickel MLE from that graph."""
    from zspace.tasks.analyze import mle_dimension, twonn_dimension

    rows = np.random.default_rng(seed).choice(len(x), queries, replace=False)
    t0 = time.perf_counter()
    try:
        import faiss

        index = faiss.IndexHNSWFlat(x.shape[1], 16)
        index.hnsw.efConstruction, index.hnsw.efSearch = 80, 128
        index.add(x)
        t_build = time.perf_counter() - t0
        sq, idx = index.search(x, k + 1)
        dist, lib = np.sqrt(np.maximum(sq, 0)), "faiss-hnsw"
        flat = faiss.IndexFlatL2(x.shape[1])
        flat.add(x)
        ex_idx = flat.search(x[rows], k + 1)[1]
    except ImportError:
        from pynndescent import NNDescent
        from sklearn.neighbors import NearestNeighbors

        index = NNDescent(x, n_neighbors=k + 1, random_state=seed, n_jobs=-1, low_memory=True)
        idx, dist = index.neighbor_graph
        t_build, lib = time.perf_counter() - t0, "pynndescent"
        ex_idx = NearestNeighbors(n_neighbors=k + 1, algorithm="brute").fit(x).kneighbors(
            x[rows])[1]
    t_graph = time.perf_counter() - t0
    recall = np.mean([len(set(a[1:]) & set(b[1:])) / k for a, b in zip(idx[rows], ex_idx,
                                                                         strict=True)])
    d = dist[:, 1:].astype(np.float64)
    return {"all_knn_lib": lib, "all_knn_build_s": round(t_build, 1),
            "all_knn_s": round(t_graph, 1), "recall_at_k": float(recall), "k": k,
            "all_twonn": twonn_dimension(d), "all_mle": mle_dimension(d, 10, k)}


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=170_000)
    ap.add_argument("--z", type=int, default=256)
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--tmp", default=None)
    ap.add_argument("--all-n", action="store_true", help="also an approximate all-N kNN graph")
    a = ap.parse_args()
    from zspace.tasks.analyze import (
        FragmentationParams,
        fragmentation_summary,
        pca_from_covariance,
        windows_summary,
    )

    out: dict = {"n": a.n, "z": a.z, "cpus": os.cpu_count(), "load_before": os.getloadavg()}
    root = tempfile.mkdtemp(dir=a.tmp, prefix="zspace-knn-")
    try:
        t = time.perf_counter()
        arr = synthetic_latents(root, a.n, a.z)
        out["synth_s"] = round(time.perf_counter() - t, 1)
        t = time.perf_counter()
        mean, cov = moments(arr)
        out["moments_s"] = round(time.perf_counter() - t, 1)
        _, _, comps = pca_from_covariance(cov)
        t = time.perf_counter()
        frag = fragmentation_summary(arr, mean, cov, comps)
        out["fragmentation_s"] = round(time.perf_counter() - t, 1)
        out["fragmentation"] = {"n_sample": frag["n_sample"], "overall": frag["overall"],
                                "mle": frag["data"]["mle"],
                                "twonn": frag["data"]["twonn"],
                                "surrogate_mle": frag["surrogate"]["mle"],
                                "knn_median_ratio": frag["knn"]["median_ratio"],
                                "sampling_error": frag["sampling_error"]}
        out["rss_after_fragmentation_mb"] = round(_peak_rss_mb())
        t = time.perf_counter()
        windows_summary(arr, mean, cov, comps, None, FragmentationParams())
        out["windows_s"] = round(time.perf_counter() - t, 1)
        if a.all_n:
            out.update(all_knn(np.asarray(arr[:], dtype=np.float32), 20, a.queries))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    out["peak_rss_mb"] = round(_peak_rss_mb())
    out["load_after"] = os.getloadavg()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
