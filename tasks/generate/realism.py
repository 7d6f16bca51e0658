"""Is a decoded image data-like? A typicality score in a named feature space, and where the
probe z-points lie.

realism: the feature space is the first K principal components (whitened) of the training
images' pixels, fitted on a seeded sample of training images. Real faces have a typical
distance from the centre of that space (concentration of measure); a blurred average face sits
too close to the centre, noise and saturated colour fields too far. realism = 1 - |2p - 1|,
where p is the percentile of an image's distance among held-out training images' distances:
~0.5 on average for real images, ~0 for atypical ones, in [0, 1].

reencode_realism (the run's own encoder E and decoder D judge an image x): three percentiles
among data images -- the Mahalanobis distance of E(x) under the data's fitted Gaussian, the
distance of E(x) to the nearest data z_mean, the RMS re-encoding error |D(E(x)) - x| -- their
maximum is the atypicality, and realism is the share of held-out data images at least as
atypical (a conformal p-value; data ~0.5). Measured on a tiny AE (32x32, z_dim 16, 600
synthetic faces, 12 epochs; tests/test_realism_score.py): held-out data 0.52, their
reconstructions 0.66, uniform noise 0.04, decoded fitted Gaussian 0.63, N(0, I) 0.31, uniform
r_limit 1 / 3 / 8: 0.46 / 0.11 / 0.04; the pixel score above rated decoded N(0, I) images of
the same model higher (0.72) than the fitted Gaussian's (0.47): it rewards images nearer the
median than data. On a one-epoch AE every decoded image is the same blur and both scores fail: a
realism score is only as good as the model it is read with.

Where the probes lie (the 2023 addendum's question): for each probe z, (a) whether it is
inside the region of the data (Mahalanobis distance below the data's 99th percentile) and (b)
whether it is on the data (distance to the nearest data z-point below the 99th percentile of
the data's own nearest-neighbour distances). A probe inside the region but off the data is
in a void between data points; a probe outside the region misses the data altogether.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from zspace.tasks.analyze.stats_core import mahalanobis, mahalanobis_scale

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
    """Why do random z-points decode badly: voids between the data, or outside the data's
    region? Decided on the random samplers (N(0, I), uniform boxes) that score worse than the
    fitted Gaussian."""
    rows = {k: v for k, v in per_sampler.items() if k in random_samplers}
    if not rows:
        return {"answer": "not decidable", "rule": "no random sampler was run"}
    outside = float(np.mean([v["outside_region"] for v in rows.values()]))
    void = float(np.mean([v["in_void"] for v in rows.values()]))
    if outside >= 0.5 and outside > void:
        answer = "miss the region"
    elif void >= 0.5:
        answer = "voids"
    else:
        answer = "both"
    return {"answer": answer, "mean_outside_region": outside, "mean_in_void": void,
            "samplers": sorted(rows),
            "rule": (f"{PLACE_RULE}; the answer is 'miss the region' when at least half of the "
                     "random probes (averaged over the random samplers) lie outside the region "
                     "and more lie outside than in voids, 'voids' when at least half lie in "
                     "voids, otherwise 'both'")}


# -- re-encoding realism: the run's own encoder and decoder judge an image --------------------
Encode = Callable[[np.ndarray], np.ndarray]  # images -> z_mean
Decode = Callable[[np.ndarray], np.ndarray]  # z -> images, floats in [0, 1]
REENCODE_RULE = (
    "realism = share of held-out data images at least as atypical as the image (a conformal "
    "p-value), atypicality = the largest of three percentiles among data images: the "
    "Mahalanobis distance of the re-encoded E(x) under the data's fitted Gaussian, the distance "
    "of E(x) to the nearest data z_mean, the RMS re-encoding error |D(E(x)) - x|; mean over the "
    "sampler's images; data images ~0.5, 0 = unlike every data image")


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    return x.astype(np.float64) / 255.0 if x.dtype == np.uint8 else x.astype(np.float64)


def _below(sorted_ref: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Share of the reference strictly below each value (the percentile among the data)."""
    return np.searchsorted(sorted_ref, values, side="left") / len(sorted_ref)


