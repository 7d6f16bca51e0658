"""Decoding artificial latent vectors (SPEC.md §5): what the decoder makes of points the encoder
never produced, and how far they land from the data.

Samplers (``n_images`` vectors each, seeded):

    normal          z ~ N(0, I), the study's grid of 28
    uniform-r<r>    every component uniform in [-r, r], for each r_limit (0.5 ... 8)
    gaussian-fit    z ~ N(mean, covariance) of the data's z_mean (stats/mean, stats/covariance),
                    drawn through the Cholesky factor: correlated components, as in the data

Each decoded grid is also sharpened with PIL ``ImageEnhance.Sharpness(sharpen_factor)``.
Scores per sampler: the mean distance of each decoded image to its nearest training image
(RMS over pixels in [0, 1], on a seeded sample of ``n_reference`` training images, read chunk by
chunk), the mean distance of each z to its nearest training z_mean, and the mean variance of the
Laplacian of the grey image (sharpness), before and after sharpening.

Output: runs/<run>/samples/<sampler>.npz (z, images float32 in [0, 1], sharpened uint8),
runs/<run>/samples/scores.json (written last: the completion record), figures gen_*.png and
the manifest figures/generate.json.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from zspace.storage import Store, StoreError, is_complete, iter_row_blocks, read_rows, split_rows
from zspace.tasks.common.figures import (
    _plt,
    grid_figure,
    png_bytes,
    rows_figure,
    to_uint8,
    write_manifest,
)
from zspace.tasks.common.sampling import sample_rows

GENERATE_VERSION = 1
R_LIMITS = (0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 5.0, 8.0)


class GenerateParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    n_images: int = Field(28, ge=1, le=4096, description="images per sampler")
    r_limits: tuple[float, ...] = R_LIMITS
    sharpen_factor: float = Field(7.0, ge=0)
    compare_factors: tuple[float, ...] = (0.0, 3.0, 6.0)
    n_reference: int = Field(2000, ge=1, description="training images for the pixel-space distance")
    grid_cols: int = Field(7, ge=1)
    seed: int = 0
    batch_size: int = Field(256, ge=1)

    @field_validator("r_limits")
    @classmethod
    def _positive(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if not v or min(v) <= 0:
            raise ValueError("r_limits must be a non-empty list of positive numbers")
        return tuple(sorted(float(r) for r in v))


# -- samplers -------------------------------------------------------------------------------
def cholesky_factor(cov: np.ndarray) -> tuple[np.ndarray, float]:
    """Lower Cholesky factor, with the smallest diagonal jitter (relative to the mean variance)
    that makes a semi-definite covariance (e.g. a dead component) positive definite."""
    cov = np.asarray(cov, dtype=np.float64)
    cov = (cov + cov.T) / 2
    scale = max(float(np.trace(cov)) / len(cov), 1e-12)
    jitter = 0.0
    for _ in range(12):
        try:
            return np.linalg.cholesky(cov + jitter * np.eye(len(cov))), jitter
        except np.linalg.LinAlgError:
            jitter = scale * 1e-10 if jitter == 0 else jitter * 10
    raise ValueError(f"covariance is not positive semi-definite (jitter {jitter:g} did not help)")


def sample_fitted_gaussian(mean: np.ndarray, cov: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """n vectors from N(mean, cov) as mean + eps @ L.T (L the Cholesky factor), float64."""
    mean = np.asarray(mean, dtype=np.float64)
    lower, _ = cholesky_factor(cov)
    eps = np.random.default_rng(seed).standard_normal((n, len(mean)))
    return mean + eps @ lower.T


def sampler_names(params: GenerateParams) -> list[str]:
    return ["normal", *[f"uniform-r{r:g}" for r in params.r_limits], "gaussian-fit"]


def draw(name: str, params: GenerateParams, z_dim: int, mean: np.ndarray, cov: np.ndarray) -> np.ndarray:
    seed = [params.seed, int(hashlib.sha256(name.encode()).hexdigest()[:8], 16)]
    rng = np.random.default_rng(seed)
    n = params.n_images
    if name == "normal":
        return rng.standard_normal((n, z_dim))
    if name.startswith("uniform-r"):
        r = float(name.removeprefix("uniform-r"))
        return rng.uniform(-r, r, size=(n, z_dim))
    if name == "gaussian-fit":
        return sample_fitted_gaussian(mean, cov, n, int(rng.integers(2**31)))
    raise ValueError(f"unknown sampler {name!r}")


# -- images ---------------------------------------------------------------------------------


def sharpen(images: np.ndarray, factor: float) -> np.ndarray:
    """PIL ImageEnhance.Sharpness on each image; float [0, 1] or uint8 in, uint8 out."""
    from PIL import Image, ImageEnhance

    x = images if images.dtype == np.uint8 else to_uint8(images)
    return np.stack([np.asarray(ImageEnhance.Sharpness(Image.fromarray(im)).enhance(factor))
                     for im in x]) if len(x) else x.copy()


def laplacian_variance(images: np.ndarray) -> np.ndarray:
    """Per image: variance of the 4-neighbour Laplacian of the grey image in [0, 1]."""
    x = images.astype(np.float64) / 255.0 if images.dtype == np.uint8 else images.astype(np.float64)
    g = x.mean(axis=-1)
    lap = (g[:, :-2, 1:-1] + g[:, 2:, 1:-1] + g[:, 1:-1, :-2] + g[:, 1:-1, 2:]
           - 4 * g[:, 1:-1, 1:-1])
    return lap.reshape(len(g), -1).var(axis=1)


# -- nearest neighbours, chunk-wise -----------------------------------------------------------
def _update_nearest(best: np.ndarray, q: np.ndarray, q2: np.ndarray, ref: np.ndarray) -> None:
    """best[i] = min(best[i], min_j ||q_i - ref_j||^2), in float64."""
    r2 = np.einsum("ij,ij->i", ref, ref)
    d2 = q2[:, None] + r2[None, :] - 2.0 * (q @ ref.T)
    np.minimum(best, d2.min(axis=1), out=best)


def nearest_distances(queries: np.ndarray, arr: Any, rows: np.ndarray, flatten: bool = True) -> np.ndarray:
    """Euclidean distance of each query to its nearest row of `arr` among the sorted `rows`,
    reading one zarr chunk at a time (uint8 images are compared in [0, 1])."""
    q = queries.reshape(len(queries), -1).astype(np.float64)
    q2 = np.einsum("ij,ij->i", q, q)
    best = np.full(len(q), np.inf)
    for _, _, block in iter_row_blocks(arr, rows):
        ref = block.reshape(len(block), -1).astype(np.float64)
        if block.dtype == np.uint8:
            ref /= 255.0
        _update_nearest(best, q, q2, ref)
    return np.sqrt(np.maximum(best, 0.0))


# -- the stage ------------------------------------------------------------------------------
def _require(store: Store, rel: str, what: str) -> None:
    if not store.exists(rel):
        raise StoreError(f"{store.join(rel)} does not exist: {what}")


def _npz(**arrays: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def generate_samples(store_url: str, run: str, params: GenerateParams | dict[str, Any] | None = None,
                     show_progress: bool = True) -> dict[str, Any]:
    """Decode every sampler's vectors, score them, draw the figures; a finished call with the
    same parameters, model and statistics is not redone."""
    params = params if isinstance(params, GenerateParams) else GenerateParams(**(params or {}))
    store = Store(store_url)
    run_rel = Store.run_rel(run)
    stats_rel = Store.stats_rel(run)
    lat_rel = Store.latents_rel(run, "z_mean")
    _require(store, f"{run_rel}/train.json", f"train run {run!r} first")
    _require(store, f"{lat_rel}/zarr.json", f"run `zspace encode --store {store_url} --run {run}` first")
    _require(store, f"{stats_rel}/complete.json",
             f"run `zspace analyze --store {store_url} --run {run}` first")
    train = store.read_json(f"{run_rel}/train.json")
    stats_record = store.read_json(f"{stats_rel}/complete.json")
    lat = store.open_array(lat_rel)
    if not is_complete(lat):
        raise StoreError(f"{store.join(lat_rel)} is not complete: rerun `zspace encode` to resume")
    if stats_record.get("input_fingerprint") != f"content:{lat.attrs.get('fingerprint')}":
        raise StoreError(f"{store.join(stats_rel)} holds statistics of older latents than "
                         f"{store.join(lat_rel)}: rerun `zspace analyze --store {store_url} "
                         f"--run {run}` first")
    plan = {"version": GENERATE_VERSION, "params": json.loads(params.model_dump_json()),
            "model_fingerprint": train.get("model_fingerprint"),
            "dataset_fingerprint": train.get("dataset_fingerprint"),
            "latents_fingerprint": lat.attrs.get("fingerprint"),
            "stats_fingerprint": stats_record.get("fingerprint")}
    samples_rel = f"{run_rel}/samples"
    scores_rel = f"{samples_rel}/scores.json"
    manifest_rel = f"{run_rel}/figures/generate.json"
    if store.exists(scores_rel) and store.exists(manifest_rel):
        done = store.read_json(scores_rel)
        if done.get("plan") == plan and all(store.exists(f"{run_rel}/figures/{e['file']}")
                                            for e in store.read_json(manifest_rel)):
            return _result(run, done, manifest_rel, cached=True)

    t0 = time.perf_counter()
    from zspace.tasks.common.runs import load_run_model

    model = load_run_model(store, run)
    z_dim = int(model.z_dim)
    mean = np.asarray(store.open_array(f"{stats_rel}/mean")[...], dtype=np.float64)
    cov = np.asarray(store.open_array(f"{stats_rel}/covariance")[...], dtype=np.float64)
    _, jitter = cholesky_factor(cov)

    names = sampler_names(params)
    zs: dict[str, np.ndarray] = {}
    decoded: dict[str, np.ndarray] = {}
    sharp: dict[str, np.ndarray] = {}
    it: Any = names
    if show_progress:
        from tqdm import tqdm

        it = tqdm(names, desc=f"generate {run}", unit="sampler")
    for name in it:
        zs[name] = draw(name, params, z_dim, mean, cov)
        decoded[name] = model.decode(zs[name].astype(np.float32), batch_size=params.batch_size)
        sharp[name] = sharpen(decoded[name], params.sharpen_factor)
        store.write_bytes(f"{samples_rel}/{name}.npz",
                          _npz(z=zs[name].astype(np.float32), images=decoded[name],
                               sharpened=sharp[name]))

    # nearest training neighbours: one pass over the images, one over the latents
    dataset = train["dataset"]
    train_rows = split_rows(store, dataset, "train")
    if len(train_rows) == 0:
        raise StoreError(f"dataset {dataset!r} has no images in its train split")
    ref_rows = train_rows[sample_rows(len(train_rows), params.n_reference, params.seed)]
    images = store.open_array(Store.images_rel(dataset))
    n = params.n_images
    queries = np.concatenate([decoded[k] for k in names]
                             + [sharp[k].astype(np.float32) / 255.0 for k in names])
    d_pix = nearest_distances(queries, images, ref_rows) / np.sqrt(queries[0].size)
    d_lat = nearest_distances(np.concatenate([zs[k] for k in names]), lat, train_rows)
    ref_sample = sample_rows(len(ref_rows), min(len(ref_rows), 256), params.seed + 1)
    ref_imgs = read_rows(images, np.sort(ref_rows[ref_sample])).astype(np.uint8)
    ref_sharpness = float(laplacian_variance(ref_imgs).mean())

    scores: dict[str, dict[str, Any]] = {}
    for i, name in enumerate(names):
        sl = slice(i * n, (i + 1) * n)
        sl_s = slice((len(names) + i) * n, (len(names) + i + 1) * n)
        scores[name] = {
            "r_limit": float(name.removeprefix("uniform-r")) if name.startswith("uniform-r") else None,
            "n": n,
            "radius_mean": float(np.linalg.norm(zs[name], axis=1).mean()),
            "pixel_nn": float(d_pix[sl].mean()),
            "pixel_nn_sharpened": float(d_pix[sl_s].mean()),
            "latent_nn": float(d_lat[sl].mean()),
            "sharpness": float(laplacian_variance(decoded[name]).mean()),
            "sharpness_sharpened": float(laplacian_variance(sharp[name]).mean()),
            "min": float(decoded[name].min()),
            "max": float(decoded[name].max()),
        }
    entries = _figures(store, run, params, names, decoded, sharp, scores, ref_sharpness, jitter)
    manifest = write_manifest(store, run, "generate", entries)
    fp = hashlib.sha256(json.dumps([plan, scores], sort_keys=True).encode()).hexdigest()
    record = {"plan": plan, "scores": scores, "reference": {
        "n_reference": int(len(ref_rows)), "n_train_latents": int(len(train_rows)),
        "training_sharpness": ref_sharpness}, "cholesky_jitter": jitter,
        "samples": {k: f"{samples_rel}/{k}.npz" for k in names}, "fingerprint": fp,
        "seconds": round(time.perf_counter() - t0, 2)}
    store.write_json(scores_rel, record)
    return _result(run, record, manifest, cached=False)


def _result(run: str, record: dict[str, Any], manifest: str, cached: bool) -> dict[str, Any]:
    return {"run": run, "samplers": list(record["scores"]), "scores_rel":
            f"{Store.run_rel(run)}/samples/scores.json", "manifest": manifest,
            "fingerprint": record["fingerprint"], "seconds": record["seconds"], "cached": cached}


def _figures(store: Store, run: str, p: GenerateParams, names: list[str],
             decoded: dict[str, np.ndarray], sharp: dict[str, np.ndarray],
             scores: dict[str, dict[str, Any]], ref_sharpness: float, jitter: float
             ) -> list[dict[str, str]]:
    fig_rel = f"{Store.run_rel(run)}/figures"
    entries: list[dict[str, str]] = []
    f = p.sharpen_factor

    def add(file: str, data: bytes, title: str, caption: str) -> None:
        store.write_bytes(f"{fig_rel}/{file}", data)
        entries.append({"file": file, "title": title, "caption": caption, "section": "generation"})

    what = {"normal": "z ~ N(0, I)", "gaussian-fit":
            "z ~ N(mean, covariance) fitted to all z_mean vectors (Cholesky factor"
            + (f", diagonal jitter {jitter:.2g}" if jitter else "") + ")"}
    for name in names:
        desc = what.get(name) or (f"each component uniform in [-{scores[name]['r_limit']:g}, "
                                  f"{scores[name]['r_limit']:g}] (r_limit {scores[name]['r_limit']:g})")
        s = scores[name]
        add(f"gen_{name}.png",
            grid_figure([("decoded", decoded[name]), (f"sharpened, factor {f:g}", sharp[name])],
                        f"{run}: decoded {name}", p.grid_cols),
            f"Decoded: {name}",
            f"{p.n_images} images decoded from {desc}, seed {p.seed}; right: PIL "
            f"ImageEnhance.Sharpness factor {f:g}. Nearest-training-image RMS distance "
            f"{s['pixel_nn']:.3f} (sharpened {s['pixel_nn_sharpened']:.3f}); nearest z_mean "
            f"{s['latent_nn']:.2f}; Laplacian variance {s['sharpness']:.2e} "
            f"(sharpened {s['sharpness_sharpened']:.2e}).")
    k = min(p.grid_cols, p.n_images)
    uni = [n for n in names if n.startswith("uniform-r")]
    add("gen_uniform_overview.png",
        rows_figure([(f"r_limit {scores[n]['r_limit']:g}", decoded[n][:k]) for n in uni],
                    f"{run}: decoded uniform z by r_limit"),
        "Decoded uniform z by r_limit",
        f"The first {k} decoded images per r_limit (components uniform in [-r_limit, r_limit]): "
        "quality falls with distance from the origin.")
    src = "gaussian-fit"
    rows = [("original", decoded[src][:k])] + [
        (f"factor {c:g}", sharpen(decoded[src][:k], c)) for c in p.compare_factors]
    add("gen_sharpen_compare.png", rows_figure(rows, f"{run}: sharpness factors"),
        "Sharpening factors compared",
        f"The first {k} images decoded from the fitted Gaussian, through PIL ImageEnhance.Sharpness "
        f"at factors {', '.join(f'{c:g}' for c in p.compare_factors)} (1 = unchanged, 0 = blurred).")

    plt = _plt()
    r = [scores[n]["r_limit"] for n in uni]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4))
    panels = [("pixel_nn", "pixel_nn_sharpened", "RMS distance to nearest training image"),
              ("latent_nn", None, "distance to nearest training z_mean"),
              ("sharpness", "sharpness_sharpened", "variance of the Laplacian")]
    for ax, (key, key_s, label) in zip(axes, panels, strict=True):
        ax.plot(r, [scores[n][key] for n in uni], "o-", color="C0", label="uniform z")
        if key_s:
            ax.plot(r, [scores[n][key_s] for n in uni], "s--", color="C0", alpha=0.6,
                    label=f"uniform z, sharpened {f:g}")
        for other, colour in (("normal", "C1"), ("gaussian-fit", "C2")):
            ax.axhline(scores[other][key], color=colour, label=f"{other}")
            if key_s:
                ax.axhline(scores[other][key_s], color=colour, ls="--", alpha=0.6,
                           label=f"{other}, sharpened")
        if key == "sharpness":
            ax.axhline(ref_sharpness, color="k", ls=":", label="training images")
        ax.set_xscale("log")
        ax.set_xticks(r, [f"{x:g}" for x in r], minor=False)
        ax.set_xticks([], minor=True)
        ax.set_xlabel("r_limit")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    axes[2].legend(fontsize=7)
    fig.suptitle(f"{run}: decoded samples scored against r_limit")
    fig.tight_layout()
    add("gen_scores.png", png_bytes(fig), "Sample scores against r_limit",
        f"Per sampler ({p.n_images} images each): mean RMS pixel distance to the nearest of "
        f"{p.n_reference:,} (at most) seeded training images, mean Euclidean distance of z to the "
        f"nearest training z_mean, and mean variance of the Laplacian of the grey image, before "
        f"(solid) and after (dashed) sharpening with factor {f:g}. Lines: N(0, I) and the fitted "
        "Gaussian; dotted: the training images' own sharpness.")
    return entries
