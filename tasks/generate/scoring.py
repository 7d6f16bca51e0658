"""Scores of decoded images: sharpness, nearest training image and z_mean, chunk-wise."""

from __future__ import annotations

from typing import Any

import numpy as np

from zspace.storage import iter_row_blocks
from zspace.tasks.common.figures import to_uint8


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
