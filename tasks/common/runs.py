"""Loading what a trained run left in the store: its record and its model."""

from __future__ import annotations

from typing import Any

from zspace.storage import Store


def load_run_model(store: Store, run: str) -> Any:
    from zspace.tasks.train.stage import load_model_from_store

    rel = store.run(run).model
    store.require(rel, f"train run {run!r} first")
    return load_model_from_store(store, rel, compile=False)
