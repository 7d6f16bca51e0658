"""A store with two tiny trained runs (AE and VAE) on synthetic faces, encoded and analyzed for
real; built once per test session and shared by the projection and generation tests."""

from __future__ import annotations

from pathlib import Path

import yaml

from zspace.storage import Store

DATASET = "faces"
RUNS = ("tiny-ae", "tiny-vae")
_BUILT: dict[str, Store] = {}


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
    from zspace.tasks.analyze.stats import StatsParams, analyze_latents
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
        encode_run(store, run, batch_size=128)
        analyze_latents(store.join(store.run(run).latents("z_mean")), store, store.run(run).stats.root,
                        StatsParams(n_artificial=100, artificial_b=(1.0, 2.0)), workers=1,
                        show_progress=False)
    _BUILT["store"] = store
    return store
