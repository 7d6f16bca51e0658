"""What follows from pass 1 (covariance, correlation, PCA, the grids pass 2 bins on, the slice
axes) and from pass 2 (per-component shape, dominant components, trimmed radius histograms,
the Mahalanobis quantile): small float64 computations on merged accumulators, no full data."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from zspace import study
from zspace.storage import StatsLayout, Store, read_blocks
from zspace.tasks.analyze.correlation import (
    correlation_from_covariance,
    mahalanobis_scale,
    pca_from_covariance,
)
from zspace.tasks.analyze.dominant import dominant_components
from zspace.tasks.analyze.moments import Moments, half_width, modes, uniform_edges
from zspace.tasks.analyze.params import RADIUS_BIN_COARSE, RADIUS_BIN_FINE, StatsParams
from zspace.tasks.analyze.passes import Pass2Partial
from zspace.tasks.analyze.quantile import exact_quantile
from zspace.tasks.analyze.radii import (
    PEAK_BINS,
    RadiusStats,
    peak_replicates,
    radius_peak,
    silverman_bandwidth,
)
from zspace.tasks.analyze.resample import (
    SHAPE_BINS_PER_STD,
    axis_variance_replicates,
    fwhm_bins,
    interval,
    median_replicates,
    moment_errors,
    replicate_weights,
    shape_grid,
    spectrum_replicates,
)


@dataclass
class Derived:
    """Pass 1's moments turned into the statistics and the grids of pass 2."""

    mean: np.ndarray
    std: np.ndarray
    min: np.ndarray
    max: np.ndarray
    covariance: np.ndarray
    correlation: np.ndarray
    zero_variance: np.ndarray
    pca_eigenvalues: np.ndarray
    pca_ratio: np.ndarray
    pca_components: np.ndarray
    mahalanobis_scale: np.ndarray
    hist_width: float
    hist_edges: np.ndarray
    r_edges_coarse: np.ndarray  # up to a bound on the radius; trimmed after pass 2
    r_edges_fine: np.ndarray
    slice_axes: tuple[int, int]
    slice_axes_given: bool
    peak_edges: np.ndarray  # [0, radius bound] in PEAK_BINS bins: the radius peak's grid
    shape_lo: np.ndarray  # per-component shape grids (bin std/4), resample.shape_grid
    shape_width: np.ndarray
    shape_bins: int

    @property
    def slice_free(self) -> np.ndarray:
        """Boolean (z,): True for the two components the slice leaves free."""
        free = np.zeros(len(self.mean), dtype=bool)
        free[list(self.slice_axes)] = True
        return free


def histogram_grid(m: Moments, params: StatsParams) -> tuple[float, np.ndarray]:
    """The common component-histogram grid: edges at multiples of the bin width, widened when
    the data's range would need more than max_hist_bins bins."""
    width = params.hist_bin_width
    lo_all, hi_all = float(m.min.min()), float(m.max.max())
    n_bins = math.floor(hi_all / width) - math.floor(lo_all / width) + 1
    if n_bins > params.max_hist_bins:
        width *= math.ceil(n_bins / params.max_hist_bins)
    return width, uniform_edges(math.floor(lo_all / width) * width, width, hi_all)


def choose_slice_axes(corr: np.ndarray, params: StatsParams) -> tuple[int, int]:
    """The slice's two free axes: as given, or the most correlated pair."""
    if params.slice_axes is not None:
        return (int(params.slice_axes[0]), int(params.slice_axes[1]))
    iu = np.triu_indices(len(corr), 1)
    k = int(np.argmax(np.abs(corr[iu])))
    return (int(iu[0][k]), int(iu[1][k]))


