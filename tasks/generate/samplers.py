"""The samplers of the generation stage: where artificial z-points come from.

A sampler is one entry of SAMPLERS (a :class:`Sampler`: its draw function, n vectors seeded by
the run's seed and the sampler's name, and a description for captions). Adding a sampler means
one draw function and one entry; `sampler_names` lists what a run uses.

    normal          z ~ N(0, I), the study's grid of 28
    uniform-r<r>    every component uniform in [-r, r], for each r_limit (0.5 ... 8)
    gaussian-fit    z ~ N(mean, covariance) of the data's z_mean (stats/mean, stats/covariance),
                    drawn through the Cholesky factor: correlated components, as in the data
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from zspace.tasks.generate.params import SamplerParams


def cholesky_factor(cov: np.ndarray) -> tuple[np.ndarray, float]:
    """Lower Cholesky factor, with the smallest diagonal jitter (relative to the mean variance)
    that makes a semi-definite covariance (e.g. a dead component) positive definite."""
    cov = np.asarray(cov, dtype=np.float64)
    cov = (cov + cov.T) / 2
    scale = max(float(np.trace(cov)) / len(cov), 1e-12)
    jitter = 0.0
    for _ in range(12):
        try:
            return np.linalg.cholesky(cov + jitter * np.eye(len(cov))), jitter
        except np.linalg.LinAlgError:
            jitter = scale * 1e-10 if jitter == 0 else jitter * 10
    raise ValueError(f"covariance is not positive semi-definite (jitter {jitter:g} did not help)")


def sample_fitted_gaussian(mean: np.ndarray, cov: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """n vectors from N(mean, cov) as mean + eps @ L.T (L the Cholesky factor), float64."""
    mean = np.asarray(mean, dtype=np.float64)
    lower, _ = cholesky_factor(cov)
    eps = np.random.default_rng(seed).standard_normal((n, len(mean)))
    return mean + eps @ lower.T


Draw = Callable[[np.random.Generator, int, int, float, np.ndarray, np.ndarray], np.ndarray]


def _normal(rng: np.random.Generator, n: int, z_dim: int, r: float, mean: np.ndarray,
            cov: np.ndarray) -> np.ndarray:
    return rng.standard_normal((n, z_dim))


def _uniform(rng: np.random.Generator, n: int, z_dim: int, r: float, mean: np.ndarray,
             cov: np.ndarray) -> np.ndarray:
    return rng.uniform(-r, r, size=(n, z_dim))


def _gaussian_fit(rng: np.random.Generator, n: int, z_dim: int, r: float, mean: np.ndarray,
                  cov: np.ndarray) -> np.ndarray:
    return sample_fitted_gaussian(mean, cov, n, int(rng.integers(2**31)))


@dataclass(frozen=True)
class Sampler:
    """One entry of the registry: how to draw, what it is (for captions), and whether it is a
    probe that knows nothing of the data. A sampler `per_r_limit` runs once per r_limit, as
    `<key><r_limit>` (uniform-r0.5 ... uniform-r8)."""

    draw: Draw
    describe: Callable[[float, float], str]  # (r_limit, Cholesky jitter) -> what z is
    uses_data: bool = False
    per_r_limit: bool = False


def _fitted(r: float, jitter: float) -> str:
    return ("z ~ N(mean, covariance) fitted to all z_mean vectors (Cholesky factor"
            + (f", diagonal jitter {jitter:.2g}" if jitter else "") + ")")


# The registry, in the order the samplers run and are shown. Adding a sampler: a draw function
# and one entry here; the stage, scores.json and the figures pick it up.
SAMPLERS: dict[str, Sampler] = {
    "normal": Sampler(_normal, lambda r, j: "z ~ N(0, I)"),
    "uniform-r": Sampler(_uniform, lambda r, j: f"each component uniform in [-{r:g}, {r:g}] "
                                                f"(r_limit {r:g})", per_r_limit=True),
    "gaussian-fit": Sampler(_gaussian_fit, _fitted, uses_data=True),
}
RANDOM_SAMPLERS = tuple(k for k, s in SAMPLERS.items() if not s.uses_data)  # know nothing of data


def sampler_names(params: SamplerParams) -> list[str]:
    """Every sampler a run uses, one per r_limit for the per-r_limit ones."""
    return [name for key, s in SAMPLERS.items()
            for name in ([f"{key}{r:g}" for r in params.r_limits] if s.per_r_limit else [key])]


def sampler_of(name: str) -> Sampler:
    """The registry entry behind a sampler name (uniform-r2.5 -> uniform-r)."""
    if name in SAMPLERS:
        return SAMPLERS[name]
    for key, s in SAMPLERS.items():
        if s.per_r_limit and name.startswith(key):
            return s
    raise ValueError(f"unknown sampler {name!r}: choose from {list(SAMPLERS)}")


def r_limit_of(name: str) -> float | None:
    for key, s in SAMPLERS.items():
        if s.per_r_limit and name.startswith(key):
            return float(name.removeprefix(key))
    return None


def describe(name: str, jitter: float = 0.0) -> str:
    """What a sampler's z is, for captions."""
    return sampler_of(name).describe(r_limit_of(name) or 0.0, jitter)


def draw(name: str, params: SamplerParams, z_dim: int, mean: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """n_images vectors of one sampler, seeded by the run's seed and the sampler's name."""
    sampler = sampler_of(name)
    seed = [params.seed, int(hashlib.sha256(name.encode()).hexdigest()[:8], 16)]
    return sampler.draw(np.random.default_rng(seed), params.n_images, z_dim,
                        r_limit_of(name) or 0.0, mean, cov)
