"""What the report stage shows of itself: its Prefect artifacts (a markdown summary, the
correlated pairs) and the CLI's closing lines."""

from __future__ import annotations

from typing import Any

from zspace import study
from zspace.storage import Store


def report_markdown(result: dict[str, Any], store_url: str, run: str) -> str:
    """A short markdown summary for the Prefect UI."""
    store = Store(store_url)
    sm = store.read_json_if(store.run(run).stats.summary)
    lines = [f"# Report: {run}", "", f"`{result['report']}` ({result['bytes'] / 1e6:.1f} MB, "
             f"{result['n_figures']} figures from {', '.join(result['manifests']) or 'no manifests'})", ""]
    if sm:
        r = sm["radius"]
        counts = study.CORRELATION_COUNTS
        lo, hi = study.B_RANGE
        lines += [f"- {sm['n']:,} vectors x {sm['z_dim']}; radius peak {r['peak']:.2f} "
                  f"(sqrt(z_dim) {r['sqrt_z_dim']:.2f}; study {study.RADIUS_PEAK:g} vs "
                  f"{study.SQRT_Z_DIM:g})",
                  "- pairs |r| > t: " + ", ".join(f"{t}: {c}" for t, c in sm["correlation_counts"].items())
                  + f" (study, {study.CORRELATION_SUBSAMPLE:,} vectors: "
                  f"{'/'.join(str(c) for c in counts.values())} for {min(counts)}..{max(counts)})",
                  f"- dominant components: {sm['dominant_components']}",
                  f"- best artificial b: {sm['artificial_best_b']:g} (study: {lo} <= b <= {hi})"]
    if result["missing"]:
        lines += ["", "## Missing", *[f"- {m}" for m in result["missing"]]]
    return "\n".join(lines)


def correlated_pairs_rows(store_url: str, run: str, limit: int = 200) -> list[dict[str, Any]]:
    """The most correlated component pairs, strongest first, for a Prefect table."""
    store = Store(store_url)
    sm = store.read_json_if(store.run(run).stats.summary)
    if not sm:
        return []
    return [{"i": i, "j": j, "r": round(v, 4)} for i, j, v in sm["correlated_pairs"][:limit]]


def closing_lines(result: dict[str, Any]) -> str:
    """The CLI's closing lines."""
    lines = [f"report: {result['report']} ({result['n_figures']} figures, "
             f"{result['bytes'] / 1e6:.1f} MB)"]
    return "\n".join(lines + [f"  missing: {m}" for m in result["missing"]])
