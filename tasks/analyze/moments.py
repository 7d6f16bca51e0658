"""Means, variances and histograms of streamed rows: the one moment accumulator and the
histogram kernels. Pure numpy, no I/O, no dask.

:class:`Moments` is every streamed moment in the package: pass 1 over the latents, the radius
in pass 2 (one column), and the pair statistics of components and factors (the columns side by
side). It works on one block of rows at a time and merges partial results, so any N streams
through it. Accumulation is float64 throughout; the Gram matrix is taken of data shifted by a
fixed reference (the first block's mean), which keeps ``G - s s^T / n`` free of catastrophic
cancellation when the cloud sits far from the origin.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np


@dataclass
class Moments:
    """Mergeable moments of the rows of an (N, k) array.

    ``s`` and ``gram`` are sums of ``x - shift`` and ``(x - shift)^T (x - shift)``; partial
    results with the same shift add. Kept to what the covariance needs plus min/max (cheap on
    the stored dtype), so that a pass costs little more than the Gram matrix itself.
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

    @property
    def std(self) -> np.ndarray:
        """Per column, ddof=1 (0 for a constant column)."""
        return np.sqrt(np.diag(self.covariance))


def merge_all(parts: Iterable[Moments]) -> Moments:
    parts = list(parts)
    out = parts[0]
    for p in parts[1:]:
        out = out.merge(p)
    return out


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

