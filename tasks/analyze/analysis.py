"""Exact, out-of-core statistics of a latent cloud, on all N vectors: the per-component
distributions, radius, correlations, PCA and artificial vectors of the blog series
"Autoencoders and latent space fragmentation", which could only afford a 5,000-vector subsample.

Input: any (N, z_dim) real zarr array (a run's ``latents/z_mean`` or any URL). The analysis is
a sequence of named passes, each returning one typed result:

- :func:`~zspace.tasks.analyze.passes.latent_moments` (pass 1) -> ``Moments``
- :func:`~zspace.tasks.analyze.derived.derive` -> ``Derived`` (covariance, correlation, PCA, grids)
- :func:`~zspace.tasks.analyze.passes.second_pass` (pass 2) -> ``Pass2Result``
- :func:`~zspace.tasks.analyze.derived.finish` -> ``Finished`` (half-widths, dominant components,
  trimmed radius histograms, the exact Mahalanobis quantile)
- :func:`~zspace.tasks.analyze.artificial.artificial_comparison` -> ``ArtificialResult``

and :func:`analyze_latents` assembles them into an :class:`~zspace.tasks.analyze.outputs.Analysis`,
which writes the arrays and summary.json. The fingerprint is a hash of the summary and every
array: the same for the same input, parameters and number of dask workers.

Layout of the output folder (a run's stats folder or ``--out DIR``); every array is zarr,
``z`` = z_dim, ``N`` = number of vectors, ``nb`` = bins of that histogram:

    mean, std, min, max          (z,) float64     per component; std is ddof=1
    mode                         (z,) float64     centre of each component's highest 0.25 bin
    half_width                   (z,) float64     FWHM of the component histogram (moments.half_width)
    histogram_counts             (z, nb) int64    per component, common grid for all components
    histogram_edges              (nb+1,) float64  bin width 0.25 (attrs.bin_width), edges at multiples of it
    radius_hist_coarse / _fine   (nb,) int64      radius ||z|| histograms, bin width 0.5 / 0.05 from 0
    radius_edges_coarse / _fine  (nb+1,) float64
    covariance, correlation      (z, z) float64   ddof=1; zero-variance rows/columns are 0 in both
    pca_eigenvalues              (z,) float64     descending (= sklearn explained_variance_)
    pca_explained_variance_ratio (z,) float64
    pca_components               (z, z) float64   rows are components (= sklearn components_, same signs)
    pca_coordinates              (N, z) float32   (z - mean) @ pca_components.T, chunked along N
    mahalanobis                  (N,) float64     distance of each vector to the fitted Gaussian
    slice_mask                   (N,) uint8       1 where |z_k| < t for every k except the two slice axes
    slice_indices                (n_slice,) int64 rows where slice_mask is 1
    artificial_b                 (n_b,) float64   half-widths b of the uniform artificial vectors
    artificial_radius_hist       (n_b, nb) int64  their radius histograms, bin 0.5 from 0
    artificial_radius_edges      (nb+1,) float64  (the data's radius_edges_coarse is a prefix of these)
    artificial_radius_data_hist  (nb,) int64      the data's radius histogram on that same grid
    artificial_fraction_inside   (n_b,) float64   share with Mahalanobis distance below the data's p99
    artificial_wasserstein       (n_b,) float64   W1 between their radius distribution and the data's
    summary.json                 everything small (see :class:`Analysis`); complete.json last
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from zspace.storage import StatsLayout, Store, StoreError
from zspace.tasks.analyze.artificial import artificial_comparison
from zspace.tasks.analyze.correlation import mahalanobis, mahalanobis_of_coordinates
from zspace.tasks.analyze.derived import Derived, derive, finish, finish_with
from zspace.tasks.analyze.moments import Moments
from zspace.tasks.analyze.outputs import Analysis, statistics_fingerprint
from zspace.tasks.analyze.params import PRODUCER, STATS_VERSION, StatsParams
from zspace.tasks.analyze.passes import (
    PASS2_ARRAYS,
    Pass2Context,
    Pass2Result,
    accumulate,
    done_chunks,
    empty_partial,
    latent_blocks,
    latent_moments,
    second_pass,
    write_slice_indices,
)
from zspace.tasks.analyze.streaming import RowsBar, input_fingerprint, open_latents
from zspace.tasks.common.parallel import default_workers

GROUPED_CELLS = 1 << 16  # the 0.25 histograms are kept per bootstrap group up to z x bins cells


@dataclass(frozen=True)
class _Job:
    """One analysis: the latents it reads, where its statistics go, and their parameters."""

    latents_url: str
    store: Store
    layout: StatsLayout
    params: StatsParams


def stats_layout(out_rel: str) -> StatsLayout:
    """The statistics folder out_rel of the output store ("" = its root, for ``--out DIR``)."""
    return StatsLayout(out_rel.strip("/"))


def _check_inputs(job: _Job, z: int) -> None:
    params = job.params
    if params.slice_axes and max(params.slice_axes) >= z:
        raise ValueError(f"slice_axes {params.slice_axes} out of range for z_dim {z}")
    ours = {job.store.join(job.layout.array(a)) for a in (*PASS2_ARRAYS, "slice_indices")}
    if job.latents_url.rstrip("/") in ours:
        raise StoreError(f"output folder {job.store.join(job.layout.root)} would overwrite the "
                         f"input {job.latents_url}")


def _cached(store: Store, layout: StatsLayout, fp_in: str, params_json: dict[str, Any]
            ) -> dict[str, Any] | None:
    """The summary of a finished analysis of the same input and parameters, else None (and a
    stale completion record removed)."""
    rec = store.read_json_if(layout.complete)
    if rec is None:
        return None
    if (rec.get("stats_version") == STATS_VERSION and rec.get("input_fingerprint") == fp_in
            and rec.get("params") == params_json and store.exists(layout.summary)):
        return {**store.read_json(layout.summary), "fingerprint": rec["fingerprint"]}
    store.remove(layout.complete)
    return None


def _context(m: Moments, d: Derived, params: StatsParams, **where: Any) -> Pass2Context:
    """Pass 2's grids and projections from pass 1; `where`: its input, output and plans."""
    small = len(d.mean) * (len(d.hist_edges) - 1) <= GROUPED_CELLS
    return Pass2Context(
        **where, mean=d.mean, components=d.pca_components, scale=d.mahalanobis_scale,
        hist_edges=d.hist_edges, r_edges_coarse=d.r_edges_coarse, r_edges_fine=d.r_edges_fine,
        r_shift=m.rms_radius, slice_free=d.slice_free, slice_threshold=params.slice_threshold,
        peak_edges=d.peak_edges, shape_lo=d.shape_lo, shape_width=d.shape_width,
        shape_bins=d.shape_bins, seed=params.seed, group_study_hist=small)


