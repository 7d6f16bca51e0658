"""Encode stage: real tiny Keras models, real zarr, a real Prefect flow run; resume after a stop."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import zarr

from zspace.cli.main import main
from zspace.flows.encode import encode_flow
from zspace.models import ModelConfig, build_model
from zspace.storage import ChunkedWriter, Store, StoreError
from zspace.tasks.encode.params import EncodeParams
from zspace.tasks.encode.stage import encode_run, finished_encode

N, SIZE, IMAGE_CHUNK = 70, 32, 8


def make_store(root, kinds=("vae", "ae")) -> tuple[Store, np.ndarray]:
    store = Store(root)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(N, SIZE, SIZE, 3), dtype=np.uint8)
    w = ChunkedWriter(store, store.dataset("tiny").images, images.shape, IMAGE_CHUNK, "uint8", {"t": 1})
    for i in range(w.n_chunks):
        w.write_chunk(i, images[i * IMAGE_CHUNK : (i + 1) * IMAGE_CHUNK])
    fp = w.finalize()
    for kind in kinds:
        cfg = ModelConfig(kind=kind, filters=[4, 4, 8, 8], input_size=SIZE, z_dim=3)
        model = build_model(cfg)
        model.encode(images[:2])  # builds the weights
        layout = store.run(kind)
        store.makedirs(layout.root)
        model.save(store.local_path(layout.model))
        store.write_json(layout.train_record, {
            "run": kind, "dataset": "tiny", "dataset_fingerprint": fp, "kind": kind,
            "model_fingerprint": f"model-{kind}", "z_dim": 3, "input_size": SIZE,
        })
    return store, images


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    root = tmp_path_factory.mktemp("encode")
    store, images = make_store(root / "a")
    shutil.copytree(root / "a", root / "b")
    return store, Store(root / "b"), images


def latents(store: Store, run: str, name: str) -> np.ndarray:
    return zarr.open_array(store.join(store.run(run).latents(name)), mode="r")[...]


def test_encode_matches_the_model_and_resumes_after_a_stop(stores):
    a, b, images = stores
    from zspace.models import load_model

    full = encode_run(a, "vae", batch_size=16, chunk_images=16)
    assert full["complete"] and not full["cached"] and full["n"] == N
    model = load_model(a.local_path(a.run("vae").model), compile=False)
    want = model.encode(images, batch_size=16)
    for name in ("z_mean", "z_log_var"):
        z = latents(a, "vae", name)
        assert z.shape == (N, 3) and z.dtype == np.float32
        np.testing.assert_allclose(z, want[name], rtol=1e-5, atol=1e-6)
        arr = zarr.open_array(a.join(a.run("vae").latents(name)), mode="r")
        assert arr.chunks[0] == 16 and arr.attrs["complete"] is True
        assert arr.attrs["model_fingerprint"] == "model-vae"

    # interrupted: 2 of 5 chunks, then a rerun finishes only the rest
    part = encode_run(b, "vae", batch_size=16, chunk_images=16, stop_after_chunks=2)
    assert part["complete"] is False and part["encoded_chunks"] == 2
    assert zarr.open_array(b.join(b.run("vae").latents("z_mean")), mode="r").attrs["complete"] is False
    assert finished_encode(b, "vae") is None
    rest = encode_run(b, "vae", batch_size=16, chunk_images=16)
    assert rest["complete"] and rest["encoded_chunks"] == 3
    for name in ("z_mean", "z_log_var"):
        np.testing.assert_array_equal(latents(b, "vae", name), latents(a, "vae", name))
    assert rest["fingerprint"] == full["fingerprint"]
    assert rest["latents"]["z_log_var"]["fingerprint"] == full["latents"]["z_log_var"]["fingerprint"]

    again = encode_run(b, "vae")
    assert again["cached"] and again["fingerprint"] == full["fingerprint"]


def test_a_retrained_model_replaces_stale_latents(stores):
    a, _, images = stores
    encode_run(a, "ae", chunk_images=32)
    rec = a.read_json(a.run("ae").train_record)
    a.write_json(a.run("ae").train_record, {**rec, "model_fingerprint": "model-ae-2"})
    assert finished_encode(a, "ae") is None
    res = encode_run(a, "ae", chunk_images=32)
    assert res["complete"] and not res["cached"] and list(res["latents"]) == ["z_mean"]
    assert zarr.open_array(a.join(a.run("ae").latents("z_mean"))).attrs["model_fingerprint"] == "model-ae-2"


def test_flow_run_and_cli(tmp_path, capsys):
    store, images = make_store(tmp_path / "s", kinds=("ae",))
    state = encode_flow(EncodeParams(store=store.url, run="ae"), return_state=True)
    assert state.is_completed()
    res = state.result()
    assert res["complete"] and res["kind"] == "ae" and res["latents"]["z_mean"]["fingerprint"]
    assert latents(store, "ae", "z_mean").shape == (N, 3)
    assert main(["encode", "--store", store.url, "--run", "ae"]) == 0
    assert "already complete" in capsys.readouterr().out


def test_errors_name_what_is_missing(tmp_path, capsys):
    store = Store(tmp_path)
    with pytest.raises(StoreError, match="train run 'nope' first"):
        encode_run(store, "nope")
    assert main(["encode", "--store", str(tmp_path), "--run", "nope"]) == 2
    assert "train run" in capsys.readouterr().err
