"""Object stores (s3://, gs://, abfs://, any fsspec URL): options, reachability, exclusive
create and an ordered move, for what POSIX gives a local store for free.

Options reach every store a command opens through fsspec's own configuration: the CLI's
``--storage-option KEY=VALUE`` goes into ``fsspec.config.conf[protocol]`` for this process
and into ``FSSPEC_<PROTOCOL>`` (JSON) for every process it starts (the trainer, dask and pool
workers), which fsspec reads when it is imported there. Endpoint and credentials otherwise
come the standard way of each backend (for S3: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
AWS_ENDPOINT_URL or AWS_ENDPOINT_URL_S3, which botocore reads itself).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

import fsspec
import fsspec.config

from zspace.storage.layout import StoreError

_REACHED: set[tuple[str, str]] = set()
# Object stores: buckets and keys, no folders (fsspec's makedirs would create a bucket).
OBJECT_STORES = {"s3", "s3a", "gs", "gcs", "abfs", "abfss", "az", "adl", "oss"}


def is_object_store(fs: Any) -> bool:
    protocols = fs.protocol if isinstance(fs.protocol, tuple | list) else (fs.protocol,)
    return bool(OBJECT_STORES & set(protocols))


def protocol_of(url: str) -> str:
    """The URL's protocol ("file" for a plain path)."""
    return fsspec.core.split_protocol(url)[0] or "file"


def nest(options: Mapping[str, Any]) -> dict[str, Any]:
    """Dotted keys as nested dicts: client_kwargs.endpoint_url=U -> {client_kwargs: {...}}."""
    out: dict[str, Any] = {}
    for key, value in options.items():
        *parents, last = key.split(".")
        node = out
        for p in parents:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ValueError(f"--storage-option {key}: {p} is given both as a value and "
                                 "as a group of options")
        node[last] = value
    return out


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in extra.items():
        out[k] = _merge(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), dict) \
            else v
    return out


def use_storage_options(url: str, options: Mapping[str, Any]) -> None:
    """Options for every filesystem of the URL's protocol, here and in child processes."""
    if not options:
        return
    protocol = protocol_of(url)
    if protocol == "file":
        where = f"the store {url}" if url else "a store given without --store"
        raise ValueError(f"--storage-option: {where} is a local folder; storage options are "
                         "for object stores (s3://, gs://, abfs://)")
    merged = _merge(fsspec.config.conf.get(protocol, {}), nest(options))
    fsspec.config.conf[protocol] = merged
    os.environ[f"FSSPEC_{protocol.upper()}"] = json.dumps(merged)


def check_reachable(fs: Any, url: str, root: str) -> None:
    """The bucket (first path segment) exists and our credentials may read it; once per
    process and bucket. A clear StoreError otherwise, never a library traceback."""
    bucket = root.strip("/").split("/", 1)[0]
    key = (bucket, str(getattr(fs, "_fs_token", id(fs))))
    if key in _REACHED:
        return
    try:
        fs.info(bucket)
    except FileNotFoundError:
        raise StoreError(f"store {url}: bucket {bucket!r} does not exist (or is not visible "
                         "at this endpoint); create it first, zspace never creates buckets") \
            from None
    except PermissionError as e:
        raise StoreError(f"store {url}: access to bucket {bucket!r} was refused ({e}); check "
                         "the credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or "
                         "--storage-option key=... secret=...)") from None
    except Exception as e:  # no credentials at all, an endpoint that does not answer, ...
        raise StoreError(f"store {url}: cannot reach bucket {bucket!r}: "
                         f"{type(e).__name__}: {e}") from None
    _REACHED.add(key)


def create_exclusive(fs: Any, path: str, data: bytes) -> bool | None:
    """Create an object only if none exists (a conditional PUT, If-None-Match: *). True if
    created, False if it existed, None if this store cannot create exclusively."""
    try:
        fs.pipe_file(path, data, mode="create")
    except FileExistsError:
        return False
    except (TypeError, NotImplementedError):
        return None  # the filesystem (or the server) has no exclusive mode
    return True


def _phases(files: list[str], src: str) -> list[list[str]]:
    """Files in the order that makes a half-done copy harmless: data first, chunk marks
    next, the array's metadata (zarr.json at the top, which says what the folder is) last."""
    top = {f"{src}/zarr.json", f"{src}/.zarray", f"{src}/.zattrs"}
    marks = [f for f in files if "/.zspace-marks/" in f and f not in top]
    data = [f for f in files if f not in top and f not in marks]
    return [p for p in (data, marks, [f for f in files if f in top]) if p]


def ordered_move(fs: Any, src: str, dst: str) -> None:
    """Move a folder on an object store, where a rename is a copy and a delete: the old
    destination goes first, the source's metadata is copied last and deleted first, so at
    every moment of a kill at most one of the two is a zarr array, and that one is whole.
    Each phase copies or deletes its objects concurrently (fsspec's batched calls)."""
    src, dst = src.rstrip("/"), dst.rstrip("/")
    if not fs.isdir(src):
        fs.copy(src, dst)
        fs.rm(src)
        return
    if fs.exists(dst):
        fs.rm(dst, recursive=True)
    phases = _phases(list(fs.find(src)), src)
    for files in phases:
        fs.copy(files, [dst + f[len(src):] for f in files])
    for files in reversed(phases):
        fs.rm(files)
