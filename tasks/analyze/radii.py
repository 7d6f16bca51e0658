"""The radius ||z|| of every vector: its moments (one column of :class:`Moments`), its peak by a
kernel density with a stated bandwidth rule, reflected at R = 0, that peak's bootstrap
replicates, and the Wasserstein-1 distance between two binned radius distributions."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zspace.tasks.analyze.moments import Moments

PEAK_BINS = 8192  # the radius-peak histogram: [0, radius bound] in this many bins
PEAK_RULE = (
    "peak: argmax of a Gaussian kernel density of the radii, binned at (radius bound)/8192 from 0, "
    "bandwidth by Silverman's rule 0.9 min(std, IQR/1.34) n^(-1/5) (at least one bin), reflected "
    "at R = 0 (radii are >= 0) and divided by the kernel mass inside the histogram's range at its "
    "far end; peak_coarse: the same kernel on the 0.5 histogram"
)


@dataclass(frozen=True)
class RadiusStats:
    """Mean, std (ddof=1), min and max of the radii, from their :class:`Moments` (one column)."""

    mean: float
    std: float
    min: float
    max: float

    @classmethod
    def of(cls, m: Moments) -> RadiusStats:
        return cls(float(m.mean[0]), float(m.std[0]), float(m.min[0]), float(m.max[0]))


def silverman_bandwidth(counts: np.ndarray, edges: np.ndarray) -> float:
    """0.9 min(std, IQR/1.34) n^(-1/5) of the binned values (bin centres), at least one bin."""
    c = np.asarray(counts, dtype=np.float64)
    width = float(edges[1] - edges[0])
    n = c.sum()
    if n < 2:
        return width
    centres = (edges[:-1] + edges[1:]) / 2
    mu = (c @ centres) / n
    sd = np.sqrt(max((c @ (centres - mu) ** 2) / (n - 1), 0.0))
    cum = np.cumsum(c) / n
    q1, q3 = centres[np.searchsorted(cum, 0.25)], centres[np.searchsorted(cum, 0.75)]
    spread = min(sd, (q3 - q1) / 1.34) if q3 > q1 else sd
    return max(width, 0.9 * spread * n ** -0.2)


def smooth_reflected(counts: np.ndarray, edges: np.ndarray, bandwidth: float) -> np.ndarray:
    """Gaussian kernel smoothing of counts (rows of a 2-D array: one histogram each), reflected
    about edges[0] when it is 0 and divided by the kernel mass inside the range at the far end."""
    h = np.atleast_2d(np.asarray(counts, dtype=np.float64))
    nb = h.shape[1]
    width = float(edges[1] - edges[0])
    s = max(bandwidth / width, 1e-9)
    r = max(1, int(np.ceil(4 * s)))
    kernel = np.exp(-0.5 * (np.arange(-r, r + 1) / s) ** 2)
    reflect = edges[0] == 0
    left = h[:, ::-1] if reflect else np.zeros_like(h)
    pad = np.zeros((h.shape[0], r))
    ext = np.concatenate([pad, left, h, pad], axis=1)
    mask = np.concatenate([np.zeros(r), np.full(nb, float(reflect)), np.ones(nb), np.zeros(r)])
    den = np.convolve(mask, kernel, mode="same")[r + nb : r + 2 * nb]
    num = np.stack([np.convolve(e, kernel, mode="same")[r + nb : r + 2 * nb] for e in ext])
    return num / den


def coarsen(counts: np.ndarray, edges: np.ndarray, bandwidth: float
            ) -> tuple[np.ndarray, np.ndarray]:
    """Bins merged by a whole factor while still under a quarter of the bandwidth (the kernel
    then spans few bins; the peak moves by under bandwidth/8), zero bins added at the far end."""
    width = float(edges[1] - edges[0])
    f = max(1, int(bandwidth / (4 * width)))
    if f == 1:
        return counts, edges
    c = np.atleast_2d(counts)
    nb = -(-c.shape[1] // f) * f
    padded = np.zeros((c.shape[0], nb))
    padded[:, : c.shape[1]] = c
    merged = padded.reshape(c.shape[0], nb // f, f).sum(axis=2)
    return merged.reshape(*np.shape(counts)[:-1], nb // f), edges[0] + width * f * np.arange(nb // f + 1)


def radius_peak(counts: np.ndarray, edges: np.ndarray, bandwidth: float | None = None
                ) -> float | None:
    """The radius at the highest point of the smoothed histogram (PEAK_RULE); None when empty.
    bandwidth None: Silverman's rule on these counts."""
    c = np.asarray(counts, dtype=np.float64)
    if len(c) == 0 or c.sum() <= 0:
        return None
    bw = silverman_bandwidth(c, edges) if bandwidth is None else bandwidth
    cc, ce = coarsen(c, edges, bw)
    dens = smooth_reflected(cc, ce, bw)[0]
    coarse = float(((ce[:-1] + ce[1:]) / 2)[int(np.argmax(dens))])
    return _refine(c, edges, bw, coarse, float(ce[1] - ce[0]))


def _refine(c: np.ndarray, edges: np.ndarray, bw: float, near: float, span: float) -> float:
    """The same smoothed density evaluated on the original bins within 2 `span` of `near`
    (the merged grid's peak), directly: the peak at the original resolution."""
    centres = (edges[:-1] + edges[1:]) / 2
    win = np.flatnonzero(np.abs(centres - near) <= 2 * span)
    if span <= edges[1] - edges[0] or len(win) == 0:
        return near
    use = np.flatnonzero(np.abs(centres - near) <= 2 * span + 4 * bw)
    d = centres[win][:, None] - centres[use][None, :]
    k = np.exp(-0.5 * (d / bw) ** 2)
    den = k.sum(axis=1)
    num = k @ c[use]
    if edges[0] == 0:  # the reflection at R = 0
        kr = np.exp(-0.5 * ((centres[win][:, None] + centres[use][None, :]) / bw) ** 2)
        num, den = num + kr @ c[use], den + kr.sum(axis=1)
    return float(centres[win][int(np.argmax(num / den))])



def peak_replicates(grouped: np.ndarray, edges: np.ndarray, weights: np.ndarray,
                    bandwidth: float) -> np.ndarray:
    """The radius peak of each bootstrap replicate (same bandwidth as the estimate)."""
    reps, edges = coarsen(weights.astype(np.float64) @ grouped.astype(np.float64), edges,
                          bandwidth)
    centres = (edges[:-1] + edges[1:]) / 2
    dens = smooth_reflected(reps, edges, bandwidth)
    return centres[np.argmax(dens, axis=1)]



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

