"""Projections stage: `zspace project --store S --run R` (t-SNE of the latent cloud).

The work is in :mod:`zspace.tasks.project.stage`; this flow runs it as one task, publishes a table
artifact of what was computed and returns a small dict (where, actual n, fingerprints).
"""

from __future__ import annotations

import json
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_table_artifact
from pydantic import BaseModel, ConfigDict, Field

from zspace.flows.stage import Stage
from zspace.storage import Store
from zspace.tasks.common.progress import artifact_key
from zspace.tasks.project.stage import ProjectParams


def _params(params: dict[str, Any] | None) -> dict[str, Any]:
    return json.loads(ProjectParams(**(params or {})).model_dump_json())


@task(name="tsne-projections")
def tsne_projections(store: str, run: str, params: dict[str, Any]) -> dict[str, Any]:
    from zspace.tasks.project.stage import project_latents

    return project_latents(store, run, params)


@flow(name="project", log_prints=True)
def project_flow(store: str, run: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    """t-SNE projections of runs/<run>/latents/z_mean (and of its PCA coordinates)."""
    result = tsne_projections(store, run, _params(params))
    rows = [{"config": c, "n": r["n"], "seconds": r["seconds"], "cached": r["cached"],
             "fingerprint": r["fingerprint"][:16]} for c, r in result["projections"].items()]
    create_table_artifact(table=rows, key=artifact_key(f"project-{run}"),
                          description=f"t-SNE projections of {run}")
    return result


class ProjectArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    store: str = Field(description="store root (local path or fsspec URL)")
    run: str = Field(description="run name under the store")


def _summary(res: dict[str, Any]) -> str:
    lines = [f"{c}: {r['n']:,} points, {r['seconds']:.1f} s{' (already done)' if r['cached'] else ''}"
             for c, r in res["projections"].items()]
    return "\n".join([*lines, f"figures listed in {res['manifest']}"])


def _complete(store: Store, kw: dict[str, Any]) -> bool:
    return store.exists(store.run(kw["run"]).manifest("project"))


STAGE = Stage(
    name="project",
    help="t-SNE projections of a run's latent vectors (openTSNE)",
    params=ProjectArgs,
    nested={"params": ProjectParams},
    flow=project_flow,
    complete=_complete,
    upstream=("encode", "analyze"),
    artifacts=("project-{run}",),
    summary=_summary,
    from_pipeline=lambda ctx, run: {"store": ctx.store, "run": run,
                                    "params": ctx.settings["projection"]},
)
