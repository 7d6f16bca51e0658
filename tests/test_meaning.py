"""What the components encode: streamed MI/correlation, MIG, DCI, probes and the summary,
checked against hand-computed values and on data where the relation is planted and absent."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.stats import norm
from sklearn.metrics import roc_auc_score

from zspace.tasks.analyze.disentanglement import (
    dci,
    dci_scores,
    factor_statistics,
    mig,
    mutual_information,
)
from zspace.tasks.analyze.meaning import (
    compare_meaning,
    heatmap_png,
    linear_probe,
    meaning_summary,
    single_component_auc,
)


def _blocks(z: np.ndarray, v: np.ndarray, step: int = 1000):
    def gen():
        for s in range(0, len(z), step):
            yield z[s:s + step], v[s:s + step]
    return gen


def _splits(n: int, test_fraction: float = 0.3) -> np.ndarray:
    cut = int(n * (1 - test_fraction))
    return np.array(["train"] * cut + ["test"] * (n - cut))


# -- hand-computed values --------------------------------------------------------------------
def test_mutual_information_matches_hand_computed_tables():
    assert mutual_information(np.array([[2, 0], [0, 2]])) == pytest.approx(math.log(2))
    assert mutual_information(np.array([[1, 1], [1, 1]])) == pytest.approx(0.0, abs=1e-12)
    by_hand = 0.75 * math.log(1.5) + 0.25 * math.log(0.5)
    assert mutual_information(np.array([[3, 1], [1, 3]])) == pytest.approx(by_hand)


def test_mig_and_dci_scores_match_hand_computed_values():
    mi = np.array([[1.0, 0.2], [0.4, 0.2], [0.1, 0.9]])
    value, gaps = mig(mi, np.array([2.0, 1.0]))
    assert gaps == pytest.approx([0.3, 0.7]) and value == pytest.approx(0.5)
    ideal = dci_scores(np.eye(3))
    assert ideal["disentanglement"] == pytest.approx(1.0) and ideal["completeness"] == pytest.approx(1.0)
    flat = dci_scores(np.ones((3, 3)))
    assert flat["disentanglement"] == pytest.approx(0.0, abs=1e-12)
    assert flat["completeness"] == pytest.approx(0.0, abs=1e-12)
    # one component carries both factors: complete (each factor in one place), not disentangled
    shared = dci_scores(np.array([[1.0, 1.0], [0.0, 0.0]]))
    assert shared["disentanglement"] == pytest.approx(0.0, abs=1e-12)
    assert shared["completeness"] == pytest.approx(1.0)


def test_single_component_auc_matches_sklearn():
    z = np.array([[1.0, 1.0], [2.0, 3.0], [3.0, 2.0], [4.0, 4.0]])
    y = np.array([0.0, 0.0, 1.0, 1.0])
    auc = single_component_auc(z, y)
    assert auc == pytest.approx([1.0, 0.75])
    rng = np.random.default_rng(3)
    zz, yy = rng.standard_normal((500, 4)), (rng.random(500) < 0.3).astype(float)
    zz[:, 2] += yy
    want = [roc_auc_score(yy, zz[:, j]) for j in range(4)]
    assert single_component_auc(zz, yy) == pytest.approx(want)


# -- streamed statistics are exact -----------------------------------------------------------
def test_streamed_statistics_are_exact_and_block_size_free():
    rng = np.random.default_rng(0)
    n = 5000
    v = np.column_stack([rng.random(n), rng.integers(0, 2, n)]).astype(float)
    z = rng.standard_normal((n, 6)) * 3 + 10
    z[:, 1] += 2 * v[:, 0]
    a = factor_statistics(_blocks(z, v, 333))
    b = factor_statistics(_blocks(z, v, n))
    want = np.corrcoef(np.column_stack([z, v]), rowvar=False)[:6, 6:]
    assert np.allclose(a.correlation, want, atol=1e-10)
    assert np.allclose(a.mutual_information, b.mutual_information, atol=1e-12)
    assert a.categorical == [False, True]
    means = [z[v[:, 1] == c].mean(0) for c in (0, 1)]
    assert np.allclose(a.class_means[1], means)


def test_rows_with_unknown_values_are_left_out():
    rng = np.random.default_rng(1)
    z = rng.standard_normal((400, 3))
    v = z[:, :1].copy()
    v[::4] = np.nan
    st = factor_statistics(_blocks(z, v, 64))
    assert st.n == 300 and st.correlation[0, 0] == pytest.approx(1.0)


# -- MIG on planted and absent structure -----------------------------------------------------
def test_mig_near_one_for_copied_factors_and_near_zero_for_random_latents():
    rng = np.random.default_rng(2)
    n = 20000
    v = np.column_stack([rng.random(n), rng.random(n), rng.integers(0, 5, n)]).astype(float)
    noise = rng.standard_normal((n, 8))
    copied = noise.copy()
    copied[:, 0], copied[:, 4], copied[:, 6] = v[:, 0], 3 * v[:, 1] - 1, v[:, 2]
    st = factor_statistics(_blocks(copied, v, 4096))
    assert mig(st.mutual_information, st.factor_entropy)[0] > 0.95
    st0 = factor_statistics(_blocks(noise, v, 4096))
    assert mig(st0.mutual_information, st0.factor_entropy)[0] < 0.02
    # a rotation keeps the information but spreads each factor over two components
    c, s = math.cos(math.pi / 4), math.sin(math.pi / 4)
    mixed = copied.copy()
    mixed[:, 0], mixed[:, 4] = c * copied[:, 0] + s * v[:, 1], -s * copied[:, 0] + c * v[:, 1]
    st1 = factor_statistics(_blocks(mixed, v, 4096))
    assert mig(st1.mutual_information, st1.factor_entropy)[1][:2].max() < 0.5


def test_dci_separates_axis_aligned_from_rotated_codes():
    rng = np.random.default_rng(4)
    n = 3000
    v = rng.random((n, 3))
    z = np.column_stack([v, rng.standard_normal((n, 3))]) + 0.01 * rng.standard_normal((n, 6))
    rot = np.linalg.qr(rng.standard_normal((6, 6)))[0]
    aligned = dci(z[:2000], v[:2000], z[2000:], v[2000:], [False] * 3)
    rotated = dci((z @ rot)[:2000], v[:2000], (z @ rot)[2000:], v[2000:], [False] * 3)
    assert aligned["disentanglement"] > 0.9 and aligned["completeness"] > 0.9
    assert rotated["disentanglement"] < 0.6 and rotated["completeness"] < 0.6
    assert aligned["informativeness"] > 0.98 and rotated["informativeness"] > 0.98


# -- probes reach the noise bound ------------------------------------------------------------
def test_attribute_probe_reaches_the_bayes_bound():
    rng = np.random.default_rng(5)
    n, a, sigma = 8000, 1.0, 1.0
    y = (rng.random(n) < 0.5).astype(float)
    z = rng.standard_normal((n, 8))
    z[:, 3] = a * (2 * y - 1) + sigma * rng.standard_normal(n)
    bound = norm.cdf(a / sigma)  # best possible accuracy: threshold at 0, equal priors
    got = linear_probe(z[:4000], y[:4000], z[4000:], y[4000:], categorical=True)
    assert abs(got["probe_accuracy"] - bound) < 0.025
    assert got["chance"] == pytest.approx(max(y[4000:].mean(), 1 - y[4000:].mean()))
    blind = linear_probe(z[:4000, :3], y[:4000], z[4000:, :3], y[4000:], categorical=True)
    assert blind["probe_accuracy"] < 0.55


def test_factor_probe_r2_reaches_the_noise_bound():
    rng = np.random.default_rng(6)
    n, sigma = 6000, 0.2
    v = rng.random(n)
    z = rng.standard_normal((n, 5))
    z[:, 2] = v + sigma * rng.standard_normal(n)
    bound = (1 / 12) / (1 / 12 + sigma ** 2)
    got = linear_probe(z[:3000], v[:3000], z[3000:], v[3000:], categorical=False)["probe_r2"]
    assert abs(got - bound) < 0.03
