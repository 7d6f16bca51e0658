"""Filaments and voids, measured against null models that keep the cloud's large-scale shape.

The study's zoomed PCA scatter plots ("Autoencoders and latent space fragmentation") suggested
thin filaments around voids; its 2023 addendum withdrew the conclusion and asked again. A
Gaussian with the data's covariance is no null for that question: a heavy-tailed, skewed or
low-dimensional but smooth cloud differs from it without any filament or void. So four
different answers are kept apart, each with its own rule:

- filamentary: 1-D structure, the median local (Levina-Bickel) dimension of a seeded sample is
  below FILAMENT_DIM (bootstrap upper bound) while a Gaussian's is far above;
- clustered: structure finer than a bandwidth h in the study's zoom planes (PC1-PC2, PC1-PC18,
  PC8-PC35, two original axes; centred windows of the report's sides, on ALL N points). The
  null is the data's own 2-D density smoothed at h (Silverman's smoothed bootstrap, variance
  kept), which keeps the peak, tails and marginals and erases only finer structure. Smoothing
  raises the Clark-Evans ratio R of a smooth density by c h^2, so the second difference
  (R_h - R_0) - (R_sqrt2h - R_h) is ~0 under the null and positive when clumps finer than h
  exist; Holm's procedure over all windows controls the family-wise error;
- low-dimensional (descriptive, not fragmentation): local dimension below ID_FACTOR x a
  Gaussian's;
- heavy-tailed (descriptive): Mardia's multivariate kurtosis test.

"fragmented" = filamentary or clustered; its family-wise error is at most
alpha_clustered + alpha_filament (Bonferroni over the two parts).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from zspace import study
from zspace.storage import read_blocks
from zspace.tasks.analyze.fragmentation_parts import (
    CLUSTERED,
    FILAMENT_DIM,
    FILAMENTARY,
    FRAGMENTED,
    ID_FACTOR,
    NOT_FRAGMENTED,
    SMOOTH,
    UNDECIDABLE,
    dimension_test,
    filament_test,
    holm,
    tail_test,
)
from zspace.tasks.common.sampling import sample_rows

PROJECT_ROWS = 16_384  # rows per block when every row is projected onto the zoom planes


class FragmentationParams(BaseModel):
    """How the fragmentation statistics are sampled and decided."""

    model_config = ConfigDict(extra="forbid")

    max_points: int = Field(20_000, ge=20, description="rows per sample (data and surrogates)")
    k: int = Field(10, ge=2, description="k_min of the MLE; the kNN-distance statistic uses k")
    k_max: int = Field(20, ge=2, description="k_max of the MLE (averaged over k_min..k_max)")
    n_surrogates: int = Field(10, ge=3, description="smoothed draws per bandwidth (window tests)")
    min_points: int = Field(30, ge=3, description="fewer points in a window: not decidable")
    windows: tuple[float | None, ...] = Field(
        study.ZOOM_SIDES, description="sides of centred squares; None = the whole cloud")
    alpha_clustered: float = Field(0.04, gt=0, lt=1, description="Holm level over windows")
    alpha_filament: float = Field(0.01, gt=0, lt=1,
                                  description="one-sided level of the local-dimension bound")
    seed: int = 0


def rules(p: FragmentationParams) -> dict[str, str]:
    """The rules in words, with the parameters filled in."""
    return {
        "filamentary": (
            f"detects 1-D structure: filamentary when the {1 - p.alpha_filament:g} bootstrap upper "
            f"bounds of the median local MLE dimension at k={p.k} and k={p.k_max} (so across "
            "voids between small clusters is not enough) of the data are both below "
            f"{FILAMENT_DIM:g} and the Gaussian surrogate's median is above {2 * FILAMENT_DIM:g}"),
        "clustered": (
            "detects clumps and voids finer than the bandwidth h = N^(-1/6) (of each plane's "
            "covariance) in the zoom windows: clustered when Holm's procedure at "
            f"{p.alpha_clustered:g} over all decidable windows rejects any window's smooth null"),
        "window": (
            "Clark-Evans R = mean NN distance / (0.5 / sqrt(n / area)) of all N points in the "
            f"window, and of {p.n_surrogates} smoothed draws at h and at sqrt(2) h; "
            "T = (R_h - R_data) - (R_sqrt2h - R_h), one-sided z with the CSR standard error "
            f"0.5227/sqrt(n) (or the draws' spread, if larger); not decidable below "
            f"{p.min_points} points"),
        "low_dimensional": (
            f"descriptive: low-dimensional when the median local MLE dimension (k={p.k_max}) of "
            f"the data is below {ID_FACTOR:g} x that of a Gaussian with its covariance"),
        "heavy_tailed": ("descriptive: Mardia's multivariate kurtosis above its normal-theory "
                         "law, one-sided p < 0.01"),
        "knn": (f"descriptive: median {p.k}-th-neighbour distance and KS statistic against a "
                "Gaussian with the data's covariance (two surrogates give the null envelope)"),
        "overall": (
            "fragmented when filamentary or clustered (different answers from low-dimensional "
            "and heavy-tailed, which a smooth cloud can be); family-wise error <= "
            f"{p.alpha_clustered:g} + {p.alpha_filament:g} (Bonferroni over the two parts)"),
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
    from sklearn.neighbors import NearestNeighbors

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
        "_local": local,
        "_local_small": local_mle(dist, min(p.k, k_hi)),
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
    from scipy.spatial import cKDTree

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


def project_all(z: Any, planes: dict[str, tuple[np.ndarray, np.ndarray]]
                ) -> dict[str, np.ndarray]:
    """Every row's 2-D coordinates in every plane, in one blocked pass (N x 2 per plane)."""
    names = list(planes)
    stacked = np.concatenate([planes[k][0] for k in names], axis=1)
    xy = np.concatenate([block.astype(np.float64) @ stacked for _, block in
                         read_blocks(z, block_bytes=PROJECT_ROWS * 8 * stacked.shape[0],
                                     itemsize=8)])
    return {k: xy[:, 2 * i:2 * i + 2] for i, k in enumerate(names)}


