"""A claim across training seeds: each replicate run (the same preset and kind, another seed)
gets its own Findings rows; the claim holds only when every seed gives the same verdict, and its
number is shown per seed with its spread. Seeds that disagree make the claim "not decidable":
the verdict depended on the training run, not on the latent space the study describes.
"""

from __future__ import annotations

import html
import math
from typing import Any

from zspace.tasks.report.findings import _short
from zspace.tasks.report.findings_stats import UNDECIDABLE, Row

SEEDS_RULE = "holds only when every training seed gives the same verdict"


def headline(value: Any) -> float | None:
    """The one number a row's `ours` stands for: itself, or the first finite number of a
    small dict (rows put their headline number first)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, dict):
        for v in value.values():
            number = headline(v)
            if number is not None:
                return number
    return None


def spread(values: list[float | None]) -> dict[str, float] | None:
    """min, max and sample sd of the seeds' headline numbers (None below two numbers)."""
    v = [x for x in values if x is not None]
    if len(v) < 2:
        return None
    mean = sum(v) / len(v)
    sd = math.sqrt(sum((x - mean) ** 2 for x in v) / (len(v) - 1))
    return {"min": min(v), "max": max(v), "sd": sd}


def across_seeds(rows_by_run: dict[str, list[Row]]) -> list[Row]:
    """The first run's rows, each with every seed's number and verdict ("seeds"), the spread
    of the numbers, and a verdict that stands only when all seeds agree."""
    runs = list(rows_by_run)
    by_claim = {run: {r["claim"]: r for r in rows} for run, rows in rows_by_run.items()}
    out = []
    for r in rows_by_run[runs[0]]:
        per = {run: by_claim[run].get(r["claim"]) for run in runs}
        seeds = {run: None if p is None else {"ours": p["ours"], "verdict": p["verdict"]}
                 for run, p in per.items()}
        verdicts = [p["verdict"] if p else "missing" for p in per.values()]
        agree = len(set(verdicts)) == 1
        tally = ", ".join(f"{verdicts.count(v)} {v}" for v in dict.fromkeys(verdicts))
        rule = f"{r['rule']}; across {len(runs)} seeds, {SEEDS_RULE}: " + (
            "all agree" if agree else f"they do not ({tally})")
        out.append({**r, "verdict": r["verdict"] if agree else UNDECIDABLE, "rule": rule,
                    "seeds": seeds, "agreement": f"{verdicts.count(r['verdict'])}/{len(runs)}",
                    "spread": spread([headline(p["ours"]) if p else None
                                      for p in per.values()])})
    return out


def seeds_html(rows: list[Row]) -> str:
    """One column per seed: its number and verdict, and the spread across seeds."""
    if not rows or "seeds" not in rows[0]:
        return ""
    runs = list(rows[0]["seeds"])
    head = "".join(f"<th>{html.escape(h)}</th>" for h in ["claim", *runs, "spread", "agree"])
    body = []
    for r in rows:
        cells = [html.escape(r["claim"])]
        for run in runs:
            s = r["seeds"].get(run)
            cells.append("—" if s is None else
                         f"{html.escape(_short(s['ours']))}<br><i>{html.escape(s['verdict'])}</i>")
        sp = r.get("spread")
        cells.append("—" if sp is None else
                     f"{sp['min']:.4g} … {sp['max']:.4g} (sd {sp['sd']:.2g})")
        cells.append(html.escape(r.get("agreement", "")))
        body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return ("<h3>Per training seed</h3><table class=\"findings seeds\"><thead><tr>"
            f"{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")
