"""Ingest flow: images (CelebA, any folder or zip, or synthetic faces) into the zarr store."""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact

from zspace.flows.artifacts import artifact_key, md
from zspace.flows.stage import PipelineContext, Stage
from zspace.storage import Store
from zspace.storage.lock import writer_lock
from zspace.tasks.ingest.stage import IngestConfig, ingest, iter_failed


@task(name="ingest-images")
def ingest_images(cfg: dict[str, Any]) -> dict[str, Any]:
    return ingest(IngestConfig(**cfg))


def summary_markdown(summary: dict[str, Any], failed: list[tuple[str, str]]) -> str:
    lines = [
        f"# Ingest {md(summary['dataset'])}",
        "",
        "| | |",
        "|---|---|",
        f"| source | {md(summary['source'])} ({summary['kind']}) |",
        f"| images | {summary['n_images']} of {summary['n_sources']} sources, "
        f"{summary['size']}x{summary['size']} px |",
        f"| failed | {summary['n_failed']} |",
        f"| splits | {', '.join(f'{k} {v}' for k, v in (summary['splits'] or {}).items())} |",
        f"| array | {md(summary['images'])} |",
        f"| fingerprint | `{summary['fingerprint']}` |",
    ]
    if failed:
        lines += ["", "## Skipped files", "", "| file | reason |", "|---|---|"]
        lines += [f"| {md(f)} | {md(why)} |" for f, why in failed[:50]]
        if len(failed) > 50:
            lines.append(f"| ... | {len(failed) - 50} more in index.csv |")
    return "\n".join(lines)


@flow(name="ingest", log_prints=True)
def ingest_flow(
    source: str,
    store: str,
    name: str,
    size: int = 96,
    count: int | None = None,
    seed: int = 0,
    partition: str | None = None,
    attributes: str | None = None,
    crop: tuple[int, int, int, int] | None = None,
    dask_address: str | None = None,
    workers: int | None = None,
    chunk_rows: int | None = None,
    max_pixels: int = 64_000_000,
) -> dict[str, Any]:
    """Decode every image once into datasets/<name>/images; resumes, and is a no-op when done."""
    cfg = IngestConfig(
        source=source, store=store, name=name, size=size, count=count, seed=seed,
        partition=partition, attributes=attributes, crop=crop, dask_address=dask_address, workers=workers,
        chunk_rows=chunk_rows, max_pixels=max_pixels,
    )
    st = Store(store)
    with writer_lock(st, st.dataset(name).lock, f"ingest {name}"):
        summary = ingest_images(cfg.model_dump())
    failed = list(iter_failed(Store(store), name)) if summary["n_failed"] else []
    create_markdown_artifact(
        markdown=summary_markdown(summary, failed),
        key=artifact_key(f"ingest-{name}-summary"),
        description=f"ingest of {name}",
    )
    state = "already complete" if summary["cached"] else "done"
    print(
        f"ingest {name}: {state}: {summary['n_images']} images, {summary['n_failed']} failed "
        f"-> {summary['images']}"
    )
    for f, why in failed[:20]:
        print(f"  skipped {f}: {why}")
    return summary


def _summary(s: dict[str, Any]) -> str:
    return f"{s['n_images']} images ({s['n_failed']} failed) -> {s['images']}; fingerprint " \
        f"{s['fingerprint'][:16]}"


def _complete(store: Store, kw: dict[str, Any]) -> bool:
    layout = store.dataset(kw["name"])
    return store.has_complete_array(layout.images) and store.exists(layout.index)


def _check(kw: dict[str, Any]) -> None:
    """List the source and check the name before any flow run: an empty folder, a corrupt zip
    or a bad name is one message, not a failed run."""
    from zspace.tasks.ingest.stage import attribute_file, plan_ingest

    Store(kw["store"]).dataset(kw["name"])
    plan_ingest(IngestConfig(**kw))
    attribute_file(IngestConfig(**kw))


def _plan_key(ctx: PipelineContext, dataset: str) -> dict[str, Any]:
    """The source listing (names, sizes, split): new files mean a new key."""
    from zspace.tasks.ingest.stage import plan_ingest

    kw = STAGE.from_pipeline(ctx, dataset)  # type: ignore[misc]
    return {"plan": plan_ingest(IngestConfig(**kw))[-1]}


STAGE = Stage(
    name="ingest",
    help="decode images (folder, zip or synthetic faces) into the zarr store",
    params=IngestConfig,
    flow=ingest_flow,
    complete=_complete,
    per="dataset",
    artifacts=("ingest-{dataset}", "ingest-{dataset}-summary"),
    summary=_summary,
    check=_check,
    from_pipeline=lambda ctx, dataset: {
        "source": ctx.settings["source"], "store": ctx.store, "name": dataset,
        "size": ctx.settings["size"], "count": ctx.settings["count"], "seed": ctx.settings["seed"]},
    extra_key=_plan_key,
    runtime=("dask_address",),
)
