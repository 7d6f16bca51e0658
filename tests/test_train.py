"""The train stage on a tiny dataset: streaming, run folder, flow, cache hits, resume, errors."""

from __future__ import annotations

import hashlib
import math
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import zarr
from samples import blob_images

from zspace.flows.train import train_flow
from zspace.storage import ChunkedWriter, Store, StoreError, write_index
from zspace.tasks.common.artifacts import artifact_key
from zspace.tasks.train.params import TrainParams
from zspace.tasks.train.process import command
from zspace.tasks.train.record import list_checkpoints
from zspace.tasks.train.stage import NonFiniteLossError, finished_run, train_run
from zspace.tasks.train.stream import ImageStream, StreamBatches

N_IMAGES, CHUNK_ROWS, BATCH = 480, 64, 32
HISTORY_KEYS = {"epoch", "loss", "val_loss", "reconstruction", "kl", "kl_share", "images_per_s"}
TRAIN_JSON_KEYS = {
    "run", "dataset", "dataset_fingerprint", "preset", "kind", "epochs",
    "model_fingerprint", "z_dim", "input_size", "backend", "recon_sum",
}


def make_dataset(store: Store, name: str, n: int, size: int, chunk_rows: int) -> None:
    """What ingest leaves behind: a complete uint8 images array and index.csv with splits."""
    images = blob_images(n, size, seed=7)
    writer = ChunkedWriter(
        store, store.dataset(name).images, (n, size, size, 3), chunk_rows, np.uint8, {"test": name}
    )
    for i in range(writer.n_chunks):
        writer.write_chunk(i, images[i * chunk_rows : (i + 1) * chunk_rows])
    writer.finalize(attrs={"size": size, "n_images": n})
    splits = ["val" if i % 10 == 0 else "test" if i % 10 == 1 else "train" for i in range(n)]
    write_index(
        store, name,
        [{"file": f"img{i:05d}.png", "split": s, "status": "ok", "row": i} for i, s in enumerate(splits)],
    )


