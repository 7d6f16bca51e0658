"""Decoding artificial latent vectors: what the decoder makes of points the encoder never
produced, how data-like the images are, and where the probe points lie.

Samplers are in :mod:`.samplers` (``n_images`` vectors each, seeded); every decoded grid is also
sharpened with PIL ``ImageEnhance.Sharpness(sharpen_factor)``. Scores per sampler
(:mod:`.scoring`, :mod:`.realism`): realism (against the model's reconstructions), with
and without sharpening,
placement of the probes (on the data, in a void, outside the data's region), the variance of
the Laplacian (sharpness) before and after sharpening, the distance of z to the nearest training
z_mean, and, secondary, the RMS distance to the nearest of ``n_reference`` training images.

Output: runs/<run>/samples/<sampler>.npz (z, images float32 in [0, 1], sharpened uint8),
runs/<run>/samples/scores.json (written last: the completion record), figures gen_*.png
(:mod:`.figures`) and the manifest figures/generate.json.

Traversals (:func:`write_traversals`): strips decoded along the dominant components, the leading
principal components and the best-carried attribute directions (:mod:`.traversals`), filed in
the report's "meaning" section (manifest figures/traversals.json).
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from zspace.storage import Store, StoreError, read_array, read_rows, split_rows
from zspace.tasks.common.figures import to_uint8, write_manifest
from zspace.tasks.common.runs import current_latents, current_stats_record
from zspace.tasks.common.sampling import sample_rows
from zspace.tasks.generate.figures import FIGURES, Generated
from zspace.tasks.generate.params import SamplerParams
from zspace.tasks.generate.realism import (
    REALISM_COMPONENTS,
    REALISM_RULE,
    DataCloud,
    PixelTypicality,
    ReencodeReference,
    placement,
    realism,
    realism_summary,
    reencode_scores,
    sharpening_gain,
    void_or_miss,
    why_random_fail,
)
from zspace.tasks.generate.samplers import (
    cholesky_factor,
    draw,
    r_limit_of,
    sampler_names,
    sampler_of,
)
from zspace.tasks.generate.scoring import laplacian_variance, nearest_distances, sharpen
from zspace.tasks.generate.traversals import LatentSpread, attribute_directions, traversal_figures

GENERATE_VERSION = 3  # 3: realism against reconstructions, why_random_fail


# -- the stage ------------------------------------------------------------------------------
def _npz(**arrays: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


@dataclass
class _Inputs:
    store: Store
    run: str
    train: dict[str, Any]
    latents: Any
    plan: dict[str, Any]
    mean: np.ndarray  # the data's z_mean statistics (stats/mean, stats/covariance)
    covariance: np.ndarray


def _inputs(store: Store, run: str, params: SamplerParams) -> _Inputs:
    """The run's record, its current latents and statistics (refused when stale), the plan."""
    train = store.read_run_record(run)
    lat = current_latents(store, run)
    stats_record = current_stats_record(store, run, lat)
    plan = {"version": GENERATE_VERSION, "params": json.loads(params.model_dump_json()),
            "model_fingerprint": train.get("model_fingerprint"),
            "dataset_fingerprint": train.get("dataset_fingerprint"),
            "latents_fingerprint": lat.attrs.get("fingerprint"),
            "stats_fingerprint": stats_record.get("fingerprint")}
    stats = store.run(run).stats
    return _Inputs(store, run, train, lat, plan, read_array(store, stats.array("mean")),
                   read_array(store, stats.array("covariance")))


def _finished(inp: _Inputs) -> dict[str, Any] | None:
    """scores.json of a finished call with the same plan, its figures all present."""
    layout = inp.store.run(inp.run)
    done = inp.store.read_json_if(layout.scores)
    entries = inp.store.read_json_if(layout.manifest("generate"))
    if done and entries is not None and done.get("plan") == inp.plan and all(
            inp.store.exists(layout.figure(e["file"])) for e in entries):
        return done
    return None


def _decode_samplers(inp: _Inputs, model: Any, params: SamplerParams, names: list[str],
                     show_progress: bool) -> tuple[dict[str, np.ndarray], ...]:
    """Draw, decode and sharpen every sampler; each sampler's arrays saved as it is done."""
    from tqdm import tqdm

    zs, decoded, sharp = {}, {}, {}
    for name in tqdm(names, desc=f"generate {inp.run}", unit="sampler", disable=not show_progress):
        zs[name] = draw(name, params, int(model.z_dim), inp.mean, inp.covariance)
        decoded[name] = model.decode(zs[name].astype(np.float32), batch_size=params.batch_size)
        sharp[name] = sharpen(decoded[name], params.sharpen_factor)
        inp.store.write_bytes(inp.store.run(inp.run).sample(name), _npz(
            z=zs[name].astype(np.float32), images=decoded[name], sharpened=sharp[name]))
    return zs, decoded, sharp


