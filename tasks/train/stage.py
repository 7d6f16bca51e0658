"""Train stage: stream images from the store into Keras, checkpoint every epoch, resume.

`train_run` is the plain, in-process function; :mod:`zspace.tasks.train.process` runs it in a
process of its own (a backend keeps GPU memory until its process exits, and the Keras backend is
chosen once per process), which is how the Prefect flow calls it. `finished_run` answers "is
this run already done?" without importing Keras, so that a finished run is a cache hit in well
under a second. Both take the stage's one parameter model, :class:`TrainParams`.

The backend is TensorFlow unless `backend="jax"` (or KERAS_BACKEND=jax) says otherwise; it is
recorded in train.json as "backend". Run folder (all paths from the store's layout)::

    config.yaml        dataset, its fingerprint, preset, model and train parameters
    checkpoints/       epoch-NNNN.keras after each epoch, optimizer state included
    history.json       one object per finished epoch (losses per image, images/s)
    loss_curve.png
    model.keras        the final model (backend-neutral: it loads on TensorFlow and JAX)
    train.json         written last: the completion mark later stages key their caches on
"""

from __future__ import annotations

import os
from typing import Any

import yaml

from zspace.models.backend import use_backend
from zspace.models.config import ModelConfig, TrainConfig, preset_name
from zspace.models.saved import save_model
from zspace.storage import Store, StoreError, is_complete
from zspace.tasks.train.fit import TrainPlan, fit_epochs, open_streams, prepare_model
from zspace.tasks.train.params import TrainParams

# train parameters that may change between calls on the same run; any other change is refused
MUTABLE_TRAIN_KEYS = {"epochs", "keep_checkpoints", "prefetch_chunks", "read_threads"}


class NonFiniteLossError(ValueError):
    """The loss became NaN or infinite; the message names the epoch and batch."""


def _open_images(store: Store, dataset: str, model_cfg: ModelConfig) -> Any:
    rel = store.dataset(dataset).images
    arr = store.open_array(rel)
    if not is_complete(arr):
        raise StoreError(
            f"{store.join(rel)} is not complete (an interrupted ingest? rerun it to resume)"
        )
    s, c = model_cfg.input_size, model_cfg.channels
    if arr.ndim != 4 or tuple(arr.shape[1:]) != (s, s, c):
        raise StoreError(
            f"dataset {dataset!r} has images of shape {tuple(arr.shape[1:])} but the model's "
            f"input_size is {s} ({s}x{s}x{c}): ingest the dataset with --size {s}"
        )
    return arr


def _run_record(run: str, dataset: str, fingerprint: str, preset: str, model_cfg: ModelConfig,
                train_cfg: TrainConfig) -> dict[str, Any]:
    return {"run": run, "dataset": dataset, "dataset_fingerprint": fingerprint,
            "preset": preset_name(preset), "model": model_cfg.model_dump(),
            "train": train_cfg.model_dump()}


