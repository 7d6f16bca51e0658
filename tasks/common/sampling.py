"""Seeded row sampling shared by projections, figures and generation."""

from __future__ import annotations

import numpy as np


def sample_rows(n_total: int, n: int, seed: int) -> np.ndarray:
    """Sorted sampled rows (all rows when n >= n_total); seeded so reruns pick the same points."""
    if n >= n_total:
        return np.arange(n_total, dtype=np.int64)
    rng = np.random.default_rng([seed, n_total, n])
    return np.sort(rng.choice(n_total, size=n, replace=False)).astype(np.int64)
