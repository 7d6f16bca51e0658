"""Artificial "statistical" vectors: every component uniform in [-b, b], as the study drew them
to test whether independent components give vectors of the data's length and inside its cloud.

For each b: the radius histogram, the Wasserstein-1 distance of its radii to the data's, and the
share of vectors inside the data cloud by Mahalanobis distance. Reproducible:
:func:`artificial_vectors` (z_dim, b, n, seed) gives the very vectors the analysis used.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from zspace.tasks.analyze.correlation import mahalanobis
from zspace.tasks.analyze.moments import histogram, uniform_edges
from zspace.tasks.analyze.params import RADIUS_BIN_COARSE, RADIUS_BIN_FINE, StatsParams
from zspace.tasks.analyze.radii import RadiusStats, wasserstein_binned


def artificial_batches(z_dim: int, b: float, n: int, seed: int, batch: int = 4096
                       ) -> Iterator[np.ndarray]:
    """Uniform vectors in [-b, b]^z_dim, in batches; the stream depends only on (seed, b),
    so each b's sample is the same whichever other b are studied."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(round(b * 1000))]))
    done = 0
    while done < n:
        m = min(batch, n - done)
        yield rng.uniform(-b, b, size=(m, z_dim))
        done += m


def artificial_vectors(z_dim: int, b: float, n: int, seed: int = 0) -> np.ndarray:
    """The artificial vectors the analysis used for this b: uniform in [-b, b]^z_dim; the
    first n of its sample of n_artificial (same seed)."""
    return np.concatenate(list(artificial_batches(z_dim, b, n, seed)))


@dataclass
class ArtificialResult:
    """Per b (in params.artificial_b order): radius histograms, W1 and share inside."""

    hist: np.ndarray  # (n_b, nb) radius histograms, bin 0.5 from 0
    edges: np.ndarray
    data_hist: np.ndarray  # the data's radius histogram on that grid
    inside: np.ndarray
    w1: np.ndarray
    rows: list[dict[str, Any]]
    best_b: float
    matching_b: list[float]


def _radii_and_inside(params: StatsParams, z: int, mean: np.ndarray, comps: np.ndarray,
                      scale: np.ndarray, maha_q: float) -> tuple[list[np.ndarray], list[float]]:
    radii, inside = [], []
    for b in params.artificial_b:
        r_b, d_b = [], []
        for u in artificial_batches(z, b, params.n_artificial, params.seed):
            r_b.append(np.sqrt(np.einsum("ij,ij->i", u, u)))
            d_b.append(mahalanobis(u, mean, comps, scale))
        radii.append(np.concatenate(r_b))
        inside.append(float(np.mean(np.concatenate(d_b) < maha_q)))
    return radii, inside


def _rows(params: StatsParams, z: int, radii: list[np.ndarray], inside: list[float],
          w1: np.ndarray) -> list[dict[str, Any]]:
    return [{"radius_mean": float(r.mean()), "radius_std": float(r.std(ddof=1)),
             "radius_expected": b * math.sqrt(z / 3), "wasserstein": float(w),
             "fraction_inside": f, "n": len(r)}
            for b, r, f, w in zip(params.artificial_b, radii, inside, w1, strict=True)]


def artificial_comparison(params: StatsParams, z: int, mean: np.ndarray, comps: np.ndarray,
                          scale: np.ndarray, maha_q: float, data_fine: np.ndarray,
                          rad: RadiusStats) -> ArtificialResult:
    """Uniform vectors per b: radius histograms, W1 to the data's radii, share inside the cloud."""
    radii, inside = _radii_and_inside(params, z, mean, comps, scale, maha_q)
    top = max(rad.max, max(float(r.max()) for r in radii))
    edges = uniform_edges(0.0, RADIUS_BIN_COARSE, top)
    fine = uniform_edges(0.0, RADIUS_BIN_FINE, top)
    hist = np.stack([histogram(r, edges) for r in radii])
    data_fine_full = np.zeros(len(fine) - 1, dtype=np.int64)
    data_fine_full[: len(data_fine)] = data_fine
    w1 = np.array([wasserstein_binned(data_fine_full, histogram(r, fine), RADIUS_BIN_FINE)
                   for r in radii])
    # the data's coarse histogram on the common grid: re-bin the fine one (0.5 = 10 x 0.05)
    centres_fine = (fine[:-1] + fine[1:]) / 2
    data_hist = np.bincount(np.minimum((centres_fine / RADIUS_BIN_COARSE).astype(int),
                                       len(edges) - 2),
                            weights=data_fine_full, minlength=len(edges) - 1).astype(np.int64)
    rows = _rows(params, z, radii, inside, w1)
    best = int(np.argmin(w1))
    matching = [float(b) for b, row in zip(params.artificial_b, rows, strict=True)
                if abs(row["radius_mean"] - rad.mean) <= rad.std]
    return ArtificialResult(hist=hist, edges=edges, data_hist=data_hist, inside=np.array(inside),
                            w1=w1, rows=rows, best_b=float(params.artificial_b[best]),
                            matching_b=matching)