@pytest.fixture(scope="module")
def store_url(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("train-store")
    store = Store(str(root))
    make_dataset(store, "blobs", N_IMAGES, 32, CHUNK_ROWS)
    make_dataset(store, "small16", 40, 16, 16)
    return store.url


@pytest.fixture(scope="module")
def tiny_preset(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("presets") / "tiny.yaml"
    path.write_text(
        "model: {kind: ae, input_size: 32, filters: [8, 16], z_dim: 8}\n"
        f"train: {{epochs: 2, batch_size: {BATCH}, learning_rate: 0.003, seed: 1,"
        " keep_checkpoints: 2}\n"
    )
    return str(path)


@pytest.fixture(scope="module")
def flow_result(store_url: str, tiny_preset: str) -> dict:
    """One real flow run: training in its own process, progress followed from this one."""
    return train_flow(TrainParams(store=store_url, dataset="blobs", preset=tiny_preset, run="tiny-ae"))


def _n_train(limit: int | None = None) -> int:
    n = sum(1 for i in range(N_IMAGES) if i % 10 >= 2)
    return min(n, limit) if limit else n


# -- streaming ------------------------------------------------------------------------------------
def test_stream_covers_each_row_once_in_chunk_aligned_shuffled_batches(tmp_path) -> None:
    n, rows_per_chunk = 300, 32
    ids = np.zeros((n, 4, 4, 3), np.uint8)
    ids[:, 0, 0, 0], ids[:, 0, 0, 1] = np.arange(n) % 256, np.arange(n) // 256
    arr = zarr.create_array(store=str(tmp_path / "ids"), shape=ids.shape, chunks=(rows_per_chunk, 4, 4, 3), dtype="uint8")
    arr[:] = ids
    rows = np.sort(np.random.default_rng(0).choice(n, 200, replace=False))

    def row_ids(batches):
        return np.concatenate([b[:, 0, 0, 0].astype(int) + 256 * b[:, 0, 0, 1].astype(int) for b in batches])

    stream = ImageStream(arr, rows, batch_size=16, shuffle=True, seed=3, shuffle_buffer=64, prefetch_chunks=2)
    assert len(stream) == math.ceil(200 / 16)
    e0, e1 = list(stream.epoch_batches(0)), list(stream.epoch_batches(1))
    assert [len(b) for b in e0][:-1] == [16] * (len(e0) - 1) and len(e0) == len(stream)
    for epoch in (e0, e1):
        np.testing.assert_array_equal(np.sort(row_ids(epoch)), rows)
    assert not np.array_equal(row_ids(e0), row_ids(e1))  # a new order every epoch
    np.testing.assert_array_equal(row_ids(e0), row_ids(stream.epoch_batches(0)))  # seeded
    val = ImageStream(arr, rows, batch_size=16, shuffle=False)
    # devices sharing each batch: the last batch is cut to a multiple of their number
    cut = ImageStream(arr, rows, batch_size=16, shuffle=False, multiple_of=3)
    assert [len(b) for b in cut.epoch_batches(0)] == [16] * 12 + [6] and len(cut) == 13
    np.testing.assert_array_equal(row_ids(val.epoch_batches(0)), rows)
    # the PyDataset view for any backend: batch i of the current epoch, whatever order the
    # workers ask in (a peek at batches 0-1 first, as Keras does), a new epoch after each end
    ds = StreamBatches(stream, workers=2)
    assert len(ds) == len(stream) and ds[1][0].shape == (16, 4, 4, 3)
    ds.on_epoch_begin()
    order = list(range(len(ds)))
    order[2], order[3] = order[3], order[2]
    got = {i: ds[i][0] for i in order}
    first = np.concatenate([got[i] for i in range(len(ds))])
    assert first.dtype == np.uint8
    np.testing.assert_array_equal(row_ids([first]), row_ids(e0))
    ds.on_epoch_end()
    ds.on_epoch_begin()
    second = np.concatenate([ds[i][0] for i in range(len(ds))])
    np.testing.assert_array_equal(row_ids([second]), row_ids(e1))
    # on TensorFlow, the same epochs through tf.data, one epoch per iteration
    tf_ds = ImageStream(arr, rows, batch_size=16, shuffle=True, seed=3, shuffle_buffer=64,
                        prefetch_chunks=2).dataset()
    for expected in (e0, e1):
        np.testing.assert_array_equal(row_ids([b.numpy() for b in tf_ds]), row_ids(expected))


# -- the flow and the run folder ------------------------------------------------------------------
def test_flow_writes_the_run_folder(store_url: str, flow_result: dict) -> None:
    store = Store(store_url)
    run = "tiny-ae"
    layout = store.run(run)
    for rel in (layout.config, layout.model, layout.history, layout.loss_curve, layout.train_record):
        assert store.exists(rel), rel
    assert sorted(list_checkpoints(store, run)) == [1, 2]
    assert set(flow_result) >= TRAIN_JSON_KEYS
    assert flow_result == store.read_json(layout.train_record)
    assert (flow_result["run"], flow_result["kind"], flow_result["epochs"]) == ("tiny-ae", "ae", 2)
    assert (flow_result["backend"], flow_result["recon_sum"]) == ("tensorflow", "values")
    assert (flow_result["z_dim"], flow_result["input_size"], flow_result["preset"]) == (8, 32, "tiny")
    assert flow_result["dataset_fingerprint"] == store.open_array(store.dataset("blobs").images).attrs["fingerprint"]
    digest = hashlib.sha256(store.read_bytes(layout.model)).hexdigest()
    assert flow_result["model_fingerprint"] == digest
    history = store.read_json(layout.history)
    assert [h["epoch"] for h in history] == [1, 2]
    assert all(set(h) >= HISTORY_KEYS for h in history)
    assert history[1]["val_loss"] < history[0]["val_loss"]  # it learns
    assert all(h["kl"] == 0.0 and h["kl_share"] == 0.0 and h["images_per_s"] > 0 for h in history)
    assert store.read_bytes(layout.loss_curve)[:4] == b"\x89PNG"


def test_flow_publishes_progress_and_history_artifacts(flow_result: dict) -> None:
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    keys = [artifact_key("train-progress-tiny-ae"), artifact_key("train-history-tiny-ae")]
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=keys)))
    by_key = {a.key: a for a in found}
    assert set(by_key) == set(keys)
    assert float(by_key[keys[0]].data) == 100.0
    assert by_key[keys[1]].type == "table"


def test_finished_run_is_a_cache_hit(store_url: str, tiny_preset: str, flow_result: dict) -> None:
    store = Store(store_url)
    model_path = store.local_path("runs/tiny-ae/model.keras")
    mtime = model_path.stat().st_mtime_ns
    t0 = time.perf_counter()
    assert finished_run(TrainParams(store=store_url, dataset="blobs", preset=tiny_preset, run="tiny-ae")) == flow_result
    again = train_flow(TrainParams(store=store_url, dataset="blobs", preset=tiny_preset, run="tiny-ae"))
    assert again == flow_result and time.perf_counter() - t0 < 10
    assert model_path.stat().st_mtime_ns == mtime
    assert finished_run(TrainParams(store=store_url, dataset="blobs", preset=tiny_preset, run="tiny-ae",
                                    epochs=3)) is None


