"""Verdicts carry their measured false-positive rate and power."""

from __future__ import annotations

from zspace.tasks.calibration.nulls import rate_interval
from zspace.tasks.report.calibration import CALIBRATED_BY, annotate, shipped, summary, text


def _row(rule: str, dataset: str, kind: str, hits: int, draws: int = 100, **kw) -> dict:
    rate, low, high = rate_interval(hits, draws)
    ok = rate <= 0.05 if kind == "null" else rate >= 0.9
    return {"rule": rule, "dataset": dataset, "kind": kind, "draws": draws, "hits": hits,
            "rate": rate, "low": low, "high": high, "ok": ok, "status": "active", **kw}


ROWS = (_row("dominant", "gaussian", "null", 1), _row("dominant", "copula", "null", 4),
        _row("dominant", "dominant", "planted", 97),
        _row("radius_peak", "gaussian", "null", 30), _row("radius_peak", "unit", "planted", 99))


def test_worst_null_and_weakest_power_with_their_intervals() -> None:
    c = summary(("dominant",), ROWS)
    assert c["fpr"]["dataset"] == "copula" and c["fpr"]["rate"] == 0.04
    assert 0 < c["fpr"]["low"] < 0.04 < c["fpr"]["high"] < 0.11
    assert c["power"]["rate"] == 0.97 and c["ok"] and c["nulls"] == 2
    assert "FPR 4% [1%, 10%]" in text(c) and "power 97%" in text(c)
    bad = summary(("radius_peak",), ROWS)
    assert not bad["ok"] and "misses its target" in text(bad)
    assert summary(("nothing",), ROWS) is None and text(None) == "not calibrated"


def test_rows_are_annotated_by_their_id() -> None:
    rows = annotate([{"id": "dominant", "claim": "a few dominant components"},
                     {"claim": "losses"}], ROWS)
    assert rows[0]["calibration"]["power"]["rate"] == 0.97 and rows[1]["calibration"] is None


def test_every_shipped_rule_is_known() -> None:
    """The shipped results cover every rule a Findings row names, each with nulls and power."""
    rules = {r["rule"] for r in shipped()}
    named = {rule for rules_of in CALIBRATED_BY.values() for rule in rules_of}
    assert named <= rules, sorted(named - rules)
    for rule in named:
        c = summary((rule,))
        assert c["nulls"] >= 1 and (c["planted"] >= 1 or c["retired"]), rule
