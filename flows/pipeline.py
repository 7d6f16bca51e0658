"""The whole study as one flow: a loop over the declared stage graph (:mod:`.registry`) for
one preset. `zspace run` starts it.

Every stage is a cached task that runs the stage's own flow as a subflow, so the Prefect UI
shows each stage run with its artifacts; a second run with nothing changed is all cache hits;
changing one stage's parameters reruns that stage and what depends on it, because each
downstream key holds the digests of its upstream results (which carry the content
fingerprints the store records). A stage whose outputs have vanished from the store is rerun
rather than trusted from the cache.
"""

from __future__ import annotations

import errno
import hashlib
import json
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from prefect import flow, get_run_logger, task
from prefect.client.schemas.objects import State, TaskRun
from prefect.tasks import Task
from pydantic import BaseModel, ConfigDict, Field, field_validator

from zspace.cli.caching import result_storage_for
from zspace.cli.registry import STAGE_NAMES, stage, stages
from zspace.cli.slots import ensure_training_limit, training_slots
from zspace.cli.stage import PipelineContext, Stage, stage_cache_key
from zspace.models.config import load_preset, preset_name, read_preset
from zspace.storage import Store


class PipelineParams(BaseModel):
    """One pipeline run. Stage sections (analysis, projection, generation) default to the
    preset's `pipeline:` section, then to each stage's own defaults."""

    model_config = ConfigDict(extra="forbid")

    preset: str = Field("demo", description="demo, celeba-ae, celeba-ae-1600, celeba-vae, or a "
                        "preset YAML path")
    store: str = Field("zspace-store", description="store root (local path or fsspec URL)")
    source: str = Field("synthetic", description="image folder, zip, or 'synthetic'")
    dataset: str | None = Field(None, description="dataset name (default: from source and size)")
    count: int | None = Field(None, ge=1, description="synthetic faces to draw (default 2000)")
    seed: int = Field(0, description="synthetic faces and the seeded split")
    kinds: list[Literal["ae", "vae"]] = Field(default_factory=lambda: ["ae", "vae"], min_length=1,
                                              description="which models to train")
    epochs: int | None = Field(None, ge=1, description="override the preset's epochs")
    limit: int | None = Field(None, ge=1, description="at most N training images")
    replicates: int = Field(1, ge=1, le=10, description="train K replicates of each kind, with "
                            "training seeds seed, seed+1, ... of the preset, and run every stage "
                            "on each; the Findings report each claim per seed")
    analysis: dict[str, Any] = Field(default_factory=dict, description="analysis parameter "
                                     "(repeatable), e.g. --analysis corr_threshold=0.4")
    projection: dict[str, Any] = Field(default_factory=dict,
                                       description="projection parameter (repeatable)")
    generation: dict[str, Any] = Field(default_factory=dict,
                                       description="generation parameter (repeatable)")
    refresh: list[str] = Field(default_factory=list,
                               description=f"force these stages to rerun ({', '.join(STAGE_NAMES)})")
    dask_address: str | None = Field(None, description="existing dask scheduler for ingest, "
                                     "encode and analyze (default: a LocalCluster for ingest "
                                     "and analyze, encode in-process)")

    @field_validator("refresh")
    @classmethod
    def _known_stages(cls, v: list[str]) -> list[str]:
        bad = [s for s in v if s not in STAGE_NAMES]
        if bad:
            raise ValueError(f"unknown stage(s) {bad}; stages are {', '.join(STAGE_NAMES)}")
        return v


def preset_pipeline_section(preset: str) -> dict[str, Any]:
    section = read_preset(preset)[1].get("pipeline") or {}
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
        "dataset": dataset, "size": size, "count": count, "source": p.source, "seed": p.seed,
        "epochs": p.epochs, "limit": p.limit,
        "analysis": {**section.get("analysis", {}), **p.analysis},
        "projection": {**section.get("projection", {}), **p.projection},
        "generation": {**section.get("generation", {}), **p.generation},
    }


