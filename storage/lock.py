"""One writer at a time per dataset and per run: a lock file in the store.

The lock is a small JSON file (holder pid, host, start time, what it does) created with
O_CREAT | O_EXCL, so exactly one process gets it. A lock whose holder is a dead process on
this host is stale and taken over; a live holder makes a second writer wait (up to `wait`
seconds) and then refuse with a message naming the holder. Remote (fsspec) stores have no
atomic create, so there the lock is advisory only: written, never waited on.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Iterator

from zspace.storage.store import Store, StoreError


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _holder(path: str) -> dict | None:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None  # vanished between our attempt and this read, or half-written


def _stale(holder: dict | None) -> bool:
    return bool(holder) and holder.get("host") == socket.gethostname() \
        and not _alive(int(holder.get("pid", -1)))


def _try_create(path: str, record: dict) -> bool:
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(record, f)
    return True


def _describe(holder: dict | None) -> str:
    if not holder:
        return "another process (its lock file could not be read)"
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(holder.get("since", 0)))
    return (f"pid {holder.get('pid')} on {holder.get('host')} ({holder.get('what', '?')}, "
            f"since {since})")


def _acquire(path: str, record: dict, wait: float) -> None:
    deadline = time.monotonic() + max(0.0, wait)
    while not _try_create(path, record):
        holder = _holder(path)
        if _stale(holder):
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)  # its holder died: take over
            continue
        if time.monotonic() >= deadline:
            raise StoreError(f"{path} is held by {_describe(holder)}: another zspace process is "
                             "writing this target; wait for it to finish (or, if it is gone, "
                             "delete the lock file)")
        time.sleep(0.2)


@contextlib.contextmanager
def writer_lock(store: Store, lock_rel: str, what: str, wait: float = 0.0) -> Iterator[None]:
    """Hold the lock at `lock_rel` (store.dataset(d).lock or store.run(r).lock) while writing."""
    record = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time(),
              "what": what}
    if not store.is_local:
        store.write_json(lock_rel, record)
        try:
            yield
        finally:
            store.remove(lock_rel)
        return
    path = str(store.local_path(lock_rel))
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
    except OSError as e:
        raise StoreError(f"cannot create {os.path.dirname(path)}: {e.strerror}") from None
    _acquire(path, record, wait)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            if (_holder(path) or {}).get("pid") == record["pid"]:
                os.remove(path)


__all__ = ["writer_lock"]
