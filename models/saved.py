"""Saved models in the store: the one place that moves a .keras file in or out of it.

Inference (encode, generation, the report) loads a model through here, so its cache key
holds this module and the model code, never the training loop.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from typing import Any

from zspace.storage import Store


def save_model(model: Any, store: Store, rel: str) -> str:
    """Save a .keras file into the store whole (atomic); returns the sha256 of its bytes."""
    with tempfile.TemporaryDirectory(prefix="zspace-save-") as tmp:
        path = Path(tmp) / "scratch.keras"  # a temporary file, not a store path
        model.save(path)
        data = path.read_bytes()
    store.write_bytes(rel, data)
    return hashlib.sha256(data).hexdigest()


def load_model_from_store(store: Store, rel: str, compile: bool = True) -> Any:
    """A saved model from the store, on whatever backend this process runs."""
    from zspace.models import load_model

    if store.is_local:
        return load_model(store.local_path(rel), compile=compile)
    with tempfile.TemporaryDirectory(prefix="zspace-load-") as tmp:
        path = Path(tmp) / "scratch.keras"  # a temporary file, not a store path
        path.write_bytes(store.read_bytes(rel))
        return load_model(path, compile=compile)