def run_name(dataset: str, preset: str, kind: str) -> str:
    """<dataset>-<preset>-<kind>, without repeating a kind the preset's name already says
    (celeba-ae trains run <dataset>-celeba-ae, not <dataset>-celeba-ae-ae)."""
    name = preset_name(preset)
    return f"{dataset}-{name}" if kind in name.split("-") else f"{dataset}-{name}-{kind}"




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
def run_stage(stage: str, label: str, params: dict[str, Any], upstream: dict[str, Any],
              runtime: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run one declared stage's flow. `upstream` is there for the cache key; `runtime` values
    (a scheduler address) reach the flow but not the key."""
    from zspace.cli.registry import stage as lookup

    st = lookup(stage)
    whole = st.params.model_validate({**params, **(runtime or {})})
    if st.concurrency is None:
        return st.flow(whole)
    from zspace.cli.slots import describe_holder, training_slot

    holder = describe_holder(str(params.get("store", "")), params.get("run"))
    with training_slot(holder, st.concurrency):
        return st.flow(whole)


# Fields of stage results that say how a run went, not what it produced.
VOLATILE = frozenset({"cached", "seconds", "images_per_s", "elapsed_s", "wall_s", "time_s"})


def _stable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _stable(v) for k, v in obj.items() if k not in VOLATILE}
    if isinstance(obj, list):
        return [_stable(v) for v in obj]
    return obj


def digest(obj: Any) -> str:
    """What a downstream key needs of an upstream result: its content, not its timing."""
    return hashlib.sha256(json.dumps(_stable(obj), sort_keys=True, default=str).encode()).hexdigest()


# -- the loop over the stage graph ----------------------------------------------------------
# Stages that use a cluster only when --dask-address names one: the run's own LocalCluster
# would load TensorFlow once per worker process for what one process encodes as fast.
GIVEN_CLUSTER_ONLY = frozenset({"encode"})


@dataclass
class _Runner:
    """Runs each declared stage for each of its targets, keyed on its upstream results."""

    ctx: PipelineContext
    store: Store
    refresh: list[str]
    storage: Any
    runtime: dict[str, Any]
    cluster_given: bool = False
    states: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def targets(self, st: Stage) -> list[str]:
        return [self.ctx.dataset] if st.per == "dataset" else list(self.ctx.runs.values())

    def upstream(self, st: Stage, target: str) -> dict[str, Any]:
        key = {}
        for name in st.upstream:
            up = stage(name)
            key[name] = digest(self.ctx.results[name][self.ctx.dataset if up.per == "dataset"
                                                       else target])
        if st.extra_key:
            key["extra"] = digest(st.extra_key(self.ctx, target))
        return key

    def run(self, st: Stage, target: str) -> dict[str, Any]:
        params = st.from_pipeline(self.ctx, target)
        refresh = st.name in self.refresh or not st.complete(self.store,
                                                             st.params.model_validate(params))
        runtime = {k: v for k, v in self.runtime.items() if k in st.runtime}
        if st.name in GIVEN_CLUSTER_ONLY and not self.cluster_given:
            runtime.pop("dask_address", None)
        t = run_stage.with_options(result_storage=self.storage, refresh_cache=refresh)
        t0 = time.perf_counter()
        state = t(st.name, target, params, self.upstream(st, target), runtime, return_state=True)
        self.states[f"{st.name}-{target}"] = state.name
        self.seconds[f"{st.name}-{target}"] = round(time.perf_counter() - t0, 2)
        result = state.result()
        self.ctx.results.setdefault(st.name, {})[target] = result
        return result

    def run_all(self) -> None:
        for st in stages():
            for target in self.targets(st):
                self.run(st, target)


def _context(p: PipelineParams, store_url: str) -> PipelineContext:
    """Replicate 0 keeps the run names a single run has; replicate i > 0 adds "-r<i>"."""
    r = resolved(p)
    runs, replicas = {}, {}
    for i in range(p.replicates):
        for kind in p.kinds:
            name = run_name(r["dataset"], p.preset, kind) + (f"-r{i}" if i else "")
            runs[f"{kind}-r{i}" if i else kind] = name
            replicas[name] = (kind, i)
    return PipelineContext(store=store_url, preset=p.preset, dataset=r["dataset"], runs=runs,
                           settings=r, replicas=replicas)


@flow(name="pipeline", log_prints=True)
def pipeline_flow(params: PipelineParams) -> dict[str, Any]:
    """Every declared stage, in graph order, for each dataset or run it applies to."""
    st = Store(params.store)
    st.makedirs("")
    ctx = _context(params, st.url)
    ensure_training_limit(get_run_logger())
    with ExitStack() as stack:
        address = params.dask_address or _local_cluster(stack)
        runner = _Runner(ctx, st, params.refresh, result_storage_for(st), {"dask_address": address},
                         cluster_given=bool(params.dask_address))
        runner.run_all()
    reports = {run: res.get("report") for run, res in ctx.results["report"].items()}
    for key, state in runner.states.items():
        print(f"  {key:<48} {state:<10} {runner.seconds[key]:8.1f} s")
    for run, path in reports.items():
        print(f"report for run {run}: {path}")
    return {"dataset": ctx.dataset, "runs": ctx.runs, "reports": reports,
            "stages": runner.states, "stage_seconds": runner.seconds}


def _local_cluster(stack: ExitStack) -> str:
    """One local dask cluster for the stages that use dask, closed with the pipeline."""
    from distributed import LocalCluster

    cluster = stack.enter_context(
        LocalCluster(processes=True, threads_per_worker=1, dashboard_address=None))
    return cluster.scheduler_address


# -- `zspace run` ---------------------------------------------------------------------------
def _run(values: dict[str, Any]) -> int:
    p = PipelineParams(**values)
    resolved(p)  # bad parameters fail here, before any flow run
    training_slots()  # and a bad ZSPACE_TRAINING_SLOTS
    result = pipeline_flow(p)
    print(json.dumps(result, indent=2))
    return 0


def _command() -> Any:
    from zspace.cli.main import Command

    return Command(name="run", help="the whole pipeline for one preset (ingest ... report), "
                   "cached stage by stage", params=lambda: PipelineParams, run=_run)


COMMAND = _command()
