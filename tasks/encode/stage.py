"""Encode every image of a run's dataset into zarr latent arrays, resumably.

Reads runs/<run>/train.json (dataset, fingerprints, kind, z_dim) and runs/<run>/model.keras,
and writes, row for row with datasets/<dataset>/images (all splits, image order)::

    runs/<run>/latents/z_mean      float32 (N, z_dim), chunked along N
    runs/<run>/latents/z_log_var   float32 (N, z_dim), VAE only

One latent chunk covers a whole number of image chunks and is written whole, then marked
(ChunkedWriter), so a killed encode resumes at the first unmarked chunk; the plan holds the
model and dataset fingerprints, so latents of an older model are never mixed with new ones.
A finished encode is recognised from the array attributes alone, without loading TensorFlow.
Given a dask scheduler, the workers encode and write the chunks (:mod:`.cluster`); both paths
encode a chunk with :func:`.rows.encode_chunk`.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from zspace.storage import ChunkedWriter, Store, StoreError, is_complete
from zspace.storage.store import chunk_rows_for
from zspace.tasks.common.artifacts import artifact_key
from zspace.tasks.common.progress import Progress
from zspace.tasks.common.runs import complete_array, load_run_model
from zspace.tasks.encode.rows import check_model, chunk_bounds, encode_chunk

PRODUCER = "zspace.encode"
LATENT_CHUNK_BYTES = 2 << 20


# What encode reads from runs/<run>/train.json.
TRAIN_FIELDS = ("dataset", "model_fingerprint", "kind", "z_dim")


def latent_names(kind: str) -> list[str]:
    return ["z_mean"] if kind == "ae" else ["z_mean", "z_log_var"]


def plan_encode(store: Store, run: str, chunk_images: int | None = None) -> dict[str, Any]:
    """What determines the latents, and how they are laid out; no TensorFlow needed.

    chunk_images: images per latent chunk (rounded up to whole image chunks); default about
    2 MB of latents per chunk."""
    rec = store.read_run_record(run, required=TRAIN_FIELDS)
    images_rel = store.dataset(rec["dataset"]).images
    images = complete_array(store, images_rel, f"ingest dataset {rec['dataset']!r} first",
                            "rerun its ingest to finish it")
    n = int(images.shape[0])
    z_dim = int(rec["z_dim"])
    image_chunk = int(images.chunks[0])
    target = chunk_images or chunk_rows_for((z_dim,), np.float32, LATENT_CHUNK_BYTES)
    per = max(1, -(-target // image_chunk) if chunk_images else round(target / image_chunk))
    plan = {
        "producer": PRODUCER,
        "run": run,
        "kind": rec["kind"],
        "model_fingerprint": rec["model_fingerprint"],
        "dataset": rec["dataset"],
        "dataset_fingerprint": str(images.attrs.get("fingerprint")),
        "trained_on_fingerprint": rec.get("dataset_fingerprint"),
        "z_dim": z_dim,
    }
    return {
        "record": rec,
        "images_rel": images_rel,
        "image_shape": tuple(int(s) for s in images.shape[1:]),
        "n": n,
        "z_dim": z_dim,
        "chunk_rows": image_chunk * per,
        "plan": plan,
        "names": latent_names(rec["kind"]),
    }


def finished_encode(store: Store, run: str) -> dict[str, Any] | None:
    """The result of a finished encode with the current model and dataset, else None."""
    p = plan_encode(store, run)
    out = {}
    for name in p["names"]:
        rel = store.run(run).latents(name)
        if not store.has_array(rel):
            return None
        arr = store.open_array(rel)
        if not is_complete(arr) or arr.attrs.get("zspace_plan") != {**p["plan"], "output": name}:
            return None
        out[name] = {"url": store.join(rel), "fingerprint": str(arr.attrs["fingerprint"])}
    return _result(run, p, out, cached=True, encoded_chunks=0, seconds=0.0)


def _writer(store: Store, rel: str, shape: tuple[int, int], chunk_rows: int,
            plan: dict[str, Any]) -> ChunkedWriter:
    """Latents of an earlier model or dataset (our own, by their plan) are replaced; anything
    else at that path is left alone and reported."""
    try:
        return ChunkedWriter(store, rel, shape, chunk_rows, "float32", plan,
                             dimension_names=("image", "z"))
    except StoreError:
        old = store.open_array(rel).attrs.get("zspace_plan") or {}
        if old.get("producer") != PRODUCER:
            raise
        store.remove(rel)
        return ChunkedWriter(store, rel, shape, chunk_rows, "float32", plan,
                             dimension_names=("image", "z"))


def _encode_chunks(store: Store, run: str, p: dict[str, Any], writers: dict[str, ChunkedWriter],
                   todo: list[int], done_rows: int, batch_size: int) -> None:
    """Encode the missing chunks in order, reading the next one while this one encodes."""
    model = load_run_model(store, run)
    check_model(store, run, p, model)
    images = store.open_array(p["images_rel"])

    def read(i: int) -> np.ndarray:
        start, stop = chunk_bounds(p, i)
        return np.asarray(images[start:stop])

    with Progress(p["n"], f"encode {run}", key=artifact_key(f"encode-{run}"), unit="img",
                  initial=done_rows) as bar, ThreadPoolExecutor(1) as pool:
        nxt = pool.submit(read, todo[0])
        for k, i in enumerate(todo):
            x = nxt.result()
            nxt = pool.submit(read, todo[k + 1]) if k + 1 < len(todo) else None
            encode_chunk(model, x, i, p, writers, batch_size, bar.update)


def _finalize(store: Store, run: str, p: dict[str, Any], writers: dict[str, ChunkedWriter],
              complete: bool) -> dict[str, dict[str, str]]:
    attrs = {"producer": PRODUCER, "run": run, "kind": p["record"]["kind"],
             "model_fingerprint": p["plan"]["model_fingerprint"], "dataset": p["plan"]["dataset"],
             "dataset_fingerprint": p["plan"]["dataset_fingerprint"]}
    return {name: {"url": store.join(store.run(run).latents(name)),
                   "fingerprint": w.finalize(attrs=attrs) if complete else ""}
            for name, w in writers.items()}


def encode_run(
    store: Store | str,
    run: str,
    batch_size: int = 256,
    stop_after_chunks: int | None = None,
    chunk_images: int | None = None,
    dask_address: str | None = None,
) -> dict[str, Any]:
    """Encode all images of the run's dataset (resuming a partial encode).

    chunk_images: images per latent chunk (see plan_encode); a finished encode is kept
    whatever its chunking.
    dask_address: a dask scheduler whose workers encode the chunks and write them into the
    store themselves (they must reach it); the latents are the same bits as a local encode.
    stop_after_chunks: encode at most this many missing chunks in this call and return
    (resumable; the result says complete=False). For time-boxed runs and for tests.
    """
    t0 = time.perf_counter()
    store = store if isinstance(store, Store) else Store(store)
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, not {batch_size}")
    done = finished_encode(store, run)
    if done is not None:
        done["seconds"] = round(time.perf_counter() - t0, 3)
        return done
    p = plan_encode(store, run, chunk_images)
    n, rows = p["n"], p["chunk_rows"]
    writers = {name: _writer(store, store.run(run).latents(name), (n, p["z_dim"]), rows,
                             {**p["plan"], "output": name}) for name in p["names"]}
    n_chunks = next(iter(writers.values())).n_chunks
    marked = [set(w.done_chunks()) for w in writers.values()]
    finished = [i for i in range(n_chunks) if all(i in m for m in marked)]
    todo = [i for i in range(n_chunks) if i not in finished]
    if stop_after_chunks is not None:
        todo = todo[: max(0, stop_after_chunks)]
    if todo:
        done_rows = sum(min(rows, n - i * rows) for i in finished)
        if dask_address:
            from zspace.tasks.encode.cluster import encode_on_cluster

            encode_on_cluster(dask_address, store, p, todo, done_rows, batch_size)
        else:
            _encode_chunks(store, run, p, writers, todo, done_rows, batch_size)
    complete = all(len(w.done_chunks()) == n_chunks for w in writers.values())
    seconds = time.perf_counter() - t0
    res = _result(run, p, _finalize(store, run, p, writers, complete), cached=False,
                  encoded_chunks=len(todo), seconds=seconds)
    res["complete"] = complete
    encoded_rows = sum(min(rows, n - i * rows) for i in todo)
    res["images_per_s"] = round(encoded_rows / seconds, 1) if seconds > 0 else None
    return res


def _result(run: str, p: dict[str, Any], latents: dict[str, dict[str, str]], cached: bool,
            encoded_chunks: int, seconds: float) -> dict[str, Any]:
    return {
        "run": run,
        "kind": p["record"]["kind"],
        "dataset": p["plan"]["dataset"],
        "dataset_fingerprint": p["plan"]["dataset_fingerprint"],
        "model_fingerprint": p["plan"]["model_fingerprint"],
        "n": p["n"],
        "z_dim": p["z_dim"],
        "chunk_rows": p["chunk_rows"],
        "latents": latents,
        "fingerprint": latents["z_mean"]["fingerprint"],
        "cached": cached,
        "complete": True if cached else None,
        "encoded_chunks": encoded_chunks,
        "seconds": round(seconds, 3),
    }
