"""The whole study as one flow: ingest, train (AE and VAE), encode, analyze, project, generate,
report, for one preset. `zspace run` starts it.

Every stage is a cached task that runs the stage's own flow as a subflow, so the Prefect UI
shows each stage run with its artifacts; a second run with nothing changed is all cache hits;
changing one stage's parameters reruns that stage and what depends on it, because each
downstream key holds the upstream content fingerprints. A stage whose outputs have vanished
from the store is rerun rather than trusted from the cache.
"""

from __future__ import annotations

import argparse
import errno
import hashlib
import json
import shutil
import subprocess
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Literal

import yaml
from prefect import flow, get_run_logger, task
from prefect.client.schemas.objects import State, TaskRun
from prefect.tasks import Task
from pydantic import BaseModel, ConfigDict, Field, field_validator

from zspace.flows.caching import result_storage_for, stage_cache_key
from zspace.models.config import load_preset, preset_name, preset_path
from zspace.storage import Store, is_complete
from zspace.tasks.ingest.stage import IngestConfig, plan_ingest
from zspace.tasks.train.stage import resolve

STAGES = ("ingest", "train", "encode", "analyze", "project", "generate", "report")
TRAINING_LIMIT = "zspace-training"


class PipelineParams(BaseModel):
    """One pipeline run. Stage sections (analysis, projection, generation) default to the
    preset's `pipeline:` section, then to each stage's own defaults."""

    model_config = ConfigDict(extra="forbid")

    preset: str = "demo"
    store: str = "zspace-store"
    source: str = "synthetic"
    dataset: str | None = None
    count: int | None = Field(None, ge=1)
    seed: int = 0
    kinds: list[Literal["ae", "vae"]] = Field(default_factory=lambda: ["ae", "vae"], min_length=1)
    epochs: int | None = Field(None, ge=1)
    limit: int | None = Field(None, ge=1)
    analysis: dict[str, Any] = Field(default_factory=dict)
    projection: dict[str, Any] = Field(default_factory=dict)
    generation: dict[str, Any] = Field(default_factory=dict)
    refresh: list[str] = Field(default_factory=list)
    dask_address: str | None = None

    @field_validator("refresh")
    @classmethod
    def _known_stages(cls, v: list[str]) -> list[str]:
        bad = [s for s in v if s not in STAGES]
        if bad:
            raise ValueError(f"refresh: unknown stage(s) {bad}; stages are {', '.join(STAGES)}")
        return v


def preset_pipeline_section(preset: str) -> dict[str, Any]:
    data = yaml.safe_load(preset_path(preset).read_text()) or {}
    section = data.get("pipeline") or {}
    if not isinstance(section, dict):
        raise ValueError(f"preset {preset}: 'pipeline:' must be a mapping")
    return section


def resolved(p: PipelineParams) -> dict[str, Any]:
    """The parameters each stage gets: explicit ones, then the preset's pipeline section."""
    model_cfg, _ = load_preset(p.preset)
    section = preset_pipeline_section(p.preset)
    size = model_cfg.input_size
    if p.dataset:
        dataset = p.dataset
    elif p.source == "synthetic":
        dataset = f"synthetic-{size}px"
    else:
        dataset = f"{Path(p.source.rstrip('/')).stem}-{size}px"
    count = p.count or section.get("count") or (2000 if p.source == "synthetic" else None)
    return {
        "dataset": dataset,
        "size": size,
        "count": count,
        "analysis": {**section.get("analysis", {}), **p.analysis},
        "projection": {**section.get("projection", {}), **p.projection},
        "generation": {**section.get("generation", {}), **p.generation},
    }


# -- the one stage task -------------------------------------------------------------------
def _transient_io_error(task: Task, task_run: TaskRun, state: State) -> bool:
    """Retry only what may pass on its own: network and remote-store hiccups."""
    try:
        state.result(raise_on_failure=True)
    except (TimeoutError, ConnectionError):
        return True
    except OSError as e:
        permanent = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError)
        return not isinstance(e, permanent) and e.errno not in (errno.ENOSPC, errno.EDQUOT)
    except BaseException:
        return False
    return False


