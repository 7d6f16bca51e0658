"""Calibration of the realism rules on seeded draws.

realism (the Findings row normal_faces, applied as written): a sampler gives data-like images
when the 95% bootstrap interval of its realism over the images lies at or above the threshold.
It needs a real model, so a tiny AE is trained once per calibrate() call on the project's own
synthetic 32 px faces; each draw then scores image sets of the Findings' size. Nulls: uniform
noise, decodes of far-out uniform z (the uniform-r8 sampler), a faded mean face with small
noise. Planted: the model's reconstructions of held-out faces, decodes of the data's fitted
Gaussian (the gaussian-fit sampler). Per-image realism does not depend on the other images, so
every draw's images are scored in one batch and summarised per draw.

void_or_miss (placement of probe z-points, no model): each answer is its own detection with
its own nulls. Probes drawn from the data's own distribution must read "on the data" (any
other answer is a false positive of off-data); probes between tight clusters inside the data's
region, and probes from the Gaussian fitted to such clusters, are planted voids; far-out
uniform probes are planted misses. "voids" on misses (and "miss the region" on voids) count
as false positives.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from zspace.tasks.calibration import nulls
from zspace.tasks.generate.realism import (
    DataCloud,
    ReencodeReference,
    placement,
    realism_summary,
    reencode_scores,
    void_or_miss,
)
from zspace.tasks.generate.samplers import sampler_of
from zspace.tasks.report.findings import normal_faces
from zspace.tasks.report.findings_stats import REPRODUCED

BENCHMARK = {"n": 4000, "z_dim": 128}
FACES = {"size": 32, "train": 600, "epochs": 10, "z_dim": 8, "reference": 80, "pool": 240}
N_IMAGES = 28  # the demo preset's generation n_images: the Findings' set size
FADED = {"contrast": 0.3, "noise": 0.02}
CLUSTERS = {"n_clusters": 30, "spread": 0.1}
N_PROBES, FAR = 200, 8.0
REALISM_STRENGTH = {
    "noise": "uniform pixel noise",
    "uniform-r8": "decodes of z uniform in [-8, 8] per component",
    "faded": f"the mean training face at {FADED['contrast']:g} of its contrast, pixel noise "
             f"std {FADED['noise']:g}",
    "reconstructions": "the model's reconstructions of held-out faces",
    "gaussian-fit": "decodes of z ~ N(mean, cov) fitted to the training faces' z",
}
PLACE_STRENGTH = {
    **{k: "probes drawn from the data's own distribution" for k in nulls.NULLS},
    "clusters": f"probes from the data's own {CLUSTERS['n_clusters']} clusters (std "
                f"{CLUSTERS['spread']:g})",
    "voids": f"probes at 0.35-0.65 of the way between two of {CLUSTERS['n_clusters']} cluster "
             f"centres N(0, I), jitter std {CLUSTERS['spread']:g} (clusters std "
             f"{CLUSTERS['spread']:g})",
    "clusters-gaussian-fit": f"probes from the Gaussian fitted to {CLUSTERS['n_clusters']} "
                             f"clusters std {CLUSTERS['spread']:g} (the gaussian-fit sampler)",
    "outside": f"probes uniform in [-{FAR:g}, {FAR:g}] per component (Gaussian null data)",
}
ON_DATA = (*nulls.NULLS, "clusters")
# rule -> (planted data sets, null data sets); realism's hit: the Findings says "faces"
RULES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "realism": (("reconstructions", "gaussian-fit"), ("noise", "uniform-r8", "faded")),
    "void_or_miss-voids": (("voids", "clusters-gaussian-fit"), (*ON_DATA, "outside")),
    "void_or_miss-miss-region": (("outside",), (*ON_DATA, "voids", "clusters-gaussian-fit")),
    "void_or_miss-off-data": (("voids", "clusters-gaussian-fit", "outside"), ON_DATA),
}
# rule -> does void_or_miss's answer detect what the rule claims
DETECTS = {"void_or_miss-voids": lambda a: a == "voids",
           "void_or_miss-miss-region": lambda a: a == "miss the region",
           "void_or_miss-off-data": lambda a: a != "on the data"}


# -- realism on a tiny trained AE -------------------------------------------------------------
@dataclass
class TinyModel:
    """A tiny AE trained on synthetic faces, its realism reference and held-out faces."""

    encode: Any
    decode: Any
    ref: ReencodeReference
    mean: np.ndarray
    cov: np.ndarray
    pool: np.ndarray  # held-out faces (uint8) for the reconstructions
    mean_face: np.ndarray  # float in [0, 1]


def train_tiny(seed: int = 0, faces: dict[str, int] | None = None) -> TinyModel:
    """Train the AE in-process (under a minute on one core; FACES, or smaller `faces` in the
    tests) and fit realism's reference as the stage does: reconstructions of two disjoint sets
    of held-out faces, uint8 as stored."""
    import keras

    from zspace.models import ModelConfig, build_model
    from zspace.tasks.common.figures import to_uint8
    from zspace.tasks.ingest.synthetic import synthetic_face

    f = {**FACES, **(faces or {})}
    total = f["train"] + 2 * f["reference"] + f["pool"]
    images = np.stack([synthetic_face(seed, i, f["size"])[0] for i in range(total)])
    keras.utils.set_random_seed(seed)
    model = build_model(ModelConfig(kind="ae", input_size=f["size"], filters=[8, 16, 16, 16],
                                    z_dim=f["z_dim"]))
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    train = images[: f["train"]]
    model.fit(train, batch_size=32, epochs=f["epochs"], verbose=0)

    def encode(x: np.ndarray) -> np.ndarray:  # decoded floats quantised as stored images are
        x = x if x.dtype == np.uint8 else to_uint8(x)
        return model.encode(x, 256)["z_mean"]

    def decode(z: np.ndarray) -> np.ndarray:
        return model.decode(np.asarray(z, dtype=np.float32), 256)

    z = np.asarray(encode(train), dtype=np.float64)
    mean, cov = z.mean(axis=0), np.cov(z, rowvar=False)
    a = f["train"] + f["reference"]
    ref = ReencodeReference.fit(images[f["train"]: a], images[a: a + f["reference"]], encode,
                                decode, mean, cov)
    mean_face = train.astype(np.float64).mean(axis=0) / 255.0
    return TinyModel(encode, decode, ref, mean, cov, images[a + f["reference"]:], mean_face)


def _realism_sets(rng: np.random.Generator, m: TinyModel, n: int) -> dict[str, np.ndarray]:
    """One draw's image sets (z for decoded sets; images otherwise)."""
    d = len(m.mean)
    face = m.mean_face.mean() + FADED["contrast"] * (m.mean_face - m.mean_face.mean())
    return {
        "noise": rng.uniform(0, 1, (n, *m.mean_face.shape)).astype(np.float32),
        "uniform-r8": sampler_of("uniform-r8").draw(rng, n, d, 8.0, m.mean, m.cov),
        "faded": np.clip(face + rng.normal(0, FADED["noise"], (n, *face.shape)), 0, 1
                         ).astype(np.float32),
        "reconstructions": m.pool[rng.choice(len(m.pool), n, replace=False)],
        "gaussian-fit": sampler_of("gaussian-fit").draw(rng, n, d, 0.0, m.mean, m.cov),
    }