def smoothed_plane(xy: np.ndarray, h: float, rng: np.random.Generator) -> np.ndarray:
    """The plane's points jittered by N(0, h^2 cov) and shrunk towards their mean by
    1/sqrt(1 + h^2) (Silverman's smoothed bootstrap, variance kept): a draw of the data's 2-D
    density smoothed at bandwidth h, which keeps its large-scale shape (peak, tails,
    marginals) and erases structure finer than h."""
    mean = xy.mean(0)
    root = np.linalg.cholesky(np.cov(xy.T) + 1e-12 * np.eye(2))
    eps = rng.standard_normal(xy.shape) @ root.T
    return mean + (xy - mean + h * eps) / np.sqrt(1.0 + h * h)


def bandwidth(n: int) -> float:
    """Silverman's rule for 2-D: n^(-1/6) of the plane's covariance."""
    return float(n) ** (-1.0 / 6.0)


def _window_points(xy: np.ndarray, centre: np.ndarray, side: float) -> np.ndarray:
    return xy[np.all(np.abs(xy - centre) <= side / 2, axis=1)]


def _curvature_test(r0: float, n0: int, r1: list[float], r2: list[float]) -> dict[str, Any]:
    """T = (mean R1 - R0) - (mean R2 - mean R1): smoothing at h and at sqrt(2) h raises a
    smooth density's Clark-Evans R by c h^2 and 2 c h^2, so T ~ 0; structure finer than h is
    erased by the first smoothing only, so T > 0. One-sided z with the CSR standard error of
    R0 (0.5227 / sqrt(n)) or the surrogates' spread, whichever is larger."""
    from scipy.stats import norm

    m1, m2 = float(np.mean(r1)), float(np.mean(r2))
    s1, s2 = float(np.std(r1, ddof=1)), float(np.std(r2, ddof=1))
    se0 = max(0.5227 / np.sqrt(n0), s1)
    se = float(np.sqrt(se0**2 + 4 * s1**2 / len(r1) + s2**2 / len(r2)))
    t = (m1 - r0) - (m2 - m1)
    z = t / se if se > 0 else 0.0
    return {"t": t, "t_se": se, "z": z, "p": float(norm.sf(z)), "smoothed_mean": m1,
            "smoothed_twice_mean": m2}


