"""Report stage: `zspace report --store S --run R [--compare R2] [--redraw]`.

Draws the statistics figures when they are missing or stale (or with --redraw), runs the AE/VAE
reconstruction comparison when --compare is given and that stage exists, then writes one
self-contained runs/<run>/report.html (:mod:`zspace.tasks.report.stage`). Prefect artifacts
(:mod:`zspace.tasks.report.artifacts`): a markdown summary, a table of correlated pairs and a
link to the report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact

from zspace.cli.stage import PipelineContext, Stage
from zspace.storage import Store, StoreError
from zspace.tasks.common.artifacts import artifact_key
from zspace.tasks.generate.reconstruct_task import compare_reconstructions_task
from zspace.tasks.report.artifacts import closing_lines, correlated_pairs_rows, report_markdown
from zspace.tasks.report.params import ReportParams


@task(name="draw-stats-figures")
def draw_stats_figures_task(store: str, run: str, sample: int, seed: int) -> dict[str, Any]:
    from zspace.tasks.report.drawing import draw_stats_figures

    manifest = draw_stats_figures(store, run, sample=sample, seed=seed, show_progress=True)
    return {"figures": [e["file"] for e in manifest],
            "manifest": Store(store).join(Store(store).run(run).manifest("stats"))}


@task(name="write-report")
def write_report_task(params: ReportParams, compare_result: dict[str, Any] | None,
                      compare_error: str | None) -> dict[str, Any]:
    from zspace.tasks.report.stage import write_report

    return write_report(params.store, params.run, params.compare, compare_result, compare_error,
                        seeds=params.seeds)


def _key(prefix: str, run: str) -> str:
    return artifact_key(f"{prefix}-{run}")


def _check(p: ReportParams) -> None:
    st = Store(p.store)
    for run, what in ((p.run, "in this store"), (p.compare, "to compare"),
                      *((r, "of another seed") for r in p.seeds)):
        if run and not st.exists(st.run(run).root):
            raise StoreError(f"{st.join(st.run(run).root)} does not exist: no run {run!r} {what}")


@flow(name="report", log_prints=True)
def report_flow(params: ReportParams) -> dict[str, Any]:
    """Figures (if needed), the reconstruction comparison (if asked), the HTML report, artifacts."""
    from zspace.tasks.report.drawing import stats_figures_current

    store, run, compare = params.store, params.run, params.compare
    st = Store(store)
    _check(params)
    drawn = None
    if st.exists(st.run(run).stats.complete) and (params.redraw
                                                  or not stats_figures_current(store, run)):
        drawn = draw_stats_figures_task(store, run, params.sample, params.seed)
    compare_result, compare_error = None, None
    if compare:
        try:
            compare_result = compare_reconstructions_task(store, [run, compare])
        except Exception as e:  # the report still shows everything else, and says what failed
            compare_error = f"{type(e).__name__}: {e}"
            print(f"reconstruction comparison failed: {compare_error}")
    result = write_report_task(params, compare_result, compare_error)

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


def _from_pipeline(ctx: PipelineContext, run: str) -> dict[str, Any]:
    """The run, the other kind's run of the same seed, and (with replicates) the other seeds."""
    seeds = {r: next(iter(ctx.others(r)), "") for r in ctx.seeds_of(run) if r != run}
    return {"store": ctx.store, "run": run, "compare": next(iter(ctx.others(run)), None),
            **({"seeds": seeds} if seeds else {})}


def _seeds_key(ctx: PipelineContext, run: str) -> dict[str, Any]:
    """What the report reads of other runs: their training, and the other seeds' results."""
    others = {"compare": [ctx.results["train"][r] for r in ctx.others(run)]}
    seeds = [r for r in ctx.seeds_of(run) if r != run]
    if seeds:
        others["seeds"] = [ctx.results[st].get(r) for r in seeds
                           for st in ("train", "analyze", "generate")]
    return others


def _complete(store: Store, p: ReportParams) -> bool:
    return store.exists(store.run(p.run).report)


STAGE = Stage(
    name="report",
    help="one self-contained HTML report of a run (findings, figures, the study's numbers)",
    params=ReportParams,
    flow=report_flow,
    complete=_complete,
    upstream=("train", "encode", "analyze", "project", "generate"),
    artifacts=("report-{run}", "correlated-pairs-{run}", "report-link-{run}"),
    check=_check,
    closing=closing_lines,
    from_pipeline=_from_pipeline,
    extra_key=_seeds_key,
)
