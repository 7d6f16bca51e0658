"""What the components encode: streamed MI/correlation, MIG, DCI, probes and the summary,
checked against hand-computed values and on data where the relation is planted and absent."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.stats import norm
from sklearn.metrics import roc_auc_score

from zspace.tasks.analyze import (
    compare_meaning,
    dci,
    dci_scores,
    factor_statistics,
    heatmap_png,
    linear_probe,
    meaning_for_run,
    meaning_summary,
    mig,
    mutual_information,
    run_meaning_inputs,
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


# -- the summary: planted factors and attributes ---------------------------------------------
def _planted(n: int = 6000, seed: int = 7, rotate: bool = False):
    """Two continuous factors copied (noisily) into components 2 and 5, one attribute that
    shifts component 0 by +1.5 and component 1 by -1; optionally rotated in the plane of 2, 5."""
    rng = np.random.default_rng(seed)
    f = rng.random((n, 2))
    a = (rng.random(n) < 0.4).astype(float)
    z = rng.standard_normal((n, 8))
    z[:, 2] = f[:, 0] + 0.05 * rng.standard_normal(n)
    z[:, 5] = f[:, 1] + 0.05 * rng.standard_normal(n)
    z[:, 0] += 1.5 * a
    z[:, 1] -= 1.0 * a
    if rotate:
        c = s = math.sqrt(0.5)
        z[:, 2], z[:, 5] = c * z[:, 2] + s * z[:, 5], -s * z[:, 2] + c * z[:, 5]
    return z, np.column_stack([f, a])


def test_meaning_summary_finds_planted_factors_and_attribute():
    z, v = _planted()
    out = meaning_summary(_blocks(z, v, 700), ["size", "tone"], _splits(len(z)), ["Smiling"],
                          dominant_components=[0, 2])
    json.dumps(out, allow_nan=False)
    fac, att = out["factors"]["names"], out["attributes"]["names"]
    assert fac["size"]["best_components"][0]["component"] == 2
    assert fac["tone"]["best_components"][0]["component"] == 5
    assert fac["size"]["probe_r2"] > 0.9 and fac["size"]["kind"] == "continuous"
    assert out["factors"]["mig"] > 0.5 and out["factors"]["dci"]["disentanglement"] > 0.8
    smile = att["Smiling"]
    assert smile["kind"] == "binary" and smile["best_components"][0]["component"] == 0
    assert smile["best_components"][0]["auc"] > 0.8
    assert smile["direction"][0] == pytest.approx(1.5, abs=0.1)
    assert smile["direction"][1] == pytest.approx(-1.0, abs=0.1)
    assert smile["positive_rate"] == pytest.approx(0.4, abs=0.03)
    # two independent unit-variance Gaussians shifted by (1.5, -1): bound Phi(|d| / 2) ~ 0.80
    # at equal priors; with the 0.4 prior the best linear rule does a little better
    assert 0.75 < smile["probe_accuracy"] < 0.86
    assert out["dominant_components"]["2"][0]["name"] == "size"
    assert out["n"] == len(z) and set(out["definitions"]) >= {"mig", "dci", "probe"}


def test_meaning_summary_rejects_bad_input():
    z, v = _planted(n=600)
    with pytest.raises(ValueError, match="columns"):
        meaning_summary(_blocks(z, v), ["size"], _splits(600))
    with pytest.raises(ValueError, match="0/1"):
        meaning_summary(_blocks(z, v[:, :2]), ["size"], _splits(600), ["tone"])
    with pytest.raises(ValueError, match="train and test"):
        meaning_summary(_blocks(z, v), ["a", "b", "c"], np.array(["train"] * 600))


def test_compare_meaning_prefers_the_axis_aligned_run():
    z, v = _planted()
    splits = _splits(len(z))
    aligned = meaning_summary(_blocks(z, v[:, :2]), ["size", "tone"], splits)
    zr, _ = _planted(rotate=True)
    rotated = meaning_summary(_blocks(zr, v[:, :2]), ["size", "tone"], splits)
    cmp = compare_meaning(aligned, rotated, ("ae", "vae"))
    assert cmp["factors"]["more_disentangled"] == "ae"
    assert cmp["factors"]["more_linear"] is None  # a rotation keeps linear information
    assert "not decidable carries" in cmp["factors"]["verdict"] and "rule" in cmp
    same = compare_meaning(aligned, aligned, ("a", "b"))
    assert same["factors"]["more_disentangled"] is None


def test_heatmap_is_a_png():
    z, v = _planted(n=1500)
    out = meaning_summary(_blocks(z, v), ["size", "tone"], _splits(1500), ["Smiling"])
    png = heatmap_png(out["factors"], "factors x components")
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 2000
    with pytest.raises(ValueError, match="heatmap value"):
        heatmap_png(out["attributes"], "x", value="auc")


# -- synthetic faces: pixels' principal components as the latent -----------------------------
def test_synthetic_faces_visible_factors_have_high_mutual_information():
    from sklearn.decomposition import PCA

    from zspace.tasks.ingest.synthetic import FACTOR_NAMES, synthetic_face

    n = 1500
    faces = [synthetic_face(0, i, 32) for i in range(n)]
    x = np.stack([im for im, _ in faces]).reshape(n, -1) / 255.0
    v = np.array([[f[k] for k in FACTOR_NAMES] for _, f in faces])
    z = PCA(16, random_state=0).fit_transform(x)
    out = meaning_summary(_blocks(z, v, 256), FACTOR_NAMES, _splits(n, 0.2))["factors"]["names"]
    assert out["bg_brightness"]["best_components"][0]["normalized_mi"] > 0.2
    assert out["skin_tone"]["best_components"][0]["normalized_mi"] > 0.12
    for name in ("skin_tone", "bg_brightness", "hair_darkness"):
        best = out[name]["best_components"][0]
        # measured: skin_tone 0.19, bg_brightness 0.31, hair_darkness 0.086; null level 0.04
        assert best["normalized_mi"] > out[name]["mi_null_level"] + 0.03, (name, best)
        assert abs(best["r"]) > 0.5 and out[name]["probe_r2"] > 0.6, (name, best)
    shuffled = v[np.random.default_rng(0).permutation(n)]
    null = meaning_summary(_blocks(z, shuffled, 256), FACTOR_NAMES,
                           _splits(n, 0.2))["factors"]["names"]
    for name in ("skin_tone", "bg_brightness", "hair_darkness"):
        best = null[name]["best_components"][0]
        assert best["normalized_mi"] < null[name]["mi_null_level"] + 0.02, (name, best)
        assert null[name]["probe_r2"] < 0.05


# -- a stored run: tiny real AE and VAE on synthetic faces ------------------------------------
def test_meaning_for_stored_runs_writes_json_and_compares(tmp_path_factory):
    from latent_runs import DATASET, RUNS, latent_store

    store = latent_store(tmp_path_factory.getbasetemp() / "latent-runs")
    out = {}
    for run in RUNS:
        dominant = store.read_json(store.run(run).stats.summary)["dominant_components"]
        out[run] = meaning_for_run(store, run, DATASET, dominant_components=dominant)
        assert store.read_json(store.run(run).stats.meaning) == json.loads(json.dumps(out[run]))
        names = out[run]["factors"]["names"]
        assert len(names) == 24 and "attributes" not in out[run]
        assert names["hair_style"]["kind"] == "categorical"
        # the stored MIG is the one the streamed statistics of the stored latents give
        blocks, factor_names, _, _ = run_meaning_inputs(store, run, DATASET)
        st = factor_statistics(blocks)
        want = mig(st.mutual_information, st.factor_entropy)[0]
        assert out[run]["factors"]["mig"] == pytest.approx(want, abs=1e-4)
        assert out[run]["factors"]["mig"] == pytest.approx(
            np.mean([e["mig_gap"] for e in names.values()]), abs=1e-3)
        # even a one-epoch model on 320 faces carries skin tone or background brightness
        # linearly (measured R^2 0.33-0.78 across model versions; 32 test rows, so a loose
        # bound), far above the typical factor (median R^2 about 0)
        visible = max(names[k]["probe_r2"] for k in ("skin_tone", "bg_brightness"))
        median = float(np.median([e.get("probe_r2", 0.0) for e in names.values()]))
        assert visible > 0.25 and visible > median + 0.2 and median < 0.15, (visible, median)
    cmp = compare_meaning(out[RUNS[0]], out[RUNS[1]], ("ae", "vae"))
    assert set(cmp["factors"]) >= {"more_linear", "more_disentangled", "verdict", "mean_probe"}
    # the comparison reads the stored numbers: MIG difference and its decision
    by_mig = cmp["factors"]["mig_difference"]
    a, b = (out[r]["factors"] for r in RUNS)
    assert by_mig["difference"] == pytest.approx(a["mig"] - b["mig"], abs=1e-3)
    assert by_mig["se"] == pytest.approx(math.hypot(a["mig_se"], b["mig_se"]), abs=1e-3)
    assert (by_mig["winner"] is None) == (abs(by_mig["difference"]) <= 2.576 * by_mig["se"])
    from zspace.storage.index import write_index

    write_index(store, "short", [{"file": "x.png", "split": "train", "status": "ok", "row": 0}])
    with pytest.raises(ValueError, match="320 latent rows but dataset 'short' has 1 images"):
        run_meaning_inputs(store, RUNS[0], "short")
    write_index(store, "bare", [{"file": f"{i}.png", "split": "train", "status": "ok", "row": i}
                                for i in range(320)])
    with pytest.raises(ValueError, match="neither generating factors nor attributes"):
        run_meaning_inputs(store, RUNS[0], "bare")


def test_dci_for_categorical_factors_uses_sparse_importances():
    rng = np.random.default_rng(8)
    n = 4000
    v = np.column_stack([(rng.random(n) < 0.5), rng.integers(0, 4, n)]).astype(float)
    z = rng.standard_normal((n, 32))
    z[:, 5] += 2 * v[:, 0]
    z[:, 9] += 1.5 * v[:, 1]
    got = dci(z[:3000], v[:3000], z[3000:], v[3000:], [True, True])
    assert got["disentanglement"] > 0.8 and got["completeness"] > 0.8
    assert got["per_factor_informativeness"][0] > 0.75
    noise = dci(rng.standard_normal((3000, 32)), v[:3000], z[3000:], v[3000:], [True, True])
    assert noise["per_factor_informativeness"][0] < 0.6


# -- the null: latents that carry nothing ------------------------------------------------------
def _noise(n: int, z_dim: int, n_attr: int, positive: float, seed: int):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, z_dim)), (rng.random((n, n_attr)) < positive).astype(float)


@pytest.mark.parametrize(("n_attr", "positive"), [(5, 0.3), (10, 0.1)])
def test_dci_on_noise_is_not_disentangled(n_attr, positive):
    # before: D 0.73 (5 attributes) and 1.00 (10 attributes) on z ~ N(0, I)
    z, v = _noise(6000, 32, n_attr, positive, seed=11)
    got = dci(z[:3000], v[:3000], z[3000:], v[3000:], [True] * n_attr)
    assert got["disentanglement"] < 0.2 and got["completeness"] < 0.2
    assert abs(got["informativeness"]) < 0.06  # chance-corrected: 0 = chance, not the majority rate
    assert set(got["baseline"]) == {"disentanglement", "completeness", "informativeness"}


def test_l1_logistic_is_sparse_on_every_scikit_learn():
    from zspace.tasks.analyze import l1_logistic

    z, v = _noise(2000, 32, 1, 0.5, seed=12)
    z[:, 0] += 3 * v[:, 0]
    clf = l1_logistic(0.005, 2).fit(z, v[:, 0])
    assert abs(clf.coef_[0, 0]) > 0 and np.sum(clf.coef_[0] == 0) >= 16  # L2 leaves none at 0


def test_dci_with_l1_fits_is_the_same_on_a_rerun():
    """liblinear and saga shuffle the rows: unseeded, the bootstrap errors moved in the 5th digit."""
    from zspace.tasks.analyze import DciFit, dci

    rng = np.random.default_rng(0)
    z = rng.normal(size=(600, 6))
    v = np.c_[(z[:, 0] > 0), rng.integers(0, 3, 600), z[:, 1] + rng.normal(size=600)].astype(float)
    fit = DciFit(method="lasso", bootstrap=3)
    first, again = (dci(z[:400], v[:400], z[400:], v[400:], [True, True, False], fit)
                    for _ in range(2))
    assert first == again


def test_meaning_scores_on_noise_carry_their_null_baselines():
    z, v = _noise(3000, 16, 4, 0.3, seed=13)
    out = meaning_summary(_blocks(z, v), [], _splits(3000), ["a", "b", "c", "d"])["attributes"]
    assert not out["mig_detected"] and not out["carriers_detected"] and out["decodable"] == 0
    assert abs(out["mig_minus_baseline"]) < 3 * out["mig_se"] + 0.01
    for e in out["names"].values():
        assert e["carriers"] == [] and abs(e["best_components"][0]["normalized_mi_above_null"]) < 0.01
        assert abs(e["probe_accuracy"] - e["probe_baseline"]) < 0.05
    assert out["dci"]["disentanglement"] == 0.0 and not out["dci"]["detected"]


def test_dci_trains_on_a_random_sample_not_the_first_rows(monkeypatch):
    import zspace.tasks.analyze.meaning as meaning

    monkeypatch.setattr(meaning, "DCI_TRAIN_ROWS", 300)
    rng = np.random.default_rng(14)
    n = 3000
    v = np.zeros((n, 1))
    v[1000:, 0] = rng.random(n - 1000) < 0.5  # the lowest 1000 rows have one class only
    z = rng.standard_normal((n, 8))
    z[:, 2] += 2.5 * v[:, 0]
    splits = np.array(["train"] * 2400 + ["test"] * 600)
    out = meaning_summary(_blocks(z, v), [], splits, ["a"])["attributes"]
    assert out["dci"]["informative_factors"] == 1 and out["dci"]["per_factor_informativeness"][0] > 0.5


def test_compare_on_two_null_runs_is_not_decidable():
    outs = []
    for seed in (15, 16):
        z, v = _noise(3000, 16, 3, 0.3, seed=seed)
        outs.append(meaning_summary(_blocks(z, v), [], _splits(3000), ["a", "b", "c"]))
    cmp = compare_meaning(*outs, ("ae", "vae"))["attributes"]
    assert cmp["more_disentangled"] is None and cmp["more_linear"] is None
    assert cmp["verdict"].startswith("not decidable")