def window_table(data_xy: np.ndarray, centre: np.ndarray, p: FragmentationParams,
                 seed: int) -> list[dict[str, Any]]:
    """Per window: count, Clark-Evans R of the data, of n_surrogates smoothed draws at h and at
    sqrt(2) h, and the curvature test (verdicts come later, after Holm over all windows)."""
    rng = np.random.default_rng([p.seed, 11, seed])
    h = bandwidth(len(data_xy))
    draws = [(smoothed_plane(data_xy, h, rng), smoothed_plane(data_xy, np.sqrt(2) * h, rng))
             for _ in range(p.n_surrogates)]
    whole = 2.0 * float(np.abs(data_xy - centre).max()) * (1 + 1e-9)
    rows = []
    for label in p.windows:
        side = whole if label is None else float(label)
        pts = _window_points(data_xy, centre, side)
        s1 = [_window_points(a, centre, side) for a, _ in draws]
        s2 = [_window_points(b, centre, side) for _, b in draws]
        row: dict[str, Any] = {"side": label, "area_side": side, "count": len(pts),
                               "bandwidth": h, "surrogate_count_median": float(np.median(
                                   [len(x) for x in s1]))}
        r1 = [clark_evans(x, side) for x in s1 if len(x) >= p.min_points]
        r2 = [clark_evans(x, side) for x in s2 if len(x) >= p.min_points]
        if len(pts) < p.min_points or min(len(r1), len(r2)) < 2:
            rows.append({**row, "clark_evans": None, "p": None})
            continue
        r0 = clark_evans(pts, side)
        rows.append({**row, "clark_evans": r0, "surrogate_min": min(r1), "surrogate_max": max(r1),
                     **_curvature_test(r0, len(pts), r1, r2)})
    return rows


def windows_summary(z: Any, mean: np.ndarray, cov: np.ndarray, pca_components: np.ndarray,
                    axes: tuple[int, int] | None, p: FragmentationParams) -> dict[str, Any]:
    """Window tables for every zoom plane, on all N rows of z, each window's verdict by Holm's
    procedure over all decidable windows of all planes at level p.alpha_clustered."""
    planes = zoom_planes(mean, cov, pca_components, axes)
    data_xy = project_all(z, planes)
    out = {name: window_table(data_xy[name], centre, p, k)
           for k, (name, (_, centre)) in enumerate(planes.items())}
    tested = [w for rows in out.values() for w in rows if w["p"] is not None]
    reject = holm([w["p"] for w in tested], p.alpha_clustered)
    for w, r in zip(tested, reject, strict=True):
        w["verdict"] = CLUSTERED if r else SMOOTH
    for rows in out.values():
        for w in rows:
            w.setdefault("verdict", UNDECIDABLE)
    return out


# -- the parts and the overall verdict ------------------------------------------------------
def knn_comparison(a: dict[str, Any], s1: dict[str, Any], s2: dict[str, Any]) -> dict[str, Any]:
    """Data vs Gaussian-surrogate kNN distances, surrogate vs surrogate as the null envelope
    (descriptive: a Gaussian is not the null for fragmentation)."""
    from scipy.stats import ks_2samp

    ks = ks_2samp(a["_knn"], s1["_knn"])
    ks_null = ks_2samp(s1["_knn"], s2["_knn"])
    m_a, m_1, m_2 = (float(np.median(x["_knn"])) for x in (a, s1, s2))
    return {"k": a["knn_k"], "median_ratio": m_a / m_1, "null_median_ratio": m_2 / m_1,
            "ks_statistic": float(ks.statistic), "ks_pvalue": float(ks.pvalue),
            "null_ks_statistic": float(ks_null.statistic), "null_ks_pvalue": float(ks_null.pvalue)}


