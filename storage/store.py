"""Store layout, resumable chunk writes, completion marks and content fingerprints."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import fsspec
import numpy as np
import zarr
import zarr.codecs

from zspace.storage.layout import RUNS_ROOT, DatasetLayout, RunLayout, StoreError, array_meta
from zspace.storage.remote import (
    check_reachable,
    create_exclusive,
    is_object_store,
    ordered_move,
)

MARKS_DIR = ".zspace-marks"
# Whole chunks are written once each, so zarr's per-chunk scan for all-fill-value chunks only
# costs time (a third of a chunk write for 2 MB image chunks); every chunk gets its file.
WRITE_CONFIG = {"write_empty_chunks": True}


class Store:
    """A store root (local path or fsspec URL) and the layout of everything under it."""

    def __init__(self, url: str | os.PathLike[str]):
        url = os.fspath(url)
        if "://" not in url:
            url = os.path.abspath(os.path.expanduser(url))
        self.url = url.rstrip("/") or "/"
        self.fs, self.root = fsspec.core.url_to_fs(self.url)
        self.is_local = "file" in (
            self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,)
        )
        if self.is_local and os.path.exists(self.root) and not os.path.isdir(self.root):
            raise StoreError(f"store {self.url} is a file, not a folder: give a folder path "
                             "(it is created if missing)")
        self.is_object_store = is_object_store(self.fs)
        if self.is_object_store:
            check_reachable(self.fs, self.url, self.root)

    def __repr__(self) -> str:
        return f"Store({self.url!r})"

    # -- layout -------------------------------------------------------------------------
    def join(self, *parts: str) -> str:
        """URL of a path under the store root."""
        return "/".join([self.url, *[p.strip("/") for p in parts if p]])

    def _fspath(self, rel: str) -> str:
        return "/".join([self.root.rstrip("/"), rel.strip("/")])

    def dataset(self, name: str) -> DatasetLayout:
        """Paths of one dataset (see :mod:`zspace.storage.layout`); a name that cannot be a
        path segment is a LayoutError, which is a StoreError."""
        return DatasetLayout(name)

    def run(self, name: str) -> RunLayout:
        """Paths of one run (see :mod:`zspace.storage.layout`)."""
        return RunLayout(name)

    def runs(self) -> list[str]:
        """The names of the runs in the store."""
        return self.listdir(RUNS_ROOT)

    def local_path(self, rel: str = "") -> Path:
        """A local filesystem path, for libraries (Keras, matplotlib) that cannot write URLs."""
        if not self.is_local:
            raise StoreError(
                f"{self.join(rel)}: this step writes files with libraries that need a local "
                "store path; use a local --store"
            )
        return Path(self._fspath(rel)) if rel else Path(self.root)

    # -- files --------------------------------------------------------------------------
    def _fresh(self, path: str) -> str:
        """path, with fsspec's cached listing of it dropped on an object store: other processes
        (dask workers, a second writer) add objects there that this process's cache never saw."""
        if self.is_object_store:
            self.fs.invalidate_cache(path)
        return path

    def exists(self, rel: str) -> bool:
        return bool(self.fs.exists(self._fresh(self._fspath(rel))))

    def makedirs(self, rel: str) -> None:
        """A folder; nothing on an object store, which has no folders (and where fsspec's
        makedirs would create a missing bucket)."""
        if not self.is_object_store:
            self.fs.makedirs(self._fspath(rel), exist_ok=True)

    def read_bytes(self, rel: str) -> bytes:
        if not self.exists(rel):
            raise StoreError(f"{self.join(rel)} does not exist")
        return self.fs.cat_file(self._fspath(rel))

    def write_bytes(self, rel: str, data: bytes) -> None:
        """Write whole or not at all: a reader never sees half a file, even after kill -9."""
        path = self._fspath(rel)
        if self.is_local:
            os.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
            tmp = f"{path}.tmp-{uuid.uuid4().hex}"
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        else:  # one PUT (or a multipart upload): an object appears whole or not at all
            if not self.is_object_store:
                self.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
            self.fs.pipe_file(path, data)

    def create_bytes(self, rel: str, data: bytes) -> bool | None:
        """Create a file only if it does not exist: True if created, False if it existed,
        None if this store cannot create exclusively (an object store without conditional
        writes). Local: O_CREAT | O_EXCL; object stores: a PUT with If-None-Match: *."""
        path = self._fspath(rel)
        if not self.is_local:
            return create_exclusive(self.fs, path, data)
        os.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return True

    def read_text(self, rel: str) -> str:
        return self.read_bytes(rel).decode("utf-8")

    def write_text(self, rel: str, text: str) -> None:
        self.write_bytes(rel, text.encode("utf-8"))

    def read_json(self, rel: str) -> Any:
        return json.loads(self.read_text(rel))

    def write_json(self, rel: str, obj: Any) -> None:
        self.write_text(rel, json.dumps(obj, indent=2, sort_keys=False, default=_json_default))

    def listdir(self, rel: str) -> list[str]:
        """Names (not paths) directly under rel; empty if rel does not exist."""
        if not self.exists(rel):
            return []
        names = self.fs.ls(self._fresh(self._fspath(rel)), detail=False)
        return sorted(p.rstrip("/").rsplit("/", 1)[-1] for p in names)

    def remove(self, rel: str) -> None:
        if self.exists(rel):
            self.fs.rm(self._fspath(rel), recursive=True)

    def move(self, src: str, dst: str) -> None:
        """Rename a file or folder inside the store: atomic on a local store; on an object
        store a copy and a delete, ordered so that a kill leaves one whole array (see
        :func:`zspace.storage.remote.ordered_move`)."""
        if self.is_local:
            os.replace(self._fspath(src), self._fspath(dst))
        else:
            ordered_move(self.fs, self._fspath(src), self._fspath(dst))

    def read_json_if(self, rel: str, default: Any = None) -> Any:
        """A JSON document, or `default` when it does not exist."""
        return self.read_json(rel) if self.exists(rel) else default

    def require(self, rel: str, hint: str) -> None:
        """A clear StoreError naming the path and what to run when `rel` is missing."""
        if not self.exists(rel):
            raise StoreError(f"{self.join(rel)} does not exist: {hint}")

    # -- arrays -------------------------------------------------------------------------
    def open_array(self, rel: str, mode: str = "r") -> zarr.Array:
        return open_array(self.join(rel), mode=mode)

    def has_array(self, rel: str) -> bool:
        """Whether a zarr array (complete or not) exists at rel."""
        return self.exists(array_meta(rel))

    def has_complete_array(self, rel: str) -> bool:
        return self.has_array(rel) and is_complete(self.open_array(rel))

    def write_small_array(self, rel: str, data: np.ndarray,
                          attrs: Mapping[str, Any] | None = None) -> str:
        """A small array rewritten whole, in one chunk, marked complete with its sha256.

        For derived results (t-SNE coordinates, histograms) that a later record.json or
        complete.json vouches for; large arrays go through :class:`ChunkedWriter`."""
        self.remove(rel)
        data = np.ascontiguousarray(data)
        fp = hashlib.sha256(data.tobytes()).hexdigest()
        arr = zarr.create_array(store=self.join(rel), shape=data.shape, dtype=data.dtype,
                                chunks=data.shape if data.size else None, overwrite=True,
                                attributes={**(attrs or {}), "complete": True, "fingerprint": fp})
        arr[...] = data
        return fp

    def read_run_record(self, run: str, required: tuple[str, ...] = ()) -> dict[str, Any]:
        """runs/<run>/train.json, with a clear error when the run was never trained."""
        rel = self.run(run).train_record
        self.require(rel, f"train run {run!r} first (zspace train --store {self.url} ...)")
        rec = self.read_json(rel)
        missing = [k for k in required if k not in rec]
        if missing:
            raise StoreError(f"{self.join(rel)} lacks {missing}: was the run trained by this "
                             "version of zspace?")
        return rec


