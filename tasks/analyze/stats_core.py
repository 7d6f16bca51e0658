"""Numerical kernels of the latent statistics: pure numpy, no I/O, no dask.

Everything here works on one block of rows at a time, or on the small merged accumulators,
so that :mod:`zspace.tasks.analyze.passes` can stream any N through them. Accumulation is float64
throughout; the Gram matrix is taken of data shifted by a fixed reference (the first
block's mean), which keeps ``G - s s^T / n`` free of catastrophic cancellation when the
latent cloud sits far from the origin.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

CORRELATION_THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
ROBUST_Z_LIMIT = 3.5  # the usual cut for a median/MAD ("modified") z-score outlier


# -- pass 1: moments -----------------------------------------------------------------------
@dataclass
class Moments:
    """Mergeable pass-1 accumulators over rows of an (N, z) array.

    ``s`` and ``gram`` are sums of ``x - shift`` and ``(x - shift)^T (x - shift)``; partial
    results with the same shift add. Kept to what the covariance needs plus min/max (cheap on
    the stored dtype), so that the pass costs little more than the Gram matrix itself.
    """

    n: int
    shift: np.ndarray
    s: np.ndarray
    gram: np.ndarray
    min: np.ndarray
    max: np.ndarray

    @classmethod
    def empty(cls, shift: np.ndarray) -> Moments:
        z = len(shift)
        return cls(
            n=0,
            shift=np.asarray(shift, dtype=np.float64),
            s=np.zeros(z),
            gram=np.zeros((z, z)),
            min=np.full(z, np.inf),
            max=np.full(z, -np.inf),
        )

    def update(self, x: np.ndarray) -> None:
        """Add one block of rows (any real dtype)."""
        if len(x) == 0:
            return
        np.minimum(self.min, x.min(axis=0), out=self.min)
        np.maximum(self.max, x.max(axis=0), out=self.max)
        d = x.astype(np.float64)  # always a fresh copy, safe to shift in place
        d -= self.shift
        self.s += d.sum(axis=0)
        self.gram += d.T @ d  # numpy sends X^T X to BLAS syrk
        self.n += len(x)

    def merge(self, other: Moments) -> Moments:
        if not np.array_equal(self.shift, other.shift):
            raise ValueError("cannot merge moments taken about different shifts")
        return Moments(
            n=self.n + other.n,
            shift=self.shift,
            s=self.s + other.s,
            gram=self.gram + other.gram,
            min=np.minimum(self.min, other.min),
            max=np.maximum(self.max, other.max),
        )

    # -- derived -------------------------------------------------------------------------
    @property
    def mean(self) -> np.ndarray:
        return self.shift + self.s / self.n

    @property
    def zero_variance(self) -> np.ndarray:
        """Exactly constant components (min == max): decided from the data, not a tolerance."""
        return self.min == self.max

    @property
    def covariance(self) -> np.ndarray:
        """Sample covariance (ddof=1, as np.cov)."""
        cov = (self.gram - np.outer(self.s, self.s) / self.n) / (self.n - 1)
        cov = (cov + cov.T) / 2
        zv = self.zero_variance
        cov[zv, :] = 0.0
        cov[:, zv] = 0.0
        d = np.diag(cov).copy()
        d[d < 0] = 0.0
        np.fill_diagonal(cov, d)
        return cov

    @property
    def radius_bound(self) -> float:
        """No vector is longer than this (from the per-component extremes)."""
        return float(np.sqrt(np.sum(np.maximum(self.min**2, self.max**2))))

    @property
    def rms_radius(self) -> float:
        """sqrt(E ||z||^2): a shift for the radius moments close to their mean."""
        return float(np.sqrt(np.sum(self.mean**2) + np.trace(self.covariance) * (self.n - 1) / self.n))


@dataclass
class RadiusMoments:
    """Mergeable moments of the radius ||z||, taken about a fixed shift (pass 2)."""

    shift: float
    n: int = 0
    s: float = 0.0
    ss: float = 0.0
    min: float = np.inf
    max: float = -np.inf

    def update(self, r: np.ndarray) -> None:
        if len(r) == 0:
            return
        d = r - self.shift
        self.n += len(r)
        self.s += float(d.sum())
        self.ss += float(d @ d)
        self.min = min(self.min, float(r.min()))
        self.max = max(self.max, float(r.max()))

    def merge(self, other: RadiusMoments) -> RadiusMoments:
        return RadiusMoments(self.shift, self.n + other.n, self.s + other.s, self.ss + other.ss,
                             min(self.min, other.min), max(self.max, other.max))

    @property
    def mean(self) -> float:
        return self.shift + self.s / self.n

    @property
    def std(self) -> float:
        """ddof=1."""
        var = (self.ss - self.s**2 / self.n) / (self.n - 1)
        return float(np.sqrt(max(var, 0.0)))


def merge_all(parts: Iterable[Moments]) -> Moments:
    parts = list(parts)
    out = parts[0]
    for p in parts[1:]:
        out = out.merge(p)
    return out


def correlation_from_covariance(cov: np.ndarray, zero_variance: np.ndarray) -> np.ndarray:
    """Pearson r; rows and columns of zero-variance components are 0 (diagonal included)."""
    std = np.sqrt(np.diag(cov))
    safe = np.where(zero_variance | (std == 0), 1.0, std)
    corr = cov / np.outer(safe, safe)
    np.clip(corr, -1.0, 1.0, out=corr)
    dead = zero_variance | (std == 0)
    corr[dead, :] = 0.0
    corr[:, dead] = 0.0
    idx = np.flatnonzero(~dead)
    corr[idx, idx] = 1.0
    return corr


def correlation_counts(corr: np.ndarray, thresholds: Sequence[float] = CORRELATION_THRESHOLDS) -> dict[str, int]:
    """Pairs i<j with |r| > t, keyed by the threshold as written ("0.1" ... "0.9")."""
    a = np.abs(corr[np.triu_indices(len(corr), 1)])
    return {f"{t:g}": int(np.count_nonzero(a > t)) for t in thresholds}


def correlated_pairs(corr: np.ndarray, threshold: float) -> list[list]:
    """[i, j, r] for i<j with |r| > threshold, strongest first (ties by i, j)."""
    i, j = np.triu_indices(len(corr), 1)
    r = corr[i, j]
    keep = np.abs(r) > threshold
    i, j, r = i[keep], j[keep], r[keep]
    order = np.lexsort((j, i, -np.abs(r)))
    return [[int(i[k]), int(j[k]), float(r[k])] for k in order]


def pca_from_covariance(cov: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Eigenvalues (descending, >= 0), explained-variance ratios, components (rows).

    Signs follow scikit-learn's convention: the largest-magnitude entry of each component is
    positive, so our components equal sklearn's PCA(svd_solver="full") ones, not just up to sign.
    """
    evals, evecs = np.linalg.eigh(cov)
    order = np.argsort(evals)[::-1]
    evals = np.clip(evals[order], 0.0, None)
    comps = evecs[:, order].T.copy()
    big = np.argmax(np.abs(comps), axis=1)
    signs = np.sign(comps[np.arange(len(comps)), big])
    signs[signs == 0] = 1.0
    comps *= signs[:, None]
    total = evals.sum()
    ratio = evals / total if total > 0 else np.zeros_like(evals)
    return evals, ratio, comps


