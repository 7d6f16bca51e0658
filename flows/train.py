"""Train stage: `zspace train --store S --dataset D --preset P [--epochs N] [--run NAME] [--limit N]`.

The Prefect task starts `python -m zspace.tasks.train.stage` as a process of its own, because
TensorFlow keeps the GPU memory it took until its process exits; the task streams that
process's output to the terminal, follows runs/<run>/history.json as it grows to update a
progress artifact, and turns a failed exit into a clear error. A finished run is answered
from its train.json without starting any process.
"""

from __future__ import annotations

import codecs
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from prefect import flow, get_run_logger, task
from prefect.artifacts import (
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from pydantic import BaseModel, ConfigDict, Field

from zspace.flows.stage import PipelineContext, Stage
from zspace.storage import Store, StoreError
from zspace.storage.lock import writer_lock
from zspace.tasks.common.progress import artifact_key as progress_artifact_key
from zspace.tasks.train.stage import (
    NonFiniteLossError,
    default_run_name,
    finished_run,
    resolve,
)


class TrainParams(BaseModel):
    """What one training asks for; small, so it can be a task input and a cache key."""

    model_config = ConfigDict(extra="forbid")

    store: str = Field(description="store root (local path or fsspec URL)")
    dataset: str = Field(description="an ingested dataset of the store")
    preset: str = Field("demo", description="preset name (demo, celeba-ae, celeba-ae-1600, "
                        "celeba-vae) or a preset YAML path")
    epochs: int | None = Field(default=None, gt=0, description="override the preset's epochs")
    run: str | None = Field(None, description="run name (default: from dataset, preset, kind)")
    limit: int | None = Field(default=None, gt=0, description="at most N training images")
    kind: Literal["ae", "vae"] | None = Field(None, description="override the preset's kind")
    mixed_precision: bool | Literal["float16", "bfloat16"] = Field(
        False, description="mixed-precision training (GPU): float16 (or true) or bfloat16")
    backend: Literal["tensorflow", "jax"] | None = Field(
        None, description="Keras backend of the training process (default: KERAS_BACKEND, else "
        "tensorflow)")

    @property
    def run_name(self) -> str:
        return self.run or default_run_name(self.dataset, self.preset, self.kind)

    def command(self, error_file: str | None = None) -> list[str]:
        cmd = [sys.executable, "-m", "zspace.tasks.train.stage", "--store", self.store]
        cmd += ["--dataset", self.dataset, "--preset", self.preset, "--run", self.run_name]
        for flag, value in (("--epochs", self.epochs), ("--limit", self.limit), ("--kind", self.kind)):
            if value is not None:
                cmd += [flag, str(value)]
        if self.mixed_precision:
            cmd += ["--mixed-precision"] + (
                [self.mixed_precision] if isinstance(self.mixed_precision, str) else [])
        if self.backend:
            cmd += ["--backend", self.backend]
        if error_file:
            cmd += ["--error-file", error_file]
        return cmd


def artifact_key(prefix: str, name: str) -> str:
    return progress_artifact_key(f"{prefix}-{name}")


class _ChildOutput:
    """The training process's output: echoed as it comes, its last lines kept for errors."""

    def __init__(self, echo: bool):
        self.echo = echo
        self.tail: deque[str] = deque(maxlen=30)

    def pump(self, stream: Any) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        line = ""
        while chunk := os.read(stream.fileno(), 4096):
            text = decoder.decode(chunk)
            if self.echo:
                sys.stdout.write(text)
                sys.stdout.flush()
            for part in re.split(r"(\r|\n)", line + text):
                if part in ("\r", "\n"):
                    if line.strip():
                        self.tail.append(line)
                    line = ""
                else:
                    line = part
        if line.strip():
            self.tail.append(line)


def _follow(proc: subprocess.Popen, store: Store, history_rel: str, poll_s: float,
            on_history: Callable[[list[dict[str, Any]]], None] | None) -> None:
    """Wait for the process, calling on_history each time history.json grows."""
    seen = -1
    while True:
        finished = proc.poll() is not None
        if on_history is not None and store.exists(history_rel):
            history = store.read_json(history_rel)
            if len(history) != seen:
                seen = len(history)
                on_history(history)
        if finished:
            return
        time.sleep(poll_s)


def _stop(proc: subprocess.Popen) -> None:
    """We were interrupted: do not leave a trainer behind."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def _raise_failure(params: TrainParams, rc: int, error_file: Path, tail: deque[str]) -> None:
    """Turn the child's error record into the error a user sees."""
    info = json.loads(error_file.read_text()) if error_file.exists() else None
    if info and info.get("type") == "NonFiniteLossError":
        raise NonFiniteLossError(info["message"])
    if info and info.get("user_error"):
        raise (StoreError if info["type"] == "StoreError" else ValueError)(info["message"])
    raise RuntimeError(
        f"training process for run {params.run_name!r} failed (exit code {rc})"
        + (f": {info['type']}: {info['message']}" if info else "")
        + "\nlast output:\n" + "\n".join(tail)
    )


def run_training_process(
    params: TrainParams,
    on_history: Callable[[list[dict[str, Any]]], None] | None = None,
    poll_s: float = 1.0,
    echo: bool = True,
) -> dict[str, Any]:
    """Train in a child process and return train.json; plain function, no Prefect needed.

    on_history is called from this process with the run's history each time an epoch ends.
    """
    done = finished_run(
        params.store, params.dataset, params.preset, params.epochs, params.run_name,
        params.limit, params.kind, params.mixed_precision or None,
    )
    if done is not None:
        return done
    store = Store(params.store)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    out = _ChildOutput(echo)
    with tempfile.TemporaryDirectory(prefix="zspace-train-") as tmp:
        error_file = Path(tmp) / "error.json"
        proc = subprocess.Popen(params.command(str(error_file)), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, env=env)
        reader = threading.Thread(target=out.pump, args=(proc.stdout,), daemon=True)
        reader.start()
        try:
            _follow(proc, store, store.run(params.run_name).history, poll_s, on_history)
        finally:
            _stop(proc)
            reader.join(timeout=10)
            if proc.stdout is not None:
                proc.stdout.close()
        rc = proc.wait()
        if rc != 0:
            _raise_failure(params, rc, error_file, out.tail)
    return store.read_json(store.run(params.run_name).train_record)


def _fmt(v: Any) -> str:
    return "-" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v)


