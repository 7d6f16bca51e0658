"""Latent statistics against numpy / scikit-learn on a small latent array with known structure."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import zarr
from scipy.spatial.distance import mahalanobis as scipy_mahalanobis
from scipy.stats import wasserstein_distance
from sklearn.decomposition import PCA

from zspace.storage import ChunkedWriter, StatsLayout, Store, StoreError, read_blocks, row_ranges
from zspace.tasks.analyze import (
    Moments,
    StatsParams,
    analyze_latents,
    artificial_vectors,
    correlation_matrix,
    exact_quantile,
    half_width,
    latent_moments,
    mahalanobis,
    mahalanobis_of_coordinates,
    mahalanobis_scale,
    pca_coordinates,
    pca_from_covariance,
)

N, Z = 3001, 12
DEAD = 10  # a zero-variance component
SHIFTED = 7  # large |mean|
WIDE = 9  # large half-width
SMALL = {"n_artificial": 400, "artificial_b": (0.5, 1.0, 1.5, 2.0, 4.0, 8.0), "slice_threshold": 7.0}


def make_latents(seed: int = 0) -> np.ndarray:
    """Gaussian components with chosen correlations, one shifted, one wide, one constant."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, Z))
    x[:, 1] = 0.8 * x[:, 0] + 0.6 * x[:, 1]  # r = 0.8
    x[:, 3] = -0.6 * x[:, 2] + 0.8 * x[:, 3]  # r = -0.6
    x[:, 5] = 0.35 * x[:, 4] + np.sqrt(1 - 0.35**2) * x[:, 5]  # r = 0.35
    x[:, SHIFTED] += 6.0
    x[:, WIDE] *= 5.0
    x[:, DEAD] = 2.5
    return x.astype(np.float32)


def write_latents(store: Store, rel: str, x: np.ndarray, chunk_rows: int) -> str:
    w = ChunkedWriter(store, rel, x.shape, chunk_rows, "float32", {"test": rel})
    for i in range(w.n_chunks):
        w.write_chunk(i, x[i * chunk_rows : (i + 1) * chunk_rows])
    w.finalize()
    return store.join(rel)


OUT = StatsLayout("")  # the --out form: the statistics are the root of their own store


def read(url: str, name: str) -> np.ndarray:
    return Store(url).open_array(OUT.array(name))[...]


def summary_of(url: str) -> dict:
    """summary.json of the statistics folder at url, refusing NaN and infinities."""
    def bad(token: str):
        raise AssertionError(f"{url} summary contains {token}")

    return json.loads(Store(url).read_text(OUT.summary), parse_constant=bad)


@pytest.fixture(scope="module")
def latents(tmp_path_factory):
    root = tmp_path_factory.mktemp("stats")
    store = Store(root / "store")
    x = make_latents()
    url = write_latents(store, "lat", x, 250)
    result = analyze_latents(url, store, "stats", StatsParams(**SMALL), workers=2,
                             show_progress=False)
    return x.astype(np.float64), store, url, result