@task(
    name="stage",
    task_run_name="{stage}-{label}",
    cache_key_fn=stage_cache_key,
    persist_result=True,
    result_serializer="json",
    retries=2,
    retry_delay_seconds=[5, 30],
    retry_condition_fn=_transient_io_error,
)
def run_stage(stage: str, label: str, params: dict[str, Any], upstream: dict[str, Any]) -> dict[str, Any]:
    """Run one stage's flow. `upstream` holds only the fingerprints this stage depends on: it is
    there for the cache key."""
    runtime = dict(params)
    if stage == "ingest":
        from zspace.flows.ingest import ingest_flow

        out = ingest_flow(**runtime)
        return {k: out[k] for k in ("dataset", "fingerprint", "n_images", "n_failed", "images")}
    if stage == "train":
        from prefect.concurrency.sync import concurrency

        from zspace.flows.train import train_flow

        with concurrency(TRAINING_LIMIT, occupy=1, strict=False):
            return train_flow(**runtime)
    if stage == "encode":
        from zspace.flows.encode import encode_flow

        return encode_flow(**runtime)
    if stage == "analyze":
        from zspace.flows.analyze import analyze_flow

        return analyze_flow(**runtime)
    if stage == "project":
        from zspace.flows.project import project_flow

        return project_flow(**runtime)
    if stage == "generate":
        from zspace.flows.generate import generate_flow

        return generate_flow(**runtime)
    if stage == "report":
        from zspace.flows.report import report_flow

        return report_flow(**runtime)
    raise ValueError(f"unknown stage {stage!r}")


def outputs_present(store: Store, stage: str, params: dict[str, Any]) -> bool:
    """Whether the store still holds what a cached result of this stage points to."""
    if stage == "ingest":
        rel = Store.images_rel(params["name"])
        return (store.exists(f"{rel}/zarr.json") and is_complete(store.open_array(rel))
                and store.exists(Store.index_rel(params["name"])))
    run_rel = Store.run_rel(params["run"])
    if stage == "encode":
        rel = Store.latents_rel(params["run"])
        return store.exists(f"{rel}/zarr.json") and is_complete(store.open_array(rel))
    marker = {
        "train": f"{run_rel}/train.json",
        "analyze": f"{Store.stats_rel(params['run'])}/complete.json",
        "project": f"{run_rel}/figures/project.json",
        "generate": f"{run_rel}/figures/generate.json",
        "report": f"{run_rel}/report.html",
    }[stage]
    return store.exists(marker)


# Fields of stage results that say how a run went, not what it produced.
VOLATILE = frozenset({"cached", "seconds", "images_per_s", "elapsed_s", "wall_s", "time_s"})


def _stable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _stable(v) for k, v in obj.items() if k not in VOLATILE}
    if isinstance(obj, list):
        return [_stable(v) for v in obj]
    return obj


def _digest(obj: Any) -> str:
    """What a downstream key needs of an upstream result: its content, not its timing."""
    return hashlib.sha256(json.dumps(_stable(obj), sort_keys=True, default=str).encode()).hexdigest()


def _gpu_count() -> int:
    """GPUs without importing TensorFlow into the flow process."""
    if shutil.which("nvidia-smi") is None:
        return 0
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10)
        return sum(1 for line in out.stdout.splitlines() if line.startswith("GPU "))
    except (OSError, subprocess.SubprocessError):
        return 0


def ensure_training_limit() -> None:
    """One training per GPU (one at a time on a CPU machine), across all flow runs."""
    from prefect.client.orchestration import get_client

    try:
        with get_client(sync_client=True) as client:
            client.upsert_global_concurrency_limit_by_name(TRAINING_LIMIT, max(1, _gpu_count()))
    except Exception as e:  # the limit is a safeguard; without a server it cannot exist
        get_run_logger().warning("could not set the %s concurrency limit: %s", TRAINING_LIMIT, e)