@dataclass(frozen=True)
class ReencodeReference:
    """The data's side of the re-encoding score, from two disjoint sets of data images: set A
    gives the three reference distributions, set B the calibration of the atypicality."""

    mean: np.ndarray
    whiten: np.ndarray  # z_dim x rank: Mahalanobis distance = |(z - mean) @ whiten|
    tree: Any  # cKDTree of set A's z_mean
    maha: np.ndarray  # sorted, set A
    nn: np.ndarray  # sorted leave-one-out nearest-neighbour distances, set A
    error: np.ndarray  # sorted RMS re-encoding errors, set A
    calibration: np.ndarray  # sorted atypicality of set B

    @classmethod
    def fit(cls, images_a: np.ndarray, images_b: np.ndarray, encode: Encode, decode: Decode,
            mean: np.ndarray, cov: np.ndarray) -> ReencodeReference:
        from scipy.spatial import cKDTree

        if len(images_a) < 10 or len(images_b) < 10:
            raise ValueError("realism needs at least 10 data images in each reference set, got "
                             f"{len(images_a)} and {len(images_b)}")
        evals, evecs = np.linalg.eigh(np.asarray(cov, dtype=np.float64))
        keep = evals > max(float(evals.max()), 0.0) * 1e-10
        mean = np.asarray(mean, dtype=np.float64)
        whiten = evecs[:, keep] / np.sqrt(evals[keep])
        z_a = np.asarray(encode(images_a), dtype=np.float64)
        tree = cKDTree(z_a)
        part = cls(mean, whiten, tree, np.sort(np.linalg.norm((z_a - mean) @ whiten, axis=1)),
                   np.sort(tree.query(z_a, k=2)[0][:, 1]),
                   np.sort(_rms(images_a, decode(z_a))), np.zeros(1))
        s_b = part.percentiles(images_b, encode, decode).max(axis=0)
        return cls(*(getattr(part, f) for f in ("mean", "whiten", "tree", "maha", "nn",
                                                "error")), np.sort(s_b))

    def percentiles(self, images: np.ndarray, encode: Encode, decode: Decode) -> np.ndarray:
        """(3, n): percentiles of the Mahalanobis distance, the NN distance and the error."""
        z = np.asarray(encode(images), dtype=np.float64)
        return np.stack([_below(self.maha, np.linalg.norm((z - self.mean) @ self.whiten, axis=1)),
                         _below(self.nn, self.tree.query(z, k=1)[0]),
                         _below(self.error, _rms(images, decode(z)))])


