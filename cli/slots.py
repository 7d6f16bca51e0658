"""The training slot: a Prefect global concurrency limit, ``zspace-training``, that keeps
trainings from sharing one device, and says who holds it while a run waits for it.

Why a limit at all: two TensorFlow trainings on one machine fight for the same thing. On a CPU
each sizes its thread pools to every core, so two side by side each run at about half speed and
hold twice the memory (neither finishes sooner than one after the other would); on a GPU each
would claim the card's memory. So by default one training runs per GPU, and one at a time on a
CPU-only machine. ``ZSPACE_TRAINING_SLOTS=N`` sets N trainings at once (a big machine with
cores to spare, or fewer than the GPUs); ``0`` turns the limit off.

A run that finds every slot taken must not stall silently: it logs (a warning, so on the
console and in the flow run's logs in the UI) which flow run holds the slot, for which store
and run, and since when, when it starts waiting and again every ``ZSPACE_SLOT_REPORT_S``
seconds (60). A holder is recorded as a Prefect variable (tagged ``zspace-slot-holder``) for as
long as it holds the slot, so any run on any machine using the same server can name it.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

TRAINING_LIMIT = "zspace-training"
SLOTS_ENV = "ZSPACE_TRAINING_SLOTS"
REPORT_ENV = "ZSPACE_SLOT_REPORT_S"
HOLDER_TAG = "zspace-slot-holder"


def gpu_count() -> int:
    """GPUs without importing TensorFlow into the flow process."""
    if shutil.which("nvidia-smi") is None:
        return 0
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10)
        return sum(1 for line in out.stdout.splitlines() if line.startswith("GPU "))
    except (OSError, subprocess.SubprocessError):
        return 0


def _whole_number(env: str, default: float, least: float) -> float:
    raw = os.environ.get(env, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = least - 1
    if value < least or (env == SLOTS_ENV and value != int(value)):
        raise ValueError(f"{env}={raw!r}: expected a number >= {least:g}"
                         + (" (trainings at once; 0 for no limit)" if env == SLOTS_ENV else ""))
    return value


def training_slots() -> int:
    """ZSPACE_TRAINING_SLOTS, else one per GPU (one on a CPU-only machine); 0: no limit."""
    return int(_whole_number(SLOTS_ENV, max(1, gpu_count()), 0))


def report_seconds() -> float:
    return _whole_number(REPORT_ENV, 60.0, 0.1)


def ensure_training_limit(log: logging.Logger | logging.LoggerAdapter) -> None:
    """Create or resize the limit to the configured slots (untouched when the limit is off)."""
    from prefect.client.orchestration import get_client

    slots = training_slots()
    if slots == 0:
        return
    try:
        with get_client(sync_client=True) as client:
            client.upsert_global_concurrency_limit_by_name(TRAINING_LIMIT, slots)
    except Exception as e:  # the limit is a safeguard; without a server it cannot exist
        log.warning("could not set the %s concurrency limit: %s", TRAINING_LIMIT, e)


def _logger() -> logging.Logger | logging.LoggerAdapter:
    from prefect import get_run_logger
    from prefect.exceptions import MissingContextError

    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger("zspace")


def describe_holder(store: str, run: str | None) -> dict[str, Any]:
    """Who takes the slot: this flow run (name and id), the store and run it trains, where."""
    from prefect.runtime import flow_run

    return {"limit": TRAINING_LIMIT, "flow_run": flow_run.name or "", "flow_run_id":
            str(flow_run.id or ""), "store": store, "run": run or "", "host": socket.gethostname(),
            "pid": os.getpid(), "since": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}


def holders(name: str = TRAINING_LIMIT) -> list[dict[str, Any]]:
    """The recorded holders of a limit, oldest first."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        found = [v.value for v in client.read_variables()
                 if HOLDER_TAG in (v.tags or []) and isinstance(v.value, dict)
                 and v.value.get("limit") == name]
    return sorted(found, key=lambda h: str(h.get("since")))


def holder_line(h: dict[str, Any]) -> str:
    return (f"flow run {h.get('flow_run') or '?'!r} ({h.get('flow_run_id') or 'no id'}) training "
            f"run {h.get('run') or '?'!r} of store {h.get('store') or '?'} on {h.get('host')} "
            f"(pid {h.get('pid')}) since {h.get('since')}")


def _taken(name: str) -> int:
    """How many slots are taken, when all of them are (0 while one is free)."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    try:
        with get_client(sync_client=True) as client:
            limit = client.read_global_concurrency_limit_by_name(name)
    except ObjectNotFound:
        return 0
    full = limit.active and limit.active_slots >= limit.limit
    return limit.active_slots if full else 0


def _say_waiting(name: str, log: Any, taken: int, waited: float, first: bool) -> None:
    """The newest `taken` records are the holders (a killed holder's record stays behind)."""
    held = holders(name)[-taken:]
    who = "; ".join(holder_line(h) for h in held) or "a holder that left no record"
    if first:
        log.warning("waiting for the %s slot (%s=%d): held by %s", name, SLOTS_ENV,
                    training_slots(), who)
    else:
        log.warning("still waiting for the %s slot after %.0f s: held by %s", name, waited, who)


def _alive(pid: Any) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, ValueError, TypeError):
        return False
    except PermissionError:
        return True
    return True


def _forget_dead_holders(client: Any) -> None:
    """Records left by killed holders on this host (their process is gone)."""
    here = socket.gethostname()
    for v in client.read_variables():
        h = v.value
        if (HOLDER_TAG in (v.tags or []) and isinstance(h, dict) and h.get("host") == here
                and not _alive(h.get("pid"))):
            client.delete_variable_by_name(v.name)


@contextmanager
def _recorded(holder: dict[str, Any]) -> Iterator[None]:
    """The holder, as a Prefect variable for as long as it holds the slot."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import VariableCreate

    name = f"zspace-slot-{uuid.uuid4().hex[:16]}"
    with get_client(sync_client=True) as client:
        _forget_dead_holders(client)
        client.create_variable(VariableCreate(name=name, value=holder, tags=[HOLDER_TAG]))
    try:
        yield
    finally:
        with get_client(sync_client=True) as client:
            client.delete_variable_by_name(name)


@contextmanager
def training_slot(holder: dict[str, Any], name: str = TRAINING_LIMIT) -> Iterator[None]:
    """Hold one slot of the limit; while every slot is taken, say who holds them."""
    from prefect.concurrency.sync import concurrency

    if training_slots() == 0:
        yield
        return
    log, every, t0 = _logger(), report_seconds(), time.monotonic()
    waited = False
    with ExitStack() as stack:
        while True:
            taken = _taken(name)
            if taken:
                _say_waiting(name, log, taken, time.monotonic() - t0, first=not waited)
                waited = True
            try:
                stack.enter_context(concurrency(name, occupy=1, timeout_seconds=every,
                                                strict=False))
                break
            except TimeoutError:
                continue
        if waited:
            log.warning("took the %s slot after waiting %.0f s", name, time.monotonic() - t0)
        with _recorded(holder):
            yield