def overall_verdict(fil: str, windows: dict[str, list[dict[str, Any]]]) -> str:
    """Fragmented when the filament test or the Holm-controlled window family says so."""
    clustered = any(w["verdict"] == CLUSTERED for rows in windows.values() for w in rows)
    return FRAGMENTED if fil == FILAMENTARY or clustered else NOT_FRAGMENTED


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


def _parts(st_a: dict[str, Any], st_s1: dict[str, Any], a: np.ndarray,
           windows: dict[str, list[dict[str, Any]]], p: FragmentationParams) -> dict[str, Any]:
    fil = filament_test(st_a, st_s1, p.alpha_filament, p.seed)
    dim, tails = dimension_test(st_a, st_s1), tail_test(a)
    clustered = any(w["verdict"] == CLUSTERED for rows in windows.values() for w in rows)
    r = rules(p)
    fil["rule"], dim["rule"], tails["rule"] = r["filamentary"], r["low_dimensional"], r["heavy_tailed"]
    return {"filamentary": fil, "low_dimensional": dim, "heavy_tailed": tails,
            "clustered": {"verdict": CLUSTERED if clustered else SMOOTH, "rule": r["clustered"],
                          "windows_tested": sum(w["p"] is not None for rows in windows.values()
                                                for w in rows)}}


def fragmentation_summary(z: Any, mean: np.ndarray, cov: np.ndarray,
                          pca_components: np.ndarray, pca_mean: np.ndarray | None = None,
                          axes: tuple[int, int] | None = None,
                          params: FragmentationParams | None = None) -> dict[str, Any]:
    """The fragmentation dict (JSON-able) of the latent rows z (N x z_dim, numpy or zarr); see
    the module docstring. pca_components: rows are components (strongest first); axes: the
    original-axes plane (default: the most correlated pair); pca_mean is accepted for older
    callers."""
    p = params or FragmentationParams()
    mean = np.asarray(mean, dtype=np.float64)
    cov = np.asarray(cov, dtype=np.float64)
    a, b = two_samples(z, p.max_points, p.seed)
    surrogate = GaussianSurrogate(mean, cov, p.seed)
    st_a, st_b = cloud_statistics(a, p), cloud_statistics(b, p)
    st_s1 = cloud_statistics(surrogate.draw(len(a), 0), p)
    st_s2 = cloud_statistics(surrogate.draw(len(a), 1), p)
    windows = windows_summary(z, mean, cov, pca_components, axes, p)
    parts = _parts(st_a, st_s1, a, windows, p)
    r = rules(p)
    for rows in windows.values():
        for w in rows:
            w["rule"] = r["window"]
    dim = {**parts["low_dimensional"]}
    pub = {name: _public(st) for name, st in
           (("data", st_a), ("data_second_sample", st_b), ("surrogate", st_s1),
            ("surrogate_second_draw", st_s2))}
    overall = overall_verdict(parts["filamentary"]["verdict"], windows)
    return {
        "n_total": int(z.shape[0]), "n_sample": len(a), "params": p.model_dump(mode="json"),
        "planes": list(windows), **pub,
        "sampling_error": {key: abs(pub["data"][key] - pub["data_second_sample"][key])
                           for key in ("twonn", "mle", "knn_median")},
        "intrinsic_dimension": dim, "knn": {**knn_comparison(st_a, st_s1, st_s2),
                                            "rule": r["knn"]},
        "windows": windows, "parts": parts, "origin": origin_position(a, mean, cov),
        "verdict": {name: part["verdict"] for name, part in parts.items()},
        "fragmented": overall == FRAGMENTED, "overall": overall,
        "overall_rule": r["overall"], "family_wise_error": p.alpha_clustered + p.alpha_filament,
        "rules": r,
    }