@task(name="train-model", task_run_name="train-{params[run]}")
def train_model(params: dict[str, Any]) -> dict[str, Any]:
    """One training in its own process, with a per-epoch progress artifact."""
    p = TrainParams.model_validate(params)
    logger = get_run_logger()
    _, train_cfg = resolve(p.preset, p.epochs, p.limit, p.kind, p.mixed_precision or None)
    total = train_cfg.epochs
    progress_id = create_progress_artifact(
        progress=0.0,
        key=artifact_key("train-progress", p.run_name),
        description=f"Training run {p.run_name} ({total} epochs)",
    )

    logged = 0

    def on_history(history: list[dict[str, Any]]) -> None:
        nonlocal logged
        for h in history:
            if h["epoch"] > logged:
                logger.info(
                    "run %s epoch %d/%d: loss %s, val_loss %s, kl_share %s, %s images/s",
                    p.run_name, h["epoch"], total, _fmt(h.get("loss")), _fmt(h.get("val_loss")),
                    _fmt(h.get("kl_share")), _fmt(h.get("images_per_s")),
                )
                logged = h["epoch"]
        update_progress_artifact(
            artifact_id=progress_id,
            progress=min(100.0, 100.0 * len(history) / total),
            description=f"Training run {p.run_name}: epoch {len(history)} of {total}",
        )

    result = run_training_process(p, on_history=on_history)
    update_progress_artifact(artifact_id=progress_id, progress=100.0)
    store = Store(p.store)
    history_rel = store.run(result["run"]).history
    if store.exists(history_rel):
        columns = ["epoch", "loss", "val_loss", "reconstruction", "kl", "kl_share", "images_per_s"]
        create_table_artifact(
            table=[{c: h.get(c) for c in columns} for h in store.read_json(history_rel)],
            key=artifact_key("train-history", result["run"]),
            description=f"Per-epoch losses of run {result['run']} ({result['kind']}, "
            f"preset {result['preset']}); model at {store.join(result['model_rel'])}",
        )
    return result


@flow(name="train")
def train_flow(
    store: str,
    dataset: str,
    preset: str = "demo",
    epochs: int | None = None,
    run: str | None = None,
    limit: int | None = None,
    kind: Literal["ae", "vae"] | None = None,
    mixed_precision: bool | Literal["float16", "bfloat16"] = False,
    backend: Literal["tensorflow", "jax"] | None = None,
) -> dict[str, Any]:
    """Train an AE or VAE on a dataset of the store; returns the run's train.json."""
    params = TrainParams(
        store=store, dataset=dataset, preset=preset, epochs=epochs, run=run, limit=limit,
        kind=kind, mixed_precision=mixed_precision, backend=backend,
    )
    st = Store(store)
    with writer_lock(st, st.run(params.run_name).lock, f"train {params.run_name}"):
        return train_model(params.model_copy(update={"run": params.run_name}).model_dump())


def _summary(result: dict[str, Any]) -> str:
    return (f"run {result['run']}: {result['kind']} trained {result['epochs']} epochs, "
            f"loss {_fmt(result.get('loss'))}, val_loss {_fmt(result.get('val_loss'))}; "
            f"model {result['model_rel']}")


def _complete(store: Store, kw: dict[str, Any]) -> bool:
    return store.exists(store.run(kw["run"]).train_record)


def _check(kw: dict[str, Any]) -> None:
    p = TrainParams(**kw)
    resolve(p.preset, p.epochs, p.limit, p.kind, p.mixed_precision or None)
    store = Store(p.store)
    if not store.has_array(store.dataset(p.dataset).images):
        raise StoreError(f"no dataset {p.dataset!r} in {store.url}: ingest it first "
                         f"(zspace ingest --store {store.url} --name {p.dataset} --source ...)")


def _from_pipeline(ctx: PipelineContext, run: str) -> dict[str, Any]:
    s = ctx.settings
    return {"store": ctx.store, "dataset": ctx.dataset, "preset": ctx.preset,
            "kind": ctx.kind_of(run), "epochs": s["epochs"], "limit": s["limit"], "run": run}


def _config_key(ctx: PipelineContext, run: str) -> dict[str, Any]:
    """What the preset file says now, so editing it retrains."""
    s = ctx.settings
    return {"config": [c.model_dump(mode="json")
                       for c in resolve(ctx.preset, s["epochs"], s["limit"], ctx.kind_of(run))]}


STAGE = Stage(
    name="train",
    help="train an AE or VAE on a dataset in the store (resumable)",
    params=TrainParams,
    flow=train_flow,
    complete=_complete,
    upstream=("ingest",),
    artifacts=("train-progress-{run}", "train-history-{run}"),
    check=_check,
    summary=_summary,
    from_pipeline=_from_pipeline,
    extra_key=_config_key,
    concurrency="zspace-training",
)
