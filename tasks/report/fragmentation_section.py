"""The report's "fragmentation" section: filaments and voids against a Gaussian null model,
every verdict with the rule that decided it."""

from __future__ import annotations

from typing import Any

from zspace.tasks.report.html import esc, fmt, table


def _windows(frag: dict[str, Any]) -> str:
    rows = []
    for plane, ws in frag.get("windows", {}).items():
        for w in ws:
            side = "whole cloud" if w.get("side") is None else f"side {fmt(w['side'], 3)}"
            envelope = (f"{fmt(w.get('surrogate_min'), 3)} .. {fmt(w.get('surrogate_max'), 3)}"
                        if w.get("clark_evans") is not None else "-")
            rows.append([plane, side, w.get("count"), fmt(w.get("clark_evans"), 3), envelope,
                         w.get("verdict")])
    return table(["plane", "window", "points", "Clark-Evans R (data)",
                  "R of Gaussian surrogates (min .. max)", "verdict"], rows)


def fragmentation_html(frag: dict[str, Any] | None) -> list[str]:
    """The section's text: overall verdict, intrinsic dimension, kNN distances, windows."""
    if not frag:
        return []
    dim, knn = frag.get("intrinsic_dimension", {}), frag.get("knn", {})
    data, surr = frag.get("data", {}), frag.get("surrogate", {})
    err = frag.get("sampling_error", {})
    rows = [
        ["TwoNN dimension", fmt(data.get("twonn"), 3), fmt(surr.get("twonn"), 3),
         fmt(err.get("twonn"), 3)],
        ["MLE dimension", fmt(data.get("mle"), 3), fmt(surr.get("mle"), 3), fmt(err.get("mle"), 3)],
        ["median local MLE", fmt(dim.get("data_median_local"), 3),
         fmt(dim.get("surrogate_median_local"), 3), ""],
        [f"median {knn.get('k')}-NN distance", fmt(data.get("knn_median"), 4),
         fmt(surr.get("knn_median"), 4), fmt(err.get("knn_median"), 4)],
    ]
    rules = frag.get("rules", {})
    return [
        f"<p><b>Overall: {esc(frag.get('overall'))}.</b> Rule: {esc(frag.get('overall_rule'))}</p>",
        f"<p>On a seeded sample of {frag.get('n_sample', 0):,} of {frag.get('n_total', 0):,} "
        "latent vectors, against a Gaussian with the data's mean and covariance and the same "
        "count; the sampling error is the difference to a second, disjoint sample.</p>",
        table(["statistic", "data", "Gaussian surrogate", "sampling error"], rows),
        f"<p>Intrinsic dimension: <b>{esc(dim.get('verdict'))}</b> ({esc(dim.get('rule'))}). "
        f"kNN distances: <b>{esc(knn.get('verdict'))}</b>: median ratio "
        f"{fmt(knn.get('median_ratio'), 3)} (two surrogates: {fmt(knn.get('null_median_ratio'), 3)}),"
        f" KS {fmt(knn.get('ks_statistic'), 3)} (null {fmt(knn.get('null_ks_statistic'), 3)}) "
        f"({esc(knn.get('rule'))}).</p>",
        "<h3>Zoom windows</h3>" + _windows(frag),
        f'<p class="note">{esc(rules.get("window", ""))}</p>',
    ]
