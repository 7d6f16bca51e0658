"""Latent traversals: what moving along one direction of z-space does to the decoded face.

A strip is the data mean moved by t x (the data's spread along the direction), t = -3 .. 3 in
7 steps, decoded: along a single latent component (spread: its std), a principal component
(spread: sqrt of its explained variance), or an attribute direction (the difference of the
class means, e.g. Smiling minus not Smiling; spread: the data's std along it when the
covariance is given, else half the difference, so t = +-1 lands near the two class means).
All strips of a figure are decoded in one `decode(z, batch_size)` call. Which attribute
directions are drawn: the ones a linear probe finds best (:func:`attribute_directions`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from zspace.tasks.common.figures import rows_figure

Decoder = Callable[[np.ndarray, int], np.ndarray]
T_VALUES: tuple[float, ...] = tuple(float(t) for t in np.linspace(-3.0, 3.0, 7))
MAX_ATTRIBUTE_STRIPS = 6


@dataclass(frozen=True)
class LatentSpread:
    """Where every strip starts (the data mean) and how far one step goes: a component's std,
    a principal axis' sqrt(eigenvalue), an attribute direction's spread under the covariance
    (half the direction's length without one)."""

    mean: np.ndarray
    std: np.ndarray
    pca_components: np.ndarray  # rows are components, as in stats/pca_components
    pca_eigenvalues: np.ndarray
    covariance: np.ndarray | None = None


def traversal_points(mean: np.ndarray, direction: np.ndarray, step: float,
                     t_values: Sequence[float] = T_VALUES) -> np.ndarray:
    """(len(t_values), z_dim): mean + t * step * unit(direction)."""
    d = np.asarray(direction, dtype=np.float64)
    norm = float(np.linalg.norm(d))
    if not np.isfinite(norm) or norm == 0.0:
        raise ValueError("a traversal direction must be finite and non-zero")
    t = np.asarray(t_values, dtype=np.float64)[:, None]
    return np.asarray(mean, dtype=np.float64)[None, :] + t * float(step) * (d / norm)[None, :]


def _decode_strips(decode: Decoder, points: dict[str, np.ndarray], batch_size: int
                   ) -> dict[str, np.ndarray]:
    """One decoder call for all strips; split back by label."""
    if not points:
        return {}
    z = np.concatenate(list(points.values())).astype(np.float32)
    images = np.asarray(decode(z, batch_size))
    if len(images) != len(z):
        raise ValueError(f"decoder returned {len(images)} images for {len(z)} z-points")
    out, start = {}, 0
    for label, p in points.items():
        out[label] = images[start:start + len(p)]
        start += len(p)
    return out


def _check_index(which: Sequence[int], size: int, what: str) -> list[int]:
    idx = [int(i) for i in which]
    bad = [i for i in idx if not 0 <= i < size]
    if bad:
        raise ValueError(f"{what} {bad} are outside 0..{size - 1}")
    return idx


def component_traversals(decode: Decoder, mean: np.ndarray, std: np.ndarray,
                         components: Sequence[int], t_values: Sequence[float] = T_VALUES,
                         batch_size: int = 256) -> dict[str, np.ndarray]:
    """'z<j>' -> decoded strip of the mean with component j moved by t x std[j]."""
    mean = np.asarray(mean, dtype=np.float64)
    idx = _check_index(components, len(mean), "components")
    points = {}
    for j in idx:
        axis = np.zeros_like(mean)
        axis[j] = 1.0
        points[f"z{j}"] = traversal_points(mean, axis, float(std[j]) or 1.0, t_values)
    return _decode_strips(decode, points, batch_size)


def pca_traversals(decode: Decoder, mean: np.ndarray, pca_components: np.ndarray,
                   explained_variance: np.ndarray, which: Sequence[int] = (0, 1, 2),
                   t_values: Sequence[float] = T_VALUES, batch_size: int = 256
                   ) -> dict[str, np.ndarray]:
    """'PC<k+1>' -> decoded strip of the mean moved by t x sqrt(eigenvalue k) along PC k
    (pca_components: rows are components, as in stats/pca_components)."""
    comps = np.asarray(pca_components, dtype=np.float64)
    idx = _check_index(which, len(comps), "principal components")
    points = {f"PC{k + 1}": traversal_points(mean, comps[k],
                                             float(np.sqrt(max(explained_variance[k], 0.0))) or 1.0,
                                             t_values) for k in idx}
    return _decode_strips(decode, points, batch_size)


def direction_step(direction: np.ndarray, covariance: np.ndarray | None = None) -> float:
    """The spread along a direction: sqrt(u' C u) for unit u, or half its length without C."""
    d = np.asarray(direction, dtype=np.float64)
    if covariance is None:
        return 0.5 * float(np.linalg.norm(d))
    u = d / np.linalg.norm(d)
    return float(np.sqrt(max(u @ np.asarray(covariance, dtype=np.float64) @ u, 0.0)))


def direction_traversals(decode: Decoder, mean: np.ndarray, directions: Mapping[str, np.ndarray],
                         covariance: np.ndarray | None = None,
                         t_values: Sequence[float] = T_VALUES, batch_size: int = 256
                         ) -> dict[str, np.ndarray]:
    """'+<name>' -> decoded strip of the mean moved along an attribute direction
    (mean z with the attribute minus mean z without; positive t adds the attribute)."""
    points = {f"+{name}": traversal_points(mean, d, direction_step(d, covariance), t_values)
              for name, d in directions.items()}
    return _decode_strips(decode, points, batch_size)


def traversal_png(strips: Mapping[str, np.ndarray], title: str,
                  t_values: Sequence[float] = T_VALUES) -> bytes:
    """One labelled row per strip (rows_figure); the title states the t values."""
    if not strips:
        raise ValueError("no traversal strips to draw")
    ts = ", ".join(f"{t:+g}" for t in t_values)
    return rows_figure(list(strips.items()), f"{title}  (t = {ts})")


def attribute_directions(meaning: dict[str, Any], k: int = MAX_ATTRIBUTE_STRIPS
                         ) -> dict[str, np.ndarray]:
    """The k attributes a linear probe finds best (accuracy above chance), with their
    class-mean directions."""
    names = (meaning.get("attributes") or {}).get("names") or {}
    gain = {a: e.get("probe_accuracy", 0.0) - e.get("chance", 0.0)
            for a, e in names.items() if e.get("direction") is not None}
    best = sorted(gain, key=gain.get, reverse=True)[:k]
    return {a: np.asarray(names[a]["direction"], dtype=np.float64) for a in best}


def traversal_figures(decode: Decoder, spread: LatentSpread, dominant_components: Sequence[int],
                      directions: Mapping[str, np.ndarray] | None = None, n_pcs: int = 3,
                      max_strips: int = 8) -> list[dict[str, object]]:
    """The report's traversal figures (section 'meaning'): dominant components, leading
    principal components and, when given, attribute directions; at most max_strips rows each.
    Returns [{'file', 'title', 'section', 'png'}] for the generate stage to write."""
    figs: list[tuple[str, str, dict[str, np.ndarray]]] = []
    dom = list(dominant_components)[:max_strips]
    if dom:
        figs.append(("traversal_dominant.png", "Dominant components: mean + t x std",
                     component_traversals(decode, spread.mean, spread.std, dom)))
    k = min(n_pcs, max_strips, len(spread.pca_components))
    if k:
        figs.append(("traversal_pca.png", "Principal components: mean + t x sqrt(eigenvalue)",
                     pca_traversals(decode, spread.mean, spread.pca_components,
                                    spread.pca_eigenvalues, range(k))))
    dirs = {n: d for n, d in (directions or {}).items() if np.linalg.norm(d) > 0}
    if dirs:
        chosen = dict(list(dirs.items())[:max_strips])
        figs.append(("traversal_attributes.png", "Attribute directions (class-mean difference)",
                     direction_traversals(decode, spread.mean, chosen, spread.covariance)))
    return [{"file": f, "title": t, "section": "meaning", "png": traversal_png(s, t)}
            for f, t, s in figs]
