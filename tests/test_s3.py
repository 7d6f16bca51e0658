"""Stores on S3, against a real S3 server (moto) on 127.0.0.1: the pipeline end to end on a
bucket, the explorer reading it, kill -9 mid-encode and resume, one writer at a time, and one
clear line (exit 2) for a missing bucket and for wrong credentials."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from zspace.storage import Store, StoreError
from zspace.storage.lock import STALE_AFTER_S, writer_lock

TINY = str(Path(__file__).parent / "presets" / "tiny.yaml")


def _api_url() -> str:
    from prefect.settings import PREFECT_API_URL

    return str(PREFECT_API_URL.value())


def zspace(server: Any, *args: str, env: dict[str, str] | None = None,
           cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = env if env is not None else server.environ()
    return subprocess.run([sys.executable, "-m", "zspace.cli", *args], capture_output=True,
                          text=True, timeout=600, cwd=cwd,
                          env={**env, "PREFECT_API_URL": _api_url()})


@pytest.fixture(scope="module")
def piped(s3_server: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Store, str]:
    """The tiny pipeline (AE only) run on a fresh bucket, the endpoint given only by
    --storage-option: it must reach the trainer process, the workers and Prefect's results."""
    env = {k: v for k, v in s3_server.environ().items()
           if not k.startswith("AWS_ENDPOINT_URL")}
    url = f"s3://{s3_server.bucket()}/study"
    cwd = tmp_path_factory.mktemp("s3-cwd")
    done = zspace(s3_server, "run", "--preset", TINY, "--kinds", "ae", "--store", url,
                  "--storage-option", f"client_kwargs.endpoint_url={s3_server.endpoint}",
                  env=env, cwd=cwd)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert list(cwd.iterdir()) == []  # nothing of the store landed in a local folder
    store = Store(url)
    (run,) = store.listdir("runs")
    return store, run


def test_pipeline_end_to_end_on_a_bucket(piped: tuple[Store, str]) -> None:
    store, run = piped
    layout = store.run(run)
    html = store.read_text(layout.report)
    assert html.lstrip().lower().startswith("<!doctype html") and "<h2>" in html
    assert store.has_complete_array(layout.latents("z_mean"))
    assert store.read_json(layout.stats.summary)["fingerprint"]
    assert store.exists(layout.model) and store.read_bytes(layout.model)[:2] == b"PK"
    assert store.listdir(layout.checkpoints)  # checkpoints went up too
    results = store.listdir(".prefect-results")
    assert results and all(store.read_bytes(f".prefect-results/{r}").lstrip()[:1] == b"{"
                           for r in results)
    assert not store.exists(layout.lock)  # every writer released its lock


def test_second_run_is_fully_cached_from_the_bucket(s3_server: Any,
                                                    piped: tuple[Store, str]) -> None:
    """Prefect's results were kept in the bucket and are read back from it."""
    store, _ = piped
    again = zspace(s3_server, "run", "--preset", TINY, "--kinds", "ae", "--store", store.url)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    printed = again.stdout[again.stdout.index("{\n"):]  # the run's result, as JSON
    states = json.loads(printed)["stages"]
    assert len(states) == 7 and set(states.values()) == {"Cached"}, states


def test_explorer_reads_the_bucket(piped: tuple[Store, str]) -> None:
    from zspace.tasks.explore.data import load_run

    store, run = piped
    data = load_run(store, run)
    assert data.n == 240 and data.z_mean.shape == (240, 8)
    assert data.decode(data.z_mean[:2]).shape == (2, 32, 32, 3)


