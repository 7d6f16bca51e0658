"""Ingest, encode and analyze through `--dask-address` on a real cluster: a scheduler and two
workers as separate processes (tests/dask_cluster.py), the `zspace` command as a subprocess;
each result equals a local run's, also after kill -9 of a worker in the middle of analyze.

Every store lives in a bucket of a real S3 server (moto, on 127.0.0.1), so nothing passes
between the command and the workers through the local disk: the workers get the server's
endpoint and key from their environment, as a team's workers would."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import fsspec
import numpy as np
import pytest
import zarr
from dask_cluster import DaskCluster, record_untrained_run
from support import free_port

from zspace.storage import ChunkedWriter, Store
from zspace.tasks.analyze import analyze_latents

Z, CHUNK = 16, 250
STATS = {"block_rows": CHUNK, "n_artificial": 500, "bootstrap_replicates": 20}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, s3_server: Any) -> Iterator[DaskCluster]:
    """Started once the S3 server's variables are in os.environ: the workers inherit them."""
    c = DaskCluster(tmp_path_factory.mktemp("cluster")).start(2)
    try:
        yield c
    finally:
        c.stop()


@pytest.fixture(scope="module")
def store_root(s3_server: Any) -> str:
    """Where every store of this module lives: a fresh bucket on the S3 server."""
    return f"s3://{s3_server.bucket()}"


def cli_env() -> dict[str, str]:
    from prefect.settings import PREFECT_API_URL

    return {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value())}  # the session's server


def zspace(*args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "zspace.cli", *args], capture_output=True,
                          text=True, timeout=300, env=cli_env())
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def fingerprint(url: str) -> str:
    return str(zarr.open_array(url, mode="r").attrs["fingerprint"])


def test_ingest_on_the_cluster_equals_a_local_ingest(cluster: DaskCluster, store_root: str) -> None:
    args = ["--source", "synthetic", "--name", "faces", "--count", "200", "--size", "32",
            "--chunk-rows", "50"]
    local, remote = Store(f"{store_root}/ingest-local"), Store(f"{store_root}/ingest-cluster")
    zspace("ingest", "--store", local.url, *args, "--workers", "1")
    zspace("ingest", "--store", remote.url, *args, "--dask-address", cluster.address)
    images = local.dataset("faces").images
    assert fingerprint(remote.join(images)) == fingerprint(local.join(images))
    index = local.dataset("faces").index
    assert remote.read_bytes(index) == local.read_bytes(index)


def write_latents(store: Store, n: int) -> str:
    """Correlated float32 latents (n, Z) in the store; their URL."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((n, Z))
    x[:, 1] = 0.8 * x[:, 0] + 0.6 * x[:, 1]
    x[:, 5] *= 3.0
    w = ChunkedWriter(store, "z_mean", x.shape, CHUNK, np.float32, {"test": "cluster"})
    for i in range(w.n_chunks):
        w.write_chunk(i, x[i * CHUNK : (i + 1) * CHUNK])
    w.finalize()
    return store.join("z_mean")


def local_analysis(url: str, out: Store) -> dict:
    """The statistics computed here, split over two threads as the cluster splits them over
    its two workers (the same parts, so the same sums)."""
    return analyze_latents(url, out, "", STATS, workers=2, show_progress=False)


def test_analyze_on_the_cluster_equals_a_local_analysis(cluster: DaskCluster, store_root: str
                                                        ) -> None:
    url = write_latents(Store(f"{store_root}/latents-small"), 6_000)
    local = local_analysis(url, Store(f"{store_root}/stats-local"))
    out = Store(f"{store_root}/stats-cluster")
    zspace("analyze", "--latents", url, "--out", out.url, "--block-rows", str(CHUNK),
           "--n-artificial", "500", "--bootstrap-replicates", "20",
           "--dask-address", cluster.address)
    assert out.read_json("summary.json")["fingerprint"] == local["fingerprint"]


def test_the_rows_bar_advances_as_the_clusters_parts_come_back(cluster: DaskCluster,
                                                                store_root: str) -> None:
    """The parts' own progress calls run on the workers; here the bar hears of every row."""
    from zspace.tasks.analyze import latent_moments

    url = write_latents(Store(f"{store_root}/latents-bar"), 3_000)
    seen: list[int] = []
    latent_moments(url, block_rows=CHUNK, dask_address=cluster.address, progress=seen.append)
    assert sum(seen) == 3_000 and len(seen) == 2  # one call per worker's part


