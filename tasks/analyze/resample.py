"""The streamed bootstrap, and the scale-free shape histograms it resamples: per-component
histograms whose bin follows each component's std, and the grouped bootstrap that gives the
radius peak (:mod:`.radii`), the widths and the PCA shares an interval.

The bootstrap is streamed: pass 2 assigns each row to one of GROUPS random groups (seeded by the
block, so the same for any worker count) and keeps one histogram per group; a replicate weights
the groups by Poisson(1) draws. For statistics of a histogram's *shape* (a peak, a width) this has
the row bootstrap's variance, as the groups are independent random subsets of the rows.
"""

from __future__ import annotations

import numpy as np

GROUPS = 32  # random row groups kept by pass 2 for the bootstrap
REPLICATES = 200  # bootstrap replicates drawn from the groups
CROP_MARGIN = 4  # bins kept beyond the half-maximum regions when replicating widths
SHAPE_BINS_PER_STD = 4  # shape histograms: bin = std / 4 ...
SHAPE_RANGE_STD = 8.0  # ... over mean +- 8 std (the half-maximum region of any unimodal shape)


def row_groups(seed: int, start: int, m: int, groups: int = GROUPS) -> np.ndarray:
    """Random group of each of the m rows of the block starting at row `start`."""
    return np.random.default_rng([int(seed), int(start)]).integers(groups, size=m)


def grouped_histogram(values: np.ndarray, groups: np.ndarray, edges: np.ndarray,
                      n_groups: int = GROUPS) -> np.ndarray:
    """(n_groups, nb) counts of 1-D values on uniform edges starting at edges[0]."""
    nb = len(edges) - 1
    width = (edges[-1] - edges[0]) / nb
    idx = np.clip(np.floor((values - edges[0]) / width).astype(np.intp), 0, nb - 1)
    return np.bincount(groups * nb + idx, minlength=n_groups * nb).reshape(n_groups, nb)


def shape_grid(mean: np.ndarray, std: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Per-component lower edge and bin width of the shape histograms, and their bin count.
    A constant component gets width 1 around its value (one spike; it is never judged)."""
    live = std > 0
    width = np.where(live, std / SHAPE_BINS_PER_STD, 1.0)
    lo = np.where(live, mean - SHAPE_RANGE_STD * std, mean - 0.5)
    return lo, width, int(2 * SHAPE_RANGE_STD * SHAPE_BINS_PER_STD)


def grouped_shape_histograms(x: np.ndarray, groups: np.ndarray, lo: np.ndarray, width: np.ndarray,
                             nb: int, n_groups: int = GROUPS) -> np.ndarray:
    """(n_groups, z, nb) counts of each component on its own grid; values off the grid
    (beyond 8 std) are left out."""
    z = x.shape[1]
    idx = np.floor((np.asarray(x, dtype=np.float64) - lo) / width)
    ok = (idx >= 0) & (idx < nb)
    flat = (groups[:, None] * z + np.arange(z)) * nb + np.where(ok, idx, 0).astype(np.intp)
    return np.bincount(flat[ok], minlength=n_groups * z * nb).reshape(n_groups, z, nb)


def replicate_weights(seed: int, replicates: int = REPLICATES, groups: int = GROUPS) -> np.ndarray:
    """(replicates, groups) Poisson(1) weights, fixed by the seed."""
    return np.random.default_rng([int(seed), 7919]).poisson(1.0, size=(replicates, groups))



def interval(estimate: float | None, values: np.ndarray, level: float = 0.95,
             floor: float = -np.inf) -> list[float] | None:
    """Basic (reverse-percentile) bootstrap interval [2 t - q_hi, 2 t - q_lo], at least floor:
    it corrects the shift of a replicate histogram's extra noise (a peak's height, a width),
    which the plain percentile interval carries along; None without an estimate or replicates."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if estimate is None or not np.isfinite(estimate) or len(v) < 2:
        return None
    a = (1 - level) / 2
    lo, hi = np.quantile(v, [a, 1 - a])
    return [float(max(2 * estimate - hi, floor)), float(max(2 * estimate - lo, floor))]



