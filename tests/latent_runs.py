"""A store with two tiny trained runs (AE and VAE) on synthetic faces, encoded and analyzed for
real; built once per test session and shared by the projection and generation tests.

What the tests need of these models is latents of a known scale: radii of order sqrt(z_dim),
not whatever a one-epoch model leaves (below 0.15 on AVX-512 CPUs, larger elsewhere). They get it
by construction: after training, each model is reparametrised exactly (`spread_latents`), so the
scale is the same on every CPU while every decoded image stays the same function of its input.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from zspace.storage import Store

DATASET = "faces"
RUNS = ("tiny-ae", "tiny-vae")
_BUILT: dict[str, Store] = {}
LATENT_STD = 1.0  # the tests' need: the latents' root-mean-square spread per component


def tiny_preset(path: Path) -> Path:
    path.write_text(yaml.safe_dump({
        "model": {"kind": "ae", "input_size": 32, "channels": 3, "filters": [8, 8, 16, 16],
                  "decoder_filters": [16, 16, 8, 8], "z_dim": 8},
        "train": {"epochs": 1, "batch_size": 32, "learning_rate": 0.003, "seed": 0},
    }))
    return path


def latent_store(root: Path) -> Store:
    """ingest -> train (AE, VAE) -> encode -> analyze, all real, at toy size (~15 s)."""
    if "store" in _BUILT:
        return _BUILT["store"]
    from zspace.tasks.analyze import StatsParams, analyze_latents
    from zspace.tasks.encode.stage import encode_run
    from zspace.tasks.ingest.params import IngestParams
    from zspace.tasks.ingest.stage import ingest
    from zspace.tasks.train.params import TrainParams
    from zspace.tasks.train.stage import train_run

    root.mkdir(parents=True, exist_ok=True)
    store = Store(root / "store")
    ingest(IngestParams(source="synthetic", store=store.url, name=DATASET, count=320, size=32,
                        chunk_rows=64, workers=1))
    preset = tiny_preset(root / "tiny.yaml")
    for run in RUNS:
        train_run(TrainParams(store=store.url, dataset=DATASET, run=run, preset=str(preset),
                              kind=run.rsplit("-", 1)[1]), verbose=0)
        spread_latents(store, run)
        encode_run(store, run, batch_size=128)
        analyze_latents(store.join(store.run(run).latents("z_mean")), store, store.run(run).stats.root,
                        StatsParams(n_artificial=100, artificial_b=(1.0, 2.0)), workers=1,
                        show_progress=False)
    _BUILT["store"] = store
    return store


def spread_latents(store: Store, run: str, std: float = LATENT_STD) -> float:
    """Rescale a trained model's latent space by c so its codes have per-component RMS spread
    `std`: the encoder's z (z_mean) layer is multiplied by c (a VAE's sigma too: log_var + 2 ln c)
    and the decoder's first Dense layer divides by c, so decode(encode(x)) is unchanged. train.json
    gets the new model's fingerprint. Returns c."""
    import numpy as np

    from zspace.models.saved import load_model_from_store, save_model

    layout = store.run(run)
    model = load_model_from_store(store, layout.model, compile=False)
    images = np.asarray(store.open_array(store.dataset(DATASET).images)[:256])
    z = model.encode(images)["z_mean"].astype(np.float64)
    before = model.decode(z.astype(np.float32))
    c = std / max(float(np.sqrt(np.mean(np.var(z, axis=0)))), 1e-12)
    head = model.encoder.get_layer("z" if model.kind == "ae" else "z_mean")
    head.set_weights([w * c for w in head.get_weights()])
    if model.kind == "vae":
        log_var = model.encoder.get_layer("z_log_var")
        kernel, bias = log_var.get_weights()
        log_var.set_weights([kernel, bias + 2 * np.log(c)])
    dense = model.decoder.get_layer("dense")
    kernel, bias = dense.get_weights()
    dense.set_weights([kernel / c, bias])
    z_new = model.encode(images)["z_mean"]
    assert np.allclose(np.sqrt(np.mean(np.var(z_new, axis=0))), std, rtol=1e-3)
    assert np.abs(model.decode(z_new) - before).max() < 1e-3, "not an exact reparametrisation"
    record = store.read_json(layout.train_record)
    record["model_fingerprint"] = save_model(model, store, layout.model)
    store.write_json(layout.train_record, record)
    return c
