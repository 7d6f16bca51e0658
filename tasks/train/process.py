"""Training in a process of its own: `python -m zspace.tasks.train.process '<TrainParams JSON>'`.

TensorFlow keeps the GPU memory it took until its process exits, and Keras chooses its backend
once per process, so the flow trains in a child process. The parent side
(:func:`run_training_process`) echoes the child's output, follows runs/<run>/history.json as
it grows and turns a failed exit into the error a user sees; the child side (:func:`main`)
parses the parameter model from its one argument and runs :func:`train_run`. A finished run is
answered from its train.json without starting any process.
"""

from __future__ import annotations

import codecs
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from zspace.storage import Store, StoreError
from zspace.tasks.train.params import TrainParams
from zspace.tasks.train.stage import NonFiniteLossError, finished_run

USER_ERRORS = (StoreError, ValueError, FileNotFoundError)


def command(params: TrainParams, error_file: str | None = None) -> list[str]:
    """The child's command line: the parameter model as JSON, then where to write a failure."""
    cmd = [sys.executable, "-m", __name__, params.model_dump_json()]
    return cmd + ([error_file] if error_file else [])


class _ChildOutput:
    """The training process's output: echoed as it comes, its last lines kept for errors."""

    def __init__(self, echo: bool):
        self.echo = echo
        self.tail: deque[str] = deque(maxlen=30)

    def pump(self, stream: Any) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        line = ""
        while chunk := os.read(stream.fileno(), 4096):
            text = decoder.decode(chunk)
            if self.echo:
                sys.stdout.write(text)
                sys.stdout.flush()
            for part in re.split(r"(\r|\n)", line + text):
                if part in ("\r", "\n"):
                    if line.strip():
                        self.tail.append(line)
                    line = ""
                else:
                    line = part
        if line.strip():
            self.tail.append(line)


def _follow(proc: subprocess.Popen, store: Store, history_rel: str, poll_s: float,
            on_history: Callable[[list[dict[str, Any]]], None] | None) -> None:
    """Wait for the process, calling on_history each time history.json grows."""
    seen = -1
    while True:
        finished = proc.poll() is not None
        if on_history is not None and store.exists(history_rel):
            history = store.read_json(history_rel)
            if len(history) != seen:
                seen = len(history)
                on_history(history)
        if finished:
            return
        time.sleep(poll_s)


def _stop(proc: subprocess.Popen) -> None:
    """We were interrupted: do not leave a trainer behind."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def _raise_failure(params: TrainParams, rc: int, error_file: Path, tail: deque[str]) -> None:
    """Turn the child's error record into the error a user sees."""
    info = json.loads(error_file.read_text()) if error_file.exists() else None
    if info and info.get("type") == "NonFiniteLossError":
        raise NonFiniteLossError(info["message"])
    if info and info.get("user_error"):
        raise (StoreError if info["type"] == "StoreError" else ValueError)(info["message"])
    raise RuntimeError(
        f"training process for run {params.run_name!r} failed (exit code {rc})"
        + (f": {info['type']}: {info['message']}" if info else "")
        + "\nlast output:\n" + "\n".join(tail)
    )


def run_training_process(
    params: TrainParams,
    on_history: Callable[[list[dict[str, Any]]], None] | None = None,
    poll_s: float = 1.0,
    echo: bool = True,
) -> dict[str, Any]:
    """Train in a child process and return train.json; plain function, no Prefect needed.

    on_history is called from this process with the run's history each time an epoch ends.
    """
    done = finished_run(params)
    if done is not None:
        return done
    store = Store(params.store)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    out = _ChildOutput(echo)
    with tempfile.TemporaryDirectory(prefix="zspace-train-") as tmp:
        error_file = Path(tmp) / "error.json"
        proc = subprocess.Popen(command(params, str(error_file)), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, env=env)
        reader = threading.Thread(target=out.pump, args=(proc.stdout,), daemon=True)
        reader.start()
        try:
            _follow(proc, store, store.run(params.run_name).history, poll_s, on_history)
        finally:
            _stop(proc)
            reader.join(timeout=10)
            if proc.stdout is not None:
                proc.stdout.close()
        rc = proc.wait()
        if rc != 0:
            _raise_failure(params, rc, error_file, out.tail)
    return store.read_json(store.run(params.run_name).train_record)


def main(argv: list[str] | None = None) -> int:
    """The child: one clear line (and an error record) for a user error, else train.json."""
    from zspace.models.backend import quiet_tensorflow
    from zspace.tasks.train.stage import train_run

    args = sys.argv[1:] if argv is None else argv
    error_file = args[1] if len(args) > 1 else None
    quiet_tensorflow()
    try:
        params = TrainParams.model_validate_json(args[0])
        result = train_run(params)
    except Exception as e:  # the traceback only when unexpected
        user_error = isinstance(e, USER_ERRORS)
        if error_file:
            Path(error_file).write_text(
                json.dumps({"type": type(e).__name__, "message": str(e), "user_error": user_error})
            )
        if not user_error:
            raise
        print(f"zspace train: error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
