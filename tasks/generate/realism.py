"""Is a decoded image face-like? realism (the run's own encoder and decoder judge it against
the model's reconstructions of held-out images), a pixel typicality (secondary), and where the
probe z-points lie.

realism (REENCODE_RULE): three log features of an image x -- the Mahalanobis distance of the
re-encoded E(x) under the data's fitted Gaussian, the re-encoding error |D(E(x)) - x| and the
pixel contrast -- each a robust z-score among reconstructions D(E(y)) of held-out images y; the
largest |z| is the atypicality (two-sided: a faded average face is as atypical as noise), and
realism is its conformal p-value among other reconstructions (reconstructions ~0.5, noise ~0).
The reference is reconstructions, not photos: a decoder's output is smoother than any photo,
and a decoded sample can at best be as face-like as the model's own reconstructions. Photos
(and strongly sharpened images) are outside what the score judges: they score ~0. There is no
nearest-neighbour distance to data latents in it: in 256 dimensions every new point is far
from all of them. On LFW (BENCHMARKS.md, "Realism on real faces") it orders samplers as
OpenCV's Haar face detector does. A realism score is only as good as the model it is read
with: on a model that decodes every z to the same blur, reconstructions are that blur too.

pixel typicality (PixelTypicality): the distance from the centre of the whitened first K
principal components of training images' pixels, as 1 - |2p - 1| of its percentile among
held-out training images; it rewards images nearer the median than data and is kept only as a
secondary column.

Where the probes lie (the 2023 addendum's question): for each probe z, (a) whether it is
inside the region of the data (Mahalanobis distance below the data's 99th percentile) and (b)
whether it is on the data (distance to the nearest data z-point below the 99th percentile of
the data's own nearest-neighbour distances). A probe inside the region but off the data is
in a void between data points; a probe outside the region misses the data altogether.
why_random_fail adds realism: do the samplers that fail fail in voids, outside the region, or
on the data?
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from zspace.tasks.analyze import mahalanobis, mahalanobis_scale

REALISM_COMPONENTS = 8
REALISM_RULE = (f"realism = 1 - |2p - 1|, p = the percentile of the image's distance from the "
                f"centre of the whitened first {REALISM_COMPONENTS} principal components of the "
                "training images' pixels, among held-out training images' distances; mean over "
                "the sampler's images; ~0.5 = as typical as real faces, 0 = atypical (blurred "
                "average, noise, saturated fields)")
PLACE_QUANTILE = 0.99
PLACE_RULE = (f"a probe is inside the data's region when its Mahalanobis distance is below the "
              f"data's {PLACE_QUANTILE:.0%} quantile, and on the data when its distance to the "
              f"nearest data z-point is below the {PLACE_QUANTILE:.0%} quantile of the data's "
              "own nearest-neighbour distances; inside but not on the data = in a void")


@dataclass(frozen=True)
class DataCloud:
    """The fitted Gaussian and the data's own distance distributions."""

    mean: np.ndarray
    components: np.ndarray
    scale: np.ndarray
    data_mahalanobis: np.ndarray  # sorted, one per data vector (or a large sample)
    data_nn: np.ndarray  # sorted nearest-neighbour distances of sampled data points

    @classmethod
    def fit(cls, mean: np.ndarray, components: np.ndarray, eigenvalues: np.ndarray,
            data_mahalanobis: np.ndarray, data_nn: np.ndarray) -> DataCloud:
        return cls(np.asarray(mean, np.float64), np.asarray(components, np.float64),
                   mahalanobis_scale(np.asarray(eigenvalues, np.float64)),
                   np.sort(np.asarray(data_mahalanobis, np.float64)),
                   np.sort(np.asarray(data_nn, np.float64)))

    def mahalanobis(self, z: np.ndarray) -> np.ndarray:
        return mahalanobis(np.asarray(z, np.float64), self.mean, self.components, self.scale)

    def percentile(self, d: np.ndarray) -> np.ndarray:
        """Fraction of the data at or below each distance (the empirical CDF)."""
        return np.searchsorted(self.data_mahalanobis, d, side="right") / len(self.data_mahalanobis)


def _flat(images: np.ndarray) -> np.ndarray:
    x = np.asarray(images)
    x = x.astype(np.float64) / 255.0 if x.dtype == np.uint8 else x.astype(np.float64)
    return x.reshape(len(x), -1)


