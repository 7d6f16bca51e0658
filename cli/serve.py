"""`zspace serve`: the pipeline (one deployment per preset) and every stage as deployments.

Served from this process against the Prefect server in PREFECT_API_URL; the UI then lists
them, runs them on demand or on their schedule, and reruns a single stage with new parameters.
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

PRESETS = ("demo", "celeba-ae", "celeba-ae-1600", "celeba-vae")
DEFAULT_CRON = "0 3 * * *"  # nightly at 03:00, as an example schedule for the demo pipeline


def pipeline_parameters(preset: str, store: str, celeba: str) -> dict[str, Any]:
    """The demo runs on synthetic faces; the CelebA presets on the user's CelebA folder, one
    model kind each (the preset's own). The flow takes them whole, as ``params``."""
    if preset == "demo":
        return {"params": {"preset": preset, "store": store}}
    from zspace.models.config import load_preset

    kind = load_preset(preset)[0].kind
    return {"params": {"preset": preset, "store": store, "source": celeba, "kinds": [kind]}}


def stage_parameters(store: str) -> dict[str, dict[str, Any]]:
    """Each stage's deployment defaults: what the demo pipeline gives it for its AE run, as the
    flow's one ``params`` argument."""
    from zspace.cli.registry import stages
    from zspace.flows.pipeline import PipelineParams, _context

    ctx = _context(PipelineParams(preset="demo", store=store, kinds=["ae"]), store)
    out = {}
    for st in stages():
        target = ctx.dataset if st.per == "dataset" else ctx.runs["ae"]
        given = st.from_pipeline(ctx, target).items()
        out[st.name] = {"params": {k: v for k, v in given if v is not None}}
    return out


def demo_schedules(cron: str | None, interval: float | None) -> list[Any]:
    from datetime import timedelta

    from prefect.schedules import Cron, Interval

    return ([Cron(cron, timezone="UTC")] if cron else []) + (
        [Interval(timedelta(seconds=interval))] if interval else [])


def build_deployments(store: str, cron: str | None = DEFAULT_CRON,
                      presets: tuple[str, ...] = PRESETS,
                      celeba: str = "img_align_celeba", interval: float | None = None) -> list[Any]:
    """pipeline-<preset> for each preset, stage-<name> for each declared stage; pipeline-demo
    on the cron schedule and/or every `interval` seconds (the two schedules `flow.serve` takes)."""
    from zspace.cli.registry import stages
    from zspace.flows.pipeline import pipeline_flow

    tags = ["zspace"]
    deployments = [
        pipeline_flow.to_deployment(
            name=f"pipeline-{preset}",
            parameters=pipeline_parameters(preset, store, celeba),
            schedules=demo_schedules(cron, interval) if preset == "demo" else None,
            tags=[*tags, preset],
            description=f"The whole study for preset {preset!r} (cached stage by stage).",
        )
        for preset in presets
    ]
    defaults = stage_parameters(store)
    for st in stages():
        deployments.append(st.flow.to_deployment(
            name=f"stage-{st.name}", parameters=defaults[st.name], tags=[*tags, "stage"],
            description=f"Rerun the {st.name} stage alone (edit the parameters in the UI): "
            f"{st.help}.",
        ))
    return deployments


class ServeParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    store: str = Field("zspace-store", description="store root the deployments use")
    celeba: str = Field(default_factory=lambda: os.environ.get("CELEBA_DIR", "img_align_celeba"),
                        description="CelebA image folder or zip for the celeba-* pipelines "
                        "($CELEBA_DIR; editable per run in the UI)")
    cron: str = Field(DEFAULT_CRON, description="schedule of pipeline-demo ('none' for none)")
    interval: float | None = Field(None, gt=0, description="also run pipeline-demo every N "
                                   "seconds (an interval schedule)")


def _serve(values: dict[str, Any]) -> int:
    from prefect import serve

    from zspace.storage import Store

    p = ServeParams(**values)
    store = Store(p.store).url  # absolute, so runs started from the UI find it
    cron = None if p.cron.lower() == "none" else p.cron
    deployments = build_deployments(store, cron, celeba=os.path.abspath(p.celeba),
                                    interval=p.interval)
    print(f"serving {len(deployments)} deployments against "
          f"{os.environ.get('PREFECT_API_URL', 'the configured Prefect API')}")
    serve(*deployments)
    return 0


def _command() -> Any:
    from zspace.cli.main import Command

    return Command(name="serve", help="serve the pipeline and stage deployments to a Prefect "
                   "server (schedules, UI runs)", params=lambda: ServeParams, run=_serve)


COMMAND = _command()
