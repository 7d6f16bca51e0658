"""What the analyze stage shows of itself: the Prefect markdown artifact of a run's statistics,
beside the study's reference numbers where it gives one."""

from __future__ import annotations

from typing import Any

from zspace import study
from zspace.tasks.common.artifacts import md


def summary_markdown(summary: dict[str, Any], label: str) -> str:
    """The headline figures, beside the study's reference numbers where it gives one."""
    r = summary["radius"]
    lines = [
        f"# Latent statistics: {md(label)}",
        "",
        f"**{summary['n']:,} vectors x {summary['z_dim']} components**, exact on all of them. "
        f"Fingerprint `{summary['fingerprint'][:16]}`.",
        "",
        "## Radius ||z||",
        f"mean {r['mean']:.3f}, std {r['std']:.3f}, peak {r['peak']:.2f} "
        f"(sqrt(z_dim) = {r['sqrt_z_dim']:.2f}), max {r['max']:.2f}. Study: peak ~{study.RADIUS_PEAK:g} "
        f"for z_dim {study.Z_DIM}.",
        "",
        "## Correlations",
        f"| abs(r) above | pairs i<j | study ({study.CORRELATION_SUBSAMPLE:,}-vector subsample) |",
        "| --- | --- | --- |",
    ]
    ref = dict(study.CORRELATION_COUNTS)
    for t, c in summary["correlation_counts"].items():
        lines.append(f"| {t} | {c:,} | {ref.get(t, '')} |")
    pairs = summary["correlated_pairs"]
    lines += ["", f"{len(pairs)} pairs with abs(r) > {summary['corr_threshold']:g}"
              + (" (strongest 16):" if len(pairs) > 16 else ":"), ""]
    if pairs:
        lines += ["| i | j | r |", "| --- | --- | --- |"]
        lines += [f"| {i} | {j} | {v:+.3f} |" for i, j, v in pairs[:16]]
    dom = summary["dominant_components"]
    lines += ["", "## Components", f"Dominant components ({summary['dominant_rule']}): "
              + (", ".join(f"{k} (mean {summary['mean'][k]:+.2f}, half-width "
                           f"{summary['half_width'][k]:.2f})" for k in dom) or "none")]
    if summary["zero_variance_components"]:
        lines.append(f"Zero-variance components (correlations reported as 0): "
                     f"{summary['zero_variance_components']}")
    ratio = summary["pca_explained_variance_ratio"]
    lines += ["", "## PCA", "Explained variance, first 10 components: "
              + ", ".join(f"{v:.3f}" for v in ratio[:10])]
    s = summary["slice"]
    lines += ["", "## Slice", f"{s['count']:,} vectors ({s['fraction']:.2%}) with every component "
              f"except {s['axes'][0]} and {s['axes'][1]} below {s['threshold']:g} in absolute value."]
    lines += ["", "## Artificial uniform vectors in [-b, b]",
              f"Best radius match: b = {summary['artificial_best_b']:g}; mean radius within one std "
              f"of the data's: b in {summary['artificial_matching_b']}. Study: {study.B_RANGE[0]:g} <= b "
              f"<= {study.B_RANGE[1]:g}.",
              "", "| b | mean radius | W1 to data radii | inside the data cloud |",
              "| --- | --- | --- | --- |"]
    for b, row in summary["artificial"].items():
        lines.append(f"| {b} | {row['radius_mean']:.2f} | {row['wasserstein']:.2f} | "
                     f"{row['fraction_inside']:.2%} |")
    lines += ["", summary["mahalanobis"]["rule"] + ".", summary["artificial_rule"] + "."]
    return "\n".join(lines)


def closing_lines(res: dict[str, Any]) -> str:
    counts = ", ".join(f">{t}: {c}" for t, c in res["correlation_counts"].items())
    """What the CLI prints when the stage is done."""
    return "\n".join([
        f"statistics of {res['n']:,} x {res['z_dim']} -> {res['stats_url']}"
        f"{' (already complete)' if res['cached'] else ''}",
        f"radius mean {res['radius_mean']:.3f}, peak {res['radius_peak']:.2f} "
        f"(sqrt(z_dim) {res['sqrt_z_dim']:.2f}); pairs |r| {counts}",
        f"dominant components {res['dominant_components']}; best artificial b "
        f"{res['artificial_best_b']:g}; fingerprint {res['fingerprint'][:16]}",
    ])
