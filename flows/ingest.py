"""Ingest flow: images (CelebA, any folder or zip, or synthetic faces) into the zarr store."""

from __future__ import annotations

import argparse
import json
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact

from zspace.tasks.common.progress import artifact_key
from zspace.tasks.ingest.stage import IngestConfig, ingest, iter_failed


@task(name="ingest-images")
def ingest_images(cfg: dict[str, Any]) -> dict[str, Any]:
    return ingest(IngestConfig(**cfg))


def summary_markdown(summary: dict[str, Any], failed: list[tuple[str, str]]) -> str:
    lines = [
        f"# Ingest `{summary['dataset']}`",
        "",
        "| | |",
        "|---|---|",
        f"| source | `{summary['source']}` ({summary['kind']}) |",
        f"| images | {summary['n_images']} of {summary['n_sources']} sources, "
        f"{summary['size']}x{summary['size']} px |",
        f"| failed | {summary['n_failed']} |",
        f"| splits | {', '.join(f'{k} {v}' for k, v in (summary['splits'] or {}).items())} |",
        f"| array | `{summary['images']}` |",
        f"| fingerprint | `{summary['fingerprint']}` |",
    ]
    if failed:
        lines += ["", "## Skipped files", "", "| file | reason |", "|---|---|"]
        lines += [f"| `{f}` | {why} |" for f, why in failed[:50]]
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
    crop: tuple[int, int, int, int] | None = None,
    dask_address: str | None = None,
    workers: int | None = None,
) -> dict[str, Any]:
    """Decode every image once into datasets/<name>/images; resumes, and is a no-op when done."""
    cfg = IngestConfig(
        source=source, store=store, name=name, size=size, count=count, seed=seed,
        partition=partition, crop=crop, dask_address=dask_address, workers=workers,
    )
    summary = ingest_images(cfg.model_dump())
    from zspace.storage import Store

    failed = list(iter_failed(Store(store), name)) if summary["n_failed"] else []
    create_markdown_artifact(
        markdown=summary_markdown(summary, failed),
        key=artifact_key(f"ingest-{name}"),
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


def register_cli(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "ingest",
        help="decode images (folder, zip or synthetic faces) into the zarr store",
        description="Decode a folder or zip of images (CelebA or any), or draw synthetic faces, "
        "into datasets/<name>/images of the store. Resumes when interrupted.",
    )
    p.add_argument("--source", required=True, help="image folder, .zip, or 'synthetic'")
    p.add_argument("--store", required=True, help="store root: a local path or fsspec URL")
    p.add_argument("--name", required=True, help="dataset name")
    p.add_argument("--size", type=int, default=96, help="output size in px (default 96)")
    p.add_argument("--count", type=int, default=None,
                   help="synthetic: number of faces (default 2000); folder/zip: at most N")
    p.add_argument("--seed", type=int, default=0, help="synthetic faces and the seeded split")
    p.add_argument("--partition", default=None, help="list_eval_partition.txt (CelebA)")
    p.add_argument("--crop", type=int, nargs=4, default=None,
                   metavar=("LEFT", "TOP", "RIGHT", "BOTTOM"),
                   help="crop box in source pixels (default: centred square)")
    p.add_argument("--dask-address", default=None, help="existing dask scheduler, tcp://host:port")
    p.add_argument("--workers", type=int, default=None,
                   help="local decoding processes (default: one per core)")
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    params = dict(
        source=args.source, store=args.store, name=args.name, size=args.size, count=args.count,
        seed=args.seed, partition=args.partition,
        crop=tuple(args.crop) if args.crop else None, dask_address=args.dask_address,
        workers=args.workers,
    )
    IngestConfig(**params)  # bad parameters fail here, with one message, before any flow run
    summary = ingest_flow(**params)
    print(json.dumps({k: summary[k] for k in ("n_images", "n_failed", "images", "fingerprint")}))
    return 0
