"""The statistics rules over seeded null and planted draws (small and few: the benchmark runs
100 draws at a larger size). Loose bounds (at most 3/20 false positives, at least 16/20
detections) that hold for seeded draws on any CPU and fail for a broken rule."""

from __future__ import annotations

import numpy as np
import pytest

from zspace.tasks.analyze import robust_z
from zspace.tasks.calibration import nulls
from zspace.tasks.calibration.stats_rules import DATASETS, RULES, calibrate

DRAWS = 20
CLAIMS = tuple(r for r in RULES if r not in ("dominant", "pca_spectrum"))


def check(rows: list[dict]) -> None:
    assert rows
    for r in rows:
        assert r["draws"] == DRAWS
        if r["kind"] == "null":
            assert r["hits"] <= 3, r
        else:
            assert r["hits"] >= 16, r


def test_dominant_rule_on_the_issue_null_and_planted():
    """256 Gaussian components, std U(0.6, 0.75), means N(0, 0.1): the old rule (robust z of
    |mean| or of the half-width above 3.5) flagged a component in about half the draws."""
    check(calibrate(DRAWS, 500, 256, seed=1, rules=("dominant",)))


def test_the_old_dominant_rule_fails_on_the_issue_null():
    def old_rule(x: np.ndarray) -> bool:
        mean, hw = x.mean(axis=0), 2.3548 * x.std(axis=0, ddof=1)
        return bool(((robust_z(np.abs(mean)) > 3.5) | (robust_z(hw) > 3.5)).any())

    seeds = np.random.SeedSequence(1).spawn(DRAWS)
    hits = sum(old_rule(nulls.gaussian(np.random.default_rng(c), 500, 256).astype(np.float64))
               for c in seeds)
    assert hits > 3  # what test_dominant_rule_on_the_issue_null_and_planted refuses


FAST = {"bootstrap_replicates": 50, "n_artificial": 300}


@pytest.fixture(scope="module")
def claim_rows():
    """Every claim rule at once (the data sets are shared): 20 draws of 600 x 48, with 50
    bootstrap replicates and 300 artificial vectors per b."""
    return calibrate(DRAWS, 600, 48, seed=3, rules=CLAIMS, params=FAST)


@pytest.mark.parametrize("rule", CLAIMS)
def test_claim_rule(claim_rows, rule):
    check([r for r in claim_rows if r["rule"] == rule])


def test_pca_rule():
    """Bulk eigenvalues spread as (1 + sqrt(z/n))^2: the planted 3x direction needs n >> z."""
    check(calibrate(DRAWS, 2000, 24, seed=4, rules=("pca_spectrum",), params=FAST))


def test_rows_follow_the_protocol(claim_rows):
    keys = {"rule", "dataset", "kind", "strength", "draws", "hits", "rate", "low", "high",
            "target", "ok", "status"}
    assert all(keys <= set(r) for r in claim_rows)
    assert {(r["rule"], r["dataset"]) for r in claim_rows} == {
        (rule, d) for rule in CLAIMS for ds in RULES[rule][1].values() for d in ds}
    assert all(d in DATASETS for _, sets in RULES.values() for ds in sets.values() for d in ds)
