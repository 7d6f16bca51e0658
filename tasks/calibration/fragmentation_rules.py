"""Calibration of the fragmentation rules on seeded draws: the nulls (homogeneous Gaussian,
Gaussian copula with skewed and heavy-tailed marginals, elliptical Student-t, smooth 10-D
manifold: no filament, no void) and planted 1-D filaments and tight clusters with voids.

Each rule is a different answer, so its planted and null sets differ: "filamentary" must fire
on filaments only (clusters are a null for it); "clustered" and the overall "fragmented" on
filaments and clusters; the descriptive "low-dimensional" on the manifold and filaments, with
the full-dimensional nulls as its nulls; "heavy-tailed" on the Student-t, with the Gaussian as
its null (the copula, the manifold and the planted sets have non-Gaussian tails and are not
scored for it)."""

from __future__ import annotations

from typing import Any

import numpy as np

from zspace.tasks.analyze import FragmentationParams, fragmentation_summary
from zspace.tasks.calibration import nulls

BENCHMARK = {"n": 2000, "z_dim": 32}  # benchmarks/calibration.py: ~3 min on one core
FILAMENTS = {"points_per_curve": 50, "noise": 0.02}
CLUSTERS = {"n_clusters": 30, "spread": 0.1}
STRENGTH = {
    "gaussian": "no effect", "copula": "no effect", "student-t": "df 4", "manifold": "10-D, no voids",
    "filaments": f"n/{FILAMENTS['points_per_curve']} quadratic curves (control points N(0, I)), "
                 f"noise std {FILAMENTS['noise']} per component",
    "clusters": f"{CLUSTERS['n_clusters']} clusters, std {CLUSTERS['spread']} per component "
                "(centres N(0, I))",
}
DATASETS = {**nulls.NULLS,
            "filaments": lambda rng, n, d: nulls.filaments(
                rng, n, d, max(2, n // FILAMENTS["points_per_curve"]), FILAMENTS["noise"]),
            "clusters": lambda rng, n, d: nulls.clusters(rng, n, d, **CLUSTERS)}
# rule -> (planted data sets, null data sets)
RULES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "fragmentation-overall": (("filaments", "clusters"),
                              ("gaussian", "copula", "student-t", "manifold")),
    "fragmentation-filamentary": (("filaments",),
                                  ("gaussian", "copula", "student-t", "manifold", "clusters")),
    "fragmentation-clustered": (("filaments", "clusters"),
                                ("gaussian", "copula", "student-t", "manifold")),
    "fragmentation-low-dimensional": (("manifold", "filaments"),
                                      ("gaussian", "copula", "student-t")),
    "fragmentation-heavy-tailed": (("student-t",), ("gaussian",)),
}


def _verdicts(z: np.ndarray, params: FragmentationParams) -> dict[str, bool]:
    z = z.astype(np.float64)
    mean, cov = z.mean(0), np.cov(z.T)
    _, evecs = np.linalg.eigh(cov)
    f = fragmentation_summary(z, mean, cov, evecs[:, ::-1].T, params=params)
    v = f["verdict"]
    return {"fragmentation-overall": bool(f["fragmented"]),
            "fragmentation-filamentary": v["filamentary"] == "filamentary",
            "fragmentation-clustered": v["clustered"] == "clustered",
            "fragmentation-low-dimensional": v["low_dimensional"] == "low-dimensional",
            "fragmentation-heavy-tailed": v["heavy_tailed"] == "heavy-tailed"}


def _draw(rng: np.random.Generator, n: int, z_dim: int,
          params: FragmentationParams) -> dict[str, dict[str, bool]]:
    return {name: _verdicts(make(rng, n, z_dim), params) for name, make in DATASETS.items()}


def calibrate(n_draws: int, n: int, z_dim: int, seed: int = 0,
              params: FragmentationParams | None = None) -> list[dict[str, Any]]:
    """One row per (rule, data set) over n_draws seeded draws (see the calibration protocol);
    the fragmentation runs with its defaults (kNN sample n // 2) unless params are given."""
    p = params or FragmentationParams()
    hits: dict[tuple[str, str], int] = {}
    for draw in nulls.draws(lambda rng: _draw(rng, n, z_dim, p), n_draws, seed):
        for ds, verdicts in draw.items():
            for rule, hit in verdicts.items():
                hits[(rule, ds)] = hits.get((rule, ds), 0) + int(hit)
    rows = []
    for rule, (planted, null) in RULES.items():
        for ds in (*null, *planted):
            h = hits[(rule, ds)]
            rate, low, high = nulls.rate_interval(h, n_draws)
            is_planted = ds in planted
            rows.append({"rule": rule, "dataset": ds, "kind": "planted" if is_planted else "null",
                         "strength": STRENGTH[ds], "draws": n_draws, "hits": h, "rate": rate,
                         "low": low, "high": high,
                         "target": "power>=0.90" if is_planted else "fpr<=0.05",
                         "ok": rate >= 0.90 if is_planted else rate <= 0.05, "status": "active"})
    return rows
