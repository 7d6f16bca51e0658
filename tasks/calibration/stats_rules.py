"""Calibration of the latent-statistics Findings rules: each rule's verdict over seeded draws of
data without the claimed property (false positives) and with it at a stated strength (power).

Every draw goes through :func:`zspace.tasks.analyze.summarize_array` (the analysis's own
kernels) and the Findings functions themselves, so what is calibrated is the code the report
runs. For the study's claims the "null" is data without the claimed property (a radius peak far
from sqrt(z_dim), uncorrelated components, a flat PCA spectrum, non-Gaussian components, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from zspace.tasks.analyze import (
    GROUPS,
    dominant_components,
    moment_errors,
    replicate_weights,
    row_groups,
    summarize_array,
)
from zspace.tasks.calibration import nulls
from zspace.tasks.report import findings as fd

Make = Callable[[np.random.Generator, int, int], np.ndarray]
PARAMS = {"n_artificial": 1000, "artificial_b": (0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 6.0)}
BULK_STD = 0.675  # the Gaussian null's typical component std (U(0.6, 0.75))
BENCHMARK = {"n": 4000, "z_dim": 128}  # benchmarks/calibration.py: ~7 min on one core


def scaled(std: float) -> Make:
    """The Gaussian null rescaled so that its components' std is about `std`."""
    def make(rng: np.random.Generator, n: int, z: int) -> np.ndarray:
        return (nulls.gaussian(rng, n, z) * (std / BULK_STD)).astype(np.float32)
    return make


def uniform_components(rng: np.random.Generator, n: int, z: int) -> np.ndarray:
    """Independent uniform components with the null's std: flat, not Gaussian."""
    std = rng.uniform(0.6, 0.75, size=z)
    return (rng.uniform(-1, 1, size=(n, z)) * np.sqrt(3) * std).astype(np.float32)


def bimodal_components(rng: np.random.Generator, n: int, z: int, sep: float = 2.0) -> np.ndarray:
    """Each component an equal mixture of N(-sep, 1) and N(+sep, 1), scaled to the null's std."""
    x = rng.normal(size=(n, z)) + sep * rng.choice([-1.0, 1.0], size=(n, z))
    return (x / np.sqrt(1 + sep**2) * rng.uniform(0.6, 0.75, size=z)).astype(np.float32)


def shifted(rng: np.random.Generator, n: int, z: int, offset: float = 1.2) -> np.ndarray:
    """The Gaussian null with every mean moved by `offset` std: the origin at the cloud's border
    (its squared Mahalanobis distance ~ offset^2 z_dim, beyond the data's ~z_dim)."""
    x = nulls.gaussian(rng, n, z).astype(np.float64)
    return (x + offset * x.std(axis=0) * rng.choice([-1.0, 1.0], size=z)).astype(np.float32)


def dominant_correlated(rng: np.random.Generator, n: int, z: int, k: int = 3,
                        r: float = 0.8) -> np.ndarray:
    """nulls.dominant with its k dominant components sharing one factor (pairwise r ~ `r`)."""
    x = nulls.dominant(rng, n, z, k=k).astype(np.float64)
    cols = np.arange(z - k, z)
    f = rng.normal(size=(n, 1))
    sub = x[:, cols]
    mu, sd = sub.mean(axis=0), sub.std(axis=0)
    x[:, cols] = mu + sd * (np.sqrt(r) * f + np.sqrt(1 - r) * (sub - mu) / sd)
    return x.astype(np.float32)


def one_component(rng: np.random.Generator, n: int, z: int, factor: float = 3.0) -> np.ndarray:
    """The Gaussian null plus one direction with `factor` x the bulk's variance: one dominant
    principal component, the spectrum flat after it."""
    x = nulls.gaussian(rng, n, z).astype(np.float64)
    u = rng.normal(size=z)
    u /= np.linalg.norm(u)
    x += np.sqrt(factor) * BULK_STD * rng.normal(size=(n, 1)) * u
    return x.astype(np.float32)


# dataset -> (generator, strength)
DATASETS: dict[str, tuple[Make, str]] = {
    "gaussian": (nulls.gaussian, "std U(0.6, 0.75), means N(0, 0.1), weak correlations"),
    "copula": (nulls.copula, "lognormal / Student-t(4) marginals"),
    "student-t": (nulls.student_t, "elliptical, df 4"),
    "manifold": (nulls.manifold, "10-D smooth manifold"),
    "manifold-4d": (lambda rng, n, z: nulls.manifold(rng, n, z, dim=4), "4-D smooth manifold"),
    "dominant": (nulls.dominant, "3 components: mean +-1.5, std x2.5"),
    "unit": (scaled(1.0), "Gaussian null at std 1"),
    "scale-0.01": (scaled(0.01), "Gaussian null at std 0.01"),
    "scale-0.1": (scaled(0.1), "Gaussian null at std 0.1"),
    "scale-100": (scaled(100.0), "Gaussian null at std 100"),
    "uniform": (uniform_components, "independent uniform components"),
    "bimodal": (bimodal_components, "mixtures of N(+-2, 1)"),
    "shifted": (shifted, "every mean moved by 1.2 std"),
    "dominant-correlated": (dominant_correlated, "3 dominant components, pairwise r 0.8"),
    "one-pc": (one_component, "one direction with 3x the bulk variance"),
}

Hit = Callable[[dict[str, Any]], bool]


