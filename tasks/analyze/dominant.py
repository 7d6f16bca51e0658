"""Dominant components: those whose mean or spread stands out from the others by a robust
z-score, each with its own bootstrap error (DOMINANT_RULE)."""

from __future__ import annotations

import functools

import numpy as np

ROBUST_Z_LIMIT = 3.5  # the usual cut for a median/MAD ("modified") z-score outlier


def robust_z(values: np.ndarray) -> np.ndarray:
    """(v - median) / (1.4826 MAD); falls back to the mean absolute deviation (x 1.2533) when
    more than half the values are equal, and to 0 when all are."""
    v = np.asarray(values, dtype=np.float64)
    med = np.median(v)
    dev = np.abs(v - med)
    scale = 1.4826 * np.median(dev)
    if scale == 0:
        scale = 1.2533 * dev.mean()
    if scale == 0:
        return np.zeros_like(v)
    return (v - med) / scale


DOMINANT_ALPHA = 0.05  # family-wise false-positive rate over all components and both scores
DOMINANT_RULE = (
    "dominant: robust z-score z = (v - median) / sqrt((1.4826 MAD)^2 + se^2) over the components "
    "that are not constant, of the mean (two-sided) or of the std (one-sided: only wide; a "
    "Gaussian's half-width is 2.3548 std, and the std does not react to shape), se = the "
    "component's own bootstrap standard error; flagged beyond the cut that k standard normal "
    "values pass with probability 0.025 per score (their largest robust z, simulated; "
    "family-wise 5% over both scores and all k components), and at least 3.5"
)


@functools.cache
def dominant_cut(k: int, two_sided: bool) -> float:
    """The robust-z cut of DOMINANT_RULE for k components: the 1 - DOMINANT_ALPHA / 2 quantile of
    the largest robust z among k standard normal values (2,000 seeded simulations: the MAD's
    own error is in it, which a plain Bonferroni cut leaves out), and at least 3.5."""
    rng = np.random.default_rng(20_231)
    v = rng.standard_normal((2000, max(k, 3)))
    med = np.median(v, axis=1, keepdims=True)
    z = (v - med) / (1.4826 * np.median(np.abs(v - med), axis=1, keepdims=True))
    top = np.abs(z).max(axis=1) if two_sided else z.max(axis=1)
    return max(ROBUST_Z_LIMIT, float(np.quantile(top, 1 - DOMINANT_ALPHA / 2)))


def _robust_z_se(v: np.ndarray, se: np.ndarray) -> np.ndarray:
    """robust_z with each value's own sampling error added to the spread, so that values that
    agree within their errors (e.g. standardised means) never look like outliers."""
    med = np.median(v)
    mad = 1.4826 * np.median(np.abs(v - med))
    scale = np.sqrt(mad**2 + se**2)
    return np.where(scale > 0, (v - med) / np.where(scale > 0, scale, 1.0), 0.0)


def dominant_components(
    mean: np.ndarray, std: np.ndarray, zero_variance: np.ndarray, se_mean: np.ndarray,
    se_std: np.ndarray
) -> tuple[list[int], np.ndarray, np.ndarray]:
    """Indices flagged by DOMINANT_RULE, and the two robust z-scores (0 for constant
    components); se_*: each component's standard errors (bootstrap)."""
    live = ~np.asarray(zero_variance, dtype=bool)
    z_mu = np.zeros(len(mean))
    z_sd = np.zeros(len(mean))
    k = int(live.sum())
    if k >= 3:  # a median and a spread need a few components
        z_mu[live] = _robust_z_se(mean[live], se_mean[live])
        z_sd[live] = _robust_z_se(std[live], se_std[live])
    dom = np.flatnonzero((np.abs(z_mu) > dominant_cut(k, True)) | (z_sd > dominant_cut(k, False)))
    return [int(i) for i in dom], z_mu, z_sd