def _images(name: str, x: np.ndarray, m: TinyModel) -> np.ndarray:
    if name in ("uniform-r8", "gaussian-fit"):
        return m.decode(x)
    return m.decode(m.encode(x)) if name == "reconstructions" else x


def realism_hits(m: TinyModel, n_draws: int, seed: int, n_images: int = N_IMAGES
                 ) -> dict[str, int]:
    """Per image set: the draws in which normal_faces('vae') reads 'faces' (reproduced)."""
    sets = list(nulls.draws(lambda rng: _realism_sets(rng, m, n_images), n_draws, seed))
    hits = {}
    for name in sets[0]:
        images = _images(name, np.concatenate([s[name] for s in sets]), m)
        per = reencode_scores(images, m.encode, m.decode, m.ref)
        h = 0
        for i in range(n_draws):
            sl = slice(i * n_images, (i + 1) * n_images)
            summary = realism_summary({k: v[sl] for k, v in per.items()})
            h += normal_faces("vae", {"scores": {"normal": summary}})["verdict"] == REPRODUCED
        hits[name] = h
    return hits


# -- void_or_miss: where probe z-points lie ----------------------------------------------------
def _nearest(q: np.ndarray, data: np.ndarray) -> np.ndarray:
    from sklearn.neighbors import NearestNeighbors

    return NearestNeighbors(n_neighbors=1).fit(data).kneighbors(q)[0][:, 0]


