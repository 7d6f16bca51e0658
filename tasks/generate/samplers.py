"""The samplers of the generation stage: where artificial z-points come from.

A sampler is one entry of SAMPLERS: a name pattern and a draw function (n vectors, seeded).
Adding a sampler means one function and one entry; `sampler_names` lists what a run uses.

    normal          z ~ N(0, I), the study's grid of 28
    uniform-r<r>    every component uniform in [-r, r], for each r_limit (0.5 ... 8)
    gaussian-fit    z ~ N(mean, covariance) of the data's z_mean (stats/mean, stats/covariance),
                    drawn through the Cholesky factor: correlated components, as in the data
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from zspace import study

R_LIMITS = study.R_LIMITS


class GenerateParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    n_images: int = Field(28, ge=1, le=4096, description="images per sampler")
    r_limits: tuple[float, ...] = R_LIMITS
    sharpen_factor: float = Field(study.SHARPEN_FACTOR, ge=0)
    compare_factors: tuple[float, ...] = study.SHARPEN_COMPARED
    n_reference: int = Field(2000, ge=1, description="training images for the pixel-space distance")
    grid_cols: int = Field(7, ge=1)
    seed: int = 0
    batch_size: int = Field(256, ge=1)

    @field_validator("r_limits")
    @classmethod
    def _positive(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if not v or min(v) <= 0:
            raise ValueError("r_limits must be a non-empty list of positive numbers")
        return tuple(sorted(float(r) for r in v))


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


# name (or prefix, for one sampler per r_limit) -> draw function
SAMPLERS: dict[str, Draw] = {"normal": _normal, "uniform-r": _uniform, "gaussian-fit": _gaussian_fit}
RANDOM_SAMPLERS = ("normal", "uniform-r")  # probes that know nothing of the data


def sampler_names(params: GenerateParams) -> list[str]:
    return ["normal", *[f"uniform-r{r:g}" for r in params.r_limits], "gaussian-fit"]


def r_limit_of(name: str) -> float | None:
    return float(name.removeprefix("uniform-r")) if name.startswith("uniform-r") else None


def draw(name: str, params: GenerateParams, z_dim: int, mean: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """n_images vectors of one sampler, seeded by the run's seed and the sampler's name."""
    seed = [params.seed, int(hashlib.sha256(name.encode()).hexdigest()[:8], 16)]
    key = "uniform-r" if name.startswith("uniform-r") else name
    if key not in SAMPLERS:
        raise ValueError(f"unknown sampler {name!r}")
    return SAMPLERS[key](np.random.default_rng(seed), params.n_images, z_dim,
                         r_limit_of(name) or 0.0, mean, cov)