def test_higher_epochs_continue_from_the_last_epoch(store_url: str, tiny_preset: str, flow_result: dict) -> None:
    store = Store(store_url)
    shutil.copytree(store.local_path("runs/tiny-ae"), store.local_path("runs/tiny-ae-more"))
    before = store.read_json("runs/tiny-ae-more/history.json")
    result = train_run(TrainParams(store=store_url, dataset="blobs", run="tiny-ae-more", preset=tiny_preset, epochs=3), verbose=0)
    history = store.read_json("runs/tiny-ae-more/history.json")
    assert [h["epoch"] for h in history] == [1, 2, 3] and history[:2] == before
    assert result["epochs"] == 3 and result["model_fingerprint"] != flow_result["model_fingerprint"]
    assert sorted(list_checkpoints(store, "tiny-ae-more")) == [2, 3]  # keep_checkpoints: 2
    from zspace.models import load_model

    model = load_model(store.local_path("runs/tiny-ae-more/model.keras"))
    assert int(model.optimizer.iterations) == 3 * math.ceil(_n_train() / BATCH)
    with pytest.raises(ValueError, match="already has 3 epochs"):
        train_run(TrainParams(store=store_url, dataset="blobs", run="tiny-ae-more", preset=tiny_preset, epochs=2))


def test_resume_after_the_process_is_killed(store_url: str, tiny_preset: str) -> None:
    store = Store(store_url)
    run = "killed"
    cmd = command(TrainParams(store=store_url, dataset="blobs", preset=tiny_preset, run="killed",
                              epochs=60))
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while not list_checkpoints(store, run) and time.time() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert list_checkpoints(store, run), "no checkpoint appeared"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    layout = store.run(run)
    assert not store.exists(layout.train_record)
    done = max(list_checkpoints(store, run))
    kept = [h for h in store.read_json(layout.history) if h["epoch"] <= done]
    result = train_run(TrainParams(store=store_url, dataset="blobs", run="killed", preset=tiny_preset, epochs=done + 1), verbose=0)
    history = store.read_json(layout.history)
    assert [h["epoch"] for h in history] == list(range(1, done + 2))
    assert history[:done] == kept and result["epochs"] == done + 1
    from zspace.models import load_model

    model = load_model(store.local_path(layout.model))
    assert int(model.optimizer.iterations) == (done + 1) * math.ceil(_n_train() / BATCH)


def test_vae_kl_share_and_limit(store_url: str, tiny_preset: str) -> None:
    store = Store(store_url)
    result = train_run(TrainParams(store=store_url, dataset="blobs", preset=tiny_preset, kind="vae", epochs=1, limit=100), verbose=0)
    assert result["run"] == "blobs-tiny-vae" and result["kind"] == "vae" and result["n_train"] == 100
    (h,) = store.read_json("runs/blobs-tiny-vae/history.json")
    assert 0.0 < h["kl_share"] < 1.0 and h["kl"] > 0
    # epoch means are linear: total = reconstruction + kl_factor * kl
    assert h["loss"] == pytest.approx(h["reconstruction"] + 5.0 * h["kl"], rel=1e-4)
    from zspace.models import load_model

    model = load_model(store.local_path("runs/blobs-tiny-vae/model.keras"), compile=False)
    codes = model.encode(store.open_array(store.dataset("blobs").images)[:5])
    assert set(codes) == {"z_mean", "z_log_var"} and codes["z_mean"].shape == (5, 8)


def test_changed_parameters_are_refused(store_url: str, tiny_preset: str, flow_result: dict) -> None:
    with pytest.raises(StoreError, match=r"train\.limit: None -> 50"):
        train_run(TrainParams(store=store_url, dataset="blobs", run="tiny-ae", preset=tiny_preset, limit=50))
    with pytest.raises(StoreError, match=r"model\.kind: 'ae' -> 'vae'"):
        train_run(TrainParams(store=store_url, dataset="blobs", run="tiny-ae", preset=tiny_preset, kind="vae"))


def test_image_size_must_match_input_size(store_url: str, tiny_preset: str) -> None:
    with pytest.raises(StoreError, match=r"input_size is 32.*--size 32"):
        train_run(TrainParams(store=store_url, dataset="small16", preset=tiny_preset))
    with pytest.raises(StoreError, match="no zarr array"):
        train_run(TrainParams(store=store_url, dataset="missing", preset=tiny_preset))


def test_non_finite_loss_names_epoch_and_batch(store_url: str, tmp_path: Path) -> None:
    preset = tmp_path / "explode.yaml"
    preset.write_text(
        "model: {kind: vae, input_size: 32, filters: [8, 16], z_dim: 8}\n"
        "train: {epochs: 2, batch_size: 32, learning_rate: 10000.0}\n"
    )
    with pytest.raises(NonFiniteLossError, match=r"at epoch 1, batch \d+"):
        train_run(TrainParams(store=store_url, dataset="blobs", run="explode", preset=str(preset)), verbose=0)
    assert not Store(store_url).exists("runs/explode/train.json")
