"""Fragmentation statistics on clouds where filaments are planted (points on 1-D curves) and
where they are absent (a correlated Gaussian, and the non-Gaussian smooth nulls that the old
Gaussian-surrogate rule called filamentary), plus a window too sparse to decide."""

from __future__ import annotations

import json

import numpy as np
import pytest
import zarr

from zspace.tasks.analyze import (
    FragmentationParams,
    cloud_statistics,
    fragmentation_summary,
    most_correlated_pair,
    two_samples,
)

PARAMS = FragmentationParams(max_points=600)


def curves(n: int, d: int, n_curves: int = 4, noise: float = 0.01, seed: int = 0) -> np.ndarray:
    """Points on a few smooth random closed-form 1-D curves in d dimensions, small noise."""
    rng = np.random.default_rng(seed)
    parts = []
    for _ in range(n_curves):
        t = rng.uniform(0, 1, n // n_curves)[:, None]
        freq, phase = rng.normal(size=(3, d)), rng.uniform(0, 6, size=(3, d))
        x = 2 * sum(np.sin((j + 1) * 2 * t * freq[j] + phase[j]) for j in range(3))
        parts.append(x + noise * rng.normal(size=x.shape))
    return rng.permutation(np.concatenate(parts))


def gaussian(n: int, d: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)) @ (0.3 * rng.normal(size=(d, d))) + 0.5


def summarise(z: np.ndarray, params: FragmentationParams = PARAMS, **kw) -> dict:
    mean, cov = z.mean(axis=0), np.cov(z.T)
    evals, evecs = np.linalg.eigh(cov)
    return fragmentation_summary(z, mean, cov, evecs[:, ::-1].T, params=params, **kw)


@pytest.fixture(scope="module")
def planted() -> dict:
    return summarise(curves(1200, 256))


@pytest.fixture(scope="module")
def absent() -> dict:
    return summarise(gaussian(1200, 256))


def test_curves_are_filamentary_with_low_local_dimension(planted):
    assert planted["overall"] == "fragmented" and planted["fragmented"]
    assert planted["verdict"]["filamentary"] == "filamentary"
    assert planted["verdict"]["clustered"] == "clustered"
    assert planted["parts"]["filamentary"]["upper_bound"] < 2.5
    assert planted["data"]["local_mle_quantiles"]["0.5"] < 2.0
    assert planted["surrogate"]["local_mle_quantiles"]["0.5"] > 6.0
    whole = planted["windows"]["pc1_pc2"][0]
    assert whole["side"] is None and whole["verdict"] == "clustered" and whole["z"] > 4
    assert whole["clark_evans"] < whole["smoothed_mean"] < whole["smoothed_twice_mean"]
    assert whole["count"] == 1200  # windows see all N points, not the kNN sample


def test_windows_are_the_report_zoom_planes_and_sides(planted):
    z = curves(1200, 256)
    i, j = most_correlated_pair(np.cov(z.T))
    assert planted["planes"] == ["pc1_pc2", "pc1_pc18", "pc8_pc35", f"z{i}_z{j}"]
    for rows in planted["windows"].values():
        assert [w["side"] for w in rows] == [None, 5.0, 1.0, 0.5]


def test_gaussian_cloud_is_not_fragmented(absent):
    assert absent["overall"] == "not fragmented" and not absent["fragmented"]
    assert absent["verdict"]["filamentary"] == "not filamentary"
    assert absent["verdict"]["clustered"] == "smooth at the bandwidth"
    assert absent["verdict"]["heavy_tailed"] == "not heavy-tailed"
    assert 0.8 < absent["knn"]["median_ratio"] < 1.2
    assert abs(absent["data"]["mle"] - absent["surrogate"]["mle"]) < 0.15 * absent["surrogate"]["mle"]


@pytest.mark.parametrize(("make", "z_dim"), [("manifold", 256), ("student_t", 64)])
def test_smooth_non_gaussian_clouds_are_not_fragmented(make, z_dim):
    # before: a smooth 10-D manifold read "filamentary" (local dimension far below a
    # Gaussian's), and Student-t clouds gave 2-7 of 16 "filamentary" windows
    from zspace.tasks.calibration import nulls

    z = getattr(nulls, make)(np.random.default_rng(3), 1200, z_dim).astype(np.float64)
    out = summarise(z)
    # the old rule: a Student-t window read "filamentary" (its peaked 2-D density)
    assert all(w["verdict"] not in ("clustered", "filamentary")
               for rows in out["windows"].values() for w in rows), out["windows"]
    assert out["overall"] == "not fragmented", out["verdict"]
    if make == "manifold":  # a different answer, reported apart
        assert out["verdict"]["low_dimensional"] == "low-dimensional"
    else:
        assert out["verdict"]["heavy_tailed"] == "heavy-tailed"


def test_every_verdict_has_its_rule_and_the_family_wise_error(planted):
    json.dumps(planted)
    assert planted["overall_rule"] and planted["knn"]["rule"]
    assert all(part["rule"] for part in planted["parts"].values())
    assert all(w["rule"] for rows in planted["windows"].values() for w in rows)
    assert planted["family_wise_error"] == pytest.approx(0.05)
    assert "Holm" in planted["rules"]["clustered"]
    assert set(planted["sampling_error"]) == {"twonn", "mle", "knn_median"}
    assert planted["n_sample"] == 600 and planted["data_second_sample"]["n"] == 600


def test_holm_controls_the_family():
    from zspace.tasks.analyze import holm

    assert holm([0.02, 0.03, 0.04], 0.05) == [False, False, False]  # first step: 0.05 / 3
    assert holm([0.001, 0.02, 0.04], 0.05) == [True, True, True]
    assert holm([0.2, 0.001], 0.05) == [False, True]


def test_a_window_with_few_points_is_not_decidable():
    params = FragmentationParams(max_points=300, n_surrogates=3, windows=(None, 0.05),
                                 min_points=30)
    out = summarise(gaussian(600, 8), params)
    tiny = out["windows"]["pc1_pc2"][1]
    assert tiny["count"] < 30 and tiny["verdict"] == "not decidable"
    assert out["windows"]["pc1_pc2"][0]["verdict"] != "not decidable"
    assert len(out["planes"]) == 2  # z_dim 8: PC1-PC18 and PC8-PC35 do not exist


def test_our_estimators_match_scikit_dimension():
    import skdim
    x = gaussian(1000, 12)
    ours = cloud_statistics(x, FragmentationParams(k=20, k_max=20))
    theirs_mle = skdim.id.MLE(K=20).fit(x).dimension_
    theirs_twonn = skdim.id.TwoNN().fit(x).dimension_
    assert abs(ours["mle"] - theirs_mle) < 0.1 * theirs_mle
    assert abs(ours["twonn"] - theirs_twonn) < 0.2 * theirs_twonn


def test_zarr_input_is_sampled_chunkwise_and_matches_numpy(tmp_path):
    z = gaussian(400, 6)
    arr = zarr.create_array(store=str(tmp_path / "z.zarr"), shape=z.shape, chunks=(64, 6),
                            dtype="float64")
    arr[:] = z
    a_np, b_np = two_samples(z, 150, seed=3)
    a_z, b_z = two_samples(arr, 150, seed=3)
    np.testing.assert_array_equal(a_np, a_z)
    np.testing.assert_array_equal(b_np, b_z)
    assert not {tuple(r) for r in a_np} & {tuple(r) for r in b_np}
    with pytest.raises(ValueError, match="at least 6"):
        two_samples(z[:4], 100, seed=0)
