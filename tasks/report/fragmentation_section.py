"""The report's "fragmentation" section: filaments and voids against null models that keep the
cloud's large-scale shape; filamentary, clustered, low-dimensional and heavy-tailed are
separate answers, every verdict with the rule that decided it."""

from __future__ import annotations

from typing import Any

from zspace.tasks.report.html import esc, fmt, table


def _windows(frag: dict[str, Any]) -> str:
    rows = []
    for plane, ws in frag.get("windows", {}).items():
        for w in ws:
            side = "whole cloud" if w.get("side") is None else f"side {fmt(w['side'], 3)}"
            smoothed = (f"{fmt(w.get('smoothed_mean'), 3)} / {fmt(w.get('smoothed_twice_mean'), 3)}"
                        if w.get("clark_evans") is not None else "-")
            rows.append([plane, side, w.get("count"), fmt(w.get("clark_evans"), 3), smoothed,
                         fmt(w.get("z"), 2), fmt(w.get("p"), 3), w.get("verdict")])
    return table(["plane", "window", "points", "Clark-Evans R (data)",
                  "R smoothed at h / sqrt(2) h (mean of draws)", "z", "p", "verdict (Holm)"], rows)


def _parts(frag: dict[str, Any]) -> str:
    parts = frag.get("parts", {})
    fil, dim = parts.get("filamentary", {}), parts.get("low_dimensional", {})
    tails, clu = parts.get("heavy_tailed", {}), parts.get("clustered", {})
    rows = [
        ["filamentary", fil.get("verdict"),
         f"median local dimension {fmt(fil.get('data_median_local'), 3)} (upper bound "
         f"{fmt(fil.get('upper_bound'), 3)}), Gaussian {fmt(fil.get('surrogate_median_local'), 3)}",
         fil.get("rule", "")],
        ["clustered", clu.get("verdict"), f"{clu.get('windows_tested', 0)} windows tested",
         clu.get("rule", "")],
        ["low-dimensional", dim.get("verdict"), f"ratio to a Gaussian {fmt(dim.get('ratio'), 3)}",
         dim.get("rule", "")],
        ["heavy-tailed", tails.get("verdict"),
         f"Mardia b2 {fmt(tails.get('mardia_b2'), 4)} (normal {fmt(tails.get('normal_b2'), 4)}),"
         f" z {fmt(tails.get('z'), 3)}", tails.get("rule", "")],
    ]
    return table(["question", "answer", "numbers", "rule"], rows)


def fragmentation_html(frag: dict[str, Any] | None) -> list[str]:
    """The section's text: overall verdict, its parts, intrinsic dimension, kNN, windows."""
    if not frag:
        return []
    knn = frag.get("knn", {})
    data, surr = frag.get("data", {}), frag.get("surrogate", {})
    err = frag.get("sampling_error", {})
    rows = [
        ["TwoNN dimension", fmt(data.get("twonn"), 3), fmt(surr.get("twonn"), 3),
         fmt(err.get("twonn"), 3)],
        ["MLE dimension", fmt(data.get("mle"), 3), fmt(surr.get("mle"), 3), fmt(err.get("mle"), 3)],
        [f"median {knn.get('k')}-NN distance", fmt(data.get("knn_median"), 4),
         fmt(surr.get("knn_median"), 4), fmt(err.get("knn_median"), 4)],
    ]
    rules = frag.get("rules", {})
    return [
        f"<p><b>Overall: {esc(frag.get('overall'))}.</b> Rule: {esc(frag.get('overall_rule'))}</p>",
        _parts(frag),
        f"<p>On a seeded sample of {frag.get('n_sample', 0):,} of {frag.get('n_total', 0):,} "
        "latent vectors, against a Gaussian with the data's mean and covariance and the same "
        "count (descriptive: a Gaussian is not the null for fragmentation); the sampling error "
        "is the difference to a second, disjoint sample.</p>",
        table(["statistic", "data", "Gaussian surrogate", "sampling error"], rows),
        f"<p>kNN distances (descriptive): median ratio {fmt(knn.get('median_ratio'), 3)} (two "
        f"surrogates: {fmt(knn.get('null_median_ratio'), 3)}), KS {fmt(knn.get('ks_statistic'), 3)}"
        f" (null {fmt(knn.get('null_ks_statistic'), 3)}) ({esc(knn.get('rule'))}).</p>",
        "<h3>Zoom windows</h3>" + _windows(frag),
        f'<p class="note">{esc(rules.get("window", ""))}</p>',
    ]