def _record_diff(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Differences that make an existing run folder a different experiment (the backend is
    none: a run may go on, or be encoded, on another backend)."""
    diffs = []
    if old.get("dataset_fingerprint") != new["dataset_fingerprint"]:
        diffs.append(f"dataset {old.get('dataset')!r} content (fingerprint) changed")
    for key, value in new["model"].items():
        before = old.get("model", {}).get(key, "values" if key == "recon_sum" else None)
        if before != value:
            diffs.append(f"model.{key}: {before!r} -> {value!r}")
    for key, value in new["train"].items():
        if key not in MUTABLE_TRAIN_KEYS and old.get("train", {}).get(key) != value:
            diffs.append(f"train.{key}: {old.get('train', {}).get(key)!r} -> {value!r}")
    return diffs


def finished_run(p: TrainParams) -> dict[str, Any] | None:
    """train.json of a finished run with exactly these parameters, else None. No Keras."""
    store, run = Store(p.store), p.run_name
    layout = store.run(run)
    if not (store.exists(layout.train_record) and store.exists(layout.config)):
        return None
    model_cfg, train_cfg = p.configs()
    done = store.read_json(layout.train_record)
    if done.get("epochs") != train_cfg.epochs or not store.exists(layout.model):
        return None
    try:
        fingerprint = str(_open_images(store, p.dataset, model_cfg).attrs["fingerprint"])
    except StoreError:
        return None
    old = yaml.safe_load(store.read_text(layout.config)) or {}
    new = _run_record(run, p.dataset, fingerprint, p.preset, model_cfg, train_cfg)
    return None if _record_diff(old, new) else done


# -- the stage, step by step --------------------------------------------------------------------
def _refuse_other_experiment(store: Store, run: str, record: dict[str, Any]) -> None:
    layout = store.run(run)
    if store.exists(layout.config):
        diffs = _record_diff(yaml.safe_load(store.read_text(layout.config)) or {}, record)
        if diffs:
            raise StoreError(
                f"run {run!r} in {store.join(layout.root)} was made with other parameters "
                f"({'; '.join(diffs[:5])}); nothing was changed: choose another --run or remove it"
            )


def _finished_or_too_far(store: Store, run: str, epochs: int) -> dict[str, Any] | None:
    """train.json when the run is done with these epochs; refuse to go backwards."""
    layout = store.run(run)
    done = store.read_json_if(layout.train_record)
    if done is None:
        return None
    if done.get("epochs") == epochs and store.exists(layout.model):
        return done
    if done.get("epochs", 0) > epochs:
        raise ValueError(f"run {run!r} already has {done['epochs']} epochs; ask for --epochs >= "
                         f"{done['epochs']} or choose another --run")
    return None


def plan_run(p: TrainParams) -> TrainPlan | dict[str, Any]:
    """Resolve the config and the run folder: a TrainPlan, or train.json when already done."""
    store, run, dataset = Store(p.store), p.run_name, p.dataset
    model_cfg, train_cfg = p.configs()
    arr = _open_images(store, dataset, model_cfg)
    record = _run_record(run, dataset, str(arr.attrs["fingerprint"]), p.preset, model_cfg,
                         train_cfg)
    _refuse_other_experiment(store, run, record)
    done = _finished_or_too_far(store, run, train_cfg.epochs)
    if done is not None:
        return done
    plan = TrainPlan.from_store(store, run, dataset, arr, model_cfg, train_cfg, record)
    if plan.done_epochs > train_cfg.epochs:
        raise ValueError(f"run {run!r} already has {plan.done_epochs} epochs; ask for --epochs >= "
                         f"{plan.done_epochs} or choose another --run")
    layout = store.run(run)
    if plan.done_epochs < train_cfg.epochs:
        # model.keras will change: no completion mark may vouch for it in the meantime
        store.remove(layout.train_record)
    store.write_text(layout.config, yaml.safe_dump(record, sort_keys=False))
    return plan


def finish_record(plan: TrainPlan, model: Any, backend: str) -> dict[str, Any]:
    """Save the final model and write train.json, the completion mark, last."""
    from zspace.tasks.train.record import plot_loss_curve

    store, layout = plan.store, plan.store.run(plan.run)
    model_fingerprint = save_model(model, store, layout.model)
    if plan.history:
        store.write_bytes(layout.loss_curve, plot_loss_curve(plan.history, plan.run))
    last = plan.history[-1] if plan.history else {}
    result = {
        "run": plan.run, "dataset": plan.dataset,
        "dataset_fingerprint": plan.record["dataset_fingerprint"],
        "preset": plan.record["preset"], "kind": plan.model_cfg.kind,
        "epochs": plan.train_cfg.epochs, "model_fingerprint": model_fingerprint,
        "z_dim": plan.model_cfg.z_dim, "input_size": plan.model_cfg.input_size,
        "model_rel": layout.model, "n_train": int(len(plan.train_rows)),
        "n_val": int(len(plan.val_rows)), "loss": last.get("loss"),
        "val_loss": last.get("val_loss"), "kl_share": last.get("kl_share"),
        "images_per_s": last.get("images_per_s"), "backend": backend,
        "recon_sum": plan.model_cfg.recon_sum,
        "mixed_precision": plan.train_cfg.precision_policy or "float32",
    }
    store.write_json(layout.train_record, result)
    return result


def _fit_verbosity(verbose: int | str | None) -> int | str:
    """Keras's progress bar only when asked (ZSPACE_VERBOSE=1); else one line per epoch."""
    if verbose is None:
        return "auto" if os.environ.get("ZSPACE_VERBOSE") == "1" else 0
    return verbose


def train_run(p: TrainParams, verbose: int | str | None = None) -> dict[str, Any]:
    """Train (or continue, or just return) runs/<run>/ and return its train.json.

    A finished run with the same parameters returns at once; a higher epochs continues from
    the newest checkpoint, optimizer state included. p.backend: None for the process's
    (KERAS_BACKEND, else TensorFlow); another one than keras already runs on is a ValueError.
    """
    backend = use_backend(p.backend)
    plan = plan_run(p)
    if isinstance(plan, dict):
        return plan
    with prepare_model(plan) as model:
        if plan.done_epochs < plan.train_cfg.epochs:
            failure = fit_epochs(plan, model, open_streams(plan), _fit_verbosity(verbose))
            if failure:
                raise NonFiniteLossError(failure)
        return finish_record(plan, model, backend)