def derive(m: Moments, params: StatsParams) -> Derived:
    """Covariance, correlation, PCA and the pass-2 grids from pass 1, all in float64."""
    cov = m.covariance
    zero_var = m.zero_variance
    corr = correlation_from_covariance(cov, zero_var)
    evals, ratio, comps = pca_from_covariance(cov)
    width, hist_edges = histogram_grid(m, params)
    std = np.sqrt(np.diag(cov))
    shape_lo, shape_width, shape_bins = shape_grid(m.mean, std)
    bound = m.radius_bound
    peak_width = bound / PEAK_BINS if bound > 0 else 1.0
    return Derived(
        mean=m.mean, std=std, min=m.min.astype(np.float64),
        max=m.max.astype(np.float64), covariance=cov, correlation=corr, zero_variance=zero_var,
        pca_eigenvalues=evals, pca_ratio=ratio, pca_components=comps,
        mahalanobis_scale=mahalanobis_scale(evals), hist_width=width, hist_edges=hist_edges,
        r_edges_coarse=uniform_edges(0.0, RADIUS_BIN_COARSE, m.radius_bound),
        r_edges_fine=uniform_edges(0.0, RADIUS_BIN_FINE, m.radius_bound),
        slice_axes=choose_slice_axes(corr, params), slice_axes_given=params.slice_axes is not None,
        peak_edges=uniform_edges(0.0, peak_width, bound), shape_lo=shape_lo,
        shape_width=shape_width, shape_bins=shape_bins,
    )


@dataclass
class Finished:
    """What pass 2's accumulators and arrays give: shape of each component, radius, p-quantile,
    and the bootstrap intervals of the headline numbers (95% percentile, None when undefined)."""

    half_width: np.ndarray
    mode: np.ndarray
    dominant: list[int]
    dominant_z_mean: np.ndarray  # robust z-score of the mean
    dominant_z_half_width: np.ndarray  # robust z-score of the std (the width, shape-free)
    radius: RadiusStats
    r_edges_coarse: np.ndarray
    r_edges_fine: np.ndarray
    r_coarse: np.ndarray
    r_fine: np.ndarray
    mahalanobis_q: float
    half_width_scaled: np.ndarray  # FWHM at a bin of std/4, data units (scale-free shape)
    fwhm_over_gaussian: np.ndarray  # half_width_scaled / (2.3548 std); NaN for constant ones
    peak: dict
    shape: dict
    pc1_share_interval: list[float] | None
    pca_ratio_intervals: dict


def _spectrum_estimates(ev: np.ndarray) -> dict[str, float | None]:
    """The PCA claim's numbers from the eigenvalues (None where a ratio is undefined)."""
    k = study.PCA_FLAT_AFTER
    tail = float(np.median(ev[k:])) if len(ev) > k else 0.0
    return {"share": float(ev[0] / ev.sum()) if ev.sum() > 0 else None,
            "lambda1_over_lambda2": float(ev[0] / ev[1]) if len(ev) > 1 and ev[1] > 0 else None,
            "tail": float(ev[k] / tail) if tail > 0 else None}


def _intervals(p2: Pass2Partial, d: Derived, params: StatsParams, keep: np.ndarray,
               peak_bw: float, est: dict[str, float | None]) -> dict[str, list | None]:
    """Bootstrap intervals (groups weighted by Poisson(1)) of the radius peak, the median shape
    ratio and study half-width over the kept components, and the first PCA share."""
    w = replicate_weights(params.seed, params.bootstrap_replicates)
    out = {"peak": interval(est["peak"], peak_replicates(p2.peak, d.peak_edges, w, peak_bw),
                            floor=0.0)}
    unit = np.full(len(d.mean), 1.0 / (SHAPE_BINS_PER_STD * 2.3548))
    out["shape"] = interval(est["shape"], median_replicates(p2.shape, w, keep, unit))
    out["hw"] = None
    if len(p2.hist_groups):
        out["hw"] = interval(est["hw"], median_replicates(p2.hist_groups, w, keep,
                                                         np.full(len(d.mean), d.hist_width)))
    reps = spectrum_replicates(axis_variance_replicates(p2.pc_sum, p2.pc_sq, p2.count, w),
                               study.PCA_FLAT_AFTER)
    for key in ("share", "lambda1_over_lambda2", "tail"):
        out[key] = interval(est.get(key), reps[key], floor=0.0) if key in reps else None
    return out


