"""Training glue: stream images from the store into Keras, checkpoint every epoch, resume.

`train_run` is the plain, in-process function; `python -m zspace.tasks.train.stage ...` runs it in
a process of its own (TensorFlow keeps GPU memory until its process exits), which is how the
Prefect flow in flows/train.py calls it. `finished_run` answers "is this run already done?"
without importing TensorFlow, so that a finished run is a cache hit in well under a second.

Run folder runs/<run>/ (all writes go through the Store, so any fsspec store works)::

    config.yaml        dataset, its fingerprint, preset, model and train parameters
    checkpoints/       epoch-NNNN.keras after each epoch, optimizer state included
                       (the newest `keep_checkpoints` are kept)
    history.json       one object per finished epoch
    loss_curve.png
    model.keras        the final model
    train.json         written last: the completion mark later stages key their caches on
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import tempfile
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from zspace.models.config import ModelConfig, TrainConfig, load_preset, preset_name
from zspace.storage import Store, StoreError, is_complete, split_rows

CHECKPOINTS = "checkpoints"
# train parameters that may change between calls on the same run; any other change is refused
MUTABLE_TRAIN_KEYS = {"epochs", "keep_checkpoints", "prefetch_chunks", "read_threads"}


class NonFiniteLossError(ValueError):
    """The loss became NaN or infinite; the message names the epoch and batch."""


# -- what a call asks for ---------------------------------------------------------------------
def default_run_name(dataset: str, preset: str, kind: str | None = None) -> str:
    """f"{dataset}-{preset}", with "-{kind}" appended when the preset's kind is overridden."""
    name = f"{dataset}-{preset_name(preset)}"
    return f"{name}-{kind}" if kind else name


def resolve(
    preset: str,
    epochs: int | None = None,
    limit: int | None = None,
    kind: str | None = None,
    mixed_precision: bool | None = None,
) -> tuple[ModelConfig, TrainConfig]:
    """The preset's configs with the command-line overrides applied (and validated)."""
    model_cfg, train_cfg = load_preset(preset)
    if kind is not None:
        model_cfg = ModelConfig.model_validate({**model_cfg.model_dump(), "kind": kind})
    overrides: dict[str, Any] = {}
    if epochs is not None:
        overrides["epochs"] = epochs
    if limit is not None:
        overrides["limit"] = limit
    if mixed_precision is not None:
        overrides["mixed_precision"] = mixed_precision
    if overrides:
        train_cfg = TrainConfig.model_validate({**train_cfg.model_dump(), **overrides})
    return model_cfg, train_cfg


def _open_images(store: Store, dataset: str, model_cfg: ModelConfig) -> Any:
    rel = Store.images_rel(dataset)
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


def _run_record(
    run: str, dataset: str, fingerprint: str, preset: str, model_cfg: ModelConfig, train_cfg: TrainConfig
) -> dict[str, Any]:
    return {
        "run": run,
        "dataset": dataset,
        "dataset_fingerprint": fingerprint,
        "preset": preset_name(preset),
        "model": model_cfg.model_dump(),
        "train": train_cfg.model_dump(),
    }


