"""Exact, out-of-core statistics of a latent cloud: SPEC.md §3 and §5, on all N vectors.

Input: any (N, z_dim) real zarr array (``runs/<run>/latents/z_mean`` or any URL). Two
streaming passes over blocks of rows (whole zarr chunks), each pass split into a few
contiguous parts that dask runs in parallel (local threads, or an existing distributed
scheduler via ``dask_address``); a part loops over its blocks with plain numpy, so memory
is one block plus the accumulators per worker thread, whatever N is.

- pass 1: count, per-component sum, min, max, float64 Gram of the data shifted by the first
  block's mean; nothing else, so it costs about what one Gram matrix costs. From these, in
  float64: mean, std, covariance, Pearson correlation, PCA (eigen-decomposition).
- pass 2, on grids now known: per-component histograms, radius moments and histograms,
  PCA coordinates, Mahalanobis distances, the slice mask. Then the exact 99th percentile of
  the Mahalanobis distances (a few reads of that 1-D array), the slice indices, and the
  artificial vectors.

Why not da.from_zarr and ``x.T @ x``: the Gram matrix is the whole cost, and that dask-array
graph took 0.79 s at 170,000 x 256 against 0.45 s for a chunked numpy Gram loop on a
2-core machine; a few tasks that each run a plain numpy loop (one BLAS thread each) match or
beat that loop and bound memory.
The fingerprint is a hash of the summary and every array: the same for the same input,
parameters and number of dask workers (the float64 sums are added in the order of the parts).

Layout of the output folder (``runs/<run>/stats/`` or ``--out DIR``); every array is zarr,
``z`` = z_dim, ``N`` = number of vectors, ``nb`` = bins of that histogram:

    mean, std, min, max          (z,) float64     per component; std is ddof=1
    mode                         (z,) float64     centre of each component's highest 0.25 bin
    half_width                   (z,) float64     FWHM of the component histogram (stats_core.half_width)
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
    summary.json                 everything small (see :func:`analyze_latents`); complete.json last

Artificial vectors are reproducible: :func:`artificial_vectors` (z_dim, b, n, seed).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import fsspec
import numpy as np
import zarr
from pydantic import BaseModel, ConfigDict, Field, field_validator

from zspace.storage import ChunkedWriter, Store, StoreError, is_complete, open_array
from zspace.tasks.analyze.stats_core import (
    CORRELATION_THRESHOLDS,
    DOMINANT_RULE,
    Moments,
    RadiusMoments,
    artificial_batches,
    component_histograms,
    correlated_pairs,
    correlation_counts,
    correlation_from_covariance,
    dominant_components,
    exact_quantile,
    half_width,
    histogram,
    mahalanobis_scale,
    merge_all,
    modes,
    pca_from_covariance,
    radius_peak,
    uniform_edges,
    wasserstein_binned,
)

STATS_VERSION = 1
PRODUCER = "zspace.stats"
DEFAULT_B = tuple(float(b) for b in np.arange(0.5, 8.0001, 0.5))
BLOCK_BYTES = 8 << 20  # float64 bytes of one block of rows
W1_RULE = (
    "best_b minimises the Wasserstein-1 distance between the radius distribution of the "
    "artificial vectors and the data's, both binned at 0.05 from 0 (resolution 0.05)"
)
HALF_WIDTH_RULE = (
    "full width at half maximum of the component's histogram: from the highest bin walk outwards "
    "to the first bin below half the maximum on each side, interpolate linearly between bin "
    "centres where the count crosses half the maximum (one occupied bin gives one bin width)"
)
INSIDE_RULE = (
    "inside the data cloud: Mahalanobis distance under the fitted Gaussian N(mean, covariance) "
    "below the data's own 99th percentile of that distance (exact, linear interpolation); "
    "null directions of the covariance are left out (pseudo-inverse)"
)


class StatsParams(BaseModel):
    """Parameters that determine the statistics (the completion record compares them)."""

    model_config = ConfigDict(extra="forbid")

    corr_threshold: float = Field(0.5, gt=0, lt=1, description="|r| above which pairs are listed")
    slice_axes: tuple[int, int] | None = Field(
        None, description="two components left free in the slice; default: the most correlated pair"
    )
    slice_threshold: float = Field(2.0, gt=0)
    seed: int = 0
    artificial_b: tuple[float, ...] = DEFAULT_B
    n_artificial: int = Field(10_000, ge=10)
    hist_bin_width: float = Field(0.25, gt=0)
    max_hist_bins: int = Field(4096, ge=16, description="the bin width is widened beyond this")
    mahalanobis_quantile: float = Field(0.99, gt=0, lt=1)
    block_rows: int | None = Field(None, ge=1, description="rows per block; default ~8 MB float64, whole chunks")

    @field_validator("slice_axes")
    @classmethod
    def _two_axes(cls, v: tuple[int, int] | None) -> tuple[int, int] | None:
        if v is not None and (v[0] == v[1] or min(v) < 0):
            raise ValueError(f"slice_axes must be two different component indices, not {v}")
        return v

    @field_validator("artificial_b")
    @classmethod
    def _positive_b(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if not v or min(v) <= 0:
            raise ValueError("artificial_b must be a non-empty list of positive half-widths")
        return tuple(sorted(float(b) for b in v))


# -- reading -------------------------------------------------------------------------------
def open_latents(url: str) -> zarr.Array:
    """The input array, checked: 2-D, real, at least 2 rows and 2 components, complete."""
    arr = open_array(url)
    if arr.ndim != 2:
        raise StoreError(f"{url}: latents must be a 2-D (N, z_dim) array, this one has shape {arr.shape}")
    if np.dtype(arr.dtype).kind not in "fiu":
        raise StoreError(f"{url}: latents must be real numbers, not {arr.dtype}")
    if arr.shape[0] < 2 or arr.shape[1] < 2:
        raise StoreError(f"{url}: need at least 2 vectors of at least 2 components, shape is {arr.shape}")
    if arr.attrs.get("complete") is False:
        raise StoreError(f"{url} is not complete (an interrupted encode? rerun it to resume)")
    return arr


def input_fingerprint(url: str) -> str:
    """The content fingerprint zspace recorded; for a foreign array, one of its file listing
    (names, sizes, modification times), so a changed array is noticed without reading it."""
    arr = open_array(url)
    if is_complete(arr) and arr.attrs.get("fingerprint"):
        return f"content:{arr.attrs['fingerprint']}"
    fs, root = fsspec.core.url_to_fs(url)
    files = fs.find(root, detail=True)
    h = hashlib.sha256(json.dumps([list(arr.shape), str(arr.dtype)]).encode())
    for path in sorted(files):
        info = files[path]
        stamp = info.get("mtime") or info.get("LastModified") or info.get("ETag") or ""
        h.update(f"{path[len(root):]}|{info.get('size')}|{stamp}\n".encode())
    return f"listing:{h.hexdigest()}"


def plan_blocks(arr: zarr.Array, block_rows: int | None = None) -> list[tuple[int, int]]:
    """Row ranges of whole zarr chunks, about BLOCK_BYTES of float64 each."""
    n, z = arr.shape
    chunk = int(arr.chunks[0])
    if block_rows is None:
        per = max(1, round(BLOCK_BYTES / (chunk * z * 8)))
        block_rows = chunk * per
    return [(s, min(s + block_rows, n)) for s in range(0, n, block_rows)]


def _split(blocks: Sequence[Any], n_parts: int) -> list[list[Any]]:
    n_parts = max(1, min(n_parts, len(blocks)))
    bounds = np.linspace(0, len(blocks), n_parts + 1).round().astype(int)
    return [list(blocks[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]


def _read(arr: zarr.Array, start: int, stop: int) -> np.ndarray:
    return np.asarray(arr[start:stop])


def run_parts(
    fn: Callable[..., Any], args: Sequence[tuple], dask_address: str | None, workers: int | None
) -> list[Any]:
    """Run fn(*a) for each a as dask tasks: local threads, or an existing distributed cluster."""
    import dask
    import dask.threaded

    tasks = [dask.delayed(fn, pure=False)(*a) for a in args]
    if dask_address:
        from distributed import Client

        with Client(dask_address, set_as_default=False) as client:
            return list(client.gather(client.compute(tasks)))
    from threadpoolctl import threadpool_limits

    # one BLAS thread per dask thread: parts run side by side instead of fighting for cores
    with threadpool_limits(1, user_api="blas"):
        # the callable, not "threads": naming a scheduler makes dask import distributed (~0.15 s)
        return list(dask.compute(*tasks, scheduler=dask.threaded.get, num_workers=workers))


def default_workers(dask_address: str | None = None) -> int:
    if dask_address:
        from distributed import Client

        with Client(dask_address, set_as_default=False) as client:
            return max(1, sum(client.nthreads().values()))
    from zspace.tasks.common.parallel import default_workers as local_workers

    return local_workers()


# -- pass 1 --------------------------------------------------------------------------------
def _pass1_part(url: str, blocks: list[tuple[int, int]], shift: np.ndarray,
                progress: Callable[[int], None] | None) -> Moments:
    arr = open_array(url)
    m = Moments.empty(shift)
    for start, stop in blocks:
        m.update(_read(arr, start, stop))
        if progress:
            progress(stop - start)
    return m


def latent_moments(
    url: str,
    block_rows: int | None = None,
    dask_address: str | None = None,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> Moments:
    """Pass 1 over all rows: the merged :class:`Moments` (mean, covariance, radius moments)."""
    arr = open_latents(url)
    blocks = plan_blocks(arr, block_rows)
    shift = _read(arr, *blocks[0]).astype(np.float64).mean(axis=0)
    workers = workers or default_workers(dask_address)
    parts = _split(blocks, workers)
    prog = None if dask_address else progress
    moments = merge_all(run_parts(_pass1_part, [(url, p, shift, prog) for p in parts],
                                  dask_address, workers))
    if not (np.isfinite(moments.s).all() and np.isfinite(moments.gram).all()
            and np.isfinite(moments.min).all() and np.isfinite(moments.max).all()):
        raise StoreError(f"{url} holds NaN or infinite values: no statistics of it are meaningful")
    return moments


def correlation_matrix(url: str, block_rows: int | None = None, dask_address: str | None = None,
                       workers: int | None = None) -> np.ndarray:
    """Pearson correlation of all N rows, exactly, one streaming pass (what the benchmark times)."""
    m = latent_moments(url, block_rows=block_rows, dask_address=dask_address, workers=workers)
    return correlation_from_covariance(m.covariance, m.zero_variance)


# -- pass 2 --------------------------------------------------------------------------------
@dataclass
class Pass2Context:
    url: str
    out_url: str
    out_rel: str
    block_rows: int
    mean: np.ndarray
    components: np.ndarray
    scale: np.ndarray
    hist_edges: np.ndarray
    r_edges_coarse: np.ndarray
    r_edges_fine: np.ndarray
    r_shift: float
    slice_free: np.ndarray  # boolean (z,): True for the two free axes
    slice_threshold: float
    plans: dict[str, dict[str, Any]]
    done: dict[str, set[int]]


@dataclass
class Pass2Partial:
    hist: np.ndarray
    r_coarse: np.ndarray
    r_fine: np.ndarray
    radius: RadiusMoments
    n_slice: int

    def merge(self, other: Pass2Partial) -> Pass2Partial:
        return Pass2Partial(self.hist + other.hist, self.r_coarse + other.r_coarse,
                            self.r_fine + other.r_fine, self.radius.merge(other.radius),
                            self.n_slice + other.n_slice)


PASS2_ARRAYS = {  # name: (dtype, per-row shape is (z,) or ())
    "pca_coordinates": ("float32", True),
    "mahalanobis": ("float64", False),
    "slice_mask": ("uint8", False),
}


def _writer(store: Store, rel: str, shape: tuple[int, ...], chunk_rows: int, dtype: str,
            plan: dict[str, Any]) -> ChunkedWriter:
    """A ChunkedWriter for an array this module owns; one left by an earlier analysis with
    other parameters is replaced (it is derived data), anything else is never touched."""
    try:
        return ChunkedWriter(store, rel, shape, chunk_rows, dtype, plan)
    except StoreError:
        old = open_array(store.join(rel)).attrs.get("zspace_plan") or {}
        if old.get("producer") != PRODUCER:
            raise
        store.remove(rel)
        return ChunkedWriter(store, rel, shape, chunk_rows, dtype, plan)


def _pass2_part(ctx: Pass2Context, blocks: list[tuple[int, int, int]],
                progress: Callable[[int], None] | None) -> Pass2Partial:
    arr = open_array(ctx.url)
    out = Store(ctx.out_url)
    writers = {}
    for name, (dtype, wide) in PASS2_ARRAYS.items():
        shape = (arr.shape[0], arr.shape[1]) if wide else (arr.shape[0],)
        writers[name] = ChunkedWriter(out, _join(ctx.out_rel, name), shape, ctx.block_rows, dtype,
                                      ctx.plans[name])
    z = arr.shape[1]
    acc = Pass2Partial(np.zeros((z, len(ctx.hist_edges) - 1), dtype=np.int64),
                       np.zeros(len(ctx.r_edges_coarse) - 1, dtype=np.int64),
                       np.zeros(len(ctx.r_edges_fine) - 1, dtype=np.int64),
                       RadiusMoments(ctx.r_shift), 0)
    fixed = ~ctx.slice_free
    for i, start, stop in blocks:
        x = _read(arr, start, stop)
        acc.hist += component_histograms(x, ctx.hist_edges)
        xf = x.astype(np.float64)
        r = np.sqrt(np.einsum("ij,ij->i", xf, xf))
        acc.radius.update(r)
        acc.r_coarse += histogram(r, ctx.r_edges_coarse)
        acc.r_fine += histogram(r, ctx.r_edges_fine)
        mask = (np.abs(x[:, fixed]) < ctx.slice_threshold).all(axis=1)
        acc.n_slice += int(mask.sum())
        xf -= ctx.mean
        pc = xf @ ctx.components.T
        if i not in ctx.done["pca_coordinates"]:
            writers["pca_coordinates"].write_chunk(i, pc.astype(np.float32))
        pc *= ctx.scale
        if i not in ctx.done["mahalanobis"]:
            writers["mahalanobis"].write_chunk(i, np.sqrt(np.einsum("ij,ij->i", pc, pc)))
        if i not in ctx.done["slice_mask"]:
            writers["slice_mask"].write_chunk(i, mask.astype(np.uint8))
        if progress:
            progress(stop - start)
    return acc


def _join(rel: str, name: str) -> str:
    return f"{rel.rstrip('/')}/{name}" if rel.strip("/") else name


# -- small outputs -------------------------------------------------------------------------
def _write_small(store: Store, rel: str, data: np.ndarray, attrs: dict[str, Any] | None = None) -> None:
    data = np.asarray(data)
    arr = zarr.create_array(
        store=store.join(rel),
        shape=data.shape,
        chunks=tuple(max(1, s) for s in data.shape),
        dtype=data.dtype,
        overwrite=True,
        attributes={"producer": PRODUCER, **(attrs or {})},
    )
    if data.size:
        arr[...] = data


def _read_vector_blocks(store: Store, rel: str) -> Callable[[], Iterable[np.ndarray]]:
    arr = store.open_array(rel)
    step = int(arr.chunks[0]) * max(1, (1 << 20) // int(arr.chunks[0]))

    def gen() -> Iterable[np.ndarray]:
        for s in range(0, arr.shape[0], step):
            yield np.asarray(arr[s : s + step])

    return gen


def _write_slice_indices(store: Store, rel: str, mask_rel: str, n_slice: int, plan: dict) -> str:
    chunk = 1 << 16
    w = _writer(store, rel, (n_slice,), chunk, "int64", plan)
    if not w.complete:
        mask = store.open_array(mask_rel)
        step = int(mask.chunks[0]) * max(1, (1 << 20) // int(mask.chunks[0]))
        buf: list[np.ndarray] = []
        held = 0
        out_i = 0
        for s in range(0, mask.shape[0], step):
            idx = np.flatnonzero(np.asarray(mask[s : s + step])) + s
            buf.append(idx)
            held += len(idx)
            while held >= chunk:
                flat = np.concatenate(buf)
                w.write_chunk(out_i, flat[:chunk])
                out_i += 1
                buf, held = [flat[chunk:]], len(flat) - chunk
        if held:
            w.write_chunk(out_i, np.concatenate(buf))
        w.finalize()
    return str(w.array.attrs["fingerprint"])


def artificial_vectors(z_dim: int, b: float, n: int, seed: int = 0) -> np.ndarray:
    """The artificial vectors the analysis used for this b: uniform in [-b, b]^z_dim; the
    first n of its sample of n_artificial (same seed)."""
    return np.concatenate(list(artificial_batches(z_dim, b, n, seed)))


# -- the whole analysis --------------------------------------------------------------------
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
    arr = open_latents(latents_url)
    n, z = (int(s) for s in arr.shape)
    fp_in = input_fingerprint(latents_url)
    record_rel = _join(out_rel, "complete.json")
    summary_rel = _join(out_rel, "summary.json")
    params_json = json.loads(params.model_dump_json())
    if params.slice_axes and max(params.slice_axes) >= z:
        raise ValueError(f"slice_axes {params.slice_axes} out of range for z_dim {z}")
    if latents_url.rstrip("/") in {store.join(_join(out_rel, a)) for a in (*PASS2_ARRAYS, "slice_indices")}:
        raise StoreError(f"output folder {store.join(out_rel)} would overwrite the input {latents_url}")
    if store.exists(record_rel):
        rec = store.read_json(record_rel)
        if (rec.get("stats_version") == STATS_VERSION and rec.get("input_fingerprint") == fp_in
                and rec.get("params") == params_json and store.exists(summary_rel)):
            return _result(store, out_rel, store.read_json(summary_rel), rec["fingerprint"],
                           cached=True, seconds=time.perf_counter() - t0)
        store.remove(record_rel)

    workers = workers or default_workers(dask_address)
    blocks = plan_blocks(arr, params.block_rows)
    block_rows = blocks[0][1] - blocks[0][0]
    bar = _Bar(2 * n, f"analyze {n:,} x {z}", show_progress and not dask_address)

    # pass 1 -------------------------------------------------------------------------------
    m = latent_moments(latents_url, block_rows=block_rows, dask_address=dask_address,
                       workers=workers, progress=bar.update)
    mean = m.mean
    cov = m.covariance
    zero_var = m.zero_variance
    std = np.sqrt(np.diag(cov))
    corr = correlation_from_covariance(cov, zero_var)
    evals, ratio, comps = pca_from_covariance(cov)
    scale = mahalanobis_scale(evals)

    # grids for pass 2
    width = params.hist_bin_width
    lo_all, hi_all = float(m.min.min()), float(m.max.max())
    n_bins = math.floor(hi_all / width) - math.floor(lo_all / width) + 1
    if n_bins > params.max_hist_bins:
        width *= math.ceil(n_bins / params.max_hist_bins)
    hist_edges = uniform_edges(math.floor(lo_all / width) * width, width, hi_all)
    # radius grids up to a bound; trimmed to the true maximum after pass 2 (same edges)
    r_edges_coarse = uniform_edges(0.0, 0.5, m.radius_bound)
    r_edges_fine = uniform_edges(0.0, 0.05, m.radius_bound)
    if params.slice_axes is not None:
        slice_axes = tuple(int(a) for a in params.slice_axes)
    else:
        iu = np.triu_indices(z, 1)
        k = int(np.argmax(np.abs(corr[iu])))
        slice_axes = (int(iu[0][k]), int(iu[1][k]))
    slice_free = np.zeros(z, dtype=bool)
    slice_free[list(slice_axes)] = True

    # pass 2 -------------------------------------------------------------------------------
    # pass-2 chunks depend on pass 1's float results (whose last bits vary with the worker
    # count): a resume under different ones must not mix chunks of both
    pass1 = hashlib.sha256(b"".join(np.ascontiguousarray(a).tobytes()
                                    for a in (mean, comps, scale))).hexdigest()
    base_plan = {"producer": PRODUCER, "stats_version": STATS_VERSION, "input": fp_in,
                 "block_rows": block_rows, "pass1": pass1}
    plans = {
        "pca_coordinates": {**base_plan, "array": "pca_coordinates"},
        "mahalanobis": {**base_plan, "array": "mahalanobis"},
        "slice_mask": {**base_plan, "array": "slice_mask", "slice_axes": list(slice_axes),
                       "slice_threshold": params.slice_threshold},
    }
    done: dict[str, set[int]] = {}
    for name, (dtype, wide) in PASS2_ARRAYS.items():
        w = _writer(store, _join(out_rel, name), (n, z) if wide else (n,), block_rows, dtype, plans[name])
        done[name] = set(w.done_chunks()) if not w.complete else set(range(w.n_chunks))
    ctx = Pass2Context(latents_url, store.url, out_rel, block_rows, mean, comps, scale, hist_edges,
                       r_edges_coarse, r_edges_fine, m.rms_radius, slice_free,
                       params.slice_threshold, plans, done)
    indexed = [(i, a, b) for i, (a, b) in enumerate(blocks)]
    parts = _split(indexed, workers)
    prog = None if dask_address else bar.update
    p2 = merge_all(run_parts(_pass2_part, [(ctx, p, prog) for p in parts], dask_address, workers))
    bar.close()
    fps = {}
    for name, (dtype, wide) in PASS2_ARRAYS.items():
        w = ChunkedWriter(store, _join(out_rel, name), (n, z) if wide else (n,), block_rows, dtype, plans[name])
        fps[name] = str(w.array.attrs["fingerprint"]) if w.complete else w.finalize(
            attrs={"producer": PRODUCER})

    # after pass 2: per-component shape, radius, thresholds, artificial vectors ------------
    rad = p2.radius
    r_edges_coarse = uniform_edges(0.0, 0.5, rad.max)
    r_edges_fine = uniform_edges(0.0, 0.05, rad.max)
    r_coarse = p2.r_coarse[: len(r_edges_coarse) - 1]
    r_fine = p2.r_fine[: len(r_edges_fine) - 1]
    if r_coarse.sum() != n or r_fine.sum() != n:  # the bound held, so this cannot happen
        raise RuntimeError("radius histogram lost counts when trimmed to the maximum radius")
    hw = np.array([half_width(h, hist_edges) for h in p2.hist])
    mode = modes(p2.hist, hist_edges)
    dominant, z_mu, z_hw = dominant_components(mean, hw, zero_var)
    maha_q = exact_quantile(_read_vector_blocks(store, _join(out_rel, "mahalanobis")), n,
                            params.mahalanobis_quantile)
    fps["slice_indices"] = _write_slice_indices(
        store, _join(out_rel, "slice_indices"), _join(out_rel, "slice_mask"), p2.n_slice,
        {**plans["slice_mask"], "array": "slice_indices"})
    art = _artificial(params, z, mean, comps, scale, maha_q, r_fine, rad)

    # write -------------------------------------------------------------------------------
    small: dict[str, tuple[np.ndarray, dict[str, Any]]] = {
        "mean": (mean, {}), "std": (std, {"ddof": 1}), "min": (m.min.astype(np.float64), {}),
        "max": (m.max.astype(np.float64), {}), "mode": (mode, {}),
        "half_width": (hw, {"rule": HALF_WIDTH_RULE}),
        "histogram_counts": (p2.hist, {"bin_width": width}),
        "histogram_edges": (hist_edges, {"bin_width": width}),
        "radius_hist_coarse": (r_coarse, {"bin_width": 0.5}),
        "radius_edges_coarse": (r_edges_coarse, {"bin_width": 0.5}),
        "radius_hist_fine": (r_fine, {"bin_width": 0.05}),
        "radius_edges_fine": (r_edges_fine, {"bin_width": 0.05}),
        "covariance": (cov, {"ddof": 1}),
        "correlation": (corr, {"zero_variance_components": np.flatnonzero(zero_var).tolist()}),
        "pca_eigenvalues": (evals, {}),
        "pca_explained_variance_ratio": (ratio, {}),
        "pca_components": (comps, {"rows": "components"}),
        "artificial_b": (np.array(params.artificial_b), {"seed": params.seed, "n": params.n_artificial}),
        "artificial_radius_hist": (art["hist"], {"bin_width": 0.5}),
        "artificial_radius_edges": (art["edges"], {"bin_width": 0.5}),
        "artificial_radius_data_hist": (art["data_hist"], {"bin_width": 0.5}),
        "artificial_fraction_inside": (art["inside"], {"rule": INSIDE_RULE}),
        "artificial_wasserstein": (art["w1"], {"rule": W1_RULE}),
    }
    for name, (data, attrs) in small.items():
        _write_small(store, _join(out_rel, name), data, attrs)
        fps[name] = hashlib.sha256(np.ascontiguousarray(data).tobytes()).hexdigest()

    sqrt_z = math.sqrt(z)
    summary = {
        "n": n,
        "z_dim": z,
        "input": {"url": latents_url, "fingerprint": fp_in, "dtype": str(arr.dtype),
                  "chunks": list(arr.chunks)},
        "params": params_json,
        "mean": mean.tolist(),
        "std": std.tolist(),
        "min": m.min.astype(np.float64).tolist(),
        "max": m.max.astype(np.float64).tolist(),
        "mode": mode.tolist(),
        "half_width": hw.tolist(),
        "half_width_rule": HALF_WIDTH_RULE,
        "histogram": {"bin_width": width, "lo": float(hist_edges[0]), "hi": float(hist_edges[-1]),
                      "n_bins": len(hist_edges) - 1},
        "dominant_components": dominant,
        "dominant_rule": DOMINANT_RULE,
        "dominant_scores": {str(i): {"abs_mean": float(z_mu[i]), "half_width": float(z_hw[i])}
                            for i in dominant},
        "zero_variance_components": np.flatnonzero(zero_var).tolist(),
        "radius": {
            "mean": rad.mean, "std": rad.std, "min": rad.min, "max": rad.max,
            "peak": radius_peak(r_fine, r_edges_fine, 0.5),
            "peak_coarse": radius_peak(r_coarse, r_edges_coarse, 0.5),
            "peak_rule": "peak: centre of the highest 0.05 bin after a 0.55-wide box smoothing; "
                         "peak_coarse: centre of the highest 0.5 bin",
            "sqrt_z_dim": sqrt_z, "bin_widths": [0.5, 0.05],
        },
        "correlation_counts": correlation_counts(corr, CORRELATION_THRESHOLDS),
        "corr_threshold": params.corr_threshold,
        "correlated_pairs": correlated_pairs(corr, params.corr_threshold),
        "pca_eigenvalues": evals.tolist(),
        "pca_explained_variance_ratio": ratio.tolist(),
        "slice": {"axes": list(slice_axes), "threshold": params.slice_threshold,
                  "count": p2.n_slice, "fraction": p2.n_slice / n,
                  "axes_rule": "given" if params.slice_axes is not None else "the most correlated pair",
                  "rule": "|z_k| < threshold for every component k except the two axes"},
        "mahalanobis": {"quantile": params.mahalanobis_quantile, "value": maha_q,
                        "rule": INSIDE_RULE},
        "artificial": {f"{b:g}": row for b, row in zip(params.artificial_b, art["rows"], strict=True)},
        "artificial_best_b": art["best_b"],
        "artificial_matching_b": art["matching_b"],
        "artificial_rule": W1_RULE,
        "artificial_matching_rule": "matching_b: mean radius within one data radius std of the data's",
        "arrays": sorted([*small, *PASS2_ARRAYS, "slice_indices"]),
    }
    fingerprint = hashlib.sha256(
        json.dumps({"summary": {k: v for k, v in summary.items() if k != "input"},
                    "input": fp_in, "arrays": fps}, sort_keys=True).encode()
    ).hexdigest()
    summary["fingerprint"] = fingerprint
    summary["seconds"] = round(time.perf_counter() - t0, 3)
    store.write_json(summary_rel, summary)
    store.write_json(record_rel, {"stats_version": STATS_VERSION, "params": params_json,
                                  "input_fingerprint": fp_in, "fingerprint": fingerprint,
                                  "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    return _result(store, out_rel, summary, fingerprint, cached=False,
                   seconds=time.perf_counter() - t0)


def _artificial(params: StatsParams, z: int, mean: np.ndarray, comps: np.ndarray, scale: np.ndarray,
                maha_q: float, data_fine: np.ndarray, rad: RadiusMoments) -> dict[str, Any]:
    """Uniform vectors per b: radius histograms, W1 to the data's radii, share inside the cloud."""
    radii, inside, rows = [], [], []
    for b in params.artificial_b:
        r_b, d_b = [], []
        for u in artificial_batches(z, b, params.n_artificial, params.seed):
            r_b.append(np.sqrt(np.einsum("ij,ij->i", u, u)))
            pc = (u - mean) @ comps.T
            pc *= scale
            d_b.append(np.sqrt(np.einsum("ij,ij->i", pc, pc)))
        radii.append(np.concatenate(r_b))
        inside.append(float(np.mean(np.concatenate(d_b) < maha_q)))
    top = max(rad.max, max(float(r.max()) for r in radii))
    edges = uniform_edges(0.0, 0.5, top)
    fine = uniform_edges(0.0, 0.05, top)
    hist = np.stack([histogram(r, edges) for r in radii])
    data_fine_full = np.zeros(len(fine) - 1, dtype=np.int64)
    data_fine_full[: len(data_fine)] = data_fine
    w1 = np.array([wasserstein_binned(data_fine_full, histogram(r, fine), 0.05) for r in radii])
    # the data's coarse histogram on the common grid: re-bin the fine one (0.5 = 10 x 0.05)
    centres_fine = (fine[:-1] + fine[1:]) / 2
    data_hist = np.bincount(np.minimum((centres_fine / 0.5).astype(int), len(edges) - 2),
                            weights=data_fine_full, minlength=len(edges) - 1).astype(np.int64)
    data_mean, data_std = rad.mean, rad.std
    for b, r, f, w in zip(params.artificial_b, radii, inside, w1, strict=True):
        rows.append({"radius_mean": float(r.mean()), "radius_std": float(r.std(ddof=1)),
                     "radius_expected": b * math.sqrt(z / 3), "wasserstein": float(w),
                     "fraction_inside": f, "n": len(r)})
    best = int(np.argmin(w1))
    matching = [float(b) for b, row in zip(params.artificial_b, rows, strict=True)
                if abs(row["radius_mean"] - data_mean) <= data_std]
    return {"hist": hist, "edges": edges, "data_hist": data_hist, "inside": np.array(inside),
            "w1": w1, "rows": rows, "best_b": float(params.artificial_b[best]), "matching_b": matching}


def _result(store: Store, out_rel: str, summary: dict[str, Any], fingerprint: str, cached: bool,
            seconds: float) -> dict[str, Any]:
    return {
        "stats_url": store.join(out_rel),
        "summary_url": store.join(_join(out_rel, "summary.json")),
        "fingerprint": fingerprint,
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


class _Bar:
    """A thread-safe tqdm over rows (both passes), or nothing."""

    def __init__(self, total: int, desc: str, enabled: bool):
        self.bar = None
        if enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc=desc, unit="rows", unit_scale=True, leave=False)

    def update(self, k: int) -> None:
        if self.bar is not None:
            self.bar.update(k)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
