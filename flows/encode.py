"""Encode stage: `zspace encode --store S --run R [--batch-size B]`.

Every image of the run's dataset (all splits, image order) through the run's encoder into
runs/<run>/latents/z_mean (and z_log_var for a VAE); resumable chunk by chunk, a tqdm bar and
a Prefect progress artifact while it runs, a content fingerprint when complete. A finished
encode with the same model and dataset is answered from the array attributes in a moment.
"""

from __future__ import annotations

import argparse
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact

from zspace.storage import Store


@task(name="encode-latents")
def encode_latents(store: str, run: str, batch_size: int = 256) -> dict[str, Any]:
    from zspace.tasks.encode.stage import encode_run

    return encode_run(Store(store), run, batch_size=batch_size)


@flow(name="encode", log_prints=True)
def encode_flow(store: str, run: str, batch_size: int = 256) -> dict[str, Any]:
    """Latents of every image for one trained run; returns paths, fingerprints and counts."""
    from zspace.tasks.common.progress import artifact_key
    from zspace.tasks.encode.stage import finished_encode

    done = finished_encode(Store(store), run)  # no TensorFlow, no task run, when finished
    result = done if done is not None else encode_latents(store, run, batch_size)
    lines = [f"# Encoded run {run}", "",
             f"{result['n']:,} images of dataset `{result['dataset']}` -> {result['kind']} latents, "
             f"z_dim {result['z_dim']}" + (" (already complete)" if result["cached"] else ""), "",
             "| array | fingerprint |", "| --- | --- |"]
    lines += [f"| {v['url']} | `{v['fingerprint'][:16]}` |" for v in result["latents"].values()]
    if result.get("images_per_s"):
        lines += ["", f"{result['images_per_s']:,} images/s"]
    create_markdown_artifact(markdown="\n".join(lines), key=artifact_key(f"encode-{run}-summary"),
                             description=f"Latents of run {run}")
    return result


def register_cli(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "encode",
        help="encode every image of a run's dataset into zarr latents",
        description="Runs the trained encoder of runs/<run>/ over all images (all splits, image "
        "order) into runs/<run>/latents/z_mean (and z_log_var for a VAE); resumes if interrupted.",
    )
    p.add_argument("--store", required=True, help="store root (local path or fsspec URL)")
    p.add_argument("--run", required=True, help="a trained run under the store")
    p.add_argument("--batch-size", type=int, default=256, help="images per encoder call (256)")
    p.set_defaults(func=_cli)


def _cli(args: argparse.Namespace) -> int:
    from zspace.tasks.encode.stage import plan_encode

    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be positive, not {args.batch_size}")
    plan_encode(Store(args.store), args.run)  # clear errors before a flow run starts
    res = encode_flow(store=args.store, run=args.run, batch_size=args.batch_size)
    state = "already complete" if res["cached"] else f"{res['seconds']:.1f} s"
    print(f"encoded {res['n']:,} images of {res['dataset']} with run {args.run} ({state})")
    for name, v in res["latents"].items():
        print(f"  {name}: {v['url']}  fingerprint {v['fingerprint'][:16]}")
    return 0