def _kill_when_locked(server: Any, store: Store, run: str) -> None:
    """Start an encode and kill -9 it while it holds the run's lock (mid-encode)."""
    proc = subprocess.Popen([sys.executable, "-m", "zspace.cli", "encode", "--store", store.url,
                             "--run", run],
                            env={**server.environ(), "PREFECT_API_URL": _api_url()},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 120
    while not store.exists(store.run(run).lock) and proc.poll() is None:
        assert time.monotonic() < deadline, "encode never took its lock"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def test_kill9_mid_encode_then_rerun_is_identical(s3_server: Any,
                                                   piped: tuple[Store, str]) -> None:
    store, run = piped
    layout = store.run(run)
    expected = store.open_array(layout.latents("z_mean")).attrs["fingerprint"]
    store.remove(layout.latents_dir)
    _kill_when_locked(s3_server, store, run)
    assert store.exists(layout.lock)  # left behind by the killed holder
    done = zspace(s3_server, "encode", "--store", store.url, "--run", run)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert store.open_array(layout.latents("z_mean")).attrs["fingerprint"] == expected
    assert not store.exists(layout.lock)


def test_a_second_writer_is_refused_naming_the_holder(s3_server: Any) -> None:
    store = Store(f"s3://{s3_server.bucket()}/w")
    lock = store.run("r1").lock
    with writer_lock(store, lock, "first writer"):
        other = Store(store.url)
        with pytest.raises(StoreError, match=rf"held by pid {os.getpid()} .*first writer"), \
                writer_lock(other, lock, "second writer"):
            pass
        with writer_lock(other, other.run("r2").lock, "another run"):  # other targets are free
            assert store.exists(other.run("r2").lock)
    assert not store.exists(lock)


def test_a_lock_whose_heartbeat_stopped_is_taken_over(s3_server: Any) -> None:
    """A holder on another machine: refused while it beats, taken over once it stopped."""
    store = Store(f"s3://{s3_server.bucket()}/w")
    lock = store.run("r1").lock
    beat = {"pid": 1, "host": "elsewhere", "since": 0, "what": "train r1", "token": "t"}
    store.write_json(lock, {**beat, "heartbeat": time.time()})
    with pytest.raises(StoreError, match="pid 1 on elsewhere"), \
            writer_lock(store, lock, "mine"):
        pass
    store.write_json(lock, {**beat, "heartbeat": time.time() - STALE_AFTER_S - 5})
    with writer_lock(store, lock, "mine"):
        held = store.read_json(lock)
        assert (held["what"], held["host"]) == ("mine", socket.gethostname())


def test_the_holder_beats_while_it_writes(s3_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import zspace.storage.lock as lock_module

    monkeypatch.setattr(lock_module, "HEARTBEAT_S", 0.1)
    store = Store(f"s3://{s3_server.bucket()}/w")
    lock = store.run("r1").lock
    with writer_lock(store, lock, "beating"):
        first = store.read_json(lock)["heartbeat"]
        deadline = time.monotonic() + 20
        while store.read_json(lock)["heartbeat"] == first:
            assert time.monotonic() < deadline, "no heartbeat was written"
            time.sleep(0.05)
    assert not store.exists(lock)


def test_exclusive_create_is_a_conditional_put(s3_server: Any) -> None:
    a = Store(f"s3://{s3_server.bucket()}/x")
    b = Store(a.url)
    assert a.create_bytes("one", b"a") is True
    assert b.create_bytes("one", b"b") is False
    assert a.read_bytes("one") == b"a"


def test_marks_another_process_writes_are_seen(s3_server: Any) -> None:
    """The chunk marks dask workers write reach the command that finalises, though it listed
    the folder before (fsspec caches listings per process)."""
    store = Store(f"s3://{s3_server.bucket()}/x")
    store.write_json("marks/0.json", {})
    assert store.listdir("marks") == ["0.json"] and not store.exists("marks/1.json")
    worker = subprocess.run(
        [sys.executable, "-c", "import sys; from zspace.storage import Store; "
         "Store(sys.argv[1]).write_json('marks/1.json', {})", store.url],
        env=s3_server.environ(), capture_output=True, text=True, timeout=120)
    assert worker.returncode == 0, worker.stderr
    assert store.exists("marks/1.json") and store.listdir("marks") == ["0.json", "1.json"]


def test_ordered_move_leaves_one_whole_array(s3_server: Any) -> None:
    import numpy as np

    from zspace.storage import ChunkedWriter

    store = Store(f"s3://{s3_server.bucket()}/m")
    w = ChunkedWriter(store, "a", (6, 2), 2, np.float32, {"p": 1})
    for i in range(3):
        w.write_chunk(i, np.full((2, 2), i, np.float32))
    from zspace.storage.remote import _phases

    src = store._fspath("a")
    data, marks, meta = _phases(list(store.fs.find(src)), src)
    assert meta == [f"{src}/zarr.json"]  # copied last, deleted first: the commit point
    assert len(marks) == 3 and all("/.zspace-marks/" in f for f in marks)
    assert data and not set(data) & set(marks + meta)
    store.move("a", "b")
    assert not store.has_array("a") and store.listdir("a") == []
    moved = ChunkedWriter(store, "b", (6, 2), 2, np.float32, {"p": 1})
    assert sorted(moved.done_chunks()) == [0, 1, 2]
    assert np.asarray(store.open_array("b")[:])[:, 0].tolist() == [0, 0, 1, 1, 2, 2]


def test_storage_options_nest_and_reach_child_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    import fsspec.config

    from zspace.storage.remote import use_storage_options

    monkeypatch.setitem(fsspec.config.conf, "s3", {"anon": True, "client_kwargs": {"a": 1}})
    monkeypatch.setenv("FSSPEC_S3", "{}")  # restored (to unset) after the test
    use_storage_options("s3://b/p", {"client_kwargs.endpoint_url": "http://127.0.0.1:1",
                                     "anon": False})
    want = {"anon": False, "client_kwargs": {"a": 1, "endpoint_url": "http://127.0.0.1:1"}}
    assert fsspec.config.conf["s3"] == want
    child = subprocess.run([sys.executable, "-c", "import fsspec.config, json; "
                            "print(json.dumps(fsspec.config.conf['s3']))"],
                           capture_output=True, text=True, timeout=60, env={**os.environ})
    assert json.loads(child.stdout) == want


def test_storage_options_for_a_local_store_are_refused(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "zspace.cli", "encode", "--store",
                           str(tmp_path), "--run", "r", "--storage-option", "anon=false"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert "--storage-option" in done.stderr and "local folder" in done.stderr


def _one_line_error(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1, done.stderr[-2000:]
    return errors[0]


def test_a_bucket_that_does_not_exist_is_one_clear_line(s3_server: Any) -> None:
    line = _one_line_error(zspace(s3_server, "encode", "--store", "s3://no-such-bucket-zs/st",
                                  "--run", "r"))
    assert "no-such-bucket-zs" in line and "does not exist" in line
    assert "zspace" in line


def test_wrong_credentials_are_one_clear_line(s3_server: Any) -> None:
    bucket = s3_server.bucket()
    env = s3_server.environ(AWS_ACCESS_KEY_ID="AKIAWRONGWRONGWRONG",
                            AWS_SECRET_ACCESS_KEY="wrong")
    line = _one_line_error(zspace(s3_server, "encode", "--store", f"s3://{bucket}/st",
                                  "--run", "r", env=env))
    assert bucket in line and "credentials" in line


def test_a_write_the_bucket_refuses_is_one_clear_line(s3_server: Any) -> None:
    """A key that may read the bucket and hold the dataset's lock, nothing more: the store
    opens, the lock is taken, the first array write is refused mid-stage; with a key that may
    write, the same command then runs (taking over the lock, should one be left)."""
    bucket = s3_server.bucket()
    lock = Store(f"s3://{bucket}/st").dataset("faces").lock
    reads = ["s3:Get*", "s3:List*", "s3:HeadBucket"]  # moto's name for HEAD on a bucket
    env = {**os.environ, **s3_server.user(f"reader-{os.getpid()}", [
        (reads, "*"), (["s3:PutObject", "s3:DeleteObject"], f"arn:aws:s3:::{bucket}/st/{lock}")])}
    line = _one_line_error(zspace(s3_server, "ingest", "--source", "synthetic", "--count", "64",
                                  "--size", "32", "--name", "faces", "--store",
                                  f"s3://{bucket}/st", env=env))
    assert "refused access" in line and "run the same command again" in line
    again = zspace(s3_server, "ingest", "--source", "synthetic", "--count", "64", "--size",
                   "32", "--name", "faces", "--store", f"s3://{bucket}/st")  # a full key
    assert again.returncode == 0, again.stderr[-2000:]
    assert not Store(f"s3://{bucket}/st").exists(lock)
