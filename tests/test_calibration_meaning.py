"""The meaning rules over seeded draws at small size: few false positives on latents that carry
no attribute, detections where each attribute is carried by one component (d' = 1.5). Loose
bounds (seeded draws, any CPU), tight enough to fail a rule that reads noise as meaning: the
old DCI said D >= 0.5 on nearly every null draw."""

from __future__ import annotations

import pytest

from zspace.tasks.calibration.meaning_rules import calibrate

DRAWS = 12


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return calibrate(DRAWS, 800, 16, seed=1)


def test_every_rule_has_a_null_and_a_planted_row(rows):
    rules = {r["rule"] for r in rows}
    assert rules == {"carriers", "mig", "dci", "probe", "compare-disentangled", "compare-linear"}
    for rule in rules:
        kinds = {r["kind"] for r in rows if r["rule"] == rule}
        assert kinds == {"null", "planted"}, rule
    assert all(r["draws"] == DRAWS and 0 <= r["low"] <= r["rate"] <= r["high"] <= 1 for r in rows)


def test_nulls_rarely_detect_and_planted_effects_are_found(rows):
    for r in rows:
        if r["kind"] == "null":
            assert r["hits"] <= 2, r
        else:
            assert r["hits"] >= DRAWS - 2, r
