"""Seeded data sets for calibrating verdict rules: *nulls* (the first two moments and the
marginals of real latents, but none of the effects a rule claims to detect) and *planted*
effects at a stated strength.

Each generator takes a numpy Generator and sizes, and returns float32 rows (n, z_dim), so a
rule can be run over many seeded draws (`draws`). Nulls share one covariance recipe
(`null_covariance`): component scales as in trained AEs and weak random correlations, so a rule
that reacts to scale or correlation alone shows up as a false positive.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from scipy import stats

Generator = Callable[[np.random.Generator, int, int], np.ndarray]


def null_covariance(rng: np.random.Generator, z_dim: int, scale: tuple[float, float] = (0.6, 0.75),
                    coupling: float = 0.05) -> np.ndarray:
    """A covariance with per-component std U(scale) and weak random correlations (a random
    rotation of a near-identity spectrum), like a trained AE's bulk of components."""
    std = rng.uniform(*scale, size=z_dim)
    a = rng.normal(size=(z_dim, z_dim)) * coupling / np.sqrt(z_dim)
    corr = np.eye(z_dim) + a @ a.T
    d = np.sqrt(np.diag(corr))
    corr = corr / np.outer(d, d)
    return corr * np.outer(std, std)


def _correlated_normal(rng: np.random.Generator, n: int, z_dim: int) -> tuple[np.ndarray, np.ndarray]:
    cov = null_covariance(rng, z_dim)
    chol = np.linalg.cholesky(cov)
    return rng.normal(size=(n, z_dim)) @ chol.T, cov


def gaussian(rng: np.random.Generator, n: int, z_dim: int) -> np.ndarray:
    """Homogeneous Gaussian: the null every 'structure' rule must not flag."""
    x, _ = _correlated_normal(rng, n, z_dim)
    means = rng.normal(0.0, 0.1, size=z_dim)
    return (x + means).astype(np.float32)


def copula(rng: np.random.Generator, n: int, z_dim: int) -> np.ndarray:
    """Gaussian copula with skewed (lognormal) and heavy-tailed (Student-t 4) marginals on
    alternating components, rescaled to the Gaussian null's std: same correlations' ranks, no
    fine structure."""
    x, cov = _correlated_normal(rng, n, z_dim)
    std = np.sqrt(np.diag(cov))
    u = stats.norm.cdf(x / std)
    out = np.empty_like(x)
    for j in range(z_dim):
        marg = stats.lognorm(0.6) if j % 2 == 0 else stats.t(4)
        v = marg.ppf(np.clip(u[:, j], 1e-9, 1 - 1e-9))
        out[:, j] = (v - v.mean()) / v.std() * std[j]
    return out.astype(np.float32)


def student_t(rng: np.random.Generator, n: int, z_dim: int, df: float = 4.0) -> np.ndarray:
    """Elliptical Student-t (heavy-tailed, one radial mixing variable), scaled to unit-ish
    variance per component: peaked 2-D densities without any filament or void."""
    x, _ = _correlated_normal(rng, n, z_dim)
    w = np.sqrt(rng.chisquare(df, size=(n, 1)) / (df - 2.0))
    return (x / w).astype(np.float32)


def manifold(rng: np.random.Generator, n: int, z_dim: int, dim: int = 10) -> np.ndarray:
    """A smooth dim-dimensional manifold (random Fourier features of a Gaussian in dim-D)
    embedded in z_dim with isotropic noise: low-dimensional, but with no voids or filaments."""
    dim = min(dim, z_dim)
    t = rng.normal(size=(n, dim))
    w = rng.normal(size=(dim, z_dim)) * 0.5
    phase = rng.uniform(0, 2 * np.pi, size=z_dim)
    lin = rng.normal(size=(dim, z_dim)) / np.sqrt(dim)
    x = t @ lin + np.sin(t @ w + phase)
    x += rng.normal(scale=0.05, size=x.shape)
    return ((x - x.mean(0)) / x.std(0) * 0.7).astype(np.float32)


