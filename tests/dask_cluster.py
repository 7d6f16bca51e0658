"""A real dask cluster for the tests: a scheduler and workers as separate processes on
127.0.0.1, started with this venv's python, each in a process group of its own so that a test
can kill -9 one worker and the fixture can end them all."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from support import free_port

# Workers import TensorFlow when they encode: keep its C++ logs and any GPU out of the tests.
WORKER_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "", "PYTHONWARNINGS": "ignore"}


@dataclass
class DaskCluster:
    """`dask scheduler` and `dask worker` processes; `address` is what --dask-address takes."""

    root: Path
    memory_limit: str = "2GiB"
    address: str = ""
    scheduler: subprocess.Popen | None = None
    workers: dict[str, subprocess.Popen] = field(default_factory=dict)  # worker address: process

    def _start(self, name: str, args: list[str]) -> subprocess.Popen:
        log = open(self.root / f"{name}.log", "ab")  # noqa: SIM115 - the process keeps it
        try:
            return subprocess.Popen([sys.executable, "-m", *args], stdout=log, stderr=log,
                                    cwd=self.root, env={**os.environ, **WORKER_ENV},
                                    start_new_session=True)
        finally:
            log.close()

    def start(self, n_workers: int = 2) -> DaskCluster:
        self.root.mkdir(parents=True, exist_ok=True)
        port = free_port()
        self.address = f"tcp://127.0.0.1:{port}"
        self.scheduler = self._start("scheduler", [
            "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", str(port),
            "--no-dashboard"])
        for _ in range(n_workers):
            self.add_worker()
        self.wait_for_workers(n_workers)
        return self

    def add_worker(self) -> str:
        """One more worker process (one thread, no nanny: killing it kills the worker)."""
        port = free_port()
        address = f"tcp://127.0.0.1:{port}"
        self.workers[address] = self._start(f"worker-{port}", [
            "distributed.cli.dask_worker", self.address, "--host", "127.0.0.1",
            "--worker-port", str(port), "--nworkers", "1", "--nthreads", "1", "--no-nanny",
            "--no-dashboard", "--memory-limit", self.memory_limit,
            "--local-directory", str(self.root / "workers")])
        return address

    def wait_for_workers(self, n: int, timeout: float = 120) -> None:
        from distributed import Client

        with Client(self.address, timeout=timeout, set_as_default=False) as client:
            client.wait_for_workers(n, timeout=timeout)

    def kill_worker(self, address: str) -> None:
        """kill -9 the worker process at address, as a machine loss would."""
        proc = self.workers.pop(address)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

    def ensure_workers(self, n: int = 2) -> None:
        """Replace killed workers, so that the next test starts on a whole cluster."""
        while len(self.workers) < n:
            self.add_worker()
        self.wait_for_workers(n)

    def stop(self) -> None:
        procs = [*self.workers.values(), *([self.scheduler] if self.scheduler else [])]
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        for proc in procs:
            proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        self.workers.clear()


def record_untrained_run(stores: list[Any], images: Any, model: Any, dataset: str,
                         chunk_rows: int) -> None:
    """The same images and (untrained) model in each store, recorded as the trained run "vae"
    of `dataset`: what encode needs, without a training."""
    from zspace.models.saved import save_model
    from zspace.storage import ChunkedWriter

    for store in stores:
        w = ChunkedWriter(store, store.dataset(dataset).images, images.shape, chunk_rows,
                          "uint8", {"test": dataset})
        for i in range(w.n_chunks):
            w.write_chunk(i, images[i * chunk_rows : (i + 1) * chunk_rows])
        fp = w.finalize()
        save_model(model, store, store.run("vae").model)
        store.write_json(store.run("vae").train_record, {
            "run": "vae", "dataset": dataset, "dataset_fingerprint": fp, "kind": "vae",
            "model_fingerprint": f"untrained-{dataset}", "z_dim": model.z_dim,
            "input_size": int(images.shape[1])})