def np_corr(x: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        c = np.corrcoef(x, rowvar=False)
    return np.nan_to_num(c, nan=0.0)


def test_moments_match_numpy(latents):
    x, store, url, result = latents
    out = result["stats_url"]
    s = summary_of(out)
    assert s["n"] == N and s["z_dim"] == Z
    np.testing.assert_allclose(s["mean"], x.mean(axis=0), rtol=1e-13, atol=1e-12)
    np.testing.assert_allclose(s["std"], x.std(axis=0, ddof=1), rtol=1e-11, atol=1e-12)
    np.testing.assert_array_equal(read(out, "min"), x.min(axis=0))
    np.testing.assert_array_equal(read(out, "max"), x.max(axis=0))
    np.testing.assert_allclose(read(out, "covariance"), np.cov(x, rowvar=False), rtol=1e-10, atol=1e-11)
    corr = read(out, "correlation")
    np.testing.assert_allclose(corr, np_corr(x), atol=1e-12)
    assert corr[0, 1] == pytest.approx(0.8, abs=0.03) and corr[2, 3] == pytest.approx(-0.6, abs=0.03)


def test_zero_variance_component_is_flagged_not_nan(latents):
    x, store, url, result = latents
    s = summary_of(result['stats_url'])
    corr = read(result["stats_url"], "correlation")
    assert s["zero_variance_components"] == [DEAD]
    assert not np.isnan(corr).any()
    assert (corr[DEAD] == 0).all() and (corr[:, DEAD] == 0).all()
    assert s["std"][DEAD] == 0.0
    assert all(DEAD not in pair[:2] for pair in s["correlated_pairs"])


def test_histograms_and_half_width(latents):
    x, store, url, result = latents
    out = result["stats_url"]
    edges = read(out, "histogram_edges")
    counts = read(out, "histogram_counts")
    assert np.allclose(np.diff(edges), 0.25) and edges[0] % 0.25 == 0
    assert edges[0] <= x.min() and edges[-1] > x.max()
    for k in range(Z):
        np.testing.assert_array_equal(counts[k], np.histogram(x[:, k], bins=edges)[0])
    hw = read(out, "half_width")
    # a Gaussian's FWHM is 2.3548 sigma; the 0.25 bins and N = 3,000 allow ~15 %
    live = [k for k in range(Z) if k != DEAD]
    np.testing.assert_allclose(hw[live], 2.3548 * x[:, live].std(axis=0), rtol=0.15)
    assert hw[DEAD] == pytest.approx(0.25)  # one occupied bin: the histogram's resolution
    s = summary_of(out)
    assert s["half_width"] == pytest.approx(hw.tolist())
    assert s["dominant_components"] == [SHIFTED, WIDE]  # the constant one is not "dominant"
    assert "median" in s["dominant_rule"] and "3.5" in s["dominant_rule"]


def test_half_width_interpolation():
    edges = np.arange(8) * 0.5
    # counts 0 2 4 8 4 2 0: half max 4 is crossed exactly at the centres of bins 2 and 4
    assert half_width(np.array([0, 2, 4, 8, 4, 2, 0]), edges) == pytest.approx(1.0)
    # asymmetric: left crossing between centres 1.25 and 1.75 (counts 2 -> 6) at 1.5,
    # right crossing between centres 2.75 and 3.25 (counts 8 -> 0) at 3.0
    assert half_width(np.array([0, 0, 2, 6, 8, 8, 0]), edges) == pytest.approx(1.5)
    # a single occupied bin: one bin width
    assert half_width(np.array([0, 0, 0, 5, 0, 0, 0]), edges) == pytest.approx(0.5)


def test_radius(latents):
    x, store, url, result = latents
    out = result["stats_url"]
    s = summary_of(out)
    r = np.linalg.norm(x, axis=1)
    assert s["radius"]["mean"] == pytest.approx(r.mean(), rel=1e-12)
    assert s["radius"]["std"] == pytest.approx(r.std(ddof=1), rel=1e-9)
    assert s["radius"]["sqrt_z_dim"] == pytest.approx(np.sqrt(Z))
    for name, width in (("coarse", 0.5), ("fine", 0.05)):
        edges = read(out, f"radius_edges_{name}")
        assert np.allclose(np.diff(edges), width) and edges[0] == 0 and edges[-1] > r.max()
        np.testing.assert_array_equal(read(out, f"radius_hist_{name}"), np.histogram(r, bins=edges)[0])
    assert abs(s["radius"]["peak"] - np.median(r)) < 3 * r.std()


def test_pair_counts_and_pairs_match_numpy(latents):
    x, store, url, result = latents
    s = summary_of(result['stats_url'])
    c = np_corr(x)
    i, j = np.triu_indices(Z, 1)
    a = np.abs(c[i, j])
    expected = {f"{t:g}": int((a > t).sum()) for t in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)}
    assert s["correlation_counts"] == expected
    assert list(expected) == ["0.1", "0.2", "0.3", "0.4", "0.5", "0.6", "0.7", "0.8", "0.9"]
    want = sorted(([int(p), int(q), float(c[p, q])] for p, q in zip(i, j, strict=True)
                   if abs(c[p, q]) > 0.5), key=lambda t: -abs(t[2]))
    got = s["correlated_pairs"]
    assert [g[:2] for g in got] == [w[:2] for w in want] == [[0, 1], [2, 3]]
    np.testing.assert_allclose([g[2] for g in got], [w[2] for w in want], atol=1e-12)