def _answer(rng: np.random.Generator, data: np.ndarray, probes: np.ndarray) -> str:
    """void_or_miss on one random sampler's probes, the cloud built as the stage builds it:
    fitted Gaussian and PCA, the data's Mahalanobis distances, nearest-neighbour distances of
    a sample of (at most 1000, at most half) data points to the other data points."""
    data = data.astype(np.float64)
    mean, cov = data.mean(axis=0), np.cov(data, rowvar=False)
    evals, evecs = np.linalg.eigh(cov)
    comps, evals = evecs[:, ::-1].T, np.maximum(evals[::-1], 0.0)
    order = rng.permutation(len(data))
    own, others = order[: min(len(data) // 2, 1000)], order[min(len(data) // 2, 1000):]
    partial = DataCloud.fit(mean, comps, evals, np.zeros(1), np.zeros(1))
    cloud = DataCloud.fit(mean, comps, evals, partial.mahalanobis(data),
                          _nearest(data[own], data[others]))
    where = placement(probes, _nearest(probes.astype(np.float64), data), cloud)
    return void_or_miss({"probe": where}, ("probe",))["answer"]


def _between(rng: np.random.Generator, n: int, z_dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Tight clusters (data) and probes between two random cluster centres (voids)."""
    centres = rng.normal(size=(CLUSTERS["n_clusters"], z_dim))
    which = rng.integers(0, len(centres), n)
    data = centres[which] + rng.normal(scale=CLUSTERS["spread"], size=(n, z_dim))
    pairs = np.stack([rng.choice(len(centres), 2, replace=False) for _ in range(N_PROBES)])
    t = rng.uniform(0.35, 0.65, (N_PROBES, 1))
    probes = (1 - t) * centres[pairs[:, 0]] + t * centres[pairs[:, 1]]
    return data, probes + rng.normal(scale=CLUSTERS["spread"], size=probes.shape)


def _place_draw(rng: np.random.Generator, n: int, z_dim: int) -> dict[str, str]:
    """One draw: void_or_miss's answer on every placement data set."""
    makes = {**nulls.NULLS, "clusters": lambda r, k, d: nulls.clusters(r, k, d, **CLUSTERS)}
    out = {}
    for name, make in makes.items():  # probes: further rows of the very same draw
        x = make(rng, n + N_PROBES, z_dim)
        out[name] = _answer(rng, x[:n], x[n:])
    data, between = _between(rng, n, z_dim)
    out["voids"] = _answer(rng, data, between)
    fit = sampler_of("gaussian-fit").draw(rng, N_PROBES, z_dim, 0.0, data.mean(axis=0),
                                          np.cov(data, rowvar=False))
    out["clusters-gaussian-fit"] = _answer(rng, data, fit)
    data = nulls.gaussian(rng, n, z_dim)
    out["outside"] = _answer(rng, data, rng.uniform(-FAR, FAR, (N_PROBES, z_dim)))
    return out


def placement_hits(n_draws: int, n: int, z_dim: int, seed: int) -> dict[tuple[str, str], int]:
    """(rule, data set) -> draws in which void_or_miss's answer detects what the rule claims."""
    hits: dict[tuple[str, str], int] = {}
    for draw in nulls.draws(lambda rng: _place_draw(rng, n, z_dim), n_draws, seed):
        for rule, detects in DETECTS.items():
            for ds, got in draw.items():
                hits[(rule, ds)] = hits.get((rule, ds), 0) + int(detects(got))
    return hits


def _row(rule: str, ds: str, planted: bool, strength: str, hits: int, n_draws: int
         ) -> dict[str, Any]:
    rate, low, high = nulls.rate_interval(hits, n_draws)
    return {"rule": rule, "dataset": ds, "kind": "planted" if planted else "null",
            "strength": strength, "draws": n_draws, "hits": hits, "rate": rate, "low": low,
            "high": high, "target": "power>=0.90" if planted else "fpr<=0.05",
            "ok": rate >= 0.90 if planted else rate <= 0.05, "status": "active"}


def calibrate(n_draws: int, n: int, z_dim: int, seed: int = 0,
              model: TinyModel | None = None, n_images: int = N_IMAGES
              ) -> list[dict[str, Any]]:
    """One row per (rule, data set) over n_draws seeded draws (see the calibration protocol).
    n and z_dim size void_or_miss's data; realism's sets are n_images images of a tiny AE
    (FACES) trained here once, unless a trained one is given."""
    m = model or train_tiny(seed)
    real = realism_hits(m, n_draws, seed, n_images)
    place = placement_hits(n_draws, n, z_dim, seed + 1)
    rows = []
    for rule, (planted, null) in RULES.items():
        for ds in (*null, *planted):
            h = real[ds] if rule == "realism" else place[(rule, ds)]
            text = (REALISM_STRENGTH[ds] + f", {n_images} images" if rule == "realism"
                    else PLACE_STRENGTH[ds])
            rows.append(_row(rule, ds, ds in planted, text, h, n_draws))
    return rows
