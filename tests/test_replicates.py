"""Findings across training seeds: a verdict stands only when every seed agrees."""

from __future__ import annotations

from zspace.tasks.report.findings_stats import REPRODUCED, UNDECIDABLE, row
from zspace.tasks.report.replicates import across_seeds, headline, seeds_html, spread


def _rows(peak: float, verdict: str, pairs: int) -> list[dict]:
    return [row("radius peak near sqrt(z_dim)", 16.0, {"peak": peak, "interval": [1, 2]},
                verdict, "rule A"),
            row("correlated pairs", 16, pairs, REPRODUCED, "rule B")]


def test_agreeing_seeds_keep_the_verdict_and_show_the_spread() -> None:
    rows = across_seeds({"r0": _rows(16.2, REPRODUCED, 10), "r1": _rows(16.6, REPRODUCED, 14)})
    assert [r["verdict"] for r in rows] == [REPRODUCED, REPRODUCED]
    assert rows[0]["seeds"]["r1"] == {"ours": {"peak": 16.6, "interval": [1, 2]},
                                      "verdict": REPRODUCED}
    assert rows[0]["spread"]["min"] == 16.2 and rows[0]["spread"]["max"] == 16.6
    assert rows[1]["spread"]["sd"] > 2.8 and rows[1]["agreement"] == "2/2"
    assert "all agree" in rows[0]["rule"]


def test_disagreeing_seeds_make_the_claim_undecidable() -> None:
    rows = across_seeds({"r0": _rows(16.2, REPRODUCED, 10), "r1": _rows(30.0, "differs", 10),
                         "r2": _rows(16.4, REPRODUCED, 10)})
    assert rows[0]["verdict"] == UNDECIDABLE and rows[0]["agreement"] == "2/3"
    assert "2 reproduced, 1 differs" in rows[0]["rule"]
    assert rows[1]["verdict"] == REPRODUCED  # the other claim still stands
    # a seed without the claim at all is a disagreement too
    partial = across_seeds({"r0": _rows(16.2, REPRODUCED, 10), "r1": _rows(16.2, REPRODUCED, 10)[1:]})
    assert partial[0]["verdict"] == UNDECIDABLE and partial[0]["seeds"]["r1"] is None
    html = seeds_html(rows)
    assert html.count("<tr>") == 3 and "r2" in html and "differs" in html


def test_headline_numbers_and_spread() -> None:
    assert headline(3) == 3.0 and headline(True) is None and headline(float("nan")) is None
    assert headline({"label": "x", "share": 0.4, "n": 5}) == 0.4 and headline(None) is None
    assert spread([1.0, None]) is None and spread([1.0, 3.0]) == {"min": 1.0, "max": 3.0,
                                                                  "sd": 2 ** 0.5}
