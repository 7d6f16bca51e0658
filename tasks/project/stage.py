"""t-SNE projections of a latent cloud, as the study maps its latent spaces, with openTSNE's
FFT gradients so that 165,000 points are practical on a CPU (Barnes-Hut below 10,000 points,
where it is faster).

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
import json
import os
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from zspace.storage import Store, StoreError, factor_table, read_rows
from zspace.tasks.common.figures import png_bytes, pyplot, write_manifest
from zspace.tasks.common.runs import complete_array, current_latents, current_stats_record
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


class TsneParams(BaseModel):
    """Which projections to compute and how; the demo/pipeline passes a reduced set."""

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


def tsne_settings(config: str, params: TsneParams) -> dict[str, Any]:
    s = {**TSNE_DEFAULTS, **CONFIGS[config]["tsne"]}
    if params.n_iter is not None:
        s["n_iter"] = params.n_iter
    if params.early_exaggeration_iter is not None:
        s["early_exaggeration_iter"] = params.early_exaggeration_iter
    return s


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
    fig, axes = pyplot().subplots(1, len(panels), figsize=(6.0 * len(panels), 5.4), squeeze=False)
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
    return png_bytes(fig)


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


def projection_arrays(store: Store, run: str, config: str) -> tuple[str, str]:
    """(coordinates, rows) of a projection, as the layout names them."""
    layout = store.run(run)
    return layout.projection_coordinates(config), layout.projection_rows(config)


@dataclass
class _Inputs:
    """What every projection of a run reads: its current latents, and the PCA coordinates of
    the current statistics when there are any."""

    store: Store
    run: str
    z_arr: Any
    z_fp: str
    pca_arr: Any | None
    pca_fp: str | None
    colour: tuple[str, np.ndarray] | None
    stale: str | None = None  # why the statistics' PCA coordinates cannot be used

    def require_pca(self, config: str) -> None:
        """A PCA configuration needs PCA coordinates of these very latents."""
        if self.stale:
            raise StoreError(f"{self.stale} (needed by {config})")
        if self.pca_arr is None:
            raise StoreError(f"{self.store.join(self.store.run(self.run).stats.root)} has no PCA "
                             f"coordinates: run `zspace analyze --store {self.store.url} --run "
                             f"{self.run}` first (needed by {config})")

    @property
    def shape(self) -> tuple[int, int]:
        n, z = self.z_arr.shape
        return int(n), int(z)


def _inputs(store: Store, run: str, params: TsneParams) -> _Inputs:
    z_arr = current_latents(store, run)
    z_fp = str(z_arr.attrs.get("fingerprint"))
    pca_arr = pca_fp = stale = None
    pca_rel = store.run(run).stats.array("pca_coordinates")
    if store.has_array(pca_rel) and store.exists(store.run(run).stats.complete):
        try:
            current_stats_record(store, run, z_arr)  # statistics of older latents: not used
            pca_arr = complete_array(store, pca_rel, "run `zspace analyze` first",
                                     f"rerun `zspace analyze --store {store.url} --run {run}`")
            pca_fp = str(pca_arr.attrs.get("fingerprint"))
        except StoreError as e:
            stale = str(e)
    dataset = (store.read_json_if(store.run(run).train_record, {}) or {}).get("dataset")
    colour = colour_values(store, dataset, int(z_arr.shape[0]), params.color_factor)
    return _Inputs(store, run, z_arr, z_fp, pca_arr, pca_fp, colour, stale)


def _plan(inp: _Inputs, config: str, params: TsneParams) -> dict[str, Any]:
    spec = CONFIGS[config]
    n_total, z_dim = inp.shape
    n = min(spec["n_points"], n_total, params.max_points or spec["n_points"])
    k = spec["pca"]
    source: dict[str, Any] = {"latents": inp.store.join(inp.store.run(inp.run).latents("z_mean")),
                              "latents_fingerprint": inp.z_fp}
    if k is not None:
        inp.require_pca(config)
        source["pca_coordinates_fingerprint"] = inp.pca_fp
        k = min(k, z_dim)
    return {"version": PROJECT_VERSION, "config": config, "n_requested": spec["n_points"],
            "n": n, "pca_components": k, "tsne": tsne_settings(config, params),
            "seed": params.seed, "negative_gradient_method": gradient_method(n), **source}


def _compute(inp: _Inputs, config: str, plan: dict[str, Any], n_jobs: int) -> dict[str, Any]:
    """One t-SNE: coordinates and rows (small arrays), the figure, then the record (last)."""
    store, layout = inp.store, inp.store.run(inp.run)
    n, k, settings, seed = plan["n"], plan["pca_components"], plan["tsne"], plan["seed"]
    n_total, z_dim = inp.shape
    t0 = time.perf_counter()
    rows = sample_rows(n_total, n, seed)
    x = read_rows(inp.pca_arr, rows, k) if k is not None else read_rows(inp.z_arr, rows)
    radius = np.linalg.norm(read_rows(inp.z_arr, rows) if k is not None else x, axis=1)
    coords = run_tsne(x, settings, seed, n_jobs)
    if not np.isfinite(coords).all():
        raise ValueError(f"t-SNE {config} of run {inp.run!r} gave non-finite coordinates")
    seconds = time.perf_counter() - t0
    coords_rel, rows_rel = projection_arrays(store, inp.run, config)
    fp = store.write_small_array(coords_rel, coords)
    store.write_small_array(rows_rel, rows)
    panels = [("radius ||z||", radius)]
    if inp.colour is not None:
        panels.append((f"factor {inp.colour[0]}", inp.colour[1][rows]))
    title = f"t-SNE {config} of {inp.run}: {n:,} points" + (
        f" (PCA, first {k} components)" if k is not None else f" x {z_dim} components")
    fig_file = f"tsne_{config}.png"
    store.write_bytes(layout.figure(fig_file), scatter_png(coords, panels, title))
    cf = inp.colour[0] if inp.colour else None
    rec = {"plan": plan, "n": n, "fingerprint": fp, "seconds": round(seconds, 2),
           "figure": fig_file, "colour_factor": cf, "title": f"t-SNE: {config}",
           "caption": _caption(config, n, k, z_dim, settings, seed, cf)}
    store.write_json(layout.projection_record(config), rec)
    return rec


def _project_one(inp: _Inputs, config: str, params: TsneParams, n_jobs: int
                 ) -> dict[str, Any]:
    """A finished projection with the same plan is kept; anything else is computed anew."""
    plan = _plan(inp, config, params)
    layout = inp.store.run(inp.run)
    rec = inp.store.read_json_if(layout.projection_record(config))
    cached = bool(rec and rec.get("plan") == plan
                  and inp.store.exists(layout.figure(f"tsne_{config}.png")))
    if not cached:
        inp.store.remove(layout.projection_record(config))
        rec = _compute(inp, config, plan, n_jobs)
    return {"rel": layout.projection(config), "n": rec["n"], "fingerprint": rec["fingerprint"],
            "seconds": rec["seconds"], "cached": cached}


def _manifest_entries(inp: _Inputs) -> list[dict[str, str]]:
    """Every finished projection of these latents (also of earlier calls); projections of
    older latents or older statistics are left out."""
    layout, entries = inp.store.run(inp.run), []
    for config in CONFIGS:
        rec = inp.store.read_json_if(layout.projection_record(config))
        if not rec:
            continue
        plan = rec.get("plan", {})
        current = plan.get("latents_fingerprint") == inp.z_fp and (
            plan.get("pca_components") is None
            or plan.get("pca_coordinates_fingerprint") == inp.pca_fp)
        if current and inp.store.exists(layout.figure(rec["figure"])):
            entries.append({"file": rec["figure"], "title": rec["title"],
                            "caption": rec["caption"], "section": "projections"})
    return entries


def project_latents(store_url: str, run: str, params: TsneParams | dict[str, Any] | None = None,
                    show_progress: bool = True) -> dict[str, Any]:
    """All asked-for projections of runs/<run>/latents/z_mean; finished ones are not redone."""
    params = params if isinstance(params, TsneParams) else TsneParams(**(params or {}))
    store = Store(store_url)
    inp = _inputs(store, run, params)
    n_jobs = params.n_jobs or os.cpu_count() or 1
    results: dict[str, Any] = {}
    from tqdm import tqdm

    for config in tqdm(params.configs, desc=f"t-SNE {run}", unit="config",
                       disable=not show_progress):
        results[config] = _project_one(inp, config, params, n_jobs)
    manifest = write_manifest(store, run, "project", _manifest_entries(inp))
    fp_all = hashlib.sha256(json.dumps({c: r["fingerprint"] for c, r in results.items()},
                                       sort_keys=True).encode()).hexdigest()
    return {"run": run, "projections": results, "manifest": manifest, "fingerprint": fp_all}
