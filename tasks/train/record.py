"""What a training leaves in its run folder, epoch by epoch: history, loss curve, checkpoints.

Paths come from the store's layout (`store.run(run).history`, `.checkpoint(epoch)`, ...); the
callback here is the only thing that writes them while `fit` runs, and it prints the one
console line per epoch that replaces Keras's per-batch progress bar.
"""

from __future__ import annotations

import io
import math
import time
from typing import Any

import numpy as np

from zspace.models.saved import save_model
from zspace.storage import Store

HISTORY_TERMS = ("loss", "val_loss", "reconstruction", "kl", "kl_share", "val_reconstruction",
                 "val_kl")


def list_checkpoints(store: Store, run: str) -> dict[int, str]:
    """Finished checkpoints of a run by epoch (temporary files of a broken save are ignored)."""
    layout = store.run(run)
    out = {}
    for name in store.listdir(layout.checkpoints):
        stem = name.removeprefix("epoch-").removesuffix(".keras")
        if name.startswith("epoch-") and name.endswith(".keras") and stem.isdigit():
            out[int(stem)] = layout.checkpoint(int(stem))
    return out


def plot_loss_curve(history: list[dict[str, Any]], title: str) -> bytes:
    """Loss (and val_loss, and kl_share on a second axis) per epoch, as PNG bytes."""
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


def finite(v: Any) -> float | None:
    if v is None:
        return None
    v = float(np.asarray(v))
    return v if math.isfinite(v) else None


def epoch_line(entry: dict[str, Any], total_epochs: int) -> str:
    """The one console line of a finished epoch."""
    def fmt(key: str) -> str:
        v = entry.get(key)
        return "-" if v is None else f"{v:.4g}"

    return (f"epoch {entry['epoch']}/{total_epochs}: loss {fmt('loss')} (reconstruction "
            f"{fmt('reconstruction')}, kl {fmt('kl')}, kl_share {fmt('kl_share')}), val_loss "
            f"{fmt('val_loss')}, {entry['images_per_s']:.1f} images/s, "
            f"{entry['epoch_seconds']:.1f} s")


class _Ledger:
    """The run folder's per-epoch records: history first, checkpoint last (a resume trims
    history to the newest checkpoint)."""

    def __init__(self, store: Store, run: str, history: list[dict[str, Any]],
                 keep_checkpoints: int | None):
        self.store, self.run, self.history = store, run, history
        self.keep_checkpoints = keep_checkpoints

    def add(self, entry: dict[str, Any], model: Any) -> None:
        layout = self.store.run(self.run)
        self.history.append(entry)
        self.store.write_json(layout.history, self.history)
        self.store.write_bytes(layout.loss_curve, plot_loss_curve(self.history, self.run))
        save_model(model, self.store, layout.checkpoint(entry["epoch"]))
        if self.keep_checkpoints:
            for old in sorted(list_checkpoints(self.store, self.run))[: -self.keep_checkpoints]:
                self.store.remove(layout.checkpoint(old))


def make_recorder(store: Store, run: str, history: list[dict[str, Any]], n_train: int,
                  keep_checkpoints: int | None, total_epochs: int, print_epochs: bool) -> Any:
    """A Keras callback: per batch, a finite loss; per epoch, the ledger and a console line."""
    import keras

    ledger = _Ledger(store, run, history, keep_checkpoints)

    class RunRecorder(keras.callbacks.Callback):
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
                self.failure = (f"run {run!r}: the loss became {loss} at epoch {self.epoch + 1}, "
                                f"batch {batch + 1}; training stopped")
                self.model.stop_training = True

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            if self.failure is not None:
                return
            logs = logs or {}
            if logs.get("val_loss") is not None and finite(logs["val_loss"]) is None:
                self.failure = f"run {run!r}: val_loss became {logs['val_loss']} at epoch {epoch + 1}"
                self.model.stop_training = True
                return
            seconds = max(self.t_last - self.t0, 1e-9)
            entry = {"epoch": epoch + 1, **{k: finite(logs.get(k)) for k in HISTORY_TERMS},
                     "images_per_s": round(n_train / seconds, 2),
                     "train_seconds": round(seconds, 3),
                     "epoch_seconds": round(time.perf_counter() - self.t0, 3)}
            ledger.add(entry, self.model)
            if print_epochs:
                print(epoch_line(entry, total_epochs), flush=True)

    return RunRecorder()
