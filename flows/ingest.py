"""Ingest flow: images (CelebA, any folder or zip, or synthetic faces) into the zarr store."""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact

from zspace.cli.stage import PipelineContext, Stage
from zspace.storage import Store
from zspace.storage.lock import writer_lock
from zspace.tasks.common.artifacts import artifact_key
from zspace.tasks.ingest.artifacts import artifact_markdown, closing_lines, console_lines
from zspace.tasks.ingest.params import IngestParams
from zspace.tasks.ingest.stage import ingest, iter_failed


@task(name="ingest-images")
def ingest_images(params: IngestParams) -> dict[str, Any]:
    return ingest(params)


@flow(name="ingest", log_prints=True)
def ingest_flow(params: IngestParams) -> dict[str, Any]:
    """Decode every image once into datasets/<name>/images; resumes, and is a no-op when done."""
    st = Store(params.store)
    with writer_lock(st, st.dataset(params.name).lock, f"ingest {params.name}"):
        result = ingest_images(params)
    failed = list(iter_failed(st, params.name)) if result["n_failed"] else []
    create_markdown_artifact(
        markdown=artifact_markdown(result, failed),
        key=artifact_key(f"ingest-{params.name}-summary"),
        description=f"ingest of {params.name}",
    )
    for line in console_lines(result, failed):
        print(line)
    return result



def _complete(store: Store, p: IngestParams) -> bool:
    layout = store.dataset(p.name)
    return store.has_complete_array(layout.images) and store.exists(layout.index)


def _check(p: IngestParams) -> None:
    """List the source and check the name before any flow run: an empty folder, a corrupt zip
    or a bad name is one message, not a failed run."""
    from zspace.tasks.ingest.stage import attribute_file, plan_ingest

    Store(p.store).dataset(p.name)
    plan_ingest(p)
    attribute_file(p)


def _from_pipeline(ctx: PipelineContext, dataset: str) -> dict[str, Any]:
    s = ctx.settings
    return {"source": s["source"], "store": ctx.store, "name": dataset, "size": s["size"],
            "count": s["count"], "seed": s["seed"]}


def _plan_key(ctx: PipelineContext, dataset: str) -> dict[str, Any]:
    """The source listing (names, sizes, split): new files mean a new key."""
    from zspace.tasks.ingest.stage import plan_ingest

    return {"plan": plan_ingest(IngestParams(**_from_pipeline(ctx, dataset)))[-1]}


STAGE = Stage(
    name="ingest",
    help="decode images (folder, zip or synthetic faces) into the zarr store",
    params=IngestParams,
    flow=ingest_flow,
    complete=_complete,
    per="dataset",
    artifacts=("ingest-{dataset}", "ingest-{dataset}-summary"),
    closing=closing_lines,
    check=_check,
    from_pipeline=_from_pipeline,
    extra_key=_plan_key,
    runtime=("dask_address",),
)
