"""Each verdict beside how far it can be trusted: the false-positive rate its rule showed on
null data (no effect) and its power on planted data (the effect at a stated strength), as
measured by `benchmarks/calibration.py` and shipped with the package (zspace/calibration.json).

A Findings row names the calibration rules behind its verdict (CALIBRATED_BY); the table shows
the worst null's rate and the weakest planted power, each with its exact binomial interval.
Rows whose rule has no calibration yet (r_limit_quality, sharpening, losses) say so.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

# Findings row id -> the calibration rules its verdict rests on.
CALIBRATED_BY: dict[str, tuple[str, ...]] = {
    "gaussian_components": ("gaussian_components",),
    "dominant": ("dominant",),
    "radius_peak": ("radius_peak",),
    "origin_border": ("origin_border",),
    "correlated": ("correlated",),
    "pca_spectrum": ("pca_spectrum",),
    "uniform_b": ("uniform_b",),
    "artificial_outside": ("artificial_outside",),
    "normal_faces_ae": ("realism",),
    "normal_faces_vae": ("realism",),
    "filaments": ("fragmentation-overall",),
    "voids_explain": ("void_or_miss-voids", "void_or_miss-miss-region", "void_or_miss-off-data"),
}


@lru_cache(maxsize=1)
def shipped() -> tuple[dict[str, Any], ...]:
    """The calibration rows shipped with this version of zspace (empty if none)."""
    try:
        text = resources.files("zspace").joinpath("calibration.json").read_text()
    except (FileNotFoundError, ModuleNotFoundError):
        return ()
    data = json.loads(text)
    return tuple(data["rows"] if isinstance(data, dict) else data)


def summary(rules: tuple[str, ...], rows: tuple[dict[str, Any], ...] | None = None
            ) -> dict[str, Any] | None:
    """The worst false-positive rate over the nulls and the weakest power over the planted
    data sets of these rules; None when none of them was calibrated."""
    rows = shipped() if rows is None else rows
    mine = [r for r in rows if r["rule"] in rules]
    if not mine:
        return None
    nulls = [r for r in mine if r["kind"] == "null"]
    planted = [r for r in mine if r["kind"] == "planted"]
    worst = max(nulls, key=lambda r: r["rate"], default=None)
    weakest = min(planted, key=lambda r: r["rate"], default=None)
    retired = sorted({r["rule"] for r in mine if r.get("status") == "retired"})
    return {
        "rules": list(rules), "retired": retired,
        "fpr": None if worst is None else _rate(worst), "nulls": len(nulls),
        "power": None if weakest is None else _rate(weakest), "planted": len(planted),
        "ok": all(r.get("ok", False) for r in mine) and not retired,
    }


def _rate(r: dict[str, Any]) -> dict[str, Any]:
    return {"rate": r["rate"], "low": r["low"], "high": r["high"], "dataset": r["dataset"],
            "draws": r["draws"]}


def text(c: dict[str, Any] | None) -> str:
    """One cell: 'FPR 2% [0.2, 7] (worst of 4 nulls) · power 98% [93, 100]'."""
    if c is None:
        return "not calibrated"
    parts = []
    if c["fpr"] is not None:
        f = c["fpr"]
        parts.append(f"FPR {f['rate']:.0%} [{f['low']:.0%}, {f['high']:.0%}] "
                     f"(worst of {c['nulls']} nulls: {f['dataset']}, {f['draws']} draws)")
    if c["power"] is not None:
        p = c["power"]
        parts.append(f"power {p['rate']:.0%} [{p['low']:.0%}, {p['high']:.0%}] "
                     f"({p['dataset']})")
    if c["retired"]:
        parts.append("retired: " + ", ".join(c["retired"]))
    elif not c["ok"]:
        parts.append("misses its target")
    return " · ".join(parts)


def annotate(rows: list[dict[str, Any]],
             calibration: tuple[dict[str, Any], ...] | None = None) -> list[dict[str, Any]]:
    """Each Findings row with its "calibration" (by its "id"; None for rows without one)."""
    return [{**r, "calibration": summary(CALIBRATED_BY[r["id"]], calibration)
             if r.get("id") in CALIBRATED_BY else None} for r in rows]
