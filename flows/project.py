"""Projections stage: `zspace project --store S --run R` (t-SNE of the latent cloud, SPEC.md §4).

The work is in :mod:`zspace.tasks.project.stage`; this flow runs it as one task, publishes a table
artifact of what was computed and returns a small dict (where, actual n, fingerprints).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_table_artifact

from zspace.tasks.common.progress import artifact_key


def _params(params: dict[str, Any] | None) -> dict[str, Any]:
    from zspace.tasks.project.stage import ProjectParams

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


def register_cli(subparsers: argparse._SubParsersAction) -> None:
    from zspace.tasks.project.stage import CONFIGS

    p = subparsers.add_parser(
        "project",
        help="t-SNE projections of a run's latent vectors (openTSNE)",
        description="t-SNE of runs/<run>/latents/z_mean: the study's settings (study-20k), "
        "80k and 165k points with defaults, and t-SNE after PCA on 2, 4, 10 components. "
        "Coordinates go to runs/<run>/projections/, figures to runs/<run>/figures/.",
    )
    p.add_argument("--store", required=True, help="store root (local path or fsspec URL)")
    p.add_argument("--run", required=True, help="run name under the store")
    p.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=None,
                   help="which projections (default: all)")
    p.add_argument("--n-iter", type=int, default=None, help="override the normal-phase iterations")
    p.add_argument("--early-exaggeration-iter", type=int, default=None)
    p.add_argument("--max-points", type=int, default=None, help="cap every configuration's points")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-jobs", type=int, default=None, help="threads (default: all cores)")
    p.add_argument("--color-factor", default="skin_tone",
                   help="generating factor to colour by, for synthetic data (skin_tone)")
    p.set_defaults(func=_cli)


def _cli(args: argparse.Namespace) -> int:
    params: dict[str, Any] = {"n_iter": args.n_iter, "early_exaggeration_iter": args.early_exaggeration_iter,
                              "max_points": args.max_points, "seed": args.seed, "n_jobs": args.n_jobs,
                              "color_factor": args.color_factor}
    if args.configs:
        params["configs"] = args.configs
    params = _params(params)  # fail before starting a flow run
    res = project_flow(store=args.store, run=args.run, params=params)
    for c, r in res["projections"].items():
        print(f"{c}: {r['n']:,} points, {r['seconds']:.1f} s{' (already done)' if r['cached'] else ''}")
    print(f"figures listed in {res['manifest']}")
    return 0