def _rms(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """RMS difference per image, both in [0, 1]."""
    return np.sqrt(((_unit(x) - _unit(y)) ** 2).reshape(len(x), -1).mean(axis=1))


def reencode_scores(images: np.ndarray, encode: Encode, decode: Decode,
                    ref: ReencodeReference) -> dict[str, np.ndarray]:
    """Per image: the three percentiles, the atypicality and realism in [0, 1]."""
    p = ref.percentiles(images, encode, decode)
    s = p.max(axis=0)
    share = 1.0 - np.searchsorted(ref.calibration, s, side="left") / len(ref.calibration)
    return {"p_mahalanobis": p[0], "p_nn": p[1], "p_error": p[2], "atypicality": s,
            "realism": share}


def reencode_realism(images: np.ndarray, encode: Encode, decode: Decode,
                     ref: ReencodeReference) -> dict[str, Any]:
    """A sampler's {"realism", "realism_rule", "realism_median", mean of each percentile}."""
    r = reencode_scores(images, encode, decode, ref)
    return {"realism": float(r["realism"].mean()), "realism_rule": REENCODE_RULE,
            "realism_median": float(np.median(r["realism"])),
            **{f"mean_{k}": float(r[k].mean()) for k in ("p_mahalanobis", "p_nn", "p_error")}}


FAIL_REALISM = 0.25  # data images score ~0.5 on the realism scores; below this a sampler fails
NOT_VOIDS = "voids do not explain it"


def _where(row: dict[str, Any]) -> str:
    """Where most of a sampler's probes lie (placement's fractions)."""
    if row["outside_region"] > 0.5:
        return "misses the region"
    if row["in_void"] > 0.5:
        return "in voids"
    return "on the data"


def why_random_fail(per_sampler: dict[str, dict[str, Any]],
                    fail_realism: float = FAIL_REALISM) -> dict[str, Any]:
    """The addendum's question from realism AND placement: per_sampler maps a sampler to its
    placement dict with "realism" added (None when not scored). A failing sampler's probes
    either miss the data's region or lie inside it in voids; voids only explain the failure
    when no sampler whose probes lie in voids as well decodes data-like images."""
    rule = (f"a sampler fails when its realism is below {fail_realism:g} (data ~0.5); its probes "
            "miss the region when more than half lie outside the data's 99% Mahalanobis region, "
            "lie in voids when more than half lie inside it but farther from every data z-point "
            "than 99% of the data's own nearest-neighbour distances; answer: 'miss the region' "
            "(every failing sampler misses it), 'voids' (every failing sampler lies in voids and "
            f"no passing sampler does), '{NOT_VOIDS}' (a passing sampler lies in voids too), "
            "'fails on the data', 'both', 'no sampler fails', 'not decidable' (no realism). "
            + PLACE_RULE)
    rows = {name: {"realism": r.get("realism"), "nn_ratio": r["nn_ratio"],
                   "in_void": r["in_void"], "outside_region": r["outside_region"],
                   "where": _where(r)} for name, r in per_sampler.items()}
    if not rows or any(r["realism"] is None for r in rows.values()):
        return {"answer": "not decidable", "rule": rule, "samplers": rows}
    for r in rows.values():
        r["fails"] = bool(r["realism"] < fail_realism)
    failing = {r["where"] for r in rows.values() if r["fails"]}
    passing_in_voids = sorted(k for k, r in rows.items() if not r["fails"] and
                              r["where"] == "in voids")
    if not failing:
        answer = "no sampler fails"
    elif failing == {"in voids"}:
        answer = NOT_VOIDS if passing_in_voids else "voids"
    elif len(failing) == 1:
        answer = {"misses the region": "miss the region",
                  "on the data": "fails on the data"}[failing.pop()]
    else:
        answer = "both"
    return {"answer": answer, "rule": rule, "samplers": rows,
            "passing_samplers_in_voids": passing_in_voids}


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3) -> dict[str, Any]:
    """Generative precision and recall (Kynkaanniemi et al. 2019) in a feature space, e.g. the
    encoder's E(x): each set's manifold is the union of balls reaching each point's k-th
    nearest neighbour in its own set; precision = share of fake points inside the real
    manifold (are the samples data-like?), recall = share of real points inside the fake
    manifold (do the samples cover the data?). Recall is fooled by far-out samples (their huge
    balls cover everything), so coverage (Naeem et al. 2020) is given too: the share of real
    points whose own k-NN ball holds a generated point."""
    from scipy.spatial.distance import cdist
    from sklearn.neighbors import NearestNeighbors

    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    if min(len(real), len(fake)) <= k:
        raise ValueError(f"precision/recall needs more than k={k} points in each set, got "
                         f"{len(real)} real and {len(fake)} generated")

    def radii(x: np.ndarray) -> np.ndarray:
        return NearestNeighbors(n_neighbors=k).fit(x).kneighbors()[0][:, -1]

    def covered(points: np.ndarray, centres: np.ndarray, r: np.ndarray) -> float:
        inside = [np.any(cdist(points[a:a + 1024], centres) <= r, axis=1)
                  for a in range(0, len(points), 1024)]
        return float(np.concatenate(inside).mean())

    r_real = radii(real)
    holds = [np.any(cdist(real[a:a + 1024], fake) <= r_real[a:a + 1024, None], axis=1)
             for a in range(0, len(real), 1024)]
    return {"precision": covered(fake, real, r_real),
            "recall": covered(real, fake, radii(fake)),
            "coverage": float(np.concatenate(holds).mean()), "k": k,
            "rule": (f"precision: share of generated points within the distance of some data "
                     f"point to its {k}-th nearest data neighbour; recall: share of data points "
                     f"within the distance of some generated point to its {k}-th nearest "
                     "generated neighbour (Kynkaanniemi et al. 2019); coverage: share of data "
                     f"points with a generated point within their own {k}-th neighbour distance "
                     "(Naeem et al. 2020)")}