def mahalanobis_scale(evals: np.ndarray) -> np.ndarray:
    """1/sqrt(eigenvalue) per principal axis; 0 for null directions (a pseudo-inverse), so a
    constant component neither breaks nor dominates the distance."""
    tol = evals.max() * 1e-10 if len(evals) and evals.max() > 0 else 0.0
    out = np.zeros_like(evals)
    keep = evals > tol
    out[keep] = 1.0 / np.sqrt(evals[keep])
    return out


def pca_coordinates(x: np.ndarray, mean: np.ndarray, components: np.ndarray) -> np.ndarray:
    """Rows in PCA coordinates: (x - mean) @ components.T, in float64."""
    return (np.asarray(x, dtype=np.float64) - mean) @ components.T


def mahalanobis_of_coordinates(pc: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Mahalanobis distance of rows already in PCA coordinates (scale from
    :func:`mahalanobis_scale`): the one place the distance is computed."""
    scaled = pc * scale
    return np.sqrt(np.einsum("ij,ij->i", scaled, scaled))


def mahalanobis(x: np.ndarray, mean: np.ndarray, components: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Distance of each row to the fitted Gaussian N(mean, cov) (pseudo-inverse on null axes)."""
    return mahalanobis_of_coordinates(pca_coordinates(x, mean, components), scale)


# -- histograms ---------------------------------------------------------------------------
def uniform_edges(lo: float, width: float, vmax: float) -> np.ndarray:
    """Edges lo, lo+w, ... with the last edge strictly above vmax, so every bin is half-open."""
    nb = max(1, int(np.floor((vmax - lo) / width)) + 1)
    edges = lo + width * np.arange(nb + 1, dtype=np.float64)
    while edges[-1] <= vmax:
        edges = np.append(edges, lo + width * len(edges))
    return edges


def bin_index(x: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin of each value, identical to np.histogram(x, bins=edges) (which uses searchsorted):
    a fast floor on the uniform grid, then corrected against the stored edges."""
    nb = len(edges) - 1
    lo = edges[0]
    width = (edges[-1] - lo) / nb
    xf = np.asarray(x, dtype=np.float64)
    idx = np.floor((xf - lo) / width).astype(np.intp)
    np.clip(idx, 0, nb - 1, out=idx)
    idx -= (xf < edges[idx]) & (idx > 0)
    idx += (xf >= edges[idx + 1]) & (idx < nb - 1)
    return idx


def component_histograms(x: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts (z, n_bins) of every component on the common edges, in one bincount."""
    nb = len(edges) - 1
    z = x.shape[1]
    idx = bin_index(x, edges)
    idx += np.arange(z, dtype=np.intp) * nb
    return np.bincount(idx.ravel(), minlength=z * nb).reshape(z, nb)


def histogram(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    return np.bincount(bin_index(values, edges), minlength=len(edges) - 1)


def half_width(counts: np.ndarray, edges: np.ndarray) -> float:
    """Full width at half maximum of one histogram.

    From the (first) highest bin, walk outwards on each side to the first bin whose count is
    below half the maximum, and interpolate linearly between that bin's centre and its inner
    neighbour's centre where the count crosses half the maximum. Outside the grid counts are 0.
    A single occupied bin gives one bin width: the resolution of the histogram.
    """
    h = np.concatenate([[0.0], np.asarray(counts, dtype=np.float64), [0.0]])
    width = edges[1] - edges[0]
    centres = np.concatenate(
        [[edges[0] - width / 2], (edges[:-1] + edges[1:]) / 2, [edges[-1] + width / 2]]
    )
    p = int(np.argmax(h))
    top = h[p]
    if top <= 0:
        return 0.0
    half = top / 2
    i = p
    while h[i - 1] >= half:
        i -= 1
    left = centres[i - 1] + (half - h[i - 1]) / (h[i] - h[i - 1]) * (centres[i] - centres[i - 1])
    j = p
    while h[j + 1] >= half:
        j += 1
    right = centres[j] + (h[j] - half) / (h[j] - h[j + 1]) * (centres[j + 1] - centres[j])
    return float(right - left)


def modes(counts: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Centre of each histogram's highest bin (how the study read off a component's centre)."""
    centres = (edges[:-1] + edges[1:]) / 2
    return centres[np.argmax(counts, axis=1)]


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


def wasserstein_binned(counts_a: np.ndarray, counts_b: np.ndarray, width: float) -> float:
    """Wasserstein-1 between two distributions binned on the same uniform grid:
    the integral of |F_a - F_b| with the CDFs taken at the bin edges (resolution: one bin)."""
    n = max(len(counts_a), len(counts_b))
    a = np.zeros(n)
    b = np.zeros(n)
    a[: len(counts_a)] = counts_a
    b[: len(counts_b)] = counts_b
    fa = np.cumsum(a) / max(a.sum(), 1)
    fb = np.cumsum(b) / max(b.sum(), 1)
    return float(np.abs(fa - fb).sum() * width)


# -- exact quantile of a 1-D array that is read block by block ----------------------------
def exact_quantile(
    read_blocks: Callable[[], Iterable[np.ndarray]], n: int, q: float, max_gather: int = 1 << 20
) -> float:
    """np.quantile(values, q) (linear interpolation) of n values that are only ever seen one
    block at a time: narrow a value range by histogram until the wanted order statistics
    fit in memory, then sort those few. Memory: one block plus max_gather values."""
    if n == 0:
        raise ValueError("quantile of no values")
    h = (n - 1) * q
    k = int(np.floor(h))
    lo_v = _kth_value(read_blocks, n, k, max_gather)
    if k + 1 >= n or h == k:
        return lo_v
    hi_v = _kth_value(read_blocks, n, k + 1, max_gather)
    return float(lo_v + (h - k) * (hi_v - lo_v))


def _kth_value(read_blocks: Callable[[], Iterable[np.ndarray]], n: int, k: int, max_gather: int) -> float:
    lo, hi = -np.inf, np.inf
    below = 0  # values < lo (all of them rank below k)
    n_bins = 4096
    while True:
        # values in [lo, hi]; gather them if few enough
        inside = sum(int(np.count_nonzero((b >= lo) & (b <= hi))) for b in read_blocks())
        if inside <= max_gather:
            vals = np.concatenate([b[(b >= lo) & (b <= hi)] for b in read_blocks()] or [np.empty(0)])
            vals.sort()
            return float(vals[k - below])
        if np.isinf(lo) or np.isinf(hi):
            lo = min(float(b.min()) for b in read_blocks() if len(b))
            hi = max(float(b.max()) for b in read_blocks() if len(b))
            continue
        if lo == hi:
            return float(lo)
        scale = n_bins / (hi - lo)

        def idx_of(b: np.ndarray, lo: float = lo, scale: float = scale) -> np.ndarray:
            if not np.isfinite(scale):  # lo and hi are (nearly) adjacent floats
                return np.where(b > lo, n_bins - 1, 0)
            return np.minimum(np.floor((b - lo) * scale).astype(np.intp), n_bins - 1)

        counts = np.zeros(n_bins, dtype=np.int64)
        for b in read_blocks():
            v = b[(b >= lo) & (b <= hi)]
            counts += np.bincount(idx_of(v), minlength=n_bins)
        cum = np.cumsum(counts)
        target = int(np.searchsorted(cum, k - below, side="right"))
        new_lo, new_hi = np.inf, -np.inf
        for b in read_blocks():  # idx_of is monotone in the value: bin target is an interval
            v = b[(b >= lo) & (b <= hi)]
            v = v[idx_of(v) == target]
            if len(v):
                new_lo, new_hi = min(new_lo, float(v.min())), max(new_hi, float(v.max()))
        below += int(cum[target - 1]) if target > 0 else 0
        lo, hi = new_lo, new_hi


# -- artificial vectors -------------------------------------------------------------------
def artificial_batches(z_dim: int, b: float, n: int, seed: int, batch: int = 4096):
    """Uniform vectors in [-b, b]^z_dim, in batches; the stream depends only on (seed, b),
    so each b's sample is the same whichever other b are studied."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(round(b * 1000))]))
    done = 0
    while done < n:
        m = min(batch, n - done)
        yield rng.uniform(-b, b, size=(m, z_dim))
        done += m