def _verdict(rule: Callable[[dict[str, Any]], dict], *hits: str) -> Hit:
    return lambda s: rule(s)["verdict"] in hits


def _shape_gaussian(s: dict[str, Any]) -> bool:
    """The shape part of gaussian_components (the width part is in study units): Gaussian."""
    return bool((fd.gaussian_components(s)["ours"] or {}).get("shape_gaussian"))


def _flagged(s: dict[str, Any]) -> bool:
    return fd.dominant(s)["verdict"] != fd.NOT_REPRODUCED


RULES: dict[str, tuple[Hit, dict[str, tuple[str, ...]]]] = {
    # rule: (detected?, {"null": datasets without the property, "planted": with it})
    "dominant": (_flagged, {"null": ("gaussian", "copula", "student-t", "manifold"),
                            "planted": ("dominant",)}),
    "gaussian_components": (_shape_gaussian,
                            {"null": ("uniform", "bimodal", "copula", "student-t"),
                             "planted": ("gaussian", "unit", "scale-0.01", "scale-0.1",
                                         "scale-100")}),
    "radius_peak": (_verdict(fd.radius_peak, fd.REPRODUCED),
                    {"null": ("gaussian", "scale-0.1", "scale-100", "student-t"),
                     "planted": ("unit",)}),
    "origin_border": (_verdict(lambda s: fd.origin_border(s, None), fd.REPRODUCED),
                      {"null": ("gaussian", "copula", "student-t", "manifold"),
                       "planted": ("shifted",)}),
    "correlated": (_verdict(fd.correlated, fd.REPRODUCED),
                   {"null": ("gaussian", "copula", "student-t", "manifold", "dominant"),
                    "planted": ("dominant-correlated",)}),
    "pca_spectrum": (_verdict(fd.pca_spectrum, fd.REPRODUCED),
                     {"null": ("gaussian", "copula", "student-t"), "planted": ("one-pc",)}),
    "uniform_b": (_verdict(fd.uniform_b, fd.REPRODUCED),
                  {"null": ("scale-0.1", "scale-100"), "planted": ("gaussian", "unit")}),
    "artificial_outside": (_verdict(fd.artificial_outside, fd.REPRODUCED),
                           {"null": ("gaussian", "uniform", "student-t"),
                            "planted": ("manifold-4d",)}),
}
RETIRED: dict[str, str] = {}  # rule -> why it cannot meet the targets


def dominant_summary(x: np.ndarray, seed: int = 0) -> dict[str, Any]:
    """The part of summary.json the dominant rule reads, by the analysis's own functions
    (moments, the grouped bootstrap's standard errors, dominant_components), without the
    histograms and intervals that the other rules need."""
    x = np.asarray(x, dtype=np.float64)
    mean, std = x.mean(axis=0), x.std(axis=0, ddof=1)
    g = row_groups(seed, 0, len(x))
    onehot = (g[None, :] == np.arange(GROUPS)[:, None]).astype(np.float64)
    xc = x - mean
    se_mu, se_sd = moment_errors(onehot @ xc, onehot @ (xc * xc), onehot.sum(axis=1),
                                 replicate_weights(seed))
    dom, _, _ = dominant_components(mean, std, x.min(axis=0) == x.max(axis=0), se_mu, se_sd)
    return {"dominant_components": dom, "z_dim": x.shape[1]}


def _summaries(name: str, n_draws: int, n: int, z_dim: int, seed: int, light: bool,
               params: dict[str, Any]) -> list[dict[str, Any]]:
    make, _ = DATASETS[name]
    child = int(np.random.SeedSequence([seed, sum(map(ord, name))]).generate_state(1)[0])
    full = (lambda x: dominant_summary(x)) if light else (lambda x: summarize_array(x, params))
    return list(nulls.draws(lambda rng: full(make(rng, n, z_dim)), n_draws, child))


def calibrate(n_draws: int, n: int, z_dim: int, seed: int = 0,
              rules: tuple[str, ...] | None = None,
              params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """One row per (rule, dataset) in the calibration protocol's form; params: the statistics'
    parameters (default PARAMS: fewer artificial vectors than an analysis, same b grid)."""
    chosen = {k: v for k, v in RULES.items() if rules is None or k in rules}
    needed = sorted({d for _, sets in chosen.values() for ds in sets.values() for d in ds})
    light = set(chosen) == {"dominant"}  # the dominant rule alone needs no histograms
    cache = {d: _summaries(d, n_draws, n, z_dim, seed, light, {**PARAMS, **(params or {})})
             for d in needed}
    rows = []
    for rule, (hit, sets) in chosen.items():
        for kind, names in sets.items():
            for d in names:
                hits = sum(bool(hit(s)) for s in cache[d])
                rate, low, high = nulls.rate_interval(hits, n_draws)
                ok = rate <= 0.05 if kind == "null" else rate >= 0.90
                rows.append({"area": "stats", "rule": rule, "dataset": d, "kind": kind,
                             "strength": DATASETS[d][1], "draws": n_draws, "hits": hits,
                             "rate": rate, "low": low, "high": high,
                             "target": "fpr<=0.05" if kind == "null" else "power>=0.90",
                             "ok": bool(ok),
                             "status": "retired" if rule in RETIRED else "active",
                             **({"reason": RETIRED[rule]} if rule in RETIRED else {})})
    return rows
