"""Encode stage: `zspace encode --store S --run R [--batch-size B]`.

Every image of the run's dataset (all splits, image order) through the run's encoder into
runs/<run>/latents/z_mean (and z_log_var for a VAE); resumable chunk by chunk, a tqdm bar and
a Prefect progress artifact while it runs, a content fingerprint when complete. A finished
encode with the same model and dataset is answered from the array attributes in a moment.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from pydantic import BaseModel, ConfigDict, Field

from zspace.flows.artifacts import artifact_key, md
from zspace.flows.stage import Stage
from zspace.storage import Store
from zspace.storage.lock import writer_lock


@task(name="encode-latents")
def encode_latents(store: str, run: str, batch_size: int = 256) -> dict[str, Any]:
    from zspace.tasks.encode.stage import encode_run

    return encode_run(Store(store), run, batch_size=batch_size)


@flow(name="encode", log_prints=True)
def encode_flow(store: str, run: str, batch_size: int = 256) -> dict[str, Any]:
    """Latents of every image for one trained run; returns paths, fingerprints and counts."""
    from zspace.tasks.encode.stage import finished_encode

    done = finished_encode(Store(store), run)  # no TensorFlow, no task run, when finished
    if done is not None:
        result = done
    else:
        st = Store(store)
        with writer_lock(st, st.run(run).lock, f"encode {run}"):
            result = encode_latents(store, run, batch_size)
    lines = [f"# Encoded run {md(run)}", "",
             f"{result['n']:,} images of dataset {md(result['dataset'])} -> {result['kind']} latents, "
             f"z_dim {result['z_dim']}" + (" (already complete)" if result["cached"] else ""), "",
             "| array | fingerprint |", "| --- | --- |"]
    lines += [f"| {md(v['url'])} | `{v['fingerprint'][:16]}` |" for v in result["latents"].values()]
    if result.get("images_per_s"):
        lines += ["", f"{result['images_per_s']:,} images/s"]
    create_markdown_artifact(markdown="\n".join(lines), key=artifact_key(f"encode-{run}-summary"),
                             description=f"Latents of run {run}")
    return result


class EncodeParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    store: str = Field(description="store root (local path or fsspec URL)")
    run: str = Field(description="a trained run under the store")
    batch_size: int = Field(256, ge=1, description="images per encoder call")


def _check(kw: dict[str, Any]) -> None:
    from zspace.tasks.encode.stage import plan_encode

    plan_encode(Store(kw["store"]), kw["run"])  # clear errors before a flow run starts


def _summary(res: dict[str, Any]) -> str:
    state = "already complete" if res["cached"] else f"{res['seconds']:.1f} s"
    lines = [f"encoded {res['n']:,} images of {res['dataset']} ({state})"]
    lines += [f"  {name}: {v['url']}  fingerprint {v['fingerprint'][:16]}"
              for name, v in res["latents"].items()]
    return "\n".join(lines)


def _complete(store: Store, kw: dict[str, Any]) -> bool:
    return store.has_complete_array(store.run(kw["run"]).latents("z_mean"))


STAGE = Stage(
    name="encode",
    help="encode every image of a run's dataset into zarr latents (z_mean, z_log_var)",
    params=EncodeParams,
    flow=encode_flow,
    complete=_complete,
    upstream=("train",),
    artifacts=("encode-{run}", "encode-{run}-summary"),
    check=_check,
    summary=_summary,
    from_pipeline=lambda ctx, run: {"store": ctx.store, "run": run},
)