def finish(store: Store, layout: StatsLayout, n: int, params: StatsParams, d: Derived,
           p2: Pass2Partial) -> Finished:
    """finish_with the exact Mahalanobis quantile of the stored distances."""
    arr = store.open_array(layout.array("mahalanobis"))  # read in ~1M-value blocks
    maha_q = exact_quantile(lambda: (b for _, b in read_blocks(arr, itemsize=8)), n,
                            params.mahalanobis_quantile)
    return finish_with(n, params, d, p2, maha_q)


def finish_with(n: int, params: StatsParams, d: Derived, p2: Pass2Partial,
                maha_q: float) -> Finished:
    """Radius histograms trimmed to the true maximum (same edges), half-widths, modes, the
    dominant components and the bootstrap intervals (no I/O)."""
    rad = RadiusStats.of(p2.radius)
    r_edges_coarse = uniform_edges(0.0, RADIUS_BIN_COARSE, rad.max)
    r_edges_fine = uniform_edges(0.0, RADIUS_BIN_FINE, rad.max)
    r_coarse = p2.r_coarse[: len(r_edges_coarse) - 1]
    r_fine = p2.r_fine[: len(r_edges_fine) - 1]
    if r_coarse.sum() != n or r_fine.sum() != n:  # the bound held, so this cannot happen
        raise RuntimeError("radius histogram lost counts when trimmed to the maximum radius")
    hw = np.array([half_width(h, d.hist_edges) for h in p2.hist])
    live = ~d.zero_variance
    hw_scaled = fwhm_bins(p2.shape.sum(axis=0)) * d.shape_width
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(live, hw_scaled / (2.3548 * d.std), np.nan)
    se_mu, se_sd = moment_errors(p2.x_sum, p2.x_sq, p2.count,
                                 replicate_weights(params.seed, params.bootstrap_replicates))
    dominant, z_mu, z_hw = dominant_components(d.mean, d.std, d.zero_variance, se_mu, se_sd)
    keep = live.copy()
    keep[dominant] = False
    peak_counts = p2.peak.sum(axis=0)
    bw = silverman_bandwidth(peak_counts, d.peak_edges)
    est = {"peak": radius_peak(peak_counts, d.peak_edges, bw), "shape": _median(ratio[keep]),
           "hw": _median(hw[keep]), **_spectrum_estimates(d.pca_eigenvalues)}
    iv = _intervals(p2, d, params, keep, bw, est)
    return Finished(half_width=hw, mode=modes(p2.hist, d.hist_edges), dominant=dominant,
                    dominant_z_mean=z_mu, dominant_z_half_width=z_hw, radius=rad,
                    r_edges_coarse=r_edges_coarse, r_edges_fine=r_edges_fine, r_coarse=r_coarse,
                    r_fine=r_fine, mahalanobis_q=maha_q, half_width_scaled=hw_scaled,
                    fwhm_over_gaussian=ratio,
                    peak={"value": est["peak"], "interval": iv["peak"], "bandwidth": bw,
                          "coarse": radius_peak(r_coarse, r_edges_coarse,
                                                max(bw, RADIUS_BIN_COARSE))},
                    shape={"median_fwhm_over_gaussian": est["shape"], "interval": iv["shape"],
                           "median_half_width": est["hw"], "half_width_interval": iv["hw"],
                           "components": int(keep.sum())},
                    pc1_share_interval=iv["share"],
                    pca_ratio_intervals={"lambda1_over_lambda2": iv["lambda1_over_lambda2"],
                                         f"lambda{study.PCA_FLAT_AFTER + 1}_over_tail_median":
                                         iv["tail"]})


def _median(v: np.ndarray) -> float | None:
    return float(np.median(v)) if len(v) else None
