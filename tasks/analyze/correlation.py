"""Covariance and what follows from it: Pearson correlation, the correlated pairs, PCA and the
Mahalanobis distance to the fitted Gaussian (the one place that distance is computed)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

CORRELATION_THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def correlation_from_covariance(cov: np.ndarray, zero_variance: np.ndarray) -> np.ndarray:
    """Pearson r; rows and columns of zero-variance components are 0 (diagonal included)."""
    std = np.sqrt(np.diag(cov))
    safe = np.where(zero_variance | (std == 0), 1.0, std)
    corr = cov / np.outer(safe, safe)
    np.clip(corr, -1.0, 1.0, out=corr)
    dead = zero_variance | (std == 0)
    corr[dead, :] = 0.0
    corr[:, dead] = 0.0
    idx = np.flatnonzero(~dead)
    corr[idx, idx] = 1.0
    return corr


def correlation_counts(corr: np.ndarray, thresholds: Sequence[float] = CORRELATION_THRESHOLDS) -> dict[str, int]:
    """Pairs i<j with |r| > t, keyed by the threshold as written ("0.1" ... "0.9")."""
    a = np.abs(corr[np.triu_indices(len(corr), 1)])
    return {f"{t:g}": int(np.count_nonzero(a > t)) for t in thresholds}


def correlated_pairs(corr: np.ndarray, threshold: float) -> list[list]:
    """[i, j, r] for i<j with |r| > threshold, strongest first (ties by i, j)."""
    i, j = np.triu_indices(len(corr), 1)
    r = corr[i, j]
    keep = np.abs(r) > threshold
    i, j, r = i[keep], j[keep], r[keep]
    order = np.lexsort((j, i, -np.abs(r)))
    return [[int(i[k]), int(j[k]), float(r[k])] for k in order]


def pca_from_covariance(cov: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Eigenvalues (descending, >= 0), explained-variance ratios, components (rows).

    Signs follow scikit-learn's convention: the largest-magnitude entry of each component is
    positive, so our components equal sklearn's PCA(svd_solver="full") ones, not just up to sign.
    """
    evals, evecs = np.linalg.eigh(cov)
    order = np.argsort(evals)[::-1]
    evals = np.clip(evals[order], 0.0, None)
    comps = evecs[:, order].T.copy()
    big = np.argmax(np.abs(comps), axis=1)
    signs = np.sign(comps[np.arange(len(comps)), big])
    signs[signs == 0] = 1.0
    comps *= signs[:, None]
    total = evals.sum()
    ratio = evals / total if total > 0 else np.zeros_like(evals)
    return evals, ratio, comps


def mahalanobis_scale(evals: np.ndarray) -> np.ndarray:
    """1/sqrt(eigenvalue) per principal axis; 0 for null directions (a pseudo-inverse), so a
    constant component neither breaks nor dominates the distance."""
    tol = evals.max() * 1e-10 if len(evals) and evals.max() > 0 else 0.0
    out = np.zeros_like(evals)
    keep = evals > tol
    out[keep] = 1.0 / np.sqrt(evals[keep])
    return out


def pca_coordinates(x: np.ndarray, mean: np.ndarray, components: np.ndarray) -> np.ndarray:
    """Rows in PCA coordinates: (x - mean) @ components.T, in float64."""
    return (np.asarray(x, dtype=np.float64) - mean) @ components.T


def mahalanobis_of_coordinates(pc: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Mahalanobis distance of rows already in PCA coordinates (scale from
    :func:`mahalanobis_scale`): the one place the distance is computed."""
    scaled = pc * scale
    return np.sqrt(np.einsum("ij,ij->i", scaled, scaled))


def mahalanobis(x: np.ndarray, mean: np.ndarray, components: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Distance of each row to the fitted Gaussian N(mean, cov) (pseudo-inverse on null axes)."""
    return mahalanobis_of_coordinates(pca_coordinates(x, mean, components), scale)

