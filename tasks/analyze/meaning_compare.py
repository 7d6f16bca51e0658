"""AE vs VAE: two runs' meaning.json side by side. A run is called more linear or more
disentangled only when the difference exceeds its uncertainty (Z_DECIDE standard errors of the
difference); otherwise the answer is "not decidable", with the margin shown."""

from __future__ import annotations

from typing import Any

import numpy as np

from zspace.tasks.analyze.meaning_null import Z_DECIDE, decided

COMPARE_RULE = (
    f"more linear: the mean probe score (probe_r2 or probe_accuracy) over the names both runs "
    f"have differs by more than {Z_DECIDE} standard errors of the difference (bootstrap over "
    f"test rows per name); more disentangled: MIG and DCI disentanglement both higher by more "
    f"than {Z_DECIDE} standard errors of their differences (MIG: delta method on the joint "
    f"histograms plus the null law; D: refits on bootstrap resamples of the train rows); "
    f"'mixed' when MIG and DCI decide in opposite directions; otherwise 'not decidable'")
UNDECIDED = "not decidable"


def _r(x: float) -> float | None:
    return None if x is None or not np.isfinite(x) else round(float(x), 4)


def _num(x: Any) -> float:
    return float("nan") if x is None else float(x)


def _probe(entry: dict[str, Any]) -> tuple[float, float] | None:
    v = entry.get("probe_r2", entry.get("probe_accuracy"))
    return None if v is None else (float(v), _num(entry.get("probe_se")))


def _difference(a: float, b: float, se_a: float, se_b: float,
                labels: tuple[str, str]) -> dict[str, Any]:
    diff, se = a - b, float(np.hypot(se_a, se_b))
    return {"difference": _r(diff), "se": _r(se), "winner": decided(diff, se, labels)}


def _compare_section(a: dict[str, Any], b: dict[str, Any], labels: tuple[str, str]) -> dict[str, Any]:
    la, lb = labels
    shared = [n for n in a["names"] if n in b["names"]]
    pairs = {n: (_probe(a["names"][n]), _probe(b["names"][n])) for n in shared}
    ok = [p for p in pairs.values() if p[0] is not None and p[1] is not None]
    mean_a = float(np.mean([p[0][0] for p in ok])) if ok else float("nan")
    mean_b = float(np.mean([p[1][0] for p in ok])) if ok else float("nan")
    se_a = float(np.sqrt(np.sum([p[0][1] ** 2 for p in ok])) / len(ok)) if ok else float("nan")
    se_b = float(np.sqrt(np.sum([p[1][1] ** 2 for p in ok])) / len(ok)) if ok else float("nan")
    lin = _difference(mean_a, mean_b, se_a, se_b, labels)
    da, db = a.get("dci") or {}, b.get("dci") or {}
    by_mig = _difference(_num(a["mig"]), _num(b["mig"]), _num(a.get("mig_se")),
                         _num(b.get("mig_se")), labels)
    by_dci = _difference(_num(da.get("disentanglement")), _num(db.get("disentanglement")),
                         _num(da.get("disentanglement_se")), _num(db.get("disentanglement_se")),
                         labels)
    wm, wd = by_mig["winner"], by_dci["winner"]
    disentangled = wm if wm == wd else ("mixed" if wm and wd else None)
    linear = lin["winner"]
    verdict = (f"{linear or UNDECIDED} carries them more linearly (mean probe {la} "
               f"{mean_a:.3f} vs {lb} {mean_b:.3f}, difference {lin['difference']} +- "
               f"{lin['se']}); more disentangled: {disentangled or UNDECIDED} (MIG {la} "
               f"{a['mig']} vs {lb} {b['mig']}, difference {by_mig['difference']} +- "
               f"{by_mig['se']}; DCI disentanglement {la} {da.get('disentanglement')} vs {lb} "
               f"{db.get('disentanglement')}, difference {by_dci['difference']} +- "
               f"{by_dci['se']})")
    return {"probe": {n: {la: p[0] and p[0][0], lb: p[1] and p[1][0]} for n, p in pairs.items()},
            "mean_probe": {la: _r(mean_a), lb: _r(mean_b)}, "linear_difference": lin,
            "mig": {la: a["mig"], lb: b["mig"]}, "mig_difference": by_mig,
            "dci": {la: da, lb: db}, "dci_difference": by_dci,
            "more_linear": linear, "more_disentangled": disentangled,
            "decided": {"linear": linear is not None, "disentangled": disentangled is not None},
            "verdict": verdict, "rule": COMPARE_RULE}


def compare_meaning(a: dict[str, Any], b: dict[str, Any], labels: tuple[str, str] = ("ae", "vae")
                    ) -> dict[str, Any]:
    """Two runs' meaning.json side by side, per section both have, with verdicts and the rule."""
    if labels[0] == labels[1]:
        raise ValueError(f"compare_meaning needs two different labels, got {labels}")
    out: dict[str, Any] = {"labels": list(labels), "rule": COMPARE_RULE}
    for sec in ("factors", "attributes"):
        if sec in a and sec in b:
            out[sec] = _compare_section(a[sec], b[sec], labels)
    if len(out) == 2:
        raise ValueError("the two runs share no 'factors' or 'attributes' section to compare")
    return out
