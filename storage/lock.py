"""One writer at a time per dataset and per run: a lock file in the store.

The lock is a small JSON record (holder pid, host, start time, heartbeat, what it does, a
token) created exclusively, so exactly one process gets it: O_CREAT | O_EXCL on a local
store, a conditional PUT (If-None-Match: *) on an object store. A live holder makes a second
writer wait (up to `wait` seconds) and then refuse with a message naming the holder.

Stale locks are taken over by two rules: the holder is a dead process on this host, or (on an
object store, where holders may be other machines) its heartbeat, rewritten every
HEARTBEAT_S seconds while the lock is held, is older than STALE_AFTER_S. An object store that
cannot create exclusively gets a one-line warning that only one writer may run at a time, and
the lock is then advisory: a holder found is still refused.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterator

from zspace.storage.layout import StoreError
from zspace.storage.store import Store

HEARTBEAT_S = 30.0
STALE_AFTER_S = 120.0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _holder(store: Store, rel: str) -> dict | None:
    try:
        return json.loads(store.read_bytes(rel))
    except (OSError, ValueError, StoreError):
        return None  # vanished between our attempt and this read, or half-written (local)


def _stale(store: Store, holder: dict | None) -> bool:
    if not holder:
        return False
    if holder.get("host") == socket.gethostname() and not _alive(int(holder.get("pid", -1))):
        return True
    beat = holder.get("heartbeat")
    return not store.is_local and beat is not None and time.time() - beat > STALE_AFTER_S


def _describe(holder: dict | None) -> str:
    if not holder:
        return "another process (its lock file could not be read)"
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(holder.get("since", 0)))
    return (f"pid {holder.get('pid')} on {holder.get('host')} ({holder.get('what', '?')}, "
            f"since {since})")


def _create(store: Store, rel: str, record: dict) -> bool:
    """Whether we now hold the lock. A store without exclusive create: advisory."""
    data = json.dumps(record).encode()
    try:
        created = store.create_bytes(rel, data)
    except OSError as e:
        raise StoreError(f"cannot create {store.join(rel)}: {e.strerror or e}") from None
    if created is not None:
        return created
    print(f"warning: {store.url} cannot create files exclusively: run only one zspace writer "
          "of a target at a time", file=sys.stderr)
    if store.exists(rel):
        return False
    store.write_bytes(rel, data)
    return True


def _acquire(store: Store, rel: str, record: dict, wait: float) -> None:
    deadline = time.monotonic() + max(0.0, wait)
    while not _create(store, rel, record):
        holder = _holder(store, rel)
        if _stale(store, holder):
            store.remove(rel)  # its holder died (or stopped beating): take over
            continue
        if time.monotonic() >= deadline:
            raise StoreError(f"{store.join(rel)} is held by {_describe(holder)}: another zspace "
                             "process is writing this target; wait for it to finish (or, if "
                             "it is gone, delete the lock file)")
        time.sleep(0.2)
    if not store.is_local and (_holder(store, rel) or {}).get("token") != record["token"]:
        raise StoreError(f"{store.join(rel)} was taken by {_describe(_holder(store, rel))} "
                         "at the same moment; try again when it has finished")


def _beat(store: Store, rel: str, record: dict, stop: threading.Event) -> None:
    """Rewrite our record with a fresh heartbeat while we still hold the lock."""
    while not stop.wait(HEARTBEAT_S):
        with contextlib.suppress(Exception):  # a missed beat is retried; never kill a writer
            if (_holder(store, rel) or {}).get("token") == record["token"]:
                store.write_bytes(rel, json.dumps({**record, "heartbeat": time.time()}).encode())


@contextlib.contextmanager
def writer_lock(store: Store, lock_rel: str, what: str, wait: float = 0.0) -> Iterator[None]:
    """Hold the lock at `lock_rel` (store.dataset(d).lock or store.run(r).lock) while writing."""
    now = time.time()
    record = {"pid": os.getpid(), "host": socket.gethostname(), "since": now,
              "heartbeat": now, "what": what, "token": uuid.uuid4().hex}
    _acquire(store, lock_rel, record, wait)
    stop = threading.Event()
    beat = None
    if not store.is_local:
        beat = threading.Thread(target=_beat, args=(store, lock_rel, record, stop), daemon=True)
        beat.start()
    try:
        yield
    finally:
        stop.set()
        if beat is not None:
            beat.join()
        with contextlib.suppress(OSError, StoreError):
            if (_holder(store, lock_rel) or {}).get("token") == record["token"]:
                store.remove(lock_rel)


__all__ = ["writer_lock", "HEARTBEAT_S", "STALE_AFTER_S"]
