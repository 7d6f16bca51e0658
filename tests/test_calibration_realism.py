"""The realism rules over seeded draws at small size: on a tiny AE trained here (synthetic
faces), the Findings' realism rule calls noise, far-out decodes and a faded mean face
data-like in few draws and the model's reconstructions and fitted-Gaussian decodes in most;
void_or_miss answers "voids" only for probes between clusters and "miss the region" only for
far-out probes, and "on the data" for probes drawn from the data. A rule that always says
"data-like", always "voids", or never "on the data" (the old void_or_miss) fails these checks."""

from __future__ import annotations

import pytest

from zspace.tasks.calibration import realism_rules
from zspace.tasks.calibration.realism_rules import RULES, calibrate, train_tiny
from zspace.tasks.report.findings_stats import REPRODUCED

DRAWS = 12
SMALL = {"train": 300, "epochs": 8, "reference": 60, "pool": 60}


@pytest.fixture(scope="module")
def model() -> realism_rules.TinyModel:
    return train_tiny(0, SMALL)


@pytest.fixture(scope="module")
def rows(model) -> list[dict]:
    return calibrate(DRAWS, 400, 12, seed=3, model=model, n_images=20)


def check(rows: list[dict]) -> None:
    """At most 2 false positives per null and at least DRAWS - 2 detections per planted set."""
    for r in rows:
        if r["kind"] == "null":
            assert r["hits"] <= 2, r
        else:
            assert r["hits"] >= DRAWS - 2, r


def test_rows_cover_every_rule_and_data_set(rows):
    got = {(r["rule"], r["dataset"]) for r in rows}
    assert got == {(rule, ds) for rule, (planted, null) in RULES.items()
                   for ds in (*planted, *null)}
    assert all(r["draws"] == DRAWS and 0 <= r["low"] <= r["rate"] <= r["high"] <= 1
               for r in rows)
    assert all(r["strength"] and r["status"] == "active" for r in rows)


def test_nulls_rarely_pass_and_planted_sets_are_found(rows):
    check(rows)


def test_a_rule_that_always_says_data_like_fails(model, monkeypatch):
    monkeypatch.setattr(realism_rules, "normal_faces",
                        lambda kind, scores: {"verdict": REPRODUCED})
    with pytest.raises(AssertionError):
        check(calibrate(DRAWS, 400, 12, seed=3, model=model, n_images=20))


def test_a_placement_rule_that_always_says_voids_fails(model, monkeypatch):
    monkeypatch.setattr(realism_rules, "void_or_miss", lambda per, random: {"answer": "voids"})
    rows = [r for r in calibrate(DRAWS, 400, 12, seed=3, model=model, n_images=20)
            if r["rule"] != "realism"]
    with pytest.raises(AssertionError):
        check(rows)


def test_the_old_rule_without_on_the_data_fails(model, monkeypatch):
    """Before "on the data" was an answer, probes on the data read "both" (differs)."""
    real = realism_rules.void_or_miss

    def old(per: dict, random: tuple) -> dict:
        answer = real(per, random)["answer"]
        return {"answer": "both" if answer == "on the data" else answer}

    monkeypatch.setattr(realism_rules, "void_or_miss", old)
    rows = [r for r in calibrate(DRAWS, 400, 12, seed=3, model=model, n_images=20)
            if r["rule"] == "void_or_miss-off-data"]
    assert all(r["hits"] == DRAWS for r in rows if r["kind"] == "null")
    with pytest.raises(AssertionError):
        check(rows)