def _pass2_context(job: _Job, fp_in: str, m: Moments, d: Derived, shape: tuple[int, int],
                   block_rows: int) -> Pass2Context:
    """Where pass 2 writes and what it bins on. Its chunks depend on pass 1's float results
    (whose last bits vary with the worker count): a resume under other ones must not mix them."""
    pass1 = hashlib.sha256(b"".join(np.ascontiguousarray(a).tobytes() for a in (
        d.mean, d.pca_components, d.mahalanobis_scale))).hexdigest()
    base = {"producer": PRODUCER, "stats_version": STATS_VERSION, "input": fp_in,
            "block_rows": block_rows, "pass1": pass1}
    plans = {
        "pca_coordinates": {**base, "array": "pca_coordinates"},
        "mahalanobis": {**base, "array": "mahalanobis"},
        "slice_mask": {**base, "array": "slice_mask", "slice_axes": list(d.slice_axes),
                       "slice_threshold": job.params.slice_threshold},
    }
    done = done_chunks(job.store, job.layout, *shape, block_rows, plans)
    return _context(m, d, job.params, url=job.latents_url, out_url=job.store.url,
                    layout=job.layout, block_rows=block_rows, plans=plans, done=done)


def _run_analysis(job: _Job, input_info: dict[str, Any], dask_address: str | None,
                  workers: int, show_progress: bool) -> Analysis:
    """Pass 1, derived quantities, pass 2, finish and artificial vectors, in that order."""
    store, layout, params = job.store, job.layout, job.params
    arr = open_latents(job.latents_url)
    n, z = (int(s) for s in arr.shape)
    blocks = latent_blocks(arr, params.block_rows)
    block_rows = blocks[0][1] - blocks[0][0]
    bar = RowsBar(2 * n, f"analyze {n:,} x {z}", show_progress)
    m = latent_moments(job.latents_url, block_rows=block_rows, dask_address=dask_address,
                       workers=workers, progress=bar.update)
    d = derive(m, params)
    ctx = _pass2_context(job, input_info["fingerprint"], m, d, (n, z), block_rows)
    p2: Pass2Result = second_pass(store, ctx, n, z, blocks, dask_address, workers, bar.update)
    bar.close()
    f = finish(store, layout, n, params, d, p2.partial)
    slice_fp = write_slice_indices(
        store, layout.array("slice_indices"), layout.array("slice_mask"), p2.partial.n_slice,
        {**ctx.plans["slice_mask"], "array": "slice_indices"})
    art = artificial_comparison(params, z, d.mean, d.pca_components, d.mahalanobis_scale,
                                f.mahalanobis_q, f.r_fine, f.radius)
    return Analysis(n, z, input_info, params, d, p2, f, art, slice_fp)


