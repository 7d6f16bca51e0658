"""Encode flow: every image of a run's dataset through its encoder into zarr latents
(:mod:`zspace.tasks.encode.stage`). A finished encode with the same model and dataset is
answered from the array attributes in a moment, without TensorFlow."""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact

from zspace.cli.stage import Stage
from zspace.storage import Store
from zspace.storage.lock import writer_lock
from zspace.tasks.common.artifacts import artifact_key
from zspace.tasks.encode.artifacts import artifact_markdown, closing_lines
from zspace.tasks.encode.params import EncodeParams


@task(name="encode-latents")
def encode_latents(params: EncodeParams) -> dict[str, Any]:
    from zspace.tasks.encode.stage import encode_run

    return encode_run(Store(params.store), params.run, batch_size=params.batch_size,
                      chunk_images=params.chunk_images, dask_address=params.dask_address)


@flow(name="encode", log_prints=True)
def encode_flow(params: EncodeParams) -> dict[str, Any]:
    """Latents of every image for one trained run; returns paths, fingerprints and counts."""
    from zspace.tasks.encode.stage import finished_encode

    st, run = Store(params.store), params.run
    result = finished_encode(st, run)  # no TensorFlow, no task run, when finished
    if result is None:
        with writer_lock(st, st.run(run).lock, f"encode {run}"):
            result = encode_latents(params)
    create_markdown_artifact(markdown=artifact_markdown(run, result),
                             key=artifact_key(f"encode-{run}-summary"),
                             description=f"Latents of run {run}")
    return result


def _check(p: EncodeParams) -> None:
    from zspace.tasks.encode.stage import plan_encode

    plan_encode(Store(p.store), p.run)  # clear errors before a flow run starts


def _complete(store: Store, p: EncodeParams) -> bool:
    return store.has_complete_array(store.run(p.run).latents("z_mean"))


STAGE = Stage(
    name="encode",
    help="encode every image of a run's dataset into zarr latents (z_mean, z_log_var)",
    params=EncodeParams,
    flow=encode_flow,
    complete=_complete,
    upstream=("train",),
    artifacts=("encode-{run}", "encode-{run}-summary"),
    check=_check,
    closing=closing_lines,
    from_pipeline=lambda ctx, run: {"store": ctx.store, "run": run},
    runtime=("dask_address",),
)