def _record_diff(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Differences that make an existing run folder a different experiment."""
    diffs = []
    if old.get("dataset_fingerprint") != new["dataset_fingerprint"]:
        diffs.append(f"dataset {old.get('dataset')!r} content (fingerprint) changed")
    for key, value in new["model"].items():
        if old.get("model", {}).get(key) != value:
            diffs.append(f"model.{key}: {old.get('model', {}).get(key)!r} -> {value!r}")
    for key, value in new["train"].items():
        if key not in MUTABLE_TRAIN_KEYS and old.get("train", {}).get(key) != value:
            diffs.append(f"train.{key}: {old.get('train', {}).get(key)!r} -> {value!r}")
    return diffs


def finished_run(
    store_url: str,
    dataset: str,
    preset: str,
    epochs: int | None = None,
    run: str | None = None,
    limit: int | None = None,
    kind: str | None = None,
    mixed_precision: bool | None = None,
) -> dict[str, Any] | None:
    """train.json of a finished run with exactly these parameters, else None. No TensorFlow."""
    store = Store(store_url)
    run = run or default_run_name(dataset, preset, kind)
    run_rel = Store.run_rel(run)
    if not (store.exists(f"{run_rel}/train.json") and store.exists(f"{run_rel}/config.yaml")):
        return None
    model_cfg, train_cfg = resolve(preset, epochs, limit, kind, mixed_precision)
    done = store.read_json(f"{run_rel}/train.json")
    if done.get("epochs") != train_cfg.epochs or not store.exists(f"{run_rel}/model.keras"):
        return None
    try:
        fingerprint = str(_open_images(store, dataset, model_cfg).attrs["fingerprint"])
    except StoreError:
        return None
    old = yaml.safe_load(store.read_text(f"{run_rel}/config.yaml")) or {}
    new = _run_record(run, dataset, fingerprint, preset, model_cfg, train_cfg)
    return None if _record_diff(old, new) else done


# -- streaming from the store -------------------------------------------------------------------
class ImageStream:
    """Batches of uint8 images from chosen rows of a zarr array, read one chunk at a time.

    Each epoch visits the chunks in a new random order (seeded by seed and epoch), reads
    `prefetch_chunks` ahead in threads, and shuffles rows within a pool of about
    `shuffle_buffer` images: memory stays at a few chunks whatever the dataset size.
    """

    def __init__(
        self,
        array: Any,
        rows: np.ndarray,
        batch_size: int,
        shuffle: bool = True,
        seed: int = 0,
        shuffle_buffer: int = 4096,
        prefetch_chunks: int = 8,
        read_threads: int = 2,
    ):
        self.array = array
        self.rows = np.asarray(rows, dtype=np.int64)
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.seed = int(seed)
        self.shuffle_buffer = int(shuffle_buffer)
        self.prefetch_chunks = int(prefetch_chunks)
        self.read_threads = int(read_threads)
        self.chunk_rows = int(array.chunks[0])
        chunk_of = self.rows // self.chunk_rows
        self.chunks = np.unique(chunk_of)
        self.members = {int(c): self.rows[chunk_of == c] - c * self.chunk_rows for c in self.chunks}
        self.epoch = 0  # the next epoch a fresh iteration will produce (set when resuming)

    def __len__(self) -> int:
        return math.ceil(len(self.rows) / self.batch_size)

    @property
    def image_shape(self) -> tuple[int, ...]:
        return tuple(int(s) for s in self.array.shape[1:])

    def _read(self, chunk: int) -> np.ndarray:
        local = self.members[chunk]
        start = chunk * self.chunk_rows
        block = self.array[start + int(local[0]) : start + int(local[-1]) + 1]
        return block[local - local[0]]

    def epoch_batches(self, epoch: int) -> Iterator[np.ndarray]:
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(self.chunks) if self.shuffle else self.chunks
        pool_target = max(self.batch_size, self.shuffle_buffer if self.shuffle else 0)
        pending: list[np.ndarray] = []
        n_pending = 0
        with ThreadPoolExecutor(self.read_threads, thread_name_prefix="zspace-read") as ex:
            todo = iter(order.tolist())
            futures: deque[Future[np.ndarray]] = deque()
            for c in todo:
                futures.append(ex.submit(self._read, c))
                if len(futures) >= self.prefetch_chunks:
                    break
            while futures:
                block = futures.popleft().result()
                nxt = next(todo, None)
                if nxt is not None:
                    futures.append(ex.submit(self._read, nxt))
                pending.append(block)
                n_pending += len(block)
                if n_pending < pool_target:
                    continue
                pool = np.concatenate(pending)
                if self.shuffle:
                    pool = pool[rng.permutation(len(pool))]
                full = len(pool) // self.batch_size * self.batch_size
                for i in range(0, full, self.batch_size):
                    yield pool[i : i + self.batch_size]
                pending, n_pending = [pool[full:]], len(pool) - full
        if n_pending:
            pool = np.concatenate(pending)
            if self.shuffle:
                pool = pool[rng.permutation(len(pool))]
            for i in range(0, len(pool), self.batch_size):
                yield pool[i : i + self.batch_size]

    def dataset(self) -> Any:
        """A tf.data.Dataset of uint8 batches; every iteration (Keras: every epoch) is a new
        epoch of the stream."""
        import tensorflow as tf

        def generate() -> Iterator[np.ndarray]:
            epoch = self.epoch
            self.epoch += 1
            yield from self.epoch_batches(epoch)

        ds = tf.data.Dataset.from_generator(
            generate, output_signature=tf.TensorSpec((None, *self.image_shape), tf.uint8)
        )
        ds = ds.apply(tf.data.experimental.assert_cardinality(len(self))).prefetch(2)
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
        return ds.with_options(options)


# -- run folder helpers -------------------------------------------------------------------------
def _checkpoint_rel(run_rel: str, epoch: int) -> str:
    return f"{run_rel}/{CHECKPOINTS}/epoch-{epoch:04d}.keras"


def list_checkpoints(store: Store, run_rel: str) -> dict[int, str]:
    """Finished checkpoints by epoch (temporary files of an interrupted save are ignored)."""
    out = {}
    for name in store.listdir(f"{run_rel}/{CHECKPOINTS}"):
        stem = name.removeprefix("epoch-").removesuffix(".keras")
        if name.startswith("epoch-") and name.endswith(".keras") and stem.isdigit():
            out[int(stem)] = f"{run_rel}/{CHECKPOINTS}/{name}"
    return out


def save_model(model: Any, store: Store, rel: str) -> str:
    """Save a .keras file into the store whole (atomic); returns the sha256 of its bytes."""
    with tempfile.TemporaryDirectory(prefix="zspace-save-") as tmp:
        path = Path(tmp) / "model.keras"
        model.save(path)
        data = path.read_bytes()
    store.write_bytes(rel, data)
    return hashlib.sha256(data).hexdigest()


def load_model_from_store(store: Store, rel: str, compile: bool = True) -> Any:
    from zspace.models import load_model

    if store.is_local:
        return load_model(store.local_path(rel), compile=compile)
    with tempfile.TemporaryDirectory(prefix="zspace-load-") as tmp:
        path = Path(tmp) / "model.keras"
        path.write_bytes(store.read_bytes(rel))
        return load_model(path, compile=compile)


def plot_loss_curve(history: list[dict[str, Any]], title: str) -> bytes:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    ax.plot(epochs, [h["loss"] for h in history], "o-", label="loss (train)")
    if any(h.get("val_loss") is not None for h in history):
        ax.plot(epochs, [h.get("val_loss") for h in history], "s--", label="val_loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss per image")
    ax.set_title(title)
    if any(h.get("kl_share") for h in history):
        ax2 = ax.twinx()
        ax2.plot(epochs, [h.get("kl_share") for h in history], ":", color="tab:red", label="kl_share")
        ax2.set_ylabel("kl_share", color="tab:red")
    ax.legend(loc="upper right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def _finite(v: Any) -> float | None:
    if v is None:
        return None
    v = float(np.asarray(v))
    return v if math.isfinite(v) else None


def _make_recorder(
    store: Store,
    run_rel: str,
    run: str,
    history: list[dict[str, Any]],
    n_train: int,
    keep_checkpoints: int | None,
) -> Any:
    import keras

    class RunRecorder(keras.callbacks.Callback):
        """Per epoch: history entry, loss curve, then the checkpoint; per batch: a finite loss."""

        def __init__(self) -> None:
            super().__init__()
            self.failure: str | None = None
            self.t0 = self.t_last = time.perf_counter()
            self.epoch = 0

        def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            self.epoch = epoch
            self.t0 = self.t_last = time.perf_counter()

        def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
            self.t_last = time.perf_counter()
            loss = float(np.asarray((logs or {}).get("loss", 0.0)))
            if not math.isfinite(loss) and self.failure is None:
                self.failure = (
                    f"run {run!r}: the loss became {loss} at epoch {self.epoch + 1}, batch "
                    f"{batch + 1}; training stopped"
                )
                self.model.stop_training = True

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            if self.failure is not None:
                return
            logs = logs or {}
            seconds = max(self.t_last - self.t0, 1e-9)
            entry = {
                "epoch": epoch + 1,
                "loss": _finite(logs.get("loss")),
                "val_loss": _finite(logs.get("val_loss")),
                "reconstruction": _finite(logs.get("reconstruction")),
                "kl": _finite(logs.get("kl")),
                "kl_share": _finite(logs.get("kl_share")),
                "val_reconstruction": _finite(logs.get("val_reconstruction")),
                "val_kl": _finite(logs.get("val_kl")),
                "images_per_s": round(n_train / seconds, 2),
                "train_seconds": round(seconds, 3),
                "epoch_seconds": round(time.perf_counter() - self.t0, 3),
            }
            if entry["val_loss"] is None and logs.get("val_loss") is not None:
                self.failure = f"run {run!r}: val_loss became {logs['val_loss']} at epoch {epoch + 1}"
                self.model.stop_training = True
                return
            history.append(entry)
            # history first, checkpoint last: a resume trims history to the newest checkpoint
            store.write_json(f"{run_rel}/history.json", history)
            store.write_bytes(f"{run_rel}/loss_curve.png", plot_loss_curve(history, run))
            save_model(self.model, store, _checkpoint_rel(run_rel, epoch + 1))
            if keep_checkpoints:
                for old in sorted(list_checkpoints(store, run_rel))[:-keep_checkpoints]:
                    store.remove(_checkpoint_rel(run_rel, old))

    return RunRecorder()


def _strategy() -> Any:
    import tensorflow as tf

    gpus = tf.config.list_logical_devices("GPU")
    return tf.distribute.MirroredStrategy() if len(gpus) > 1 else tf.distribute.get_strategy()


# -- the stage ----------------------------------------------------------------------------------
def train_run(
    store_url: str,
    dataset: str,
    run: str | None = None,
    preset: str = "demo",
    epochs: int | None = None,
    limit: int | None = None,
    kind: str | None = None,
    mixed_precision: bool | None = None,
    verbose: int | str = "auto",
) -> dict[str, Any]:
    """Train (or continue, or just return) runs/<run>/ and return its train.json.

    preset: a name in deployments/presets or a YAML path; epochs/limit/kind/mixed_precision
    override the preset. A finished run with the same parameters returns at once; a higher
    epochs continues from the newest checkpoint, optimizer state included.
    """
    store = Store(store_url)
    run = run or default_run_name(dataset, preset, kind)
    run_rel = Store.run_rel(run)
    model_cfg, train_cfg = resolve(preset, epochs, limit, kind, mixed_precision)
    arr = _open_images(store, dataset, model_cfg)
    fingerprint = str(arr.attrs["fingerprint"])
    record = _run_record(run, dataset, fingerprint, preset, model_cfg, train_cfg)

    if store.exists(f"{run_rel}/config.yaml"):
        old = yaml.safe_load(store.read_text(f"{run_rel}/config.yaml")) or {}
        diffs = _record_diff(old, record)
        if diffs:
            raise StoreError(
                f"run {run!r} in {store.join(run_rel)} was made with other parameters "
                f"({'; '.join(diffs[:5])}); nothing was changed: choose another --run or remove it"
            )
    if store.exists(f"{run_rel}/train.json"):
        done = store.read_json(f"{run_rel}/train.json")
        if done.get("epochs") == train_cfg.epochs and store.exists(f"{run_rel}/model.keras"):
            return done
        if done.get("epochs", 0) > train_cfg.epochs:
            raise ValueError(
                f"run {run!r} already has {done['epochs']} epochs; ask for --epochs >= "
                f"{done['epochs']} or choose another --run"
            )

    train_rows = split_rows(store, dataset, "train")
    if train_cfg.limit:
        train_rows = train_rows[: train_cfg.limit]
    val_rows = split_rows(store, dataset, "val")
    if train_cfg.val_limit:
        val_rows = val_rows[: train_cfg.val_limit]
    if len(train_rows) == 0:
        raise StoreError(f"dataset {dataset!r} has no images in its train split")

    checkpoints = list_checkpoints(store, run_rel)
    done_epochs = max(checkpoints, default=0)
    if done_epochs > train_cfg.epochs:
        raise ValueError(
            f"run {run!r} already has {done_epochs} epochs; ask for --epochs >= {done_epochs} "
            "or choose another --run"
        )
    if done_epochs < train_cfg.epochs:
        # model.keras will change: no completion mark may vouch for it in the meantime
        store.remove(f"{run_rel}/train.json")
    store.write_text(f"{run_rel}/config.yaml", yaml.safe_dump(record, sort_keys=False))
    history = store.read_json(f"{run_rel}/history.json") if store.exists(f"{run_rel}/history.json") else []
    history = [h for h in history if h["epoch"] <= done_epochs]

    import keras

    from zspace.models import build_model

    previous_policy = keras.mixed_precision.global_policy()
    if train_cfg.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        keras.utils.set_random_seed(train_cfg.seed + done_epochs)
        strategy = _strategy()
        with strategy.scope():
            if done_epochs:
                model = load_model_from_store(store, checkpoints[done_epochs])
            else:
                model = build_model(model_cfg)
                model.compile(optimizer=keras.optimizers.Adam(train_cfg.learning_rate))
        if done_epochs < train_cfg.epochs:
            stream_args = dict(
                seed=train_cfg.seed,
                shuffle_buffer=train_cfg.shuffle_buffer,
                prefetch_chunks=train_cfg.prefetch_chunks,
                read_threads=train_cfg.read_threads,
            )
            train_stream = ImageStream(arr, train_rows, train_cfg.batch_size, shuffle=True, **stream_args)
            train_stream.epoch = done_epochs
            val_data = None
            if len(val_rows):
                val_data = ImageStream(
                    arr, val_rows, train_cfg.batch_size, shuffle=False, **stream_args
                ).dataset()
            recorder = _make_recorder(
                store, run_rel, run, history, len(train_rows), train_cfg.keep_checkpoints
            )
            model.fit(
                train_stream.dataset(),
                validation_data=val_data,
                epochs=train_cfg.epochs,
                initial_epoch=done_epochs,
                callbacks=[recorder],
                shuffle=False,  # the stream shuffles, chunk-aligned
                verbose=verbose,
            )
            if recorder.failure:
                last = max(list_checkpoints(store, run_rel), default=0)
                kept = (
                    f"the last good checkpoint is {store.join(_checkpoint_rel(run_rel, last))}"
                    if last
                    else "no epoch finished, so there is no checkpoint"
                )
                raise NonFiniteLossError(
                    f"{recorder.failure}; {kept}. Lower the learning rate or check the data."
                )
        model_fingerprint = save_model(model, store, f"{run_rel}/model.keras")
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)

    if history:
        store.write_bytes(f"{run_rel}/loss_curve.png", plot_loss_curve(history, run))
    last = history[-1] if history else {}
    result = {
        "run": run,
        "dataset": dataset,
        "dataset_fingerprint": fingerprint,
        "preset": preset_name(preset),
        "kind": model_cfg.kind,
        "epochs": train_cfg.epochs,
        "model_fingerprint": model_fingerprint,
        "z_dim": model_cfg.z_dim,
        "input_size": model_cfg.input_size,
        "model_rel": f"{run_rel}/model.keras",
        "n_train": int(len(train_rows)),
        "n_val": int(len(val_rows)),
        "loss": last.get("loss"),
        "val_loss": last.get("val_loss"),
        "kl_share": last.get("kl_share"),
        "images_per_s": last.get("images_per_s"),
    }
    store.write_json(f"{run_rel}/train.json", result)
    return result


# -- the process the flow starts ----------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The train options, shared by `zspace train` and `python -m zspace.tasks.train.stage`."""
    parser.add_argument("--store", default="zspace-store", help="store root (path or fsspec URL)")
    parser.add_argument("--dataset", required=True, help="dataset name in the store")
    parser.add_argument("--preset", default="demo", help="preset name or YAML path (default: demo)")
    parser.add_argument("--epochs", type=int, default=None, help="override the preset's epochs")
    parser.add_argument("--run", default=None, help="run name (default: <dataset>-<preset>)")
    parser.add_argument("--limit", type=int, default=None, help="max training images")
    parser.add_argument("--kind", choices=["ae", "vae"], default=None, help="override the model kind")
    parser.add_argument(
        "--mixed-precision", action="store_true", default=None, help="float16 compute (GPU)"
    )


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = argparse.ArgumentParser(prog="python -m zspace.tasks.train.stage", description=__doc__)
    add_arguments(parser)
    parser.add_argument("--error-file", default=None, help="write a failure message here (JSON)")
    parser.add_argument("--verbose", default="auto", help="Keras fit verbosity")
    args = parser.parse_args(argv)
    verbose = int(args.verbose) if str(args.verbose).isdigit() else args.verbose
    try:
        result = train_run(
            args.store,
            args.dataset,
            run=args.run,
            preset=args.preset,
            epochs=args.epochs,
            limit=args.limit,
            kind=args.kind,
            mixed_precision=args.mixed_precision,
            verbose=verbose,
        )
    except Exception as e:  # one clear line for the parent, the traceback only when unexpected
        user_error = isinstance(e, StoreError | ValueError | FileNotFoundError)
        if args.error_file:
            Path(args.error_file).write_text(
                json.dumps({"type": type(e).__name__, "message": str(e), "user_error": user_error})
            )
        if not user_error:
            raise
        print(f"zspace train: error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