def fwhm_bins(counts: np.ndarray) -> np.ndarray:
    """Full width at half maximum, in bins, of each histogram along the last axis: the rule of
    moments.half_width (first highest bin, walk out to the first bin below half, linear
    interpolation between bin centres, zero outside), vectorised over all histograms."""
    c = np.asarray(counts, dtype=np.float64)
    flat = c.reshape(-1, c.shape[-1])
    h = np.zeros((len(flat), flat.shape[1] + 2))
    h[:, 1:-1] = flat
    rows, nb = np.arange(len(h)), h.shape[1]
    p = np.argmax(h, axis=1)
    top = h[rows, p]
    half = top / 2
    j = np.arange(nb)
    below = h < half[:, None]
    i = np.where(below & (j < p[:, None]), j, -1).max(axis=1) + 1  # last bin >= half, left
    k = np.where(below & (j > p[:, None]), j, nb).min(axis=1) - 1  # last bin >= half, right
    i, k = np.clip(i, 1, nb - 1), np.clip(k, 0, nb - 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        left = (i - 1) + (half - h[rows, i - 1]) / (h[rows, i] - h[rows, i - 1])
        right = k + (h[rows, k] - half) / (h[rows, k] - h[rows, k + 1])
    out = np.where(top > 0, right - left, 0.0)
    return out.reshape(c.shape[:-1])


def median_replicates(grouped: np.ndarray, weights: np.ndarray, keep: np.ndarray,
                      scale: np.ndarray) -> np.ndarray:
    """Per replicate: the median over the kept components of fwhm_bins x scale, from the
    (groups, z, nb) histograms weighted by each replicate's group weights."""
    if not keep.any():
        return np.full(len(weights), np.nan)
    g = grouped[:, keep, :]
    total = g.sum(axis=0)
    high = np.flatnonzero((total >= total.max(axis=1, keepdims=True) / 2).any(axis=0))
    lo, hi = max(0, high[0] - CROP_MARGIN), min(g.shape[2], high[-1] + 1 + CROP_MARGIN)
    g = g[:, :, lo:hi].astype(np.float64)  # the bins around every half-maximum region
    reps = (weights.astype(np.float64) @ g.reshape(len(g), -1)).reshape(len(weights),
                                                                        *g.shape[1:])
    return np.median(fwhm_bins(reps) * scale[keep], axis=1)


def axis_variance_replicates(pc_sum: np.ndarray, pc_sq: np.ndarray, count: np.ndarray,
                             weights: np.ndarray) -> np.ndarray:
    """(replicates, z): the variance along each fixed principal axis per replicate, from
    per-group sums of the PCA coordinates (first order in the covariance's change)."""
    w = weights.astype(np.float64)
    n = (w @ count)[:, None]
    return np.maximum((w @ pc_sq) / n - ((w @ pc_sum) / n) ** 2, 0.0)


def spectrum_replicates(var: np.ndarray, k: int) -> dict[str, np.ndarray]:
    """Per replicate: the first axis's share of the variance, lambda1 / lambda2 and
    lambda_(k+1) / the median of lambda_(k+1).. (the PCA claim's ratios)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        out = {"share": var[:, 0] / var.sum(axis=1)}
        if var.shape[1] > 1:
            out["lambda1_over_lambda2"] = var[:, 0] / var[:, 1]
        if var.shape[1] > k:
            out["tail"] = var[:, k] / np.median(var[:, k:], axis=1)
    return out


def moment_errors(x_sum: np.ndarray, x_sq: np.ndarray, count: np.ndarray,
                  weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bootstrap standard errors of each component's mean and std, from per-group sums of the
    centred rows (they follow the tails: a heavy-tailed component's std is less certain)."""
    w = weights.astype(np.float64)
    n = (w @ count)[:, None]
    m = (w @ x_sum) / n
    var = np.maximum((w @ x_sq) / n - m**2, 0.0) * n / np.maximum(n - 1, 1)
    return m.std(axis=0, ddof=1), np.sqrt(var).std(axis=0, ddof=1)