def _data_cloud(inp: _Inputs, train_rows: np.ndarray, seed: int) -> DataCloud:
    """The fitted Gaussian, the data's Mahalanobis distances and its own nearest-neighbour
    distances (a seeded sample of train points against the other train points)."""
    own = train_rows[sample_rows(len(train_rows), min(len(train_rows) // 2, 1000), seed + 2)]
    others = np.setdiff1d(train_rows, own)
    q = read_rows(inp.latents, np.sort(own))
    data_nn = nearest_distances(q, inp.latents, others) if len(others) else np.zeros(1)
    stats = inp.store.run(inp.run).stats
    return DataCloud.fit(inp.mean, *(read_array(inp.store, stats.array(name)) for name in
                                     ("pca_components", "pca_eigenvalues", "mahalanobis")),
                         data_nn)


def _uint8_rows(images: Any, rows: np.ndarray) -> np.ndarray:
    """Images as stored (uint8): read_rows gives float64 in 0-255, which the scores would read
    as [0, 1] floats (to_uint8 saturates them to white)."""
    return read_rows(images, np.sort(rows)).astype(np.uint8)


@dataclass
class _Reencode:
    ref: ReencodeReference
    encode: Any
    decode: Any


def _reencode_reference(inp: _Inputs, model: Any, images: Any, train_rows: np.ndarray,
                        params: SamplerParams) -> _Reencode:
    """Realism's reference: reconstructions of two disjoint seeded sets of held-out images
    (the val and test splits; the train split when they hold fewer than 40)."""
    dataset = inp.train["dataset"]
    held = np.sort(np.concatenate([split_rows(inp.store, dataset, s) for s in ("val", "test")]))
    pool = held if len(held) >= 40 else train_rows
    rows = pool[sample_rows(len(pool), min(len(pool), 400), params.seed + 3)]
    half = len(rows) // 2

    def encode(x: np.ndarray) -> np.ndarray:  # decoded floats quantised as stored images are
        x = x if x.dtype == np.uint8 else to_uint8(x)
        return model.encode(x, batch_size=params.batch_size)["z_mean"]

    def decode(z: np.ndarray) -> np.ndarray:
        return model.decode(np.asarray(z, np.float32), batch_size=params.batch_size)

    ref = ReencodeReference.fit(_uint8_rows(images, rows[:half]),
                                _uint8_rows(images, rows[half:]), encode, decode,
                                inp.mean, inp.covariance)
    return _Reencode(ref, encode, decode)


def _realism(r: _Reencode, decoded: np.ndarray, sharp: np.ndarray) -> dict[str, Any]:
    """realism of the decoded and of the sharpened images, and the paired gain."""
    plain = reencode_scores(decoded, r.encode, r.decode, r.ref)
    sharpened = reencode_scores(sharp, r.encode, r.decode, r.ref)
    return {**realism_summary(plain), **realism_summary(sharpened, "realism_sharpened"),
            **sharpening_gain(plain, sharpened)}


def _score_samplers(inp: _Inputs, model: Any, params: SamplerParams, names: list[str],
                    samples: tuple[dict[str, np.ndarray], ...]) -> tuple[dict, dict, float]:
    """(scores per sampler, reference sizes, the training images' sharpness)."""
    zs, decoded, sharp = samples
    dataset = inp.train["dataset"]
    train_rows = split_rows(inp.store, dataset, "train")
    if len(train_rows) == 0:
        raise StoreError(f"dataset {dataset!r} has no images in its train split")
    ref_rows = train_rows[sample_rows(len(train_rows), params.n_reference, params.seed)]
    images = inp.store.open_array(inp.store.dataset(dataset).images)
    n = params.n_images
    queries = np.concatenate([decoded[k] for k in names]
                             + [sharp[k].astype(np.float32) / 255.0 for k in names])
    d_pix = nearest_distances(queries, images, ref_rows) / np.sqrt(queries[0].size)
    d_lat = nearest_distances(np.concatenate([zs[k] for k in names]), inp.latents, train_rows)
    ref_imgs = read_rows(images, np.sort(ref_rows[sample_rows(
        len(ref_rows), min(len(ref_rows), 256), params.seed + 1)])).astype(np.uint8)
    cloud = _data_cloud(inp, train_rows, params.seed)
    typical = PixelTypicality.fit(_uint8_rows(images, ref_rows), seed=params.seed)
    reencode = _reencode_reference(inp, model, images, train_rows, params)

    scores = {}
    for i, name in enumerate(names):
        sl, sl_s = slice(i * n, (i + 1) * n), slice((len(names) + i) * n, (len(names) + i + 1) * n)
        scores[name] = {
            "r_limit": r_limit_of(name), "n": n,
            **_realism(reencode, decoded[name], sharp[name]),
            "pixel_typicality": float(realism(decoded[name], typical).mean()),
            "pixel_typicality_rule": REALISM_RULE,
            "placement": placement(zs[name], d_lat[sl], cloud),
            "radius_mean": float(np.linalg.norm(zs[name], axis=1).mean()),
            "sharpness": float(laplacian_variance(decoded[name]).mean()),
            "sharpness_sharpened": float(laplacian_variance(sharp[name]).mean()),
            "latent_nn": float(d_lat[sl].mean()),
            "pixel_nn": float(d_pix[sl].mean()), "pixel_nn_sharpened": float(d_pix[sl_s].mean()),
            "min": float(decoded[name].min()), "max": float(decoded[name].max())}
    reference = {"n_reference": int(len(ref_rows)), "n_train_latents": int(len(train_rows)),
                 "training_sharpness": float(laplacian_variance(ref_imgs).mean()),
                 "realism_components": REALISM_COMPONENTS}
    return scores, reference, reference["training_sharpness"]


def generate_samples(store_url: str, run: str, params: SamplerParams | dict[str, Any] | None = None,
                     show_progress: bool = True) -> dict[str, Any]:
    """Decode every sampler's vectors, score them, draw the figures; a finished call with the
    same parameters, model and statistics is not redone."""
    from zspace.tasks.common.runs import load_run_model

    params = params if isinstance(params, SamplerParams) else SamplerParams(**(params or {}))
    store = Store(store_url)
    inp = _inputs(store, run, params)
    done = _finished(inp)
    if done is not None:
        return _result(store, run, done, store.run(run).manifest("generate"), cached=True)
    t0 = time.perf_counter()
    model = load_run_model(store, run)
    names = sampler_names(params)
    samples = _decode_samplers(inp, model, params, names, show_progress)
    scores, reference, ref_sharpness = _score_samplers(inp, model, params, names, samples)
    answer = void_or_miss({k: v["placement"] for k, v in scores.items()},
                          tuple(k for k in names if not sampler_of(k).uses_data))
    why = why_random_fail({k: {**v["placement"], "realism": v["realism"],
                               "realism_ci": v["realism_ci"]} for k, v in scores.items()})
    _, jitter = cholesky_factor(inp.covariance)
    g = Generated(run, params, names, samples[1], samples[2], scores, ref_sharpness, jitter, why)
    manifest = write_manifest(store, run, "generate", _write_figures(store, run, g))
    fp = hashlib.sha256(json.dumps([inp.plan, scores], sort_keys=True).encode()).hexdigest()
    record = {"plan": inp.plan, "scores": scores, "reference": reference, "void_or_miss": answer,
              "why_random_fail": why,
              "cholesky_jitter": jitter, "fingerprint": fp,
              "samples": {k: store.run(run).sample(k) for k in names},
              "seconds": round(time.perf_counter() - t0, 2)}
    store.write_json(store.run(run).scores, record)
    return _result(store, run, record, manifest, cached=False)


def _write_figures(store: Store, run: str, g: Generated) -> list[dict[str, str]]:
    entries = []
    for make in FIGURES:
        for f in make(g):
            store.write_bytes(store.run(run).figure(f.file), f.png)
            entries.append({"file": f.file, "title": f.title, "caption": f.caption,
                            "section": "generation"})
    return entries


def _result(store: Store, run: str, record: dict[str, Any], manifest: str, cached: bool
            ) -> dict[str, Any]:
    return {"run": run, "samplers": list(record["scores"]), "scores_rel": store.run(run).scores,
            "manifest": manifest, "fingerprint": record["fingerprint"],
            "seconds": record["seconds"], "cached": cached}


# -- traversals -----------------------------------------------------------------------------
def write_traversals(store_url: str, run: str) -> dict[str, Any]:
    """Decode the traversal strips of a run and write them with their manifest."""
    from zspace.tasks.common.runs import load_run_model

    store = Store(store_url)
    layout = store.run(run)
    summary = store.read_json(layout.stats.summary)
    meaning = store.read_json_if(layout.stats.meaning, {}) or {}
    cov = read_array(store, layout.stats.array("covariance"))
    std = np.sqrt(np.diag(cov))
    spread = LatentSpread(read_array(store, layout.stats.array("mean")), std,
                          read_array(store, layout.stats.array("pca_components")),
                          read_array(store, layout.stats.array("pca_eigenvalues")), cov)
    # the dominant components, or when none stands out, the widest ones
    components = summary["dominant_components"] or [int(j) for j in np.argsort(-std)[:4]]
    model = load_run_model(store, run)
    figs = traversal_figures(lambda z, b: model.decode(z, b), spread, components,
                             attribute_directions(meaning))
    for f in figs:
        store.write_bytes(layout.figure(str(f["file"])), f.pop("png"))  # type: ignore[arg-type]
        f["caption"] = ("Decoded from the data mean moved by t x the data's spread along the "
                        "direction, t = -3 ... 3; the middle image is the mean itself.")
    write_manifest(store, run, "traversals", figs)  # type: ignore[arg-type]
    return {"figures": [f["file"] for f in figs], "stats_fingerprint": summary.get("fingerprint")}