def filaments(rng: np.random.Generator, n: int, z_dim: int, n_curves: int = 40,
              noise: float = 0.02) -> np.ndarray:
    """Planted 1-D filaments: points on n_curves smooth random curves (quadratic Bezier) with
    small isotropic noise (noise / curve length is the stated strength)."""
    ctrl = rng.normal(size=(n_curves, 3, z_dim))
    which = rng.integers(0, n_curves, size=n)
    s = rng.uniform(size=(n, 1))
    p = ctrl[which]
    x = (1 - s) ** 2 * p[:, 0] + 2 * s * (1 - s) * p[:, 1] + s**2 * p[:, 2]
    x += rng.normal(scale=noise, size=x.shape)
    return x.astype(np.float32)


def clusters(rng: np.random.Generator, n: int, z_dim: int, n_clusters: int = 30,
             spread: float = 0.1) -> np.ndarray:
    """Planted tight clusters with voids between them: centres N(0, I), within-cluster std
    `spread` (the stated strength: the smaller, the emptier the voids)."""
    centres = rng.normal(size=(n_clusters, z_dim))
    which = rng.integers(0, n_clusters, size=n)
    return (centres[which] + rng.normal(scale=spread, size=(n, z_dim))).astype(np.float32)


def dominant(rng: np.random.Generator, n: int, z_dim: int, k: int = 3,
             shift: float = 1.5, widen: float = 2.5) -> np.ndarray:
    """The Gaussian null with k truly dominant components (the last k): mean shifted by `shift`
    and std widened by `widen` times, as the study's dominant components."""
    x = gaussian(rng, n, z_dim).astype(np.float64)
    cols = np.arange(z_dim - k, z_dim)
    x[:, cols] = (x[:, cols] - x[:, cols].mean(0)) * widen + shift * rng.choice([-1, 1], size=k)
    return x.astype(np.float32)


@dataclass(frozen=True)
class Labelled:
    """Latents and binary attributes, for the meaning rules (carriers, MIG, DCI, probes)."""

    z: np.ndarray            # (n, z_dim) float32
    attributes: np.ndarray   # (n, n_attr) int8 in {0, 1}
    carrier: np.ndarray      # (n_attr,) the component that carries each attribute, -1 = none


def independent_attributes(rng: np.random.Generator, n: int, z_dim: int, n_attr: int = 5,
                           positive: float = 0.3) -> Labelled:
    """Null for the meaning rules: latents and attributes drawn independently."""
    z = gaussian(rng, n, z_dim)
    attrs = (rng.uniform(size=(n, n_attr)) < positive).astype(np.int8)
    return Labelled(z, attrs, np.full(n_attr, -1))


def carried_attributes(rng: np.random.Generator, n: int, z_dim: int, n_attr: int = 5,
                       positive: float = 0.3, strength: float = 1.5) -> Labelled:
    """Planted: each attribute shifts one distinct component by `strength` std (d')."""
    z = gaussian(rng, n, z_dim).astype(np.float64)
    attrs = (rng.uniform(size=(n, n_attr)) < positive).astype(np.int8)
    carrier = rng.choice(z_dim, size=n_attr, replace=False)
    for a, c in enumerate(carrier):
        z[:, c] += strength * z[:, c].std() * attrs[:, a]
    return Labelled(z.astype(np.float32), attrs, carrier)


NULLS: dict[str, Generator] = {"gaussian": gaussian, "copula": copula, "student-t": student_t,
                               "manifold": manifold}
PLANTED: dict[str, Generator] = {"filaments": filaments, "clusters": clusters,
                                 "dominant": dominant}


def draws(make: Callable[[np.random.Generator], object], n_draws: int,
          seed: int = 0) -> Iterator[object]:
    """n_draws independent seeded draws: draw i uses SeedSequence(seed).spawn(n_draws)[i], so a
    draw is the same whatever the number of draws or the order they run in."""
    for child in np.random.SeedSequence(seed).spawn(n_draws):
        yield make(np.random.default_rng(child))


def rate_interval(hits: int, n: int, confidence: float = 0.95) -> tuple[float, float, float]:
    """A rate and its Clopper-Pearson (exact binomial) interval."""
    ci = stats.binomtest(hits, n).proportion_ci(confidence_level=confidence, method="exact")
    return hits / n, float(ci.low), float(ci.high)
