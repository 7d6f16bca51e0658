"""The fragmentation rules over seeded draws at small size: the smooth nulls (Gaussian, copula,
Student-t, 10-D manifold) are rarely called fragmented, planted filaments and clusters almost
always, and each answer (filamentary, clustered, low-dimensional, heavy-tailed) fires on its
own planted set only. The old Gaussian-surrogate rule called every manifold draw filamentary."""

from __future__ import annotations

import pytest

from zspace.tasks.analyze import FragmentationParams
from zspace.tasks.calibration.fragmentation_rules import RULES, calibrate

DRAWS = 12


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return calibrate(DRAWS, 800, 16, seed=2, params=FragmentationParams(n_surrogates=6))


def test_rows_cover_every_rule_and_data_set(rows):
    got = {(r["rule"], r["dataset"]) for r in rows}
    want = {(rule, ds) for rule, (planted, null) in RULES.items() for ds in (*planted, *null)}
    assert got == want
    assert {r["kind"] for r in rows if r["rule"] == "fragmentation-overall"} == {"null", "planted"}


def test_nulls_rarely_fragment_and_planted_structure_is_found(rows):
    for r in rows:
        if (r["rule"], r["dataset"]) == ("fragmentation-low-dimensional", "manifold"):
            continue  # at z_dim 16 a 10-D manifold is not far below its covariance's dimension
        if r["kind"] == "null":
            assert r["hits"] <= 2, r
        else:
            assert r["hits"] >= DRAWS - 2, r