def _pass2_marks(out: Store) -> int:
    marks = "pca_coordinates/.zspace-marks"
    return len(out.listdir(marks)) if out.exists(marks) else 0


def test_analyze_is_exact_after_a_worker_is_killed_mid_pass(cluster: DaskCluster, store_root: str
                                                            ) -> None:
    from distributed import Client

    n = 120_000
    url = write_latents(Store(f"{store_root}/latents"), n)
    local = local_analysis(url, Store(f"{store_root}/stats-local-large"))
    cluster.ensure_workers(2)
    out = Store(f"{store_root}/stats-killed")
    with ThreadPoolExecutor(1) as pool, Client(cluster.address, set_as_default=False) as client:
        analysis = pool.submit(analyze_latents, url, out, "", STATS,
                               dask_address=cluster.address, show_progress=False)
        deadline = time.monotonic() + 120
        while _pass2_marks(out) == 0:  # pass 2 has begun writing its chunks
            assert not analysis.done() and time.monotonic() < deadline, "pass 2 never started"
            time.sleep(0.005)
        busy = [w for w, keys in client.processing().items() if keys and w in cluster.workers]
        assert busy, "no worker is running a part of pass 2"
        cluster.kill_worker(busy[0])
        marks_at_kill = _pass2_marks(out)
        result = analysis.result(timeout=300)
    assert marks_at_kill < n // CHUNK, "pass 2 had finished: nothing was lost"
    assert result["fingerprint"] == local["fingerprint"]
    assert out.read_json("summary.json")["fingerprint"] == local["fingerprint"]
    cluster.ensure_workers(2)


def _encode_stores(*stores: Store, n: int = 256, image_chunk: int = 16) -> None:
    """The same random images and untrained tiny VAE (seeded), recorded as a trained run, in
    each store."""
    import keras

    from zspace.models import ModelConfig, build_model

    images = np.random.default_rng(0).integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)
    keras.utils.set_random_seed(0)
    model = build_model(ModelConfig(kind="vae", filters=[4, 4, 8, 8], input_size=32, z_dim=3))
    model.encode(images[:2])  # builds the weights
    record_untrained_run(list(stores), images, model, "tiny", image_chunk)


def _mark_times(store: Store) -> dict[str, float]:
    """When each chunk mark of the run's z_mean was written."""
    fs, path = fsspec.core.url_to_fs(store.join(store.run("vae").latents("z_mean")))
    marks = f"{path}/.zspace-marks"
    fs.invalidate_cache(marks)  # the workers wrote them, not this process
    return {p.rsplit("/", 1)[-1]: fs.modified(p).timestamp() for p in fs.ls(marks, detail=False)}


def test_encode_on_the_cluster_is_bit_identical_and_resumes(cluster: DaskCluster, store_root: str
                                                           ) -> None:
    from zspace.tasks.encode.stage import encode_run

    cluster.ensure_workers(2)
    local, remote = Store(f"{store_root}/encode-local"), Store(f"{store_root}/encode-cluster")
    _encode_stores(local, remote)
    args = ["--run", "vae", "--batch-size", "16", "--chunk-images", "32"]
    encode_run(local, "vae", batch_size=16, chunk_images=32)  # here, without a cluster
    part = encode_run(remote, "vae", batch_size=16, chunk_images=32, stop_after_chunks=3,
                      dask_address=cluster.address)
    assert not part["complete"] and part["encoded_chunks"] == 3
    first = _mark_times(remote)
    nobody = subprocess.run([sys.executable, "-m", "zspace.cli", "encode", "--store", remote.url,
                             *args, "--dask-address", f"tcp://127.0.0.1:{free_port()}"],
                            capture_output=True, text=True, timeout=120, env=cli_env())
    assert nobody.returncode == 2 and "no dask scheduler answers" in nobody.stderr, nobody.stderr
    assert "Traceback" not in nobody.stderr
    out = zspace("encode", "--store", remote.url, *args, "--dask-address", cluster.address)
    assert "encoded 256 images" in out.stdout
    again = _mark_times(remote)
    assert len(first) == 3 and len(again) == 8
    assert all(again[k] == t for k, t in first.items())  # resumed: the 3 chunks not redone
    for name in ("z_mean", "z_log_var"):
        a, b = (s.join(s.run("vae").latents(name)) for s in (local, remote))
        assert np.array_equal(zarr.open_array(a, mode="r")[:], zarr.open_array(b, mode="r")[:])
        assert fingerprint(a) == fingerprint(b)