def test_pca_matches_sklearn(latents):
    x, store, url, result = latents
    out = result["stats_url"]
    pca = PCA(svd_solver="full").fit(x)
    evals = read(out, "pca_eigenvalues")
    np.testing.assert_allclose(evals, pca.explained_variance_, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(read(out, "pca_explained_variance_ratio"),
                               pca.explained_variance_ratio_, rtol=1e-9, atol=1e-12)
    comps = read(out, "pca_components")
    live = evals > 1e-9  # the zero-variance direction has no defined orientation
    dots = np.abs(np.sum(comps[live] * pca.components_[live], axis=1))
    np.testing.assert_allclose(dots, 1.0, atol=1e-8)  # equal up to sign
    coords = read(out, "pca_coordinates")
    assert coords.shape == (N, Z) and coords.dtype == np.float32
    ref = pca.transform(x)
    sign = np.sign(np.sum(comps * pca.components_, axis=1))
    np.testing.assert_allclose(coords[:, live], (ref * sign)[:, live], atol=2e-5 * np.abs(ref).max())
    s = summary_of(out)
    assert s["pca_explained_variance_ratio"] == pytest.approx(pca.explained_variance_ratio_.tolist())


def test_mahalanobis_slice_and_artificial(latents):
    x, store, url, result = latents
    out = result["stats_url"]
    s = summary_of(out)
    mean = x.mean(axis=0)
    prec = np.linalg.pinv(np.cov(x, rowvar=False), rcond=1e-10, hermitian=True)

    def dist(v: np.ndarray) -> np.ndarray:
        d = v - mean
        return np.sqrt(np.einsum("ij,jk,ik->i", d, prec, d))

    d = dist(x)
    np.testing.assert_allclose(read(out, "mahalanobis"), d, rtol=1e-8)
    assert s["mahalanobis"]["value"] == pytest.approx(np.percentile(d, 99), rel=1e-8)

    ax = s["slice"]["axes"]
    assert ax == [0, 1]  # default: the most correlated pair
    others = [k for k in range(Z) if k not in ax]
    want = np.flatnonzero((np.abs(x[:, others]) < 7.0).all(axis=1))
    assert 0.5 * N < len(want) < 0.9 * N
    np.testing.assert_array_equal(read(out, "slice_indices"), want)
    assert s["slice"]["count"] == len(want)

    r_data = np.linalg.norm(x, axis=1)
    w1 = {}
    for b in SMALL["artificial_b"]:
        u = artificial_vectors(Z, b, SMALL["n_artificial"], seed=0)
        assert u.shape == (SMALL["n_artificial"], Z) and np.abs(u).max() <= b
        row = s["artificial"][f"{b:g}"]
        assert row["fraction_inside"] == pytest.approx(np.mean(dist(u) < np.percentile(d, 99)))
        r_u = np.linalg.norm(u, axis=1)
        assert row["radius_mean"] == pytest.approx(r_u.mean())
        w1[b] = wasserstein_distance(r_data, r_u)
        assert row["wasserstein"] == pytest.approx(w1[b], abs=0.06)  # binned at 0.05
    assert s["artificial_best_b"] == min(w1, key=w1.get)
    hist = read(out, "artificial_radius_hist")
    assert hist.shape[0] == len(SMALL["artificial_b"]) and (hist.sum(axis=1) == SMALL["n_artificial"]).all()
    assert read(out, "artificial_radius_data_hist").sum() == N


def test_mahalanobis_against_scipy():
    """correlation.mahalanobis (the one function pass 2 and the artificial vectors use) equals
    scipy's with the inverse covariance; a constant component is left out, not fatal."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((400, 5)) @ rng.standard_normal((5, 5)) + np.arange(5)
    cov = np.cov(x, rowvar=False)
    evals, _, comps = pca_from_covariance(cov)
    scale = mahalanobis_scale(evals)
    mean = x.mean(axis=0)
    vi = np.linalg.inv(cov)
    probe = np.vstack([x[:20], rng.uniform(-3, 3, (10, 5))])
    want = [scipy_mahalanobis(v, mean, vi) for v in probe]
    np.testing.assert_allclose(mahalanobis(probe, mean, comps, scale), want, rtol=1e-9)
    pc = pca_coordinates(probe, mean, comps)
    np.testing.assert_allclose(mahalanobis_of_coordinates(pc, scale), want, rtol=1e-9)
    # a far point is far, the mean is at distance 0
    assert mahalanobis(mean[None], mean, comps, scale)[0] == pytest.approx(0, abs=1e-9)
    # with a constant component: equal to scipy on the other four (pseudo-inverse)
    xc = x.copy()
    xc[:, 2] = 1.5
    m = Moments.empty(xc[0])
    m.update(xc)
    evals, _, comps = pca_from_covariance(m.covariance)
    live = [0, 1, 3, 4]
    vi4 = np.linalg.inv(np.cov(xc[:, live], rowvar=False))
    got = mahalanobis(xc[:20], m.mean, comps, mahalanobis_scale(evals))
    want4 = [scipy_mahalanobis(v[live], xc[:, live].mean(axis=0), vi4) for v in xc[:20]]
    np.testing.assert_allclose(got, want4, rtol=1e-7)


def test_one_mahalanobis_function_is_used_everywhere():
    """No inline copy: pass 2 and the artificial vectors call the correlation module's function."""
    import inspect

    from zspace.tasks.analyze import artificial, passes

    for mod in (passes, artificial):
        src = inspect.getsource(mod)
        assert "mahalanobis" in src and "* ctx.scale" not in src and "*= scale" not in src
        assert 'einsum("ij,ij->i", pc, pc)' not in src


def test_block_and_chunk_size_do_not_change_results(latents, tmp_path):
    x, store, url, result = latents
    ref = result["stats_url"]
    other = Store(tmp_path / "s2")
    url2 = write_latents(other, "lat", x.astype(np.float32), 777)  # another zarr chunking
    runs = [
        analyze_latents(url, other, "a", StatsParams(**SMALL, block_rows=750), workers=3,
                        show_progress=False),
        analyze_latents(url2, other, "b", StatsParams(**SMALL), workers=1, show_progress=False),
    ]
    s_ref = summary_of(ref)
    for res in runs:
        out = res["stats_url"]
        for name in ("mean", "std", "covariance", "correlation", "pca_eigenvalues",
                     "pca_explained_variance_ratio", "half_width", "mahalanobis"):
            np.testing.assert_allclose(read(out, name), read(ref, name), rtol=1e-12, atol=1e-12)
        for name in ("histogram_counts", "radius_hist_fine", "slice_indices", "artificial_radius_hist"):
            np.testing.assert_array_equal(read(out, name), read(ref, name))
        s = summary_of(out)
        assert s["correlation_counts"] == s_ref["correlation_counts"]
        assert [p[:2] for p in s["correlated_pairs"]] == [p[:2] for p in s_ref["correlated_pairs"]]
        assert s["dominant_components"] == s_ref["dominant_components"]


def test_rerun_is_cached_and_new_parameters_recompute(latents, tmp_path):
    x, store, url, _ = latents
    out = Store(tmp_path / "o")
    first = analyze_latents(url, out, "", SMALL, show_progress=False)
    again = analyze_latents(url, out, "", SMALL, show_progress=False)
    assert not first["cached"] and again["cached"]
    assert again["fingerprint"] == first["fingerprint"]
    changed = analyze_latents(url, out, "", {**SMALL, "corr_threshold": 0.3, "slice_axes": (2, 3),
                                             "slice_threshold": 8.0}, show_progress=False)
    assert not changed["cached"] and changed["fingerprint"] != first["fingerprint"]
    s = summary_of(out.url)
    assert [p[:2] for p in s["correlated_pairs"]] == [[0, 1], [2, 3], [4, 5]]
    others = [k for k in range(Z) if k not in (2, 3)]
    want = np.flatnonzero((np.abs(x[:, others]) < 8.0).all(axis=1))
    np.testing.assert_array_equal(read(out.url, "slice_indices"), want)


def test_correlation_matrix_and_distributed_scheduler(latents):
    x, store, url, _ = latents
    from distributed import LocalCluster

    local = correlation_matrix(url, block_rows=500, workers=2)
    np.testing.assert_allclose(local, np_corr(x), atol=1e-12)
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster:
        m = latent_moments(url, block_rows=500, dask_address=cluster.scheduler_address)
        res = analyze_latents(url, store, "on-cluster", SMALL, dask_address=cluster.scheduler_address)
    np.testing.assert_allclose(m.mean, x.mean(axis=0), rtol=1e-13, atol=1e-12)
    np.testing.assert_allclose(m.covariance, np.cov(x, rowvar=False), rtol=1e-10, atol=1e-11)
    ref = latents[3]["stats_url"]
    for name in ("correlation", "pca_eigenvalues", "mahalanobis"):
        np.testing.assert_allclose(read(res["stats_url"], name), read(ref, name), rtol=1e-12, atol=1e-12)
    for name in ("histogram_counts", "slice_indices", "radius_hist_fine"):
        np.testing.assert_array_equal(read(res["stats_url"], name), read(ref, name))


def test_shifted_sums_stay_exact_far_from_the_origin(tmp_path):
    """float64 latents offset by 1e6: a Gram of unshifted data would lose ~1e-4 of the variance."""
    x = make_latents().astype(np.float64) + 1e6
    x[:, DEAD] = 1e6
    store = Store(tmp_path)
    w = ChunkedWriter(store, "far", x.shape, 400, "float64", {})
    for i in range(w.n_chunks):
        w.write_chunk(i, x[i * 400 : (i + 1) * 400])
    w.finalize()
    m = latent_moments(store.join("far"), workers=2)
    np.testing.assert_allclose(m.covariance, np.cov(x, rowvar=False), rtol=1e-9, atol=1e-9)
    exact = np.array([math.fsum(col) / len(col) for col in x.T])
    np.testing.assert_allclose(m.mean, exact, rtol=3e-16)


def test_bad_inputs_say_what_is_wrong(tmp_path):
    store = Store(tmp_path)
    x = make_latents()[:100]
    x[5, 3] = np.nan
    url = write_latents(store, "nan", x, 50)
    with pytest.raises(StoreError, match="NaN"):
        analyze_latents(url, store, "o", SMALL, show_progress=False)
    with pytest.raises(StoreError, match="no zarr array"):
        analyze_latents(store.join("missing"), store, "o", SMALL, show_progress=False)
    zarr.create_array(store=store.join("cube"), shape=(4, 4, 4), dtype="f4")
    with pytest.raises(StoreError, match="2-D"):
        analyze_latents(store.join("cube"), store, "o", SMALL, show_progress=False)
    with pytest.raises(ValueError, match="slice_axes"):
        StatsParams(slice_axes=(3, 3))


def test_exact_quantile_with_ties_and_small_memory():
    rng = np.random.default_rng(3)
    v = np.concatenate([rng.standard_normal(20_000), np.full(5_000, 1.25), rng.exponential(size=3)])
    rng.shuffle(v)
    blocks = [v[i : i + 999] for i in range(0, len(v), 999)]
    for q in (0.0, 0.01, 0.5, 0.9, 0.99, 1.0):
        got = exact_quantile(lambda: blocks, len(v), q, max_gather=300)
        assert got == pytest.approx(np.quantile(v, q), rel=1e-15, abs=1e-15)


def test_row_ranges_cut_whole_chunks_or_given_rows(tmp_path):
    """The one block rule: the whole number of chunks nearest the byte target (at least one),
    or exactly block_rows; read_blocks gives back every row once, in order."""
    store = Store(tmp_path)
    x = np.arange(1000 * 4, dtype=np.float32).reshape(1000, 4)
    write_latents(store, "rows", x, 64)
    arr = store.open_array("rows")
    chunk_bytes = 64 * 4 * 8  # as float64
    for target, rows in ((2.6, 192), (2.4, 128), (0.1, 64)):
        got = row_ranges(arr, block_bytes=int(target * chunk_bytes), itemsize=8)
        assert got[0] == (0, rows) and got[-1][1] == 1000
        assert all(a[1] == b[0] for a, b in zip(got, got[1:], strict=False))
    assert row_ranges(arr, block_rows=100)[:2] == [(0, 100), (100, 200)]
    assert row_ranges(x, block_bytes=10 * 4 * 8, itemsize=8)[0] == (0, 10)  # numpy: rows
    blocks = list(read_blocks(arr, block_bytes=3 * chunk_bytes, itemsize=8))
    assert [s for s, _ in blocks] == list(range(0, 1000, 192))
    np.testing.assert_array_equal(np.concatenate([b for _, b in blocks]), x)


def test_interrupted_pass_two_resumes(latents, tmp_path):
    """State after a kill in pass 2: no completion record, coordinates partly written."""
    x, store, url, _ = latents
    out = Store(tmp_path / "o")
    params = {**SMALL, "block_rows": 500}
    first = analyze_latents(url, out, "", params, show_progress=False)
    coords = read(out.url, "pca_coordinates")
    out.remove(OUT.complete)
    arr = out.open_array(OUT.array("pca_coordinates"), mode="r+")
    rows = arr.chunks[0]
    assert rows == 500
    arr[2 * rows : 3 * rows] = 0.0
    arr.update_attributes({"complete": False, "fingerprint": None})
    out.remove(f"pca_coordinates/.zspace-marks/{2:08d}.json")
    again = analyze_latents(url, out, "", params, show_progress=False)
    assert not again["cached"] and again["fingerprint"] == first["fingerprint"]
    np.testing.assert_array_equal(read(out.url, "pca_coordinates"), coords)
