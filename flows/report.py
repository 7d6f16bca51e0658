"""Report stage: `zspace report --store S --run R [--compare R2] [--redraw]`.

Draws the statistics figures when they are missing or stale (or with --redraw), runs the AE/VAE
reconstruction comparison when --compare is given and that stage exists, then writes one
self-contained runs/<run>/report.html (:mod:`zspace.tasks.report.stage`). Prefect artifacts: a markdown
summary, a table of correlated pairs and a link to the report.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact

from zspace.flows.generate import compare_reconstructions_task
from zspace.storage import Store, StoreError
from zspace.tasks.common.progress import artifact_key


def stats_figures_current(store_url: str, run: str) -> bool:
    """figures/stats.json lists existing files drawn from the current statistics."""
    store = Store(store_url)
    fig_rel = f"{Store.run_rel(run)}/figures"
    sum_rel = f"{Store.stats_rel(run)}/summary.json"
    if not (store.exists(f"{fig_rel}/stats.json") and store.exists(sum_rel)):
        return False
    fp = store.read_json(sum_rel).get("fingerprint")
    entries = store.read_json(f"{fig_rel}/stats.json")
    return bool(entries) and all(e.get("stats_fingerprint") == fp and store.exists(f"{fig_rel}/{e['file']}")
                                 for e in entries)


@task(name="draw-stats-figures")
def draw_stats_figures_task(store: str, run: str, sample: int, seed: int) -> dict[str, Any]:
    from zspace.tasks.report.figures import draw_stats_figures

    manifest = draw_stats_figures(store, run, sample=sample, seed=seed, show_progress=True)
    return {"figures": [e["file"] for e in manifest],
            "manifest": Store(store).join(f"{Store.run_rel(run)}/figures/stats.json")}


@task(name="write-report")
def write_report_task(store: str, run: str, compare: str | None, compare_result: dict[str, Any] | None,
                      compare_error: str | None) -> dict[str, Any]:
    from zspace.tasks.report.stage import write_report

    return write_report(store, run, compare, compare_result, compare_error)


def _key(prefix: str, run: str) -> str:
    return artifact_key(f"{prefix}-{run}")


@flow(name="report", log_prints=True)
def report_flow(store: str, run: str, compare: str | None = None, redraw: bool = False,
                sample: int = 5000, seed: int = 0) -> dict[str, Any]:
    """Figures (if needed), the reconstruction comparison (if asked), the HTML report, artifacts."""
    from zspace.tasks.report.stage import correlated_pairs_rows, report_markdown

    st = Store(store)
    if not st.exists(Store.run_rel(run)):
        raise StoreError(f"{st.join(Store.run_rel(run))} does not exist: no run {run!r} in this store")
    if compare and not st.exists(Store.run_rel(compare)):
        raise StoreError(f"{st.join(Store.run_rel(compare))} does not exist: no run {compare!r} to compare")
    drawn = None
    if st.exists(f"{Store.stats_rel(run)}/complete.json") and (redraw or not stats_figures_current(store, run)):
        drawn = draw_stats_figures_task(store, run, sample, seed)
    compare_result, compare_error = None, None
    if compare:
        try:
            compare_result = compare_reconstructions_task(store, [run, compare])
        except Exception as e:  # the report still shows everything else, and says what failed
            compare_error = f"{type(e).__name__}: {e}"
            print(f"reconstruction comparison failed: {compare_error}")
    result = write_report_task(store, run, compare, compare_result, compare_error)

    create_markdown_artifact(markdown=report_markdown(result, store, run), key=_key("report", run),
                             description=f"Report of run {run}")
    rows = correlated_pairs_rows(store, run)
    if rows:
        create_table_artifact(table=rows, key=_key("correlated-pairs", run),
                              description=f"Correlated pairs of run {run} (strongest first)")
    link = Path(result["report"]).resolve().as_uri() if st.is_local else result["report_url"]
    create_link_artifact(link=link, link_text=f"report.html of {run}", key=_key("report-link", run),
                         description=f"The self-contained HTML report of run {run}")
    return {**result, "link": link, "figures_drawn": bool(drawn),
            "compared": compare_result is not None}


def register_cli(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "report",
        help="one self-contained HTML report of a run (figures, statistics, reference values)",
        description="Draw the statistics figures if missing, then write runs/<run>/report.html with "
        "every figure of every stage embedded and the study's reference numbers beside ours.",
    )
    p.add_argument("--store", required=True, help="store root (local path or fsspec URL)")
    p.add_argument("--run", required=True, help="run name under the store")
    p.add_argument("--compare", help="a second run (AE vs VAE on the same dataset) for reconstruction")
    p.add_argument("--redraw", action="store_true", help="redraw the statistics figures")
    p.add_argument("--sample", type=int, default=5000, help="data points in the pair scatter (5000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the point sample (0)")
    p.set_defaults(func=_cli)


def _cli(args: argparse.Namespace) -> int:
    if args.sample < 1:
        raise ValueError(f"--sample must be at least 1, got {args.sample}")
    res = report_flow(store=args.store, run=args.run, compare=args.compare, redraw=args.redraw,
                      sample=args.sample, seed=args.seed)
    print(f"report: {res['report']} ({res['n_figures']} figures, {res['bytes'] / 1e6:.1f} MB)")
    for m in res["missing"]:
        print(f"  missing: {m}")
    return 0
