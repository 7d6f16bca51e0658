"""The parts of the fragmentation verdict that look at one sample of the cloud: 1-D structure
(local dimension), low dimension and heavy tails; Holm's procedure for the window family."""

from __future__ import annotations

from typing import Any

import numpy as np

FILAMENTARY, NOT_FILAMENTARY = "filamentary", "not filamentary"
CLUSTERED, SMOOTH, UNDECIDABLE = "clustered", "smooth at the bandwidth", "not decidable"
LOW_DIM, FULL_DIM = "low-dimensional", "not low-dimensional"
HEAVY, LIGHT = "heavy-tailed", "not heavy-tailed"
FRAGMENTED, NOT_FRAGMENTED = "fragmented", "not fragmented"
ID_FACTOR = 0.8  # local dimension "far below" the Gaussian surrogate's: below this share of it
FILAMENT_DIM = 2.5  # local dimension of a 1-D structure (with noise) stays below this


def holm(pvalues: list[float], alpha: float) -> list[bool]:
    """Holm's step-down rejections (family-wise error <= alpha, any dependence)."""
    order = np.argsort(pvalues)
    reject = [False] * len(pvalues)
    for rank, i in enumerate(order):
        if pvalues[i] > alpha / (len(pvalues) - rank):
            break
        reject[i] = True
    return reject


def filament_test(a: dict[str, Any], s1: dict[str, Any], alpha: float, seed: int) -> dict[str, Any]:
    """1-D structure: the median local dimension of the data at the small and the large k, each
    with its bootstrap upper bound, below FILAMENT_DIM while the Gaussian surrogate's is above
    twice that. Both scales: between small clusters only the large k crosses a void, where the
    estimate drops without any filament."""
    rng = np.random.default_rng([seed, 13])
    uppers, meds, boots = [], [], np.zeros(0)
    for key in ("_local_small", "_local"):
        local = a[key][np.isfinite(a[key])]
        boots = np.median(rng.choice(local, size=(400, len(local))), axis=1)
        uppers.append(float(np.quantile(boots, 1 - alpha)))
        meds.append(float(np.median(local)))
    med_s = s1["local_mle_quantiles"]["0.5"]
    yes = max(uppers) < FILAMENT_DIM and med_s > 2 * FILAMENT_DIM
    return {"data_median_local": meds[1], "data_median_local_small_k": meds[0],
            "data_median_local_interval": [float(q) for q in np.quantile(boots, [0.025, 0.975])],
            "upper_bound": max(uppers), "surrogate_median_local": med_s,
            "verdict": FILAMENTARY if yes else NOT_FILAMENTARY}


def dimension_test(a: dict[str, Any], s1: dict[str, Any]) -> dict[str, Any]:
    med_a, med_s = a["local_mle_quantiles"]["0.5"], s1["local_mle_quantiles"]["0.5"]
    return {"data_median_local": med_a, "surrogate_median_local": med_s, "ratio": med_a / med_s,
            "verdict": LOW_DIM if med_a < ID_FACTOR * med_s else FULL_DIM}


def tail_test(x: np.ndarray, alpha: float = 0.01) -> dict[str, Any]:
    """Mardia's multivariate kurtosis b2 = mean(d^4) (d: Mahalanobis distance) against its
    normal-theory law N(p(p+2), 8p(p+2)/n): heavy-tailed when the one-sided p < alpha."""
    from scipy.stats import norm

    n, dim = x.shape
    c = x - x.mean(0)
    d2 = np.einsum("ij,ij->i", c @ np.linalg.pinv(np.cov(c.T)), c)
    b2 = float(np.mean(d2**2))
    z = (b2 - dim * (dim + 2)) / np.sqrt(8 * dim * (dim + 2) / n)
    pv = float(norm.sf(z))
    return {"mardia_b2": b2, "normal_b2": dim * (dim + 2.0), "z": float(z), "p": pv,
            "verdict": HEAVY if pv < alpha else LIGHT}
