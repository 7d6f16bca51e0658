"""Does a decoded image look like the data? Re-encoding consistency, calibrated on data images.

Pixel distance to the nearest training image rewards blur and says nothing about whether an
image is a face. Instead the run's own encoder E and decoder D judge it: an image x is re-encoded
to E(x) and three numbers say how unlike the data it is, each as a percentile among data images:

- the Mahalanobis distance of E(x) under the data's fitted Gaussian (mean, covariance);
- the distance from E(x) to the nearest data z_mean (data: leave-one-out among themselves);
- the reconstruction error |D(E(x)) - x| (RMS per pixel value): the model reproduces images of
  the kind it was trained on, and fails on noise or on images it never saw the like of.

The image's atypicality s is the largest of the three percentiles; realism is the share of a
second, disjoint set of data images that are at least as atypical (a conformal p-value): ~0.5 on
average for data images, ~0 for images no data image resembles, in [0, 1].

What it can and cannot tell (measured on the tiny one-epoch AE / VAE of the tests, 32x32,
z_dim 8; data images A, B = 120 each, 80 held out): held-out data 0.47 / 0.46, their
reconstructions 0.93 / 0.95, uniform noise images 0.11 / 0.04 -- off-manifold images are caught.
But every decoded image is on the decoder's manifold, so it re-encodes consistently: decoded
N(0, I) 0.87 / 0.95, fitted Gaussian 0.91 / 0.95, uniform r_limit 2 0.88 / 0.95, uniform
r_limit 8 0.88 / 0.96. The score therefore separates images the model never saw the like of,
not good from bad decoder outputs; for ranking samplers use a pixel-space typicality score.

Where the probes lie (the 2023 addendum's question, "Autoencoders and latent space
fragmentation"): a probe z is inside the data's region when its Mahalanobis distance is below
the data's 99th percentile, and on the data when its distance to the nearest data z_mean is below
the 99th percentile of the data's own nearest-neighbour distances.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

Encode = Callable[[np.ndarray], np.ndarray]  # images -> z_mean
Decode = Callable[[np.ndarray], np.ndarray]  # z -> images float in [0, 1]

QUANTILE = 0.99
REALISM_RULE = (
    "realism = share of held-out data images at least as atypical as the image, where "
    "atypicality = max of three percentiles among data images: Mahalanobis distance of the "
    "re-encoded E(x) under the data's fitted Gaussian, distance of E(x) to the nearest data "
    "z_mean, and the RMS re-encoding error |D(E(x)) - x|; mean over the sampler's images; "
    "~0.5 = as data-like as data images, 0 = unlike every data image")
PLACEMENT_RULE = (
    f"inside the data's region: Mahalanobis distance below the data's {QUANTILE:.0%} quantile; "
    f"on the data: distance to the nearest data z_mean below the {QUANTILE:.0%} quantile of the "
    "data's own nearest-neighbour distances; nn_ratio = median of that distance over the data's "
    "median nearest-neighbour distance; inside but not on the data = in a void")


@dataclass(frozen=True)
class Whitening:
    """Mahalanobis distance under N(mean, cov), null directions left out (pseudo-inverse)."""

    mean: np.ndarray
    w: np.ndarray

    @classmethod
    def fit(cls, mean: np.ndarray, cov: np.ndarray) -> Whitening:
        evals, evecs = np.linalg.eigh(np.asarray(cov, dtype=np.float64))
        keep = evals > max(float(evals.max()), 0.0) * 1e-10
        return cls(np.asarray(mean, dtype=np.float64), evecs[:, keep] / np.sqrt(evals[keep]))

    def distance(self, z: np.ndarray) -> np.ndarray:
        return np.linalg.norm((np.asarray(z, dtype=np.float64) - self.mean) @ self.w, axis=1)


def _rms_error(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """RMS difference per image, both in [0, 1] (uint8 is rescaled)."""
    a = x.astype(np.float64) / (255.0 if x.dtype == np.uint8 else 1.0)
    b = y.astype(np.float64) / (255.0 if y.dtype == np.uint8 else 1.0)
    return np.sqrt(((a - b) ** 2).reshape(len(a), -1).mean(axis=1))


def _percentile(sorted_ref: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Share of the reference strictly below each value."""
    return np.searchsorted(sorted_ref, values, side="left") / len(sorted_ref)


