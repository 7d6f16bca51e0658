"""`zspace serve`: the pipeline (one deployment per preset) and every stage as deployments.

Served from this process against the Prefect server in PREFECT_API_URL; the UI then lists
them, runs them on demand or on their schedule, and reruns a single stage with new parameters.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

PRESETS = ("demo", "celeba-ae", "celeba-ae-1600", "celeba-vae")
DEFAULT_CRON = "0 3 * * *"  # nightly at 03:00, as an example schedule for the demo pipeline


def pipeline_parameters(preset: str, store: str, celeba: str) -> dict[str, Any]:
    """The demo runs on synthetic faces; the CelebA presets on the user's CelebA folder, one
    model kind each (the preset's own)."""
    if preset == "demo":
        return {"preset": preset, "store": store}
    from zspace.models.config import load_preset

    kind = load_preset(preset)[0].kind
    return {"preset": preset, "store": store, "source": celeba, "kinds": [kind]}


def build_deployments(store: str, cron: str | None = DEFAULT_CRON,
                      presets: tuple[str, ...] = PRESETS,
                      celeba: str = "img_align_celeba") -> list[Any]:
    from zspace.flows.analyze import analyze_flow
    from zspace.flows.encode import encode_flow
    from zspace.flows.generate import generate_flow
    from zspace.flows.ingest import ingest_flow
    from zspace.flows.pipeline import pipeline_flow
    from zspace.flows.project import project_flow
    from zspace.flows.report import report_flow
    from zspace.flows.train import train_flow

    tags = ["zspace"]
    deployments = [
        pipeline_flow.to_deployment(
            name=f"pipeline-{preset}",
            parameters=pipeline_parameters(preset, store, celeba),
            cron=cron if preset == "demo" else None,
            tags=[*tags, preset],
            description=f"The whole study for preset {preset!r} (cached stage by stage).",
        )
        for preset in presets
    ]
    run = "synthetic-32px-demo-ae"
    stage_defaults: list[tuple[Any, dict[str, Any]]] = [
        (ingest_flow, {"source": "synthetic", "store": store, "name": "synthetic-32px",
                       "size": 32, "count": 2000}),
        (train_flow, {"store": store, "dataset": "synthetic-32px", "preset": "demo",
                      "kind": "ae", "run": run}),
        (encode_flow, {"store": store, "run": run}),
        (analyze_flow, {"store": store, "run": run}),
        (project_flow, {"store": store, "run": run}),
        (generate_flow, {"store": store, "run": run}),
        (report_flow, {"store": store, "run": run}),
    ]
    for fl, params in stage_defaults:
        deployments.append(fl.to_deployment(
            name=f"stage-{fl.name}", parameters=params, tags=[*tags, "stage"],
            description=f"Rerun the {fl.name} stage alone (edit the parameters in the UI).",
        ))
    return deployments


def register_cli(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        help="serve the pipeline and stage deployments to a Prefect server (schedules, UI runs)",
        description="Serve deployments: pipeline-<preset> for every preset (the demo one on a "
        "cron schedule) and stage-<name> for every stage. Needs a server: `prefect server "
        "start`, then PREFECT_API_URL=http://127.0.0.1:4200/api.",
    )
    p.add_argument("--store", default="zspace-store", help="store root the deployments use")
    p.add_argument("--celeba", default=os.environ.get("CELEBA_DIR", "img_align_celeba"),
                   help="CelebA image folder or zip for the celeba-* pipelines "
                   "(default: $CELEBA_DIR; editable per run in the UI)")
    p.add_argument("--cron", default=DEFAULT_CRON,
                   help=f"schedule of pipeline-demo (default '{DEFAULT_CRON}'; 'none' for none)")
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    from prefect import serve

    from zspace.storage import Store

    store = Store(args.store).url  # absolute, so runs started from the UI find it
    cron = None if str(args.cron).lower() == "none" else args.cron
    deployments = build_deployments(store, cron, celeba=os.path.abspath(args.celeba))
    print(f"serving {len(deployments)} deployments against "
          f"{os.environ.get('PREFECT_API_URL', 'the configured Prefect API')}")
    serve(*deployments)
    return 0