def _json_default(o: Any) -> Any:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"cannot write {type(o).__name__} as JSON")


def open_array(url: str, mode: str = "r") -> zarr.Array:
    """Open a zarr array, or say clearly that there is none."""
    try:
        node = zarr.open(url, mode=mode) if mode == "r" else zarr.open_array(url, mode=mode)
    except (FileNotFoundError, KeyError) as e:
        raise StoreError(f"no zarr array at {url}") from e
    except Exception as e:  # zarr raises several types for a missing or broken node
        if type(e).__name__ in {"GroupNotFoundError", "ArrayNotFoundError", "NodeNotFoundError"}:
            raise StoreError(f"no zarr array at {url}") from e
        raise
    if not isinstance(node, zarr.Array):
        raise StoreError(f"{url} is a zarr group, not an array")
    return node


def is_complete(arr: zarr.Array) -> bool:
    return arr.attrs.get("complete") is True


def array_fingerprint(url: str) -> str:
    """Content fingerprint of a complete array; upstream fingerprints key downstream caches."""
    arr = open_array(url)
    if not is_complete(arr):
        raise StoreError(f"{url} is not complete (an interrupted stage? rerun it to resume)")
    return str(arr.attrs["fingerprint"])


def default_compressors(dtype: np.dtype) -> list[Any]:
    """Pixels: zstd level 1 (4x faster to write than level 3, ~5% larger: ingest is write-bound
    in its main process). Floats: zstd through blosc with byte shuffle, which they need."""
    if np.dtype(dtype).itemsize == 1:
        return [zarr.codecs.ZstdCodec(level=1)]
    return [zarr.codecs.BloscCodec(cname="zstd", clevel=3, shuffle="shuffle")]