@dataclass(frozen=True)
class RealismReference:
    """The data's side of every comparison, from two disjoint sets of data images."""

    whitening: Whitening
    tree: cKDTree  # data z_mean (set A)
    maha: np.ndarray  # sorted, set A
    nn: np.ndarray  # sorted leave-one-out NN distances, set A
    error: np.ndarray  # sorted re-encoding errors, set A
    calibration: np.ndarray  # sorted atypicality of set B


def _measures(images: np.ndarray, encode: Encode, decode: Decode, ref_tree: cKDTree,
              whitening: Whitening, k: int = 1) -> dict[str, np.ndarray]:
    z = np.asarray(encode(images), dtype=np.float64)
    nn = ref_tree.query(z, k=k)[0]
    return {"z": z, "maha": whitening.distance(z),
            "nn": nn if k == 1 else nn[:, -1], "error": _rms_error(images, decode(z))}


def build_reference(images_a: np.ndarray, images_b: np.ndarray, encode: Encode,
                    decode: Decode, mean: np.ndarray, cov: np.ndarray) -> RealismReference:
    """Reference distributions from data images A and the calibration from disjoint images B."""
    if len(images_a) < 10 or len(images_b) < 10:
        raise ValueError("realism needs at least 10 data images in each reference set, got "
                         f"{len(images_a)} and {len(images_b)}")
    whitening = Whitening.fit(mean, cov)
    z_a = np.asarray(encode(images_a), dtype=np.float64)
    tree = cKDTree(z_a)
    a = {"maha": whitening.distance(z_a), "nn": tree.query(z_a, k=2)[0][:, 1],
         "error": _rms_error(images_a, decode(z_a))}
    partial = RealismReference(whitening, tree, np.sort(a["maha"]), np.sort(a["nn"]),
                               np.sort(a["error"]), np.zeros(1))
    b = _measures(images_b, encode, decode, tree, whitening)
    return RealismReference(whitening, tree, partial.maha, partial.nn, partial.error,
                            np.sort(_atypicality(b, partial)))


def _atypicality(m: dict[str, np.ndarray], ref: RealismReference) -> np.ndarray:
    return np.max([_percentile(ref.maha, m["maha"]), _percentile(ref.nn, m["nn"]),
                   _percentile(ref.error, m["error"])], axis=0)


def realism_scores(images: np.ndarray, encode: Encode, decode: Decode,
                   ref: RealismReference) -> dict[str, np.ndarray]:
    """Per image: the three percentiles, the atypicality and realism in [0, 1]."""
    m = _measures(images, encode, decode, ref.tree, ref.whitening)
    s = _atypicality(m, ref)
    at_least = 1.0 - np.searchsorted(ref.calibration, s, side="left") / len(ref.calibration)
    return {"p_mahalanobis": _percentile(ref.maha, m["maha"]),
            "p_nn": _percentile(ref.nn, m["nn"]), "p_error": _percentile(ref.error, m["error"]),
            "atypicality": s, "realism": at_least}


def sampler_realism(images: np.ndarray, encode: Encode, decode: Decode,
                    ref: RealismReference) -> dict[str, Any]:
    """{"realism", "realism_rule", quantiles of the per-image score and of each percentile}."""
    r = realism_scores(images, encode, decode, ref)
    return {"realism": float(r["realism"].mean()), "realism_rule": REALISM_RULE,
            "realism_median": float(np.median(r["realism"])),
            **{f"mean_{k}": float(r[k].mean()) for k in ("p_mahalanobis", "p_nn", "p_error")}}