@flow(name="pipeline", log_prints=True)
def pipeline_flow(
    preset: str = "demo",
    store: str = "zspace-store",
    source: str = "synthetic",
    dataset: str | None = None,
    count: int | None = None,
    seed: int = 0,
    kinds: list[str] | None = None,
    epochs: int | None = None,
    limit: int | None = None,
    analysis: dict[str, Any] | None = None,
    projection: dict[str, Any] | None = None,
    generation: dict[str, Any] | None = None,
    refresh: list[str] | None = None,
    dask_address: str | None = None,
) -> dict[str, Any]:
    """Ingest, train each kind, then encode, analyze, project, generate and report each run."""
    p = PipelineParams(
        preset=preset, store=store, source=source, dataset=dataset, count=count, seed=seed,
        kinds=kinds or ["ae", "vae"], epochs=epochs, limit=limit, analysis=analysis or {},
        projection=projection or {}, generation=generation or {}, refresh=refresh or [],
        dask_address=dask_address,
    )
    r = resolved(p)
    st = Store(p.store)
    st.makedirs("")
    store_url = st.url
    storage = result_storage_for(st)
    ensure_training_limit()
    states: dict[str, str] = {}
    seconds: dict[str, float] = {}

    with ExitStack() as stack:
        address = p.dask_address
        if address is None:  # one local cluster for the stages that use dask
            from distributed import LocalCluster

            cluster = stack.enter_context(
                LocalCluster(processes=True, threads_per_worker=1, dashboard_address=None)
            )
            address = cluster.scheduler_address

        def stage(name: str, label: str, params: dict[str, Any], upstream: dict[str, Any],
                  runtime: dict[str, Any] | None = None) -> dict[str, Any]:
            refresh_it = name in p.refresh or not outputs_present(st, name, params)
            t = run_stage.with_options(result_storage=storage, refresh_cache=refresh_it)
            if runtime:  # runtime-only values (a scheduler address) stay out of the cache key
                t = t.with_options(cache_key_fn=_without(tuple(runtime)))
                params = {**params, **runtime}
            t0 = time.perf_counter()
            state = t(name, label, params, upstream, return_state=True)
            states[f"{name}-{label}"] = state.name
            seconds[f"{name}-{label}"] = round(time.perf_counter() - t0, 2)
            return state.result()

        ingest_params = {"source": p.source, "store": store_url, "name": r["dataset"],
                         "size": r["size"], "count": r["count"], "seed": p.seed}
        # the plan hashes the source listing (names, sizes, split): new files mean a new key
        ingest_plan = plan_ingest(IngestConfig(**ingest_params))[-1]
        ingest = stage("ingest", r["dataset"], ingest_params, {"plan": _digest(ingest_plan)},
                       {"dask_address": address})

        runs: dict[str, dict[str, Any]] = {}
        for kind in p.kinds:
            run = f"{r['dataset']}-{preset_name(p.preset)}-{kind}"
            train = stage("train", run, {
                "store": store_url, "dataset": r["dataset"], "preset": p.preset, "kind": kind,
                "epochs": p.epochs, "limit": p.limit, "run": run,
            }, {"dataset_fingerprint": ingest["fingerprint"],
                # what the preset file says now, so editing it retrains
                "config": [c.model_dump(mode="json")
                           for c in resolve(p.preset, p.epochs, p.limit, kind)]})
            runs[kind] = {"train": train, "run": train["run"]}

        for info in runs.values():
            run = info["run"]
            model_fp = info["train"]["model_fingerprint"]
            enc = stage("encode", run, {"store": store_url, "run": run},
                        {"model_fingerprint": model_fp})
            ana = stage("analyze", run, {"store": store_url, "run": run, "params": r["analysis"]},
                        {"latents": _digest(enc)}, {"dask_address": address})
            prj = stage("project", run, {"store": store_url, "run": run, "params": r["projection"]},
                        {"latents": _digest(enc), "stats": _digest(ana)})
            gen = stage("generate", run, {"store": store_url, "run": run,
                                          "params": r["generation"]},
                        {"model_fingerprint": model_fp, "stats": _digest(ana)})
            info.update(encode=enc, analyze=ana, project=prj, generate=gen)

        reports = {}
        for kind, info in runs.items():
            other = next((o for k, o in runs.items() if k != kind), None)
            upstream = {k: _digest(info[k]) for k in ("train", "encode", "analyze", "project",
                                                       "generate")}
            if other:
                upstream["compare"] = _digest(other["train"])
            rep = stage("report", info["run"], {
                "store": store_url, "run": info["run"], "compare": other["run"] if other else None,
            }, upstream)
            reports[info["run"]] = rep.get("report")

    for key, state in states.items():
        print(f"  {key:<48} {state:<10} {seconds[key]:8.1f} s")
    for run, path in reports.items():
        print(f"report for run {run}: {path}")
    return {"dataset": r["dataset"], "runs": {k: v["run"] for k, v in runs.items()},
            "reports": reports, "stages": states, "stage_seconds": seconds}


