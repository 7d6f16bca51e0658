"""Statistics on a real distributed cluster, with a worker killed in the middle of the work."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import zarr
from distributed import Client, LocalCluster
from distributed.diagnostics.plugin import WorkerPlugin

from zspace.storage import ChunkedWriter, Store
from zspace.tasks.analyze import analyze_latents


class KillOnceMidTask(WorkerPlugin):
    """SIGKILLs its own worker process the moment a task starts executing there, once per
    cluster (a marker file says it happened): the task in hand is lost mid-computation."""

    def __init__(self, marker: str):
        self.marker = marker

    def transition(self, key: object, start: str, finish: str, **kwargs: object) -> None:
        if finish != "executing":
            return
        try:
            fd = os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return
        os.write(fd, f"{key}".encode())
        os.close(fd)
        os.kill(os.getpid(), signal.SIGKILL)


def _latents(path: Path, n: int = 60_000, z: int = 24) -> np.ndarray:
    rng = np.random.default_rng(4)
    x = rng.standard_normal((n, z))
    x[:, 1] = 0.8 * x[:, 0] + 0.6 * x[:, 1]
    x[:, 5] *= 3.0
    x = x.astype(np.float32)
    w = ChunkedWriter(Store(path), "z_mean", x.shape, 2_000, np.float32, {"test": "dask"})
    for i in range(w.n_chunks):
        w.write_chunk(i, x[i * 2_000 : (i + 1) * 2_000])
    w.finalize()
    return x


def test_analyze_is_exact_after_a_worker_is_killed(tmp_path: Path) -> None:
    x = _latents(tmp_path / "lat")
    marker = tmp_path / "killed.marker"
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        client.register_plugin(KillOnceMidTask(str(marker)))
        result = analyze_latents(str(tmp_path / "lat" / "z_mean"), str(tmp_path / "stats"),
                                 dask_address=cluster.scheduler_address, show_progress=False)
    assert marker.exists(), "no worker was killed: the test proved nothing"
    x64 = x.astype(np.float64)
    corr = zarr.open_array(str(tmp_path / "stats" / "correlation"))[:]
    mean = zarr.open_array(str(tmp_path / "stats" / "mean"))[:]
    np.testing.assert_allclose(mean, x64.mean(axis=0), rtol=0, atol=1e-10)
    np.testing.assert_allclose(corr, np.corrcoef(x64, rowvar=False), rtol=0, atol=1e-10)
    assert result["n"] == len(x)
