"""What the train stage shows of itself: its log lines and its history table artifact."""

from __future__ import annotations

from typing import Any

from zspace.storage import Store

HISTORY_COLUMNS = ("epoch", "loss", "val_loss", "reconstruction", "kl", "kl_share",
                   "images_per_s")


def fmt(v: Any) -> str:
    return "-" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v)


def epoch_log_line(run: str, h: dict[str, Any], total: int) -> str:
    """The flow's log line of one finished epoch (the process prints its own)."""
    return (f"run {run} epoch {h['epoch']}/{total}: loss {fmt(h.get('loss'))}, val_loss "
            f"{fmt(h.get('val_loss'))}, kl_share {fmt(h.get('kl_share'))}, "
            f"{fmt(h.get('images_per_s'))} images/s")


def history_table(store: Store, run: str) -> list[dict[str, Any]] | None:
    """Per-epoch losses of a run, one row per epoch; None before its first epoch."""
    history = store.read_json_if(store.run(run).history)
    return None if history is None else [{c: h.get(c) for c in HISTORY_COLUMNS} for h in history]


def history_description(result: dict[str, Any], store: Store) -> str:
    return (f"Per-epoch losses of run {result['run']} ({result['kind']}, preset "
            f"{result['preset']}); model at {store.join(result['model_rel'])}")


def closing_lines(result: dict[str, Any]) -> str:
    """The CLI's closing line."""
    return (f"run {result['run']}: {result['kind']} trained {result['epochs']} epochs, "
            f"loss {fmt(result.get('loss'))}, val_loss {fmt(result.get('val_loss'))}; "
            f"model {result['model_rel']}")
