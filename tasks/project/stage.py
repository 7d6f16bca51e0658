"""t-SNE projections of a latent cloud (SPEC.md §4), with openTSNE's FFT gradients so that
165,000 points are practical on a CPU (Barnes-Hut below 10,000 points, where it is faster).

Configurations (named by the size they ask for; a smaller cloud gives all its points and the
record says the actual n):

    study-20k      20,000 points, early_exaggeration 16, perplexity 10, 1,000 iterations
                   (250 early-exaggeration + 750 normal), as in the study
    default-80k    80,000 points, openTSNE defaults
    default-165k   165,000 points, openTSNE defaults
    pca-2/-4/-10   20,000 points, openTSNE defaults, on the first 2, 4 or 10 PCA coordinates
                   (runs/<run>/stats/pca_coordinates, written by the analyze stage)

Output per configuration, under runs/<run>/projections/<config>/::

    coordinates   float32 (n, 2) zarr
    rows          int64 (n,) zarr: the sampled rows of latents/z_mean (sorted)
    record.json   parameters, actual n, input fingerprints, seconds; written last (completion)

Figures: runs/<run>/figures/tsne_<config>.png, coloured by the radius ||z|| and, for a dataset
with generating factors (synthetic faces), by one factor, and the manifest figures/project.json.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import time
from typing import Any

import numpy as np
import zarr
from pydantic import BaseModel, ConfigDict, Field, field_validator

from zspace.storage import Store, StoreError, factor_table, is_complete, read_rows
from zspace.tasks.common.figures import write_manifest
from zspace.tasks.common.sampling import sample_rows

PROJECT_VERSION = 1

# name: (points asked for, PCA components or None, t-SNE settings beyond openTSNE's defaults)
CONFIGS: dict[str, dict[str, Any]] = {
    "study-20k": {"n_points": 20_000, "pca": None,
                  "tsne": {"early_exaggeration": 16.0, "perplexity": 10.0,
                           "early_exaggeration_iter": 250, "n_iter": 750}},
    "default-80k": {"n_points": 80_000, "pca": None, "tsne": {}},
    "default-165k": {"n_points": 165_000, "pca": None, "tsne": {}},
    "pca-2": {"n_points": 20_000, "pca": 2, "tsne": {}},
    "pca-4": {"n_points": 20_000, "pca": 4, "tsne": {}},
    "pca-10": {"n_points": 20_000, "pca": 10, "tsne": {}},
}
TSNE_DEFAULTS = {"perplexity": 30.0, "early_exaggeration": 12.0, "early_exaggeration_iter": 250,
                 "n_iter": 500}


class ProjectParams(BaseModel):
    """What the projections stage computes; the demo/pipeline passes a reduced set."""

    model_config = ConfigDict(extra="forbid")

    configs: list[str] = Field(default_factory=lambda: list(CONFIGS))
    n_iter: int | None = Field(None, ge=1, description="override the normal-phase iterations")
    early_exaggeration_iter: int | None = Field(None, ge=0, description="override that phase")
    max_points: int | None = Field(None, ge=10, description="cap every configuration's points")
    seed: int = 0
    n_jobs: int | None = Field(None, ge=1, description="threads; default: all cores")
    color_factor: str = Field("skin_tone", description="factor to colour by, when the dataset has one")

    @field_validator("configs")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        unknown = [c for c in v if c not in CONFIGS]
        if unknown or not v:
            raise ValueError(f"unknown projection configs {unknown}: choose from {list(CONFIGS)}")
        return list(dict.fromkeys(v))


def projection_rel(run: str, config: str) -> str:
    return f"{Store.run_rel(run)}/projections/{config}"


def tsne_settings(config: str, params: ProjectParams) -> dict[str, Any]:
    s = {**TSNE_DEFAULTS, **CONFIGS[config]["tsne"]}
    if params.n_iter is not None:
        s["n_iter"] = params.n_iter
    if params.early_exaggeration_iter is not None:
        s["early_exaggeration_iter"] = params.early_exaggeration_iter
    return s


def _fingerprint(arr: zarr.Array, url: str) -> str:
    if not is_complete(arr):
        raise StoreError(f"{url} is not complete (an interrupted stage? rerun it to resume)")
    return str(arr.attrs.get("fingerprint"))


def write_small_array(store: Store, rel: str, data: np.ndarray) -> str:
    """A small array rewritten whole (the record.json written after it is the completion mark)."""
    store.remove(rel)
    store.makedirs(rel.rsplit("/", 1)[0])
    data = np.ascontiguousarray(data)
    fp = hashlib.sha256(data.tobytes()).hexdigest()
    arr = zarr.create_array(store=store.join(rel), shape=data.shape, dtype=data.dtype,
                            chunks=data.shape if data.size else None, overwrite=True,
                            attributes={"complete": True, "fingerprint": fp})
    arr[...] = data
    return fp


FFT_FROM = 10_000  # openTSNE's own rule: Barnes-Hut is ~4x faster below, FFT scales above


def gradient_method(n: int) -> str:
    return "fft" if n >= FFT_FROM else "bh"


def run_tsne(x: np.ndarray, settings: dict[str, Any], seed: int, n_jobs: int) -> np.ndarray:
    """openTSNE (FFT gradients from 10,000 points, Barnes-Hut below); perplexity lowered to
    what n points allow."""
    from openTSNE import TSNE

    n = len(x)
    perplexity = min(float(settings["perplexity"]), max(1.0, (n - 1) / 3.0))
    tsne = TSNE(n_components=2, perplexity=perplexity,
                early_exaggeration=settings["early_exaggeration"],
                early_exaggeration_iter=settings["early_exaggeration_iter"],
                n_iter=settings["n_iter"], negative_gradient_method=gradient_method(n),
                n_jobs=n_jobs, random_state=seed, verbose=False)
    return np.asarray(tsne.fit(np.ascontiguousarray(x, dtype=np.float64)), dtype=np.float32)


def colour_values(store: Store, dataset: str | None, n_rows: int, factor: str
                  ) -> tuple[str, np.ndarray] | None:
    """(factor name, value per latent row) when the dataset records generating factors."""
    if not dataset:
        return None
    try:
        table = factor_table(store, dataset)
    except (StoreError, FileNotFoundError, KeyError):
        return None
    if not table:
        return None
    name = factor if factor in table else sorted(table)[0]
    values = np.asarray(table[name], dtype=np.float64)
    return (name, values) if len(values) == n_rows else None


def scatter_png(coords: np.ndarray, panels: list[tuple[str, np.ndarray]], title: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(6.0 * len(panels), 5.4), squeeze=False)
    size = max(0.5, min(8.0, 4000.0 / max(len(coords), 1)))
    for ax, (label, values) in zip(axes[0], panels, strict=True):
        sc = ax.scatter(coords[:, 0], coords[:, 1], c=values, s=size, cmap="viridis",
                        linewidths=0, rasterized=True)
        fig.colorbar(sc, ax=ax, label=label)
        ax.set_xlabel("t-SNE 1")
        ax.set_ylabel("t-SNE 2")
        ax.set_title(f"coloured by {label}")
        ax.set_aspect("equal", adjustable="datalim")
    fig.suptitle(title)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def _caption(config: str, n: int, k: int | None, z_dim: int, settings: dict[str, Any], seed: int,
             colour_factor: str | None) -> str:
    inputs = f"the first {k} PCA coordinates" if k is not None else f"all {z_dim} components of z_mean"
    return (
        f"openTSNE ({gradient_method(n).upper()} gradients) of {n:,} latent points ({CONFIGS[config]['n_points']:,} asked "
        f"for, sampled with seed {seed}) on {inputs}; perplexity {settings['perplexity']:g}, "
        f"early_exaggeration {settings['early_exaggeration']:g} for "
        f"{settings['early_exaggeration_iter']} iterations, then {settings['n_iter']} "
        f"iterations. Colour: the radius ||z||"
        + (f" and the generating factor {colour_factor} (ground truth)." if colour_factor else ".")
    )


def project_latents(store_url: str, run: str, params: ProjectParams | dict[str, Any] | None = None,
                    show_progress: bool = True) -> dict[str, Any]:
    """All asked-for projections of runs/<run>/latents/z_mean; finished ones are not redone."""
    params = params if isinstance(params, ProjectParams) else ProjectParams(**(params or {}))
    store = Store(store_url)
    run_rel = Store.run_rel(run)
    lat_rel = Store.latents_rel(run, "z_mean")
    if not store.exists(f"{lat_rel}/zarr.json"):
        raise StoreError(f"{store.join(lat_rel)} does not exist: run `zspace encode --store "
                         f"{store_url} --run {run}` first")
    z_arr = store.open_array(lat_rel)
    z_fp = _fingerprint(z_arr, store.join(lat_rel))
    n_total, z_dim = (int(s) for s in z_arr.shape)
    dataset = None
    if store.exists(f"{run_rel}/train.json"):
        dataset = store.read_json(f"{run_rel}/train.json").get("dataset")
    n_jobs = params.n_jobs or os.cpu_count() or 1
    colour = colour_values(store, dataset, n_total, params.color_factor)

    results: dict[str, Any] = {}
    entries: list[dict[str, str]] = []
    configs = params.configs
    bar = None
    if show_progress:
        from tqdm import tqdm

        bar = tqdm(total=len(configs), desc=f"t-SNE {run}", unit="config")
    for config in configs:
        spec = CONFIGS[config]
        n_asked = spec["n_points"]
        n = min(n_asked, n_total, params.max_points or n_asked)
        settings = tsne_settings(config, params)
        k = spec["pca"]
        source = {"latents": store.join(lat_rel), "latents_fingerprint": z_fp}
        if k is not None:
            pca_rel = f"{Store.stats_rel(run)}/pca_coordinates"
            if not store.exists(f"{pca_rel}/zarr.json"):
                raise StoreError(f"{store.join(pca_rel)} does not exist: run `zspace analyze "
                                 f"--store {store_url} --run {run}` first (needed by {config})")
            pca_arr = store.open_array(pca_rel)
            source["pca_coordinates_fingerprint"] = _fingerprint(pca_arr, store.join(pca_rel))
            k = min(k, z_dim)
        plan = {"version": PROJECT_VERSION, "config": config, "n_requested": n_asked, "n": n,
                "pca_components": k, "tsne": settings, "seed": params.seed,
                "negative_gradient_method": gradient_method(n), **source}
        rel = projection_rel(run, config)
        fig_file = f"tsne_{config}.png"
        fig_rel = f"{run_rel}/figures/{fig_file}"
        record_rel = f"{rel}/record.json"
        rec = store.read_json(record_rel) if store.exists(record_rel) else None
        if not (rec and rec.get("plan") == plan and store.exists(fig_rel)):
            store.remove(record_rel)
            t0 = time.perf_counter()
            rows = sample_rows(n_total, n, params.seed)
            x = read_rows(pca_arr, rows, k) if k is not None else read_rows(z_arr, rows)
            radius = np.linalg.norm(read_rows(z_arr, rows), axis=1) if k is not None else \
                np.linalg.norm(x, axis=1)
            coords = run_tsne(x, settings, params.seed, n_jobs)
            if not np.isfinite(coords).all():
                raise ValueError(f"t-SNE {config} of run {run!r} gave non-finite coordinates")
            seconds = time.perf_counter() - t0
            fp = write_small_array(store, f"{rel}/coordinates", coords)
            write_small_array(store, f"{rel}/rows", rows)
            panels = [("radius ||z||", radius)]
            if colour is not None:
                panels.append((f"factor {colour[0]}", colour[1][rows]))
            title = f"t-SNE {config} of {run}: {n:,} points" + (
                f" (PCA, first {k} components)" if k is not None else f" x {z_dim} components")
            store.write_bytes(fig_rel, scatter_png(coords, panels, title))
            cf = colour[0] if colour else None
            rec = {"plan": plan, "n": n, "fingerprint": fp, "seconds": round(seconds, 2),
                   "figure": fig_file, "colour_factor": cf,
                   "title": f"t-SNE: {config}",
                   "caption": _caption(config, n, k, z_dim, settings, params.seed, cf)}
            store.write_json(record_rel, rec)
            rec = {**rec, "cached": False}
        else:
            rec = {**rec, "cached": True}
        results[config] = {"rel": rel, "n": rec["n"], "fingerprint": rec["fingerprint"],
                           "seconds": rec["seconds"], "cached": rec["cached"]}
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    # the manifest lists every finished projection of these latents, also those of earlier
    # calls; projections of older latents (a retrained model) are left out
    pca_rel = f"{Store.stats_rel(run)}/pca_coordinates"
    pca_fp = (store.open_array(pca_rel).attrs.get("fingerprint")
              if store.exists(f"{pca_rel}/zarr.json") else None)
    for config in CONFIGS:
        record_rel = f"{projection_rel(run, config)}/record.json"
        if store.exists(record_rel):
            rec = store.read_json(record_rel)
            plan = rec.get("plan", {})
            current = plan.get("latents_fingerprint") == z_fp and (
                plan.get("pca_components") is None
                or plan.get("pca_coordinates_fingerprint") == pca_fp)
            if current and store.exists(f"{run_rel}/figures/{rec['figure']}"):
                entries.append({"file": rec["figure"], "title": rec["title"],
                                "caption": rec["caption"], "section": "projections"})
    manifest = write_manifest(store, run, "project", entries)
    fp_all = hashlib.sha256(json.dumps({c: r["fingerprint"] for c, r in results.items()},
                                       sort_keys=True).encode()).hexdigest()
    return {"run": run, "projections": results, "manifest": manifest, "fingerprint": fp_all}
