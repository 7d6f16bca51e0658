"""Reconstruction quality of two or more runs on the same dataset (AE versus VAE).

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

FIGURE = "reconstruction.png"


def reconstruct(model: Any, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Decoded z_mean of uint8 images (a VAE is judged on its mean, not on a random draw)."""
    return model.decode(model.encode(images, batch_size)["z_mean"], batch_size)


def compare_reconstructions(store_url: str, runs: list[str], n_show: int = 8,
                            batch_size: int = 256) -> dict[str, Any]:
    """MSE and PSNR per run over the whole test split, and a side-by-side grid."""
    if len(runs) < 2 or len(set(runs)) != len(runs):
        raise ValueError(f"compare_reconstructions needs two or more different runs, got {runs}")
    store = Store(store_url)
    records = {r: store.read_run_record(r) for r in runs}
    dataset = _common_dataset(records)
    rows = split_rows(store, dataset, "test")
    if len(rows) == 0:
        raise StoreError(f"dataset {dataset!r} has no images in its test split")
    sq, count, shown = _squared_errors(store, runs, dataset, rows, n_show, batch_size)
    result: dict[str, dict[str, Any]] = {}
    for r in runs:
        mse = sq[r] / count
        result[r] = {"kind": records[r].get("kind"), "mse": mse,
                     "psnr": 10.0 * math.log10(1.0 / mse) if mse > 0 else math.inf,
                     "n": int(len(rows))}
    layout = store.run(runs[0])
    store.write_json(layout.reconstruction, result)
    _write_figure(store, runs, dataset, len(rows), result, shown)
    return {"dataset": dataset, "runs": result,
            "json": layout.reconstruction, "figure": layout.figure(FIGURE)}


def _common_dataset(records: dict[str, dict[str, Any]]) -> str:
    """The one dataset (same name and fingerprint) every run was trained on."""
    datasets = {r: (rec.get("dataset"), rec.get("dataset_fingerprint")) for r, rec in records.items()}
    if len(set(datasets.values())) != 1:
        listed = ", ".join(f"{r}: {d[0]!r} (fingerprint {str(d[1])[:12]})" for r, d in datasets.items())
        raise ValueError(f"runs were trained on different datasets ({listed}): reconstructions "
                         "can only be compared on the same images")
    return next(iter(datasets.values()))[0]


def _squared_errors(store: Store, runs: list[str], dataset: str, rows: np.ndarray, n_show: int,
                    batch_size: int) -> tuple[dict[str, float], int, dict[str, list[np.ndarray]]]:
    """(sum of squared pixel errors per run, pixel count, the first n_show originals and their
    reconstructions), one image chunk at a time."""
    from zspace.tasks.common.runs import load_run_model

    arr = store.open_array(store.dataset(dataset).images)
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
    return sq, count, shown


def _write_figure(store: Store, runs: list[str], dataset: str, n_test: int,
                  result: dict[str, dict[str, Any]], shown: dict[str, list[np.ndarray]]) -> None:
    """Originals above each run's reconstructions, and its manifest entry."""
    panels = [("original", np.concatenate(shown["original"]))] + [
        (f"{r} ({result[r]['kind']})\nPSNR {result[r]['psnr']:.1f} dB", np.concatenate(shown[r]))
        for r in runs]
    store.write_bytes(store.run(runs[0]).figure(FIGURE),
                      rows_figure(panels, f"Reconstructions of test images ({dataset})"))
    metrics = "; ".join(f"{r} ({result[r]['kind']}): MSE {result[r]['mse']:.5f}, PSNR "
                        f"{result[r]['psnr']:.2f} dB" for r in runs)
    write_manifest(store, runs[0], "reconstruction", [{
        "file": FIGURE, "title": "Reconstruction: " + " vs ".join(runs),
        "caption": f"Top row: {len(panels[0][1])} test images of {dataset!r}; below, each run's "
                   f"reconstruction (decoded z_mean). Over the whole test split ({n_test:,} "
                   f"images, pixels in [0, 1]): {metrics}.",
        "section": "reconstruction"}])
