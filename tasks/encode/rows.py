"""One latent chunk: image rows a..b through the encoder, checked, written and marked.

The local loop and the cluster's workers both call :func:`encode_chunk`, so a chunk is cut
into the same encoder batches wherever it runs and its latents are the same bits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from zspace.storage import ChunkedWriter, Store, StoreError

Rows = Callable[[int], None] | None


def check_model(store: Store, run: str, p: dict[str, Any], model: Any) -> None:
    """The trained model must fit the images and its own record."""
    s, c = model.config.input_size, model.config.channels
    if p["image_shape"] != (s, s, c):
        raise StoreError(f"{store.join(p['images_rel'])} holds images of shape "
                         f"{p['image_shape']} but run {run!r} expects ({s}, {s}, {c})")
    if model.z_dim != p["z_dim"] or model.kind != p["record"]["kind"]:
        raise StoreError(f"{store.join(store.run(run).model)} ({model.kind}, z_dim "
                         f"{model.z_dim}) does not match its train.json "
                         f"({p['record']['kind']}, z_dim {p['z_dim']})")


def latent_writers(store: Store, run: str, p: dict[str, Any]) -> dict[str, ChunkedWriter]:
    """The latent arrays of an encode under way (made by the driver), opened for writing."""
    return {name: ChunkedWriter(store, store.run(run).latents(name), (p["n"], p["z_dim"]),
                                p["chunk_rows"], "float32", {**p["plan"], "output": name},
                                dimension_names=("image", "z"))
            for name in p["names"]}


def chunk_bounds(p: dict[str, Any], i: int) -> tuple[int, int]:
    """Image rows of latent chunk i: [start, stop)."""
    return i * p["chunk_rows"], min((i + 1) * p["chunk_rows"], p["n"])


def encode_rows(model: Any, x: np.ndarray, names: list[str], batch_size: int,
                on_rows: Rows = None) -> dict[str, np.ndarray]:
    """Images through the encoder, a few batches per call (float32 stays small); the batch
    boundaries depend only on len(x) and batch_size."""
    step = 4 * batch_size
    parts: dict[str, list[np.ndarray]] = {name: [] for name in names}
    for s0 in range(0, len(x), step):
        out = model.encode(x[s0 : s0 + step], batch_size=batch_size)
        for name in names:
            parts[name].append(out[name])
        if on_rows:
            on_rows(min(step, len(x) - s0))
    return {name: np.concatenate(parts[name]) for name in names}


def encode_chunk(model: Any, x: np.ndarray, i: int, p: dict[str, Any],
                 writers: dict[str, ChunkedWriter], batch_size: int, on_rows: Rows = None) -> int:
    """Encode the images x of latent chunk i, refuse non-finite latents, write and mark the
    chunk of every latent array; returns the rows written."""
    start, stop = chunk_bounds(p, i)
    for name, z in encode_rows(model, x, p["names"], batch_size, on_rows).items():
        if not np.isfinite(z).all():
            raise StoreError(f"run {p['plan']['run']}: the model produced non-finite {name} for images "
                             f"{start}..{stop - 1}; nothing of it was kept")
        writers[name].write_chunk(i, z, {"rows": [start, stop]})
    return stop - start