def _without(keys: tuple[str, ...]) -> Any:
    def key_fn(context: Any, parameters: dict[str, Any]) -> str:
        params = {k: v for k, v in parameters["params"].items() if k not in keys}
        return stage_cache_key(context, {**parameters, "params": params})

    return key_fn


# -- CLI ------------------------------------------------------------------------------------
def _key_values(items: list[str] | None, option: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise ValueError(f"{option} {item!r}: expected KEY=VALUE")
        k, v = item.split("=", 1)
        out[k.strip()] = yaml.safe_load(v)
    return out


def register_cli(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="the whole pipeline for one preset (ingest ... report), cached stage by stage",
        description="Ingest, train AE and VAE, encode, analyze, project, generate and report. "
        "A rerun with nothing changed is fully cached; --refresh STAGE forces a stage.",
    )
    p.add_argument("--preset", default="demo", help="demo, celeba-ae, celeba-ae-1600, celeba-vae, "
                   "or a preset YAML path (default demo)")
    p.add_argument("--store", default="zspace-store", help="store root (default ./zspace-store)")
    p.add_argument("--source", default="synthetic", help="image folder, zip, or 'synthetic'")
    p.add_argument("--dataset", default=None, help="dataset name (default from source and size)")
    p.add_argument("--count", type=int, default=None, help="synthetic faces to draw (default 2000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--kinds", nargs="+", choices=["ae", "vae"], default=None,
                   help="which models to train (default: ae vae)")
    p.add_argument("--epochs", type=int, default=None, help="override the preset's epochs")
    p.add_argument("--limit", type=int, default=None, help="at most N training images")
    for section in ("analysis", "projection", "generation"):
        p.add_argument(f"--{section}", action="append", metavar="KEY=VALUE",
                       help=f"{section} parameter (repeatable), e.g. --analysis corr_threshold=0.4"
                       if section == "analysis" else f"{section} parameter (repeatable)")
    p.add_argument("--refresh", nargs="+", default=None, choices=STAGES, metavar="STAGE",
                   help=f"force these stages to rerun ({', '.join(STAGES)})")
    p.add_argument("--dask-address", default=None,
                   help="existing dask scheduler for ingest and analyze (default: a LocalCluster)")
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    params = dict(
        preset=args.preset, store=args.store, source=args.source, dataset=args.dataset,
        count=args.count, seed=args.seed, kinds=args.kinds or ["ae", "vae"], epochs=args.epochs,
        limit=args.limit, analysis=_key_values(args.analysis, "--analysis"),
        projection=_key_values(args.projection, "--projection"),
        generation=_key_values(args.generation, "--generation"), refresh=args.refresh or [],
        dask_address=args.dask_address,
    )
    resolved(PipelineParams(**params))  # bad parameters fail here, before any flow run
    result = pipeline_flow(**params)
    print(json.dumps(result, indent=2))
    return 0
