"""Filaments and voids, measured against a null model.

The study's zoomed PCA scatter plots ("Autoencoders and latent space fragmentation") suggested
thin filaments around voids; its 2023 addendum withdrew the conclusion and asked again. A
filament is only a filament relative to something: here the null model is a Gaussian with the
data's mean, full covariance and the same number of points (seeded draws). On a seeded sample of
the latent cloud we compare

- intrinsic dimension (TwoNN and Levina-Bickel MLE over k = k_min..k_max, from exact kNN
  distances), globally and as quantiles of the local estimates;
- the distribution of k-th nearest-neighbour distances (ratio of medians, two-sample KS), with
  the spread between two surrogate draws as the null envelope;
- zoom windows (centred squares, the sides the report draws) in the study's PCA planes
  (PC1-PC2, PC1-PC18, PC8-PC35) and in two original axes, on ALL N points: the Clark-Evans
  ratio (mean nearest-neighbour distance over its expectation for a uniform pattern of the same
  count and area) against the min-max envelope of the same windows of N-point surrogates (a
  Gaussian seen in a plane is a 2-D Gaussian, so surrogates are drawn there exactly).

Every verdict carries the rule that decided it. Sampling error of the kNN statistics: every
statistic of the data is computed again on a second, disjoint sample of the same size.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy.spatial import cKDTree
from scipy.stats import ks_2samp
from sklearn.neighbors import NearestNeighbors

from zspace import study
from zspace.tasks.common.sampling import sample_rows

FILAMENTARY, GAUSSIAN_LIKE, UNDECIDABLE, REGULAR = (
    "filamentary", "gaussian-like", "not decidable", "more regular than gaussian")
ID_FACTOR = 0.5  # local dimension "far below" the surrogate's: below this share of it
KNN_FACTOR = 0.5  # data median kNN distance below this share of the surrogate's


class FragmentationParams(BaseModel):
    """How the fragmentation statistics are sampled and decided."""

    model_config = ConfigDict(extra="forbid")

    max_points: int = Field(20_000, ge=20, description="rows per sample (data and surrogates)")
    k: int = Field(10, ge=2, description="k_min of the MLE; the kNN-distance statistic uses k")
    k_max: int = Field(20, ge=2, description="k_max of the MLE (averaged over k_min..k_max)")
    n_surrogates: int = Field(19, ge=2, description="Gaussian draws for the window envelopes")
    min_points: int = Field(30, ge=3, description="fewer points in a window: not decidable")
    windows: tuple[float | None, ...] = Field(
        study.ZOOM_SIDES, description="sides of centred squares; None = the whole cloud")
    seed: int = 0


def rules(p: FragmentationParams) -> dict[str, str]:
    """The rules in words, with the parameters filled in."""
    return {
        "intrinsic_dimension": (
            f"filamentary when the median local MLE dimension (k={p.k_max}) of the data is below "
            f"{ID_FACTOR:g} x the surrogate's; else gaussian-like"),
        "knn": (
            f"filamentary when the median {p.k}-th-neighbour distance of the data is below "
            f"{KNN_FACTOR:g} x the surrogate's and the data-vs-surrogate KS statistic exceeds the "
            "surrogate-vs-surrogate one; else gaussian-like"),
        "window": (
            "Clark-Evans ratio R = mean NN distance / (0.5 / sqrt(n / area)) of all N points in "
            f"the window; not decidable below {p.min_points} points (data or surrogates); "
            "filamentary when R is below the "
            f"min of {p.n_surrogates} Gaussian surrogates' R in the same window, more regular "
            "when above their max, else gaussian-like (a Gaussian cloud is called filamentary in "
            f"one window with probability 1/{p.n_surrogates + 1})"),
        "overall": (
            "filamentary when the intrinsic dimension or kNN verdict is filamentary or at least "
            "half of the decidable windows are; else gaussian-like"),
        "sampling": (
            f"a seeded sample of min(max_points={p.max_points}, N // 2) rows; the same statistics "
            "on a second, disjoint sample of that size give the sampling error"),
    }


# -- sampling -------------------------------------------------------------------------------
def _read_rows(z: Any, rows: np.ndarray) -> np.ndarray:
    """z[rows] as float64; a zarr array is read one chunk at a time."""
    if isinstance(z, np.ndarray):
        return np.asarray(z[rows], dtype=np.float64)
    from zspace.storage import read_rows

    return read_rows(z, rows)


def two_samples(z: Any, max_points: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two disjoint seeded samples of min(max_points, N // 2) rows each."""
    n_total = int(z.shape[0])
    n_each = min(max_points, n_total // 2)
    if n_each < 3:
        raise ValueError(f"fragmentation needs at least 6 latent vectors, got {n_total}")
    rows = sample_rows(n_total, 2 * n_each, seed)
    perm = np.random.default_rng([seed, 1]).permutation(len(rows))
    a, b = np.sort(rows[perm[:n_each]]), np.sort(rows[perm[n_each:]])
    return _read_rows(z, a), _read_rows(z, b)


class GaussianSurrogate:
    """Seeded draws from N(mean, cov) (a symmetric square root, so a singular cov is fine)."""

    def __init__(self, mean: np.ndarray, cov: np.ndarray, seed: int) -> None:
        evals, evecs = np.linalg.eigh(np.asarray(cov, dtype=np.float64))
        self.mean = np.asarray(mean, dtype=np.float64)
        self.root = evecs * np.sqrt(np.clip(evals, 0.0, None))
        self.seed = seed

    def draw(self, n: int, index: int) -> np.ndarray:
        eps = np.random.default_rng([self.seed, 7, index]).standard_normal((n, len(self.mean)))
        return self.mean + eps @ self.root.T


# -- kNN statistics and intrinsic dimension -------------------------------------------------
def knn_distances(x: np.ndarray, k: int) -> np.ndarray:
    """Exact distances to the k nearest other points (n, k), ascending (brute force; scikit-learn
    works in blocks of its working_memory, so memory beyond the (n, k) result stays bounded)."""
    nn = NearestNeighbors(n_neighbors=min(k, len(x) - 1), algorithm="brute")
    nn.fit(x)
    dist, _ = nn.kneighbors()
    return dist


def twonn_dimension(dist: np.ndarray) -> float:
    """TwoNN (Facco et al. 2017), maximum likelihood: d = n / sum(log(r2 / r1)); pairs with a
    zero first distance (duplicates) are left out."""
    r1, r2 = dist[:, 0], dist[:, 1]
    ok = r1 > 0
    mu = r2[ok] / r1[ok]
    return float(ok.sum() / np.log(mu).sum())


def local_mle(dist: np.ndarray, k: int) -> np.ndarray:
    """Levina-Bickel local estimate at each point from its k nearest distances:
    1 / mean_{j<k} log(T_k / T_j) (NaN where distances are zero)."""
    t = dist[:, :k]
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = np.log(t[:, -1:] / t[:, :-1]).mean(axis=1)
        return 1.0 / inv


def mle_dimension(dist: np.ndarray, k_min: int, k_max: int) -> float:
    """Global Levina-Bickel MLE averaged over k in k_min..k_max, with MacKay and Ghahramani's
    correction (average the inverse local estimates, then invert)."""
    ests = []
    for k in range(k_min, k_max + 1):
        inv = 1.0 / local_mle(dist, k)
        ests.append(1.0 / np.nanmean(inv[np.isfinite(inv)]))
    return float(np.mean(ests))


def cloud_statistics(x: np.ndarray, p: FragmentationParams) -> dict[str, Any]:
    """Intrinsic dimension and kNN distances of one sample (one exact kNN graph)."""
    k_max = max(p.k_max, p.k)
    dist = knn_distances(x, k_max)
    k_hi = dist.shape[1]
    local = local_mle(dist, k_hi)
    local = local[np.isfinite(local)]
    qs = (0.05, 0.25, 0.5, 0.75, 0.95)
    return {
        "n": len(x),
        "twonn": twonn_dimension(dist),
        "mle": mle_dimension(dist, min(p.k, k_hi), k_hi),
        "local_mle_quantiles": {f"{q:g}": float(np.quantile(local, q)) for q in qs},
        "knn_k": min(p.k, k_hi),
        "_knn": dist[:, min(p.k, k_hi) - 1],
    }


def _public(stats: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in stats.items() if not k.startswith("_")}
    out["knn_median"] = float(np.median(stats["_knn"]))
    out["knn_quantiles"] = {f"{q:g}": float(np.quantile(stats["_knn"], q))
                            for q in (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)}
    return out


# -- point patterns in zoom windows, on all N points ----------------------------------------
def clark_evans(xy: np.ndarray, side: float) -> float:
    """Mean nearest-neighbour distance over its expectation 0.5 / sqrt(n / area) for a uniform
    pattern of the same count in the square (no edge correction: surrogates share the bias)."""
    d = cKDTree(xy).query(xy, k=2)[0][:, 1]
    return float(d.mean() / (0.5 / np.sqrt(len(xy) / side**2)))


def most_correlated_pair(cov: np.ndarray) -> tuple[int, int]:
    """The original axes of the study's zoom series: the pair i<j with the largest |r|."""
    cov = np.asarray(cov, dtype=np.float64)
    sd = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.nan_to_num(np.abs(cov / np.outer(sd, sd)))
    i, j = np.triu_indices(len(cov), 1)
    k = int(np.argmax(r[i, j])) if len(i) else 0
    return (int(i[k]), int(j[k])) if len(i) else (0, 0)


def zoom_planes(mean: np.ndarray, cov: np.ndarray, pca_components: np.ndarray,
                axes: tuple[int, int] | None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The planes the report zooms into: the study's PC pairs (PC1-PC2, PC1-PC18, PC8-PC35, as
    far as z_dim allows) centred on the data mean, and two original axes (default: the most
    correlated pair) centred on their means. Name -> (projection z_dim x 2, window centre)."""
    comps = np.asarray(pca_components, dtype=np.float64)
    planes: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for a, b in study.PC_PAIRS:
        if max(a, b) < len(comps):
            proj = comps[[a, b]].T
            planes[f"pc{a + 1}_pc{b + 1}"] = (proj, mean @ proj)
    i, j = most_correlated_pair(cov) if axes is None else (int(axes[0]), int(axes[1]))
    eye = np.eye(len(mean))[:, [i, j]]
    planes[f"z{i}_z{j}"] = (eye, mean @ eye)
    return planes


def _row_blocks(z: Any, block_rows: int = 16_384) -> Iterator[np.ndarray]:
    """Consecutive row blocks of z (numpy or zarr) as float64."""
    n = int(z.shape[0])
    step = block_rows
    if hasattr(z, "chunks") and not isinstance(z, np.ndarray):
        step = max(1, block_rows // int(z.chunks[0])) * int(z.chunks[0])
    for lo in range(0, n, step):
        yield np.asarray(z[lo:lo + step], dtype=np.float64)


def project_all(z: Any, planes: dict[str, tuple[np.ndarray, np.ndarray]]
                ) -> dict[str, np.ndarray]:
    """Every row's 2-D coordinates in every plane, in one blocked pass (N x 2 per plane)."""
    names = list(planes)
    stacked = np.concatenate([planes[k][0] for k in names], axis=1)
    xy = np.concatenate([block @ stacked for block in _row_blocks(z)])
    return {k: xy[:, 2 * i:2 * i + 2] for i, k in enumerate(names)}


def surrogate_planes(mean: np.ndarray, cov: np.ndarray, proj: np.ndarray, n: int,
                     draws: int, seed: int, plane_index: int) -> list[np.ndarray]:
    """`draws` seeded N-point Gaussian surrogates seen in one plane: the projection of
    N(mean, cov) is exactly N(P'mean, P'cov P), so they are drawn in 2-D."""
    s = GaussianSurrogate(mean @ proj, proj.T @ cov @ proj, seed)
    return [s.draw(n, 1000 * (plane_index + 1) + i) for i in range(draws)]


def _in_window(xy: np.ndarray, centre: np.ndarray, side: float) -> np.ndarray:
    return xy[np.all(np.abs(xy - centre) <= side / 2, axis=1)]


def window_table(data_xy: np.ndarray, surr_xy: list[np.ndarray], centre: np.ndarray,
                 p: FragmentationParams) -> list[dict[str, Any]]:
    """Per window: count (and the surrogates' counts), Clark-Evans R of the data, the
    surrogates' R envelope, the verdict. The whole cloud is the centred square holding all."""
    rows = []
    whole = 2.0 * float(np.abs(data_xy - centre).max()) * (1 + 1e-9)
    for label in p.windows:
        side = whole if label is None else float(label)
        pts = _in_window(data_xy, centre, side)
        surr = [_in_window(x, centre, side) for x in surr_xy]
        counts = [len(s) for s in surr]
        row: dict[str, Any] = {"side": label, "area_side": side, "count": len(pts),
                               "surrogate_count_min": min(counts),
                               "surrogate_count_max": max(counts),
                               "surrogate_count_median": float(np.median(counts))}
        r_surr = [clark_evans(s, side) for s in surr if len(s) >= p.min_points]
        if len(pts) < p.min_points or not r_surr:
            rows.append({**row, "verdict": UNDECIDABLE, "clark_evans": None,
                         "surrogates_used": len(r_surr)})
            continue
        r_data, lo, hi = clark_evans(pts, side), min(r_surr), max(r_surr)
        verdict = FILAMENTARY if r_data < lo else REGULAR if r_data > hi else GAUSSIAN_LIKE
        rows.append({**row, "clark_evans": r_data, "surrogate_min": lo, "surrogate_max": hi,
                     "surrogates_used": len(r_surr), "verdict": verdict})
    return rows


def windows_summary(z: Any, mean: np.ndarray, cov: np.ndarray, pca_components: np.ndarray,
                    axes: tuple[int, int] | None, p: FragmentationParams) -> dict[str, Any]:
    """Window tables for every zoom plane, on all N rows of z against n_surrogates Gaussian
    surrogates of N points each."""
    planes = zoom_planes(mean, cov, pca_components, axes)
    data_xy = project_all(z, planes)
    n = int(z.shape[0])
    return {name: window_table(data_xy[name],
                               surrogate_planes(mean, cov, proj, n, p.n_surrogates, p.seed, k),
                               centre, p)
            for k, (name, (proj, centre)) in enumerate(planes.items())}


# -- verdicts and the public entry ----------------------------------------------------------
def knn_comparison(a: dict[str, Any], s1: dict[str, Any], s2: dict[str, Any]) -> dict[str, Any]:
    """Data vs surrogate kNN distances, and surrogate vs surrogate as the null envelope."""
    ks = ks_2samp(a["_knn"], s1["_knn"])
    ks_null = ks_2samp(s1["_knn"], s2["_knn"])
    m_a, m_1, m_2 = (float(np.median(x["_knn"])) for x in (a, s1, s2))
    ratio, null = m_a / m_1, m_2 / m_1
    verdict = FILAMENTARY if ratio < KNN_FACTOR and ks.statistic > ks_null.statistic \
        else GAUSSIAN_LIKE
    return {"k": a["knn_k"], "median_ratio": ratio, "null_median_ratio": null,
            "ks_statistic": float(ks.statistic), "ks_pvalue": float(ks.pvalue),
            "null_ks_statistic": float(ks_null.statistic),
            "null_ks_pvalue": float(ks_null.pvalue), "verdict": verdict}


def id_comparison(a: dict[str, Any], s1: dict[str, Any]) -> dict[str, Any]:
    med_a = a["local_mle_quantiles"]["0.5"]
    med_s = s1["local_mle_quantiles"]["0.5"]
    return {"data_median_local": med_a, "surrogate_median_local": med_s,
            "ratio": med_a / med_s,
            "verdict": FILAMENTARY if med_a < ID_FACTOR * med_s else GAUSSIAN_LIKE}


def _with_rules(dim: dict[str, Any], knn: dict[str, Any], windows: dict[str, list[dict[str, Any]]],
                p: FragmentationParams) -> None:
    """Every verdict carries the rule that decided it."""
    r = rules(p)
    dim["rule"], knn["rule"] = r["intrinsic_dimension"], r["knn"]
    for rows in windows.values():
        for w in rows:
            w["rule"] = r["window"]


def overall_verdict(id_v: str, knn_v: str, windows: dict[str, list[dict[str, Any]]]) -> str:
    decided = [w["verdict"] for rows in windows.values() for w in rows
               if w["verdict"] != UNDECIDABLE]
    if FILAMENTARY in (id_v, knn_v):
        return FILAMENTARY
    if decided and decided.count(FILAMENTARY) * 2 >= len(decided):
        return FILAMENTARY
    return GAUSSIAN_LIKE


def origin_position(a: np.ndarray, mean: np.ndarray, cov: np.ndarray) -> dict[str, Any]:
    """Where the origin lies: its Mahalanobis distance under N(mean, cov) and the share of the
    sampled data that is closer to the mean than the origin (pseudo-inverse on null axes)."""
    evals, evecs = np.linalg.eigh(np.asarray(cov, dtype=np.float64))
    keep = evals > max(evals.max(), 0.0) * 1e-10
    w = evecs[:, keep] / np.sqrt(evals[keep])
    d_data = np.linalg.norm((a - mean) @ w, axis=1)
    d_origin = float(np.linalg.norm((-np.asarray(mean, dtype=np.float64)) @ w))
    return {"mahalanobis": d_origin, "data_fraction_closer": float(np.mean(d_data < d_origin)),
            "rule": "share of the sampled data with a smaller Mahalanobis distance under the "
                    "fitted Gaussian than the origin's (near 1 = the origin at the border)"}


def fragmentation_summary(z: Any, mean: np.ndarray, cov: np.ndarray,
                          pca_components: np.ndarray, pca_mean: np.ndarray | None = None,
                          axes: tuple[int, int] | None = None,
                          params: FragmentationParams | None = None) -> dict[str, Any]:
    """The fragmentation dict (JSON-able) of the latent rows z (N x z_dim, numpy or zarr)
    against a Gaussian with the data's mean and covariance; see the module docstring.
    pca_components: rows are components (strongest first); axes: the original-axes plane
    (default: the most correlated pair); pca_mean is accepted for older callers."""
    p = params or FragmentationParams()
    mean = np.asarray(mean, dtype=np.float64)
    cov = np.asarray(cov, dtype=np.float64)
    a, b = two_samples(z, p.max_points, p.seed)
    surrogate = GaussianSurrogate(mean, cov, p.seed)
    st_a, st_b = cloud_statistics(a, p), cloud_statistics(b, p)
    st_s1 = cloud_statistics(surrogate.draw(len(a), 0), p)
    st_s2 = cloud_statistics(surrogate.draw(len(a), 1), p)
    knn = knn_comparison(st_a, st_s1, st_s2)
    dim = id_comparison(st_a, st_s1)
    windows = windows_summary(z, mean, cov, pca_components, axes, p)
    _with_rules(dim, knn, windows, p)
    pub = {name: _public(st) for name, st in
           (("data", st_a), ("data_second_sample", st_b), ("surrogate", st_s1),
            ("surrogate_second_draw", st_s2))}
    return {
        "n_total": int(z.shape[0]), "n_sample": len(a), "params": p.model_dump(mode="json"),
        "planes": list(windows), **pub,
        "sampling_error": {key: abs(pub["data"][key] - pub["data_second_sample"][key])
                           for key in ("twonn", "mle", "knn_median")},
        "intrinsic_dimension": dim, "knn": knn, "windows": windows,
        "origin": origin_position(a, mean, cov),
        "verdict": {"intrinsic_dimension": dim["verdict"], "knn": knn["verdict"],
                    **{f"{plane}:{'whole' if w['side'] is None else w['side']}": w["verdict"]
                       for plane, rows in windows.items() for w in rows}},
        "overall": overall_verdict(dim["verdict"], knn["verdict"], windows),
        "overall_rule": rules(p)["overall"], "rules": rules(p),
    }