# -- where the probes lie: voids or a missed region -----------------------------------------
@dataclass(frozen=True)
class DataCloud:
    """A sample of data z_mean with the data's fitted Gaussian and own NN distances."""

    whitening: Whitening
    tree: cKDTree
    maha_q: float  # the data's QUANTILE of its Mahalanobis distances
    nn_q: float  # the data's QUANTILE of its leave-one-out NN distances
    nn_median: float

    @classmethod
    def fit(cls, z_data: np.ndarray, mean: np.ndarray, cov: np.ndarray) -> DataCloud:
        z = np.asarray(z_data, dtype=np.float64)
        if len(z) < 10:
            raise ValueError(f"placing probes needs at least 10 data z_mean rows, got {len(z)}")
        whitening, tree = Whitening.fit(mean, cov), cKDTree(z)
        nn = tree.query(z, k=2)[0][:, 1]
        return cls(whitening, tree, float(np.quantile(whitening.distance(z), QUANTILE)),
                   float(np.quantile(nn, QUANTILE)), float(np.median(nn)))


def probe_placement(z_probe: np.ndarray, cloud: DataCloud) -> dict[str, Any]:
    """Shares of probes inside the region, on the data, in a void, missing the region."""
    z = np.asarray(z_probe, dtype=np.float64)
    inside = cloud.whitening.distance(z) < cloud.maha_q
    nn = cloud.tree.query(z, k=1)[0]
    on = nn < cloud.nn_q
    return {"n": len(z), "inside_fraction": float(inside.mean()),
            "on_data_fraction": float(on.mean()),
            "void_fraction": float((inside & ~on).mean()), "miss_fraction": float((~inside).mean()),
            "nn_ratio": float(np.median(nn) / cloud.nn_median),
            "mahalanobis_q": cloud.maha_q, "nn_q": cloud.nn_q, "rule": PLACEMENT_RULE}


FAIL_REALISM = 0.25


def _why(row: dict[str, Any]) -> str:
    if row["miss_fraction"] > 0.5:
        return "misses the region"
    if row["void_fraction"] > 0.5:
        return "falls into voids"
    return "lands on the data"


def void_or_miss(per_sampler: dict[str, dict[str, Any]], fail_realism: float = FAIL_REALISM
                 ) -> dict[str, Any]:
    """Why do random z-points decode to nothing? per_sampler: name -> a probe_placement dict
    with "realism" added (None when not scored)."""
    rule = (f"a sampler fails when its realism is below {fail_realism:g} (data images: ~0.5); "
            "a failing sampler misses the region when more than half its probes lie outside the "
            "data's 99% Mahalanobis region, falls into voids when more than half lie inside it "
            "but off the data; answer: 'voids', 'miss the region', 'both' (failing samplers "
            "differ), 'fails on the data', 'no sampler fails', or 'not decidable' (no realism) — " + PLACEMENT_RULE)
    rows = {name: {"realism": r.get("realism"), "nn_ratio": r["nn_ratio"],
                   "inside_fraction": r["inside_fraction"], "void_fraction": r["void_fraction"],
                   "miss_fraction": r["miss_fraction"], "placement": _why(r)}
            for name, r in per_sampler.items()}
    if not rows or any(r["realism"] is None for r in rows.values()):
        return {"answer": "not decidable", "rule": rule, "samplers": rows}
    failing = {name: r for name, r in rows.items() if r["realism"] < fail_realism}
    for name, r in rows.items():
        r["fails"] = name in failing
    reasons = {r["placement"] for r in failing.values()}
    names = {"falls into voids": "voids", "misses the region": "miss the region",
             "lands on the data": "fails on the data"}
    answer = ("no sampler fails" if not failing else names[reasons.pop()] if len(reasons) == 1
              else "both")
    return {"answer": answer, "rule": rule, "samplers": rows}
