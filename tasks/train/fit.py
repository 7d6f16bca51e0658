"""The Keras side of the train stage: the plan of one call, the streams, the model, the fit.

Nothing here imports Keras at module level (the stage answers cache hits without it). The
same code runs on TensorFlow and JAX; what differs per backend is only how several devices
share the work: MirroredStrategy on TensorFlow, keras.distribution.DataParallel on JAX.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from zspace.models.config import ModelConfig, TrainConfig
from zspace.models.saved import load_model_from_store
from zspace.storage import Store, StoreError, split_rows
from zspace.tasks.train.record import list_checkpoints, make_recorder


@dataclass
class TrainPlan:
    """Everything one training call decided before Keras is touched."""

    store: Store
    run: str
    dataset: str
    images: Any
    model_cfg: ModelConfig
    train_cfg: TrainConfig
    record: dict[str, Any]
    train_rows: np.ndarray
    val_rows: np.ndarray
    checkpoints: dict[int, str] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def done_epochs(self) -> int:
        return max(self.checkpoints, default=0)

    @classmethod
    def from_store(cls, store: Store, run: str, dataset: str, images: Any, model_cfg: ModelConfig,
                   train_cfg: TrainConfig, record: dict[str, Any]) -> TrainPlan:
        """Rows of the splits (limits applied), checkpoints, and the history they vouch for."""
        train_rows = split_rows(store, dataset, "train")[: train_cfg.limit or None]
        val_rows = split_rows(store, dataset, "val")[: train_cfg.val_limit or None]
        if len(train_rows) == 0:
            raise StoreError(f"dataset {dataset!r} has no images in its train split")
        checkpoints = list_checkpoints(store, run)
        done = max(checkpoints, default=0)
        history = [h for h in store.read_json_if(store.run(run).history, []) if h["epoch"] <= done]
        return cls(store, run, dataset, images, model_cfg, train_cfg, record, train_rows,
                   val_rows, checkpoints, history)


def open_streams(plan: TrainPlan) -> tuple[Any, Any]:
    """The training stream (resuming at the next epoch's order) and the validation stream."""
    from zspace.tasks.train.stream import ImageStream

    cfg = plan.train_cfg
    devices = data_parallel_devices()
    if cfg.batch_size % devices:
        raise ValueError(f"train.batch_size {cfg.batch_size} is not divisible by the {devices} "
                         "devices that share each batch: choose a multiple of it in the preset")
    args = dict(seed=cfg.seed, shuffle_buffer=cfg.shuffle_buffer, multiple_of=devices,
                prefetch_chunks=cfg.prefetch_chunks, read_threads=cfg.read_threads)
    train = ImageStream(plan.images, plan.train_rows, cfg.batch_size, shuffle=True, **args)
    train.epoch = plan.done_epochs
    val = None
    if len(plan.val_rows):
        val = ImageStream(plan.images, plan.val_rows, cfg.batch_size, shuffle=False, **args)
    return train.dataset(), (val.dataset() if val is not None else None)


def data_parallel_devices() -> int:
    """How many JAX accelerators split each batch (1 on TensorFlow, whose MirroredStrategy
    splits uneven batches itself, and on a CPU)."""
    import keras

    if keras.backend.backend() != "jax":
        return 1
    import jax

    devices = jax.devices()
    return len(devices) if devices[0].platform != "cpu" else 1


@contextlib.contextmanager
def distribution_scope() -> Iterator[None]:
    """Data parallelism over every accelerator the backend sees, when there are several."""
    import keras

    if keras.backend.backend() == "jax":
        import jax

        if data_parallel_devices() > 1:
            devices = jax.devices()
            previous = keras.distribution.distribution()
            keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
            try:
                yield
            finally:
                keras.distribution.set_distribution(previous)
            return
        yield
        return
    import tensorflow as tf

    gpus = tf.config.list_logical_devices("GPU")
    strategy = tf.distribute.MirroredStrategy() if len(gpus) > 1 else tf.distribute.get_strategy()
    with strategy.scope():
        yield


@contextlib.contextmanager
def prepare_model(plan: TrainPlan) -> Iterator[Any]:
    """The model, restored from the newest checkpoint or built and compiled, under the run's
    precision policy and distribution; the process's global policy is put back afterwards."""
    import keras

    from zspace.models import build_model

    previous = keras.mixed_precision.global_policy()
    if plan.train_cfg.precision_policy:
        keras.mixed_precision.set_global_policy(plan.train_cfg.precision_policy)
    try:
        keras.utils.set_random_seed(plan.train_cfg.seed + plan.done_epochs)
        with distribution_scope():
            if plan.done_epochs:
                model = load_model_from_store(plan.store, plan.checkpoints[plan.done_epochs])
            else:
                model = build_model(plan.model_cfg)
                model.compile(optimizer=keras.optimizers.Adam(plan.train_cfg.learning_rate))
            yield model
    finally:
        keras.mixed_precision.set_global_policy(previous)


def fit_epochs(plan: TrainPlan, model: Any, streams: tuple[Any, Any],
               verbose: int | str) -> str | None:
    """Fit the remaining epochs with a checkpoint after each; a failure message or None."""
    train_data, val_data = streams
    recorder = make_recorder(plan.store, plan.run, plan.history, len(plan.train_rows),
                             plan.train_cfg.keep_checkpoints, plan.train_cfg.epochs,
                             print_epochs=verbose == 0)
    model.fit(train_data, validation_data=val_data, epochs=plan.train_cfg.epochs,
              initial_epoch=plan.done_epochs, callbacks=[recorder],
              shuffle=False,  # the stream shuffles, chunk-aligned
              verbose=verbose)
    if not recorder.failure:
        return None
    last = max(list_checkpoints(plan.store, plan.run), default=0)
    kept = (f"the last good checkpoint is {plan.store.join(plan.store.run(plan.run).checkpoint(last))}"
            if last else "no epoch finished, so there is no checkpoint")
    return f"{recorder.failure}; {kept}. Lower the learning rate or check the data."