def chunk_rows_for(row_shape: tuple[int, ...], dtype: Any, target_bytes: int = 2 << 20) -> int:
    """Rows per chunk so that a chunk holds about target_bytes (at least 1 MB as asked)."""
    row_bytes = int(np.prod(row_shape, dtype=np.int64)) * np.dtype(dtype).itemsize
    return max(1, -(-target_bytes // max(row_bytes, 1)))


class ChunkedWriter:
    """Write a zarr array chunk by chunk along axis 0, resumably.

    Each finished chunk gets a small JSON mark (its sha256 and caller metadata) inside the
    array folder; a rerun skips marked chunks. ``plan`` holds whatever determines the
    content: an existing array made under another plan is never overwritten.
    """

    def __init__(
        self,
        store: Store,
        rel: str,
        shape: tuple[int, ...],
        chunk_rows: int,
        dtype: Any,
        plan: Mapping[str, Any],
        dimension_names: tuple[str, ...] | None = None,
    ):
        self.store = store
        self.rel = rel
        self.url = store.join(rel)
        self.chunk_rows = int(chunk_rows)
        self.plan = json.loads(json.dumps(dict(plan), default=_json_default))
        dtype = np.dtype(dtype)
        if store.exists(f"{rel}/zarr.json"):
            arr = zarr.open_array(self.url, mode="r+", config=WRITE_CONFIG)
            old = arr.attrs.get("zspace_plan")
            if old != self.plan or arr.dtype != dtype or arr.chunks[0] != self.chunk_rows:
                diff = _plan_diff(old or {}, self.plan)
                raise StoreError(
                    f"{self.url} already exists and was made with other parameters ({diff}); "
                    "nothing was changed: choose another name or remove it first"
                )
            self.array = arr
        else:
            store.makedirs(rel.rsplit("/", 1)[0] if "/" in rel else "")
            self.array = zarr.create_array(
                store=self.url,
                shape=tuple(int(s) for s in shape),
                chunks=(self.chunk_rows, *[int(s) for s in shape[1:]]),
                dtype=dtype,
                compressors=default_compressors(dtype),
                fill_value=0,
                attributes={"zspace_plan": self.plan, "complete": False},
                dimension_names=dimension_names,
                overwrite=False,
                config=WRITE_CONFIG,
            )

    @property
    def complete(self) -> bool:
        return is_complete(self.array)

    @property
    def n_chunks(self) -> int:
        return -(-self.array.shape[0] // self.chunk_rows)

    def _mark_rel(self, i: int) -> str:
        return f"{self.rel}/{MARKS_DIR}/{i:08d}.json"

    def done_chunks(self) -> dict[int, dict[str, Any]]:
        """The chunks already written, with their marks."""
        out: dict[int, dict[str, Any]] = {}
        for fname in self.store.listdir(f"{self.rel}/{MARKS_DIR}"):
            if fname.endswith(".json") and fname[:-5].isdigit():
                out[int(fname[:-5])] = self.store.read_json(f"{self.rel}/{MARKS_DIR}/{fname}")
        return out

    def write_chunk(self, i: int, data: np.ndarray, meta: Mapping[str, Any] | None = None) -> None:
        """Write chunk i whole, then mark it; a kill between the two just rewrites it."""
        start = i * self.chunk_rows
        if len(data) > self.chunk_rows or start + len(data) > self.array.shape[0]:
            raise ValueError(f"chunk {i} of {self.url}: {len(data)} rows do not fit")
        data = np.ascontiguousarray(data, dtype=self.array.dtype)
        self.array[start : start + len(data)] = data
        self.record_chunk(i, len(data), chunk_sha256(data), meta)

    def record_chunk(
        self, i: int, rows: int, sha256: str, meta: Mapping[str, Any] | None = None
    ) -> None:
        """Mark chunk i as written, when a worker process wrote it (see write_rows)."""
        mark = {"chunk": i, "rows": int(rows), "sha256": sha256, "meta": dict(meta or {})}
        self.store.write_json(self._mark_rel(i), mark)

    def finalize(self, n_rows: int | None = None, attrs: Mapping[str, Any] | None = None) -> str:
        """Shrink to n_rows if given, check every chunk is marked, record the fingerprint."""
        if n_rows is not None and n_rows != self.array.shape[0]:
            self.array.resize((n_rows, *self.array.shape[1:]))
        marks = self.done_chunks()
        missing = [i for i in range(self.n_chunks) if i not in marks]
        if missing:
            raise StoreError(f"{self.url}: chunks {missing[:10]} were never written")
        h = hashlib.sha256()
        h.update(json.dumps([list(self.array.shape), str(self.array.dtype)]).encode())
        for i in range(self.n_chunks):
            h.update(marks[i]["sha256"].encode())
        fingerprint = h.hexdigest()
        new_attrs = dict(attrs or {})
        new_attrs.update(complete=True, fingerprint=fingerprint)
        self.array.update_attributes(json.loads(json.dumps(new_attrs, default=_json_default)))
        return fingerprint


def iter_row_blocks(arr: zarr.Array, rows: np.ndarray,
                    columns: int | None = None) -> Iterator[tuple[int, int, np.ndarray]]:
    """(lo, hi, arr[rows[lo:hi]]) for sorted rows, reading one zarr chunk at a time and only
    the chunks that hold chosen rows: a sample of a huge array costs a few chunks of memory."""
    step = int(arr.chunks[0])
    n = int(arr.shape[0])
    for start in range(0, n, step):
        stop = min(start + step, n)
        lo, hi = (int(v) for v in np.searchsorted(rows, [start, stop]))
        if hi > lo:
            block = np.asarray(arr[start:stop] if columns is None else arr[start:stop, :columns])
            yield lo, hi, block[rows[lo:hi] - start]


def read_rows(arr: zarr.Array, rows: np.ndarray, columns: int | None = None) -> np.ndarray:
    """arr[rows] (first `columns` columns) as float64, for sorted rows, chunk by chunk."""
    rows = np.asarray(rows, dtype=np.int64)
    tail = arr.shape[1:] if columns is None else (columns, *arr.shape[2:])
    out = np.empty((len(rows), *tail), dtype=np.float64)
    for lo, hi, block in iter_row_blocks(arr, rows, columns):
        out[lo:hi] = block
    return out


def chunk_sha256(data: np.ndarray) -> str:
    return hashlib.sha256(memoryview(np.ascontiguousarray(data)).cast("B")).hexdigest()


@functools.lru_cache(maxsize=8)
def _open_for_writing(url: str, metadata: bytes) -> zarr.Array:
    return zarr.open_array(url, mode="r+", config=WRITE_CONFIG)


def write_rows(url: str, start: int, data: np.ndarray) -> str:
    """Write rows into an existing array from any process (disjoint chunks only); returns the
    sha256 that ChunkedWriter.record_chunk expects. Worker processes keep the array open,
    keyed by its metadata bytes, so an array recreated under the same URL is reopened."""
    fs, path = fsspec.core.url_to_fs(url)
    arr = _open_for_writing(url, fs.cat_file(f"{path.rstrip('/')}/zarr.json"))
    data = np.ascontiguousarray(data, dtype=arr.dtype)
    arr[start : start + len(data)] = data
    return chunk_sha256(data)


def _plan_diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    keys = sorted(set(old) | set(new))
    diffs = [f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in keys if old.get(k) != new.get(k)]
    return "; ".join(diffs[:5]) or "array shape, dtype or chunking differs"
