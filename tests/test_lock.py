"""One writer at a time per dataset and per run (storage/lock.py), with real processes."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from zspace.storage import Store, StoreError
from zspace.storage.lock import writer_lock

HOLD = """
import sys, time
from zspace.storage import Store
from zspace.storage.lock import writer_lock
st = Store(sys.argv[1])
kind, name = sys.argv[2].split(":")
target = st.dataset(name) if kind == "dataset" else st.run(name)
with writer_lock(st, target.lock, "test holder"):
    print("held", flush=True)
    time.sleep(float(sys.argv[3]))
"""


def _holder(store: Path, run: str, seconds: float, kind: str = "run") -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(store), f"{kind}:{run}", str(seconds)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_second_writer_refused_naming_the_holder(tmp_path: Path) -> None:
    st = Store(tmp_path / "store")
    proc = _holder(tmp_path / "store", "r1", 30)
    try:
        with pytest.raises(StoreError, match=rf"held by pid {proc.pid} on .*test holder"), \
                writer_lock(st, st.run("r1").lock, "second"):
            pass
        with writer_lock(st, st.run("r2").lock, "another run"):  # other targets are free
            assert st.exists(st.run("r2").lock)
        assert not st.exists(st.run("r2").lock)
    finally:
        proc.kill()
        proc.wait()


def test_waiting_writer_gets_the_lock_when_the_holder_ends(tmp_path: Path) -> None:
    st = Store(tmp_path / "store")
    proc = _holder(tmp_path / "store", "r1", 1.0)
    t0 = time.monotonic()
    with writer_lock(st, st.run("r1").lock, "waiter", wait=20):
        assert time.monotonic() - t0 < 15
        assert json.loads(st.read_text(st.run("r1").lock))["what"] == "waiter"
    proc.wait()


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    st = Store(tmp_path / "store")
    proc = _holder(tmp_path / "store", "r1", 30)
    proc.kill()  # kill -9: the lock file stays behind
    proc.wait()
    assert st.exists(st.run("r1").lock)
    with writer_lock(st, st.run("r1").lock, "after a crash"):
        assert json.loads(st.read_text(st.run("r1").lock))["what"] == "after a crash"


def test_ingest_and_train_refuse_a_target_another_process_writes(tmp_path: Path) -> None:
    """The real commands, while another process holds the dataset's / the run's lock: exit 2,
    the holder named, no traceback; nothing of the holder's target touched."""
    import os

    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "home")}
    zspace = str(Path(sys.executable).parent / "zspace")
    store = tmp_path / "s"
    holder = _holder(store, "faces", 120, kind="dataset")
    try:
        ingest = subprocess.run([zspace, "ingest", "--source", "synthetic", "--store", str(store),
                                 "--name", "faces", "--size", "32", "--count", "40"],
                                env=env, capture_output=True, text=True, timeout=300)
        assert ingest.returncode == 2, ingest.stdout + ingest.stderr
        assert f"held by pid {holder.pid}" in ingest.stderr and "Traceback" not in ingest.stderr
        assert not (store / "datasets" / "faces" / "images").exists()
        other = subprocess.run([zspace, "ingest", "--source", "synthetic", "--store", str(store),
                                "--name", "other", "--size", "32", "--count", "40"],
                               env=env, capture_output=True, text=True, timeout=300)
        assert other.returncode == 0, other.stdout + other.stderr
    finally:
        holder.kill()
        holder.wait()
