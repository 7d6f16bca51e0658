"""Project flow: t-SNE projections of a run's latent cloud (:mod:`zspace.tasks.project.stage`),
one task, a table artifact of what was computed, and a small dict (where, actual n,
fingerprints)."""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.artifacts import create_table_artifact

from zspace.cli.stage import Stage
from zspace.storage import Store
from zspace.tasks.common.artifacts import artifact_key
from zspace.tasks.project.artifacts import closing_lines
from zspace.tasks.project.params import ProjectParams


@task(name="tsne-projections")
def tsne_projections(params: ProjectParams) -> dict[str, Any]:
    from zspace.tasks.project.stage import project_latents

    return project_latents(params.store, params.run, params.projection)


@flow(name="project", log_prints=True)
def project_flow(params: ProjectParams) -> dict[str, Any]:
    """t-SNE projections of runs/<run>/latents/z_mean (and of its PCA coordinates)."""
    result = tsne_projections(params)
    rows = [{"config": c, "n": r["n"], "seconds": r["seconds"], "cached": r["cached"],
             "fingerprint": r["fingerprint"][:16]} for c, r in result["projections"].items()]
    create_table_artifact(table=rows, key=artifact_key(f"project-{params.run}"),
                          description=f"t-SNE projections of {params.run}")
    return result



def _complete(store: Store, p: ProjectParams) -> bool:
    return store.exists(store.run(p.run).manifest("project"))


STAGE = Stage(
    name="project",
    help="t-SNE projections of a run's latent vectors (openTSNE)",
    params=ProjectParams,
    flow=project_flow,
    complete=_complete,
    upstream=("encode", "analyze"),
    artifacts=("project-{run}",),
    closing=closing_lines,
    from_pipeline=lambda ctx, run: {"store": ctx.store, "run": run,
                                    "projection": ctx.settings["projection"]},
)
