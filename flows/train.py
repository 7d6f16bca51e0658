"""Train flow: one training of an AE or VAE, in a process of its own
(:mod:`zspace.tasks.train.process`), with a per-epoch progress artifact and a history table.
A finished run is answered from its train.json without starting any process."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import (
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)

from zspace.cli.stage import PipelineContext, Stage
from zspace.models.config import load_preset
from zspace.storage import Store, StoreError
from zspace.storage.lock import writer_lock
from zspace.tasks.common.artifacts import artifact_key
from zspace.tasks.train.artifacts import (
    closing_lines,
    epoch_log_line,
    history_description,
    history_table,
)
from zspace.tasks.train.params import TrainParams
from zspace.tasks.train.process import run_training_process


@task(name="train-model", task_run_name="train-{params.run}")
def train_model(params: TrainParams) -> dict[str, Any]:
    """One training in its own process, with a per-epoch progress artifact."""
    logger = get_run_logger()
    run, total = params.run_name, params.configs()[1].epochs
    progress_id = create_progress_artifact(
        progress=0.0, key=artifact_key(f"train-progress-{run}"),
        description=f"Training run {run} ({total} epochs)",
    )
    logged = 0

    def on_history(history: list[dict[str, Any]]) -> None:
        nonlocal logged
        for h in history:
            if h["epoch"] > logged:
                logger.info(epoch_log_line(run, h, total))
                logged = h["epoch"]
        update_progress_artifact(
            artifact_id=progress_id, progress=min(100.0, 100.0 * len(history) / total),
            description=f"Training run {run}: epoch {len(history)} of {total}",
        )

    result = run_training_process(params, on_history=on_history)
    update_progress_artifact(artifact_id=progress_id, progress=100.0)
    store = Store(params.store)
    table = history_table(store, result["run"])
    if table is not None:
        create_table_artifact(table=table, key=artifact_key(f"train-history-{result['run']}"),
                              description=history_description(result, store))
    return result


@flow(name="train")
def train_flow(params: TrainParams) -> dict[str, Any]:
    """Train an AE or VAE on a dataset of the store; returns the run's train.json."""
    st = Store(params.store)
    with writer_lock(st, st.run(params.run_name).lock, f"train {params.run_name}"):
        return train_model(params.model_copy(update={"run": params.run_name}))


def _complete(store: Store, p: TrainParams) -> bool:
    return store.exists(store.run(p.run_name).train_record)


def _check(p: TrainParams) -> None:
    p.configs()
    store = Store(p.store)
    if not store.has_array(store.dataset(p.dataset).images):
        raise StoreError(f"no dataset {p.dataset!r} in {store.url}: ingest it first "
                         f"(zspace ingest --store {store.url} --name {p.dataset} --source ...)")


def _from_pipeline(ctx: PipelineContext, run: str) -> dict[str, Any]:
    """Replicate i trains with the preset's seed + i (replicate 0: the preset's own)."""
    s, i = ctx.settings, ctx.replicate_of(run)
    seed = {"seed": load_preset(ctx.preset)[1].seed + i} if i else {}
    return {"store": ctx.store, "dataset": ctx.dataset, "preset": ctx.preset,
            "kind": ctx.kind_of(run), "epochs": s["epochs"], "limit": s["limit"], "run": run,
            **seed}


def _config_key(ctx: PipelineContext, run: str) -> dict[str, Any]:
    """What the preset file says now, so editing it retrains."""
    configs = TrainParams(**_from_pipeline(ctx, run)).configs()
    return {"config": [c.model_dump(mode="json") for c in configs]}


STAGE = Stage(
    name="train",
    help="train an AE or VAE on a dataset in the store (resumable)",
    params=TrainParams,
    flow=train_flow,
    complete=_complete,
    upstream=("ingest",),
    artifacts=("train-progress-{run}", "train-history-{run}"),
    check=_check,
    closing=closing_lines,
    from_pipeline=_from_pipeline,
    extra_key=_config_key,
    concurrency="zspace-training",
)
