"""Where probe z-points lie, validated where the answer is planted: probes drawn from the data's
fitted Gaussian land in the voids between planted filaments; far probes miss the region."""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from zspace.tasks.generate.realism import DataCloud, placement, void_or_miss


def _filaments(rng: np.random.Generator, n: int = 3000, dim: int = 8) -> np.ndarray:
    """A few thin random lines through the cloud: lots of empty space between them."""
    t = rng.uniform(-3, 3, size=(n, 1))
    directions = rng.normal(size=(4, dim))
    which = rng.integers(0, 4, size=n)
    return t * directions[which] + 0.01 * rng.normal(size=(n, dim))


def _cloud(data: np.ndarray) -> tuple[DataCloud, cKDTree]:
    mean, cov = data.mean(axis=0), np.cov(data, rowvar=False)
    evals, evecs = np.linalg.eigh(cov)
    order = np.argsort(evals)[::-1]
    comps, evals = evecs[:, order].T, evals[order]
    a, b = data[::2], data[1::2]
    tree = cKDTree(b)
    from zspace.tasks.analyze import mahalanobis, mahalanobis_scale

    mahal = mahalanobis(a, mean, comps, mahalanobis_scale(evals))
    data_nn = tree.query(a[:500])[0]
    return DataCloud.fit(mean, comps, evals, mahal, data_nn), tree


def test_planted_voids_and_missed_region() -> None:
    rng = np.random.default_rng(0)
    data = _filaments(rng)
    cloud, tree = _cloud(data)
    fitted = rng.multivariate_normal(data.mean(axis=0), np.cov(data, rowvar=False), size=400)
    far = rng.uniform(-40, 40, size=(400, data.shape[1]))
    near = data[rng.choice(len(data), 400)] + 0.001 * rng.normal(size=(400, data.shape[1]))
    per = {name: placement(z, tree.query(z)[0], cloud)
           for name, z in (("fitted", fitted), ("far", far), ("near", near))}
    assert per["fitted"]["in_void"] > 0.8, per["fitted"]  # inside the region, off the lines
    assert per["far"]["outside_region"] > 0.95, per["far"]
    assert per["near"]["on_data"] > 0.9, per["near"]
    assert void_or_miss(per, ("far",))["answer"] == "miss the region"
    assert void_or_miss(per, ("fitted",))["answer"] == "voids"
    assert void_or_miss(per, ("near",))["answer"] == "on the data"
    assert void_or_miss(per, ("near", "far", "fitted"))["answer"] == "both"
    assert void_or_miss(per, ())["answer"] == "not decidable"
    assert "99%" in void_or_miss(per, ("far",))["rule"]