def _write(store: Store, layout: StatsLayout, a: Analysis, t0: float) -> dict[str, Any]:
    """The small arrays, summary.json (with the fingerprint) and, last, complete.json."""
    fps = {**a.pass2.fingerprints, "slice_indices": a.slice_fingerprint}
    for name, (data, attrs) in a.arrays().items():
        fps[name] = store.write_small_array(layout.array(name), data,
                                            {"producer": PRODUCER, **attrs})
    summary = a.summary()
    fingerprint = statistics_fingerprint(summary, a.input["fingerprint"], fps)
    summary["fingerprint"] = fingerprint
    summary["seconds"] = round(time.perf_counter() - t0, 3)
    store.write_json(layout.summary, summary)
    store.write_json(layout.complete, {
        "stats_version": STATS_VERSION, "params": a.params_json,
        "input_fingerprint": a.input["fingerprint"], "fingerprint": fingerprint,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    return summary


def analyze_latents(
    latents_url: str,
    out_store: Store | str,
    out_rel: str = "",
    params: StatsParams | dict[str, Any] | None = None,
    dask_address: str | None = None,
    workers: int | None = None,
    show_progress: bool = True,
) -> dict[str, Any]:
    """All statistics of an (N, z_dim) zarr array, written under out_store/out_rel.

    A finished analysis of the same input (by fingerprint) with the same parameters is not
    redone: the completion record is read back. Returns a small JSON-able dict: where things
    are, the stats fingerprint, and a few headline numbers.
    """
    t0 = time.perf_counter()
    params = params if isinstance(params, StatsParams) else StatsParams(**(params or {}))
    store = out_store if isinstance(out_store, Store) else Store(out_store)
    job = _Job(latents_url, store, stats_layout(out_rel), params)
    arr = open_latents(latents_url)
    fp_in = input_fingerprint(latents_url)
    _check_inputs(job, int(arr.shape[1]))
    cached = _cached(store, job.layout, fp_in, json.loads(params.model_dump_json()))
    if cached is not None:
        return _result(store, job.layout, cached, cached=True, seconds=time.perf_counter() - t0)
    input_info = {"url": latents_url, "fingerprint": fp_in, "dtype": str(arr.dtype),
                  "chunks": list(arr.chunks)}
    analysis = _run_analysis(job, input_info, dask_address,
                             workers or default_workers(dask_address), show_progress)
    summary = _write(store, job.layout, analysis, t0)
    return _result(store, job.layout, summary, cached=False, seconds=time.perf_counter() - t0)


def summarize_array(x: np.ndarray, params: StatsParams | dict[str, Any] | None = None
                    ) -> dict[str, Any]:
    """summary.json of an in-memory (N, z) array, by the same passes and kernels as
    analyze_latents but without storage (for calibration over many seeded draws); adds
    ``origin``: the share of rows closer (Mahalanobis) to the mean than the origin."""
    params = params if isinstance(params, StatsParams) else StatsParams(**(params or {}))
    x = np.asarray(x)
    n, z = x.shape
    m = Moments.empty(x[: min(n, 4096)].astype(np.float64).mean(axis=0))
    m.update(x)
    d = derive(m, params)
    ctx = _context(m, d, params, url="", out_url="", layout=StatsLayout(""), block_rows=n,
                   plans={}, done={})
    acc = empty_partial(ctx, z)
    _, pc = accumulate(acc, ctx, x, 0)
    maha = mahalanobis_of_coordinates(pc, d.mahalanobis_scale)
    f = finish_with(n, params, d, acc, float(np.quantile(maha, params.mahalanobis_quantile)))
    art = artificial_comparison(params, z, d.mean, d.pca_components, d.mahalanobis_scale,
                                f.mahalanobis_q, f.r_fine, f.radius)
    info = {"url": "memory", "fingerprint": "", "dtype": str(x.dtype), "chunks": [n, z]}
    s = Analysis(n, z, info, params, d, Pass2Result(acc, {}), f, art, "").summary()
    origin = float(mahalanobis(np.zeros((1, z)), d.mean, d.pca_components,
                               d.mahalanobis_scale)[0])
    s["origin"] = {"data_fraction_closer": float(np.mean(maha < origin)), "mahalanobis": origin,
                   "n": n}
    return s


def _result(store: Store, layout: StatsLayout, summary: dict[str, Any], cached: bool,
            seconds: float) -> dict[str, Any]:
    return {
        "stats_url": store.join(layout.root),
        "summary_url": store.join(layout.summary),
        "fingerprint": summary["fingerprint"],
        "input_fingerprint": summary["input"]["fingerprint"],
        "cached": cached,
        "seconds": round(seconds, 3),
        "n": summary["n"],
        "z_dim": summary["z_dim"],
        "radius_mean": summary["radius"]["mean"],
        "radius_peak": summary["radius"]["peak"],
        "sqrt_z_dim": summary["radius"]["sqrt_z_dim"],
        "correlation_counts": summary["correlation_counts"],
        "n_correlated_pairs": len(summary["correlated_pairs"]),
        "dominant_components": summary["dominant_components"],
        "artificial_best_b": summary["artificial_best_b"],
        "pca_top_ratio": summary["pca_explained_variance_ratio"][0],
    }
