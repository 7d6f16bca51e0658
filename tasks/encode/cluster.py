"""Encode on a dask cluster: each worker encodes whole latent chunks and writes them itself.

The driver only plans, hands out chunk numbers and finalises; it never imports TensorFlow.
A worker loads a run's model once (cached by the model's store URL and fingerprint), reads
its chunk's images from the store, encodes them with :func:`~zspace.tasks.encode.rows.encode_chunk`
(the local loop's function: same batches, same bits) and writes the chunk and its mark; chunk
writes are separate files, so workers write side by side. A chunk whose worker dies is
rescheduled by the scheduler and simply written again.
"""

from __future__ import annotations

import functools
from typing import Any

from zspace.storage import Store
from zspace.tasks.common.artifacts import artifact_key
from zspace.tasks.common.progress import Progress
from zspace.tasks.encode.rows import chunk_bounds, latent_writers


@functools.lru_cache(maxsize=2)
def worker_model(store_url: str, run: str, model_fingerprint: str) -> Any:
    """The run's model in this worker process, loaded once per model (the fingerprint is in
    the key, so a retrained run's model is loaded afresh)."""
    from zspace.tasks.common.runs import load_run_model

    return load_run_model(Store(store_url), run)


def encode_chunk_on_worker(store_url: str, p: dict[str, Any], i: int, batch_size: int) -> int:
    """Latent chunk i, from the store's images to the store's latents; returns its rows."""
    import numpy as np

    from zspace.tasks.encode.rows import check_model, encode_chunk

    store, run = Store(store_url), p["plan"]["run"]
    model = worker_model(store.url, run, p["plan"]["model_fingerprint"])
    check_model(store, run, p, model)
    start, stop = chunk_bounds(p, i)
    x = np.asarray(store.open_array(p["images_rel"])[start:stop])
    return encode_chunk(model, x, i, p, latent_writers(store, run, p), batch_size)


def encode_on_cluster(address: str, store: Store, p: dict[str, Any], todo: list[int],
                      done_rows: int, batch_size: int) -> None:
    """Every chunk in todo encoded on the cluster at address; the bar advances per chunk."""
    from distributed import Client, as_completed

    run = p["plan"]["run"]
    try:
        client = Client(address, set_as_default=False, timeout="10s")
    except (OSError, TimeoutError) as e:
        raise ValueError(f"--dask-address {address}: no dask scheduler answers there "
                         f"({type(e).__name__})") from None
    bar = Progress(p["n"], f"encode {run}", key=artifact_key(f"encode-{run}"), unit="img",
                   initial=done_rows)
    with client, bar:
        futures = [client.submit(encode_chunk_on_worker, store.url, p, i, batch_size, pure=False)
                   for i in todo]
        try:
            for fut in as_completed(futures, loop=client.loop):
                bar.update(fut.result())
        finally:
            client.cancel(futures)