@dataclass(frozen=True)
class PixelTypicality:
    """The feature space of `realism`: whitened pixel PCA of training images, and the sorted
    distances of held-out training images in it."""

    pca: Any
    reference: np.ndarray

    @classmethod
    def fit(cls, train_images: np.ndarray, k: int = REALISM_COMPONENTS,
            seed: int = 0) -> PixelTypicality:
        from sklearn.decomposition import PCA

        x = _flat(train_images)
        order = np.random.default_rng(seed).permutation(len(x))
        fit_rows, held = order[: len(x) // 2], order[len(x) // 2:]
        if len(held) < 10 or k >= len(fit_rows):
            raise ValueError(f"realism needs more training images than {len(x)} for {k} "
                             "components")
        pca = PCA(k, whiten=True, random_state=seed).fit(x[fit_rows])
        ref = np.sort(np.linalg.norm(pca.transform(x[held]), axis=1))
        return cls(pca, ref)

    def score(self, images: np.ndarray) -> np.ndarray:
        d = np.linalg.norm(self.pca.transform(_flat(images)), axis=1)
        p = np.searchsorted(self.reference, d, side="right") / len(self.reference)
        return 1.0 - np.abs(2.0 * p - 1.0)


def realism(images: np.ndarray, typicality: PixelTypicality) -> np.ndarray:
    """Per-image realism in [0, 1] (see the module docstring)."""
    return typicality.score(images)


def placement(z: np.ndarray, nn_distance: np.ndarray, cloud: DataCloud) -> dict[str, float]:
    """Fractions of probes inside the data's region, on the data, and in voids."""
    region = float(np.quantile(cloud.data_mahalanobis, PLACE_QUANTILE))
    near = float(np.quantile(cloud.data_nn, PLACE_QUANTILE))
    inside = cloud.mahalanobis(z) <= region
    on = np.asarray(nn_distance) <= near
    return {"inside_region": float(inside.mean()), "on_data": float(on.mean()),
            "in_void": float((inside & ~on).mean()), "outside_region": float((~inside).mean()),
            "nn_ratio": float(np.median(nn_distance) / max(np.median(cloud.data_nn), 1e-12))}


def void_or_miss(per_sampler: dict[str, dict[str, Any]],
                 random_samplers: tuple[str, ...]) -> dict[str, Any]:
    """Where do random z-points land: on the data, in voids between the data, or outside the
    data's region? From placement alone, on the random samplers (N(0, I), uniform boxes);
    why_random_fail adds whether they decode data-like images."""
    rows = {k: v for k, v in per_sampler.items() if k in random_samplers}
    if not rows:
        return {"answer": "not decidable", "rule": "no random sampler was run"}
    outside = float(np.mean([v["outside_region"] for v in rows.values()]))
    void = float(np.mean([v["in_void"] for v in rows.values()]))
    on = float(np.mean([v["on_data"] for v in rows.values()]))
    if on >= 0.5:
        answer = "on the data"
    elif outside >= 0.5 and outside > void:
        answer = "miss the region"
    elif void >= 0.5:
        answer = "voids"
    else:
        answer = "both"
    return {"answer": answer, "mean_outside_region": outside, "mean_in_void": void,
            "mean_on_data": on, "samplers": sorted(rows),
            "rule": (f"{PLACE_RULE}; averaged over the random samplers, the answer is 'on the "
                     "data' when at least half of the probes lie on the data, 'miss the region' "
                     "when at least half lie outside the region and more lie outside than in "
                     "voids, 'voids' when at least half lie in voids, otherwise 'both'")}


# -- realism: the run's own encoder and decoder judge an image against its reconstructions ---
Encode = Callable[[np.ndarray], np.ndarray]  # images -> z_mean
Decode = Callable[[np.ndarray], np.ndarray]  # z -> images, floats in [0, 1]
FEATURES = ("mahalanobis", "reencode_error", "contrast")
BOOTSTRAP = 1000
REENCODE_RULE = (
    "realism = conformal p-value among reconstructions D(E(x)) of held-out data images (what "
    "the decoder draws when it draws a face): the share of them at least as atypical as the "
    "image; atypicality = the largest |robust z-score| (median and IQR over other "
    "reconstructions) of three log features: the Mahalanobis distance of the re-encoded E(x) "
    "under the data's fitted Gaussian, the RMS re-encoding error |D(E(x)) - x|, the pixel "
    "contrast (standard deviation of the image's values); too low (a faded average face) is as "
    "atypical as too high (noise, saturated fields); mean over the sampler's images with a 95% "
    "bootstrap interval over images; reconstructions ~0.5, noise ~0; data photos are sharper "
    "than any decoder output and score low: the score is for decoded images")


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    return x.astype(np.float64) / 255.0 if x.dtype == np.uint8 else x.astype(np.float64)


def _rms(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """RMS difference per image, both in [0, 1]."""
    return np.sqrt(((_unit(x) - _unit(y)) ** 2).reshape(len(x), -1).mean(axis=1))


def latent_whitener(cov: np.ndarray) -> np.ndarray:
    """z_dim x rank: |(z - mean) @ W| is the Mahalanobis distance under cov; directions with
    (near) zero variance (a VAE's collapsed components) are left out, not divided by ~0."""
    evals, evecs = np.linalg.eigh(np.asarray(cov, dtype=np.float64))
    keep = evals > max(float(evals.max()), 0.0) * 1e-6
    return evecs[:, keep] / np.sqrt(evals[keep])


def log_features(images: np.ndarray, encode: Encode, decode: Decode, mean: np.ndarray,
                 whiten: np.ndarray) -> np.ndarray:
    """(n, 3) logs of FEATURES: Mahalanobis of E(x), RMS of D(E(x)) - x, pixel contrast."""
    z = np.asarray(encode(images), dtype=np.float64)
    contrast = _unit(images).reshape(len(images), -1).std(axis=1)
    f = np.stack([np.linalg.norm((z - mean) @ whiten, axis=1), _rms(images, decode(z)), contrast],
                 axis=1)
    return np.log(np.maximum(f, 1e-12))


@dataclass(frozen=True)
class ReencodeReference:
    """The reference side of realism, from reconstructions of two disjoint sets of held-out
    data images: set A gives each feature's centre and spread, set B calibrates the
    atypicality. Reconstructions, not the images: a decoder's output is smoother than a photo,
    and what a decoded sample can at best be is as face-like as the model's reconstructions."""

    mean: np.ndarray
    whiten: np.ndarray
    centre: np.ndarray  # per feature: median over set A
    spread: np.ndarray  # per feature: IQR / 1.349 over set A
    calibration: np.ndarray  # sorted atypicality of set B

    @classmethod
    def fit(cls, images_a: np.ndarray, images_b: np.ndarray, encode: Encode, decode: Decode,
            mean: np.ndarray, cov: np.ndarray) -> ReencodeReference:
        if len(images_a) < 10 or len(images_b) < 10:
            raise ValueError("realism needs at least 10 data images in each reference set, got "
                             f"{len(images_a)} and {len(images_b)}")
        mean, whiten = np.asarray(mean, dtype=np.float64), latent_whitener(cov)

        def recon(x: np.ndarray) -> np.ndarray:
            return decode(np.asarray(encode(x), dtype=np.float64))

        f_a = log_features(recon(images_a), encode, decode, mean, whiten)
        q1, centre, q3 = np.quantile(f_a, [0.25, 0.5, 0.75], axis=0)
        spread = np.maximum((q3 - q1) / 1.349, 1e-3)
        part = cls(mean, whiten, centre, spread, np.zeros(1))
        s_b = np.abs(part.standardized(recon(images_b), encode, decode)).max(axis=1)
        return cls(mean, whiten, centre, spread, np.sort(s_b))

    def standardized(self, images: np.ndarray, encode: Encode, decode: Decode) -> np.ndarray:
        """(n, 3): each log feature as a robust z-score among set A's reconstructions."""
        f = log_features(images, encode, decode, self.mean, self.whiten)
        return (f - self.centre) / self.spread

    def p_value(self, atypicality: np.ndarray) -> np.ndarray:
        """Conformal p-value: (1 + #calibration >= s) / (1 + n)."""
        n = len(self.calibration)
        at_least = n - np.searchsorted(self.calibration, atypicality, side="left")
        return (1.0 + at_least) / (1.0 + n)


def reencode_scores(images: np.ndarray, encode: Encode, decode: Decode,
                    ref: ReencodeReference) -> dict[str, np.ndarray]:
    """Per image: each feature's z-score, the atypicality and realism in [0, 1]."""
    z = ref.standardized(images, encode, decode)
    s = np.abs(z).max(axis=1)
    return {**{f"z_{k}": z[:, i] for i, k in enumerate(FEATURES)}, "atypicality": s,
            "realism": ref.p_value(s)}


def bootstrap_interval(values: np.ndarray, seed: int = 0, level: float = 0.95
                       ) -> list[float]:
    """Percentile bootstrap interval of the mean over the values (images)."""
    v = np.asarray(values, dtype=np.float64)
    if len(v) < 2:
        return [float(v.mean()), float(v.mean())] if len(v) else [float("nan")] * 2
    idx = np.random.default_rng(seed).integers(0, len(v), (BOOTSTRAP, len(v)))
    lo, hi = np.quantile(v[idx].mean(axis=1), [(1 - level) / 2, (1 + level) / 2])
    return [float(lo), float(hi)]


def realism_summary(per_image: dict[str, np.ndarray], prefix: str = "realism"
                    ) -> dict[str, Any]:
    """A sampler's {"realism", "realism_ci", "realism_rule", "realism_median", median z-score of
    each feature} from reencode_scores (keys start with `prefix`, e.g. realism_sharpened)."""
    r = per_image
    out = {prefix: float(r["realism"].mean()), f"{prefix}_ci": bootstrap_interval(r["realism"]),
           f"{prefix}_median": float(np.median(r["realism"])),
           **{f"{prefix}_z_{k}": float(np.median(r[f"z_{k}"])) for k in FEATURES}}
    if prefix == "realism":
        out["realism_rule"] = REENCODE_RULE
    return out


def reencode_realism(images: np.ndarray, encode: Encode, decode: Decode,
                     ref: ReencodeReference, prefix: str = "realism") -> dict[str, Any]:
    """realism_summary of the images' reencode_scores."""
    return realism_summary(reencode_scores(images, encode, decode, ref), prefix)


def sharpening_gain(plain: dict[str, np.ndarray], sharpened: dict[str, np.ndarray]
                    ) -> dict[str, Any]:
    """Mean change of realism when each image is sharpened, with a paired 95% bootstrap
    interval over images (the same images before and after)."""
    d = sharpened["realism"] - plain["realism"]
    return {"realism_sharpening_gain": float(d.mean()),
            "realism_sharpening_gain_ci": bootstrap_interval(d)}


FAIL_REALISM = 0.25  # reconstructions score ~0.5, noise ~0; below this a sampler gives no faces
NOT_VOIDS = "voids do not explain it"


def _where(row: dict[str, Any]) -> str:
    """Where most of a sampler's probes lie (placement's fractions)."""
    if row["outside_region"] > 0.5:
        return "misses the region"
    if row["in_void"] > 0.5:
        return "in voids"
    return "on the data"


def _status(r: dict[str, Any], fail_realism: float) -> str:
    """fails / passes by the realism's 95% interval over images (the point value when there is
    no interval); uncertain when the interval holds the threshold."""
    lo, hi = r.get("realism_ci") or (r["realism"], r["realism"])
    return "fails" if hi < fail_realism else "passes" if lo >= fail_realism else "uncertain"


def why_random_fail(per_sampler: dict[str, dict[str, Any]],
                    fail_realism: float = FAIL_REALISM) -> dict[str, Any]:
    """The addendum's question from realism AND placement: per_sampler maps a sampler to its
    placement dict with "realism" (None when not scored) and optionally "realism_ci" added. A
    failing sampler's probes miss the data's region, lie inside it in voids, or lie on the
    data; voids only explain the failure when no sampler whose probes lie in voids as well
    decodes data-like images."""
    rule = (f"a sampler fails when the 95% bootstrap interval of its realism lies below "
            f"{fail_realism:g}, passes when it lies at or above (reconstructions ~0.5), else is "
            "uncertain and left out; its probes miss the region when more than half lie outside "
            "the data's 99% Mahalanobis region, lie in voids when more than half lie inside it "
            "but farther from every data z-point than 99% of the data's own nearest-neighbour "
            "distances, else lie on the data; answer: 'miss the region' (every failing sampler "
            "misses it), 'voids' (every failing sampler lies in voids and no passing sampler "
            f"does), '{NOT_VOIDS}' (a passing sampler lies in voids too), 'fails on the data', "
            "'both', 'no sampler fails', 'not decidable' (no realism, or no sampler surely "
            "fails while some are uncertain). " + PLACE_RULE)
    rows = {name: {"realism": r.get("realism"), "realism_ci": r.get("realism_ci"),
                   "nn_ratio": r["nn_ratio"], "in_void": r["in_void"],
                   "outside_region": r["outside_region"], "where": _where(r)}
            for name, r in per_sampler.items()}
    if not rows or any(r["realism"] is None for r in rows.values()):
        return {"answer": "not decidable", "rule": rule, "samplers": rows}
    for r in rows.values():
        r["status"] = _status(r, fail_realism)
        r["fails"] = r["status"] == "fails"
    failing = {r["where"] for r in rows.values() if r["fails"]}
    passing_in_voids = sorted(k for k, r in rows.items() if r["status"] == "passes" and
                              r["where"] == "in voids")
    uncertain = sorted(k for k, r in rows.items() if r["status"] == "uncertain")
    if not failing:
        answer = "not decidable" if uncertain else "no sampler fails"
    elif failing == {"in voids"}:
        answer = NOT_VOIDS if passing_in_voids else "voids"
    elif len(failing) == 1:
        answer = {"misses the region": "miss the region",
                  "on the data": "fails on the data"}[failing.pop()]
    else:
        answer = "both"
    return {"answer": answer, "rule": rule, "samplers": rows,
            "passing_samplers_in_voids": passing_in_voids, "uncertain_samplers": uncertain}
