"""Backends: the same models train and encode on TensorFlow and JAX, and a model saved on one
loads on the other with equal encodings. Keras picks its backend once per process, so the other
backend runs in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from samples import blob_images

from zspace.models.backend import check_backend, current_backend, use_backend
from zspace.storage import ChunkedWriter, Store, write_index

HERE = current_backend()
OTHER = "jax" if HERE == "tensorflow" else "tensorflow"
PRESET = (
    "model: {kind: vae, input_size: 32, filters: [8, 16], z_dim: 8, recon_sum: pixels}\n"
    "train: {epochs: 1, batch_size: 32, learning_rate: 0.003, seed: 2}\n"
)


def test_use_backend_refuses_a_late_switch() -> None:
    assert use_backend(HERE) == HERE  # keras is imported: the same backend is fine
    with pytest.raises(ValueError, match=f"already imported with the '{HERE}' backend"):
        use_backend(OTHER)
    with pytest.raises(ValueError, match="backend 'torch' is not supported"):
        check_backend("torch")


def _store(root: Path) -> Store:
    """A tiny ingested dataset: 160 blob images, chunks of 32, a val split."""
    store = Store(str(root))
    images = blob_images(160, 32, seed=3)
    writer = ChunkedWriter(store, store.dataset("blobs").images, images.shape, 32, np.uint8,
                           {"test": "backends"})
    for i in range(writer.n_chunks):
        writer.write_chunk(i, images[i * 32 : (i + 1) * 32])
    writer.finalize(attrs={"size": 32, "n_images": 160})
    write_index(store, "blobs", [{"file": f"{i}.png", "split": "val" if i % 8 == 0 else "train",
                                  "status": "ok", "row": i} for i in range(160)])
    return store


def _other_backend(script: str, **paths: str) -> dict:
    """Run a snippet on the other backend; it prints one JSON line last."""
    env = {**os.environ, "KERAS_BACKEND": OTHER, "ZSPACE_TEST_PATHS": json.dumps(paths)}
    code = "import json, os\nP = json.loads(os.environ['ZSPACE_TEST_PATHS'])\n" + textwrap.dedent(script)
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_models_cross_backends(tmp_path: Path) -> None:
    """Train here, encode there; train there (and continue the first run there), encode here."""
    from zspace.models import load_model
    from zspace.tasks.train.params import TrainParams
    from zspace.tasks.train.stage import train_run

    store = _store(tmp_path / "store")
    preset = tmp_path / "tiny.yaml"
    preset.write_text(PRESET)
    images = store.open_array(store.dataset("blobs").images)[:40]
    np.save(tmp_path / "images.npy", images)
    here = train_run(TrainParams(store=store.url, dataset="blobs", run="here", preset=str(preset)),
                     verbose=0)
    assert here["backend"] == HERE and here["recon_sum"] == "pixels"
    mine = load_model(store.local_path(store.run("here").model)).encode(images, batch_size=16)

    there = _other_backend(
        """
        import numpy as np
        from zspace.models import load_model
        from zspace.storage import Store
        from zspace.tasks.train.params import TrainParams
        from zspace.tasks.train.stage import train_run
        store, images = Store(P["store"]), np.load(P["images"])
        codes = load_model(store.local_path(store.run("here").model)).encode(images, 16)
        np.savez(P["from_here"], **codes)
        trained = train_run(TrainParams(store=store.url, dataset="blobs", run="there",
                                        preset=P["preset"]), verbose=0)
        more = train_run(TrainParams(store=store.url, dataset="blobs", run="here",
                                     preset=P["preset"], epochs=2), verbose=0)
        model = load_model(store.local_path(store.run("there").model))
        np.savez(P["from_there"], **model.encode(images, 16))
        print(json.dumps({"trained": trained, "more": more,
                          "iterations": int(model.optimizer.iterations)}))
        """,
        store=store.url, images=str(tmp_path / "images.npy"), preset=str(preset),
        from_here=str(tmp_path / "from_here.npz"), from_there=str(tmp_path / "from_there.npz"),
    )
    loaded_there = np.load(tmp_path / "from_here.npz")
    for key in ("z_mean", "z_log_var"):
        np.testing.assert_allclose(loaded_there[key], mine[key], atol=1e-4, rtol=0)
    assert there["trained"]["backend"] == OTHER and np.isfinite(there["trained"]["loss"])
    # the run trained here went on for an epoch there, optimizer state and history included
    assert there["more"]["epochs"] == 2 and there["more"]["backend"] == OTHER
    history = store.read_json(store.run("here").history)
    assert [h["epoch"] for h in history] == [1, 2]
    theirs = np.load(tmp_path / "from_there.npz")
    back_here = load_model(store.local_path(store.run("there").model)).encode(images, 16)
    for key in ("z_mean", "z_log_var"):
        np.testing.assert_allclose(back_here[key], theirs[key], atol=1e-4, rtol=0)
    assert there["iterations"] == int(np.ceil(140 / 32))
