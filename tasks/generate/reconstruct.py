"""Reconstruction quality of two or more runs on the same dataset (SPEC.md §5: AE versus VAE).

On the test split (all of it, one image chunk at a time): images -> z_mean -> decoded, and
per run the mean squared error over all pixels (values in [0, 1]) and the PSNR of that MSE,
10 log10(1 / MSE). Writes, under the first run::

    runs/<runs[0]>/reconstruction.json          {run: {"kind", "mse", "psnr", "n"}}
    runs/<runs[0]>/figures/reconstruction.png   originals, then each run's reconstructions
    runs/<runs[0]>/figures/reconstruction.json  figure manifest
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from zspace.storage import Store, StoreError, iter_row_blocks, split_rows
from zspace.tasks.common.figures import rows_figure, write_manifest


def _train_record(store: Store, run: str) -> dict[str, Any]:
    rel = f"{Store.run_rel(run)}/train.json"
    if not store.exists(rel):
        raise StoreError(f"{store.join(rel)} does not exist: train run {run!r} first")
    return store.read_json(rel)


def reconstruct(model: Any, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Decoded z_mean of uint8 images (a VAE is judged on its mean, not on a random draw)."""
    return model.decode(model.encode(images, batch_size)["z_mean"], batch_size)


def compare_reconstructions(store_url: str, runs: list[str], n_show: int = 8,
                            batch_size: int = 256) -> dict[str, Any]:
    """MSE and PSNR per run over the whole test split, and a side-by-side grid."""
    if len(runs) < 2 or len(set(runs)) != len(runs):
        raise ValueError(f"compare_reconstructions needs two or more different runs, got {runs}")
    store = Store(store_url)
    records = {r: _train_record(store, r) for r in runs}
    datasets = {r: (rec.get("dataset"), rec.get("dataset_fingerprint")) for r, rec in records.items()}
    if len(set(datasets.values())) != 1:
        listed = ", ".join(f"{r}: {d[0]!r} (fingerprint {str(d[1])[:12]})" for r, d in datasets.items())
        raise ValueError(f"runs were trained on different datasets ({listed}): reconstructions "
                         "can only be compared on the same images")
    dataset = datasets[runs[0]][0]
    rows = split_rows(store, dataset, "test")
    if len(rows) == 0:
        raise StoreError(f"dataset {dataset!r} has no images in its test split")
    arr = store.open_array(Store.images_rel(dataset))

    from zspace.tasks.common.runs import load_run_model

    models = {r: load_run_model(store, r) for r in runs}
    sq = {r: 0.0 for r in runs}
    count = 0
    shown: dict[str, list[np.ndarray]] = {"original": [], **{r: [] for r in runs}}
    for _, _, x in iter_row_blocks(arr, rows):
        x01 = x.astype(np.float32) / 255.0
        count += x.size
        take = max(0, n_show - sum(len(a) for a in shown["original"]))
        if take:
            shown["original"].append(x01[:take])
        for r, model in models.items():
            y = reconstruct(model, x, batch_size)
            sq[r] += float(np.sum((y.astype(np.float64) - x01) ** 2))
            if take:
                shown[r].append(y[:take])

    result: dict[str, dict[str, Any]] = {}
    for r in runs:
        mse = sq[r] / count
        result[r] = {"kind": records[r].get("kind"), "mse": mse,
                     "psnr": 10.0 * math.log10(1.0 / mse) if mse > 0 else math.inf,
                     "n": int(len(rows))}
    base = Store.run_rel(runs[0])
    store.write_json(f"{base}/reconstruction.json", result)
    panels = [("original", np.concatenate(shown["original"]))] + [
        (f"{r} ({result[r]['kind']})\nPSNR {result[r]['psnr']:.1f} dB", np.concatenate(shown[r]))
        for r in runs]
    store.write_bytes(f"{base}/figures/reconstruction.png",
                      rows_figure(panels, f"Reconstructions of test images ({dataset})"))
    metrics = "; ".join(f"{r} ({result[r]['kind']}): MSE {result[r]['mse']:.5f}, PSNR "
                        f"{result[r]['psnr']:.2f} dB" for r in runs)
    write_manifest(store, runs[0], "reconstruction", [{
        "file": "reconstruction.png", "title": "Reconstruction: " + " vs ".join(runs),
        "caption": f"Top row: {len(panels[0][1])} test images of {dataset!r}; below, each run's "
                   f"reconstruction (decoded z_mean). Over the whole test split ({len(rows):,} "
                   f"images, pixels in [0, 1]): {metrics}.",
        "section": "reconstruction"}])
    return {"dataset": dataset, "runs": result,
            "json": f"{base}/reconstruction.json", "figure": f"{base}/figures/reconstruction.png"}
