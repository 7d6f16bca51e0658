"""realism: the run's encoder and decoder judge an image against the model's reconstructions of
held-out data. The rule's pieces on a planted linear model where every feature's answer holds
by construction; the whole score on a real, trained tiny AE (32x32 synthetic faces): its
reconstructions score ~0.5, noise and decoded far-out points ~0, the fitted Gaussian's decoded
samples near the reconstructions. And where probes lie, and why random probes fail."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from zspace.models import ModelConfig, build_model
from zspace.tasks.analyze import mahalanobis, mahalanobis_scale
from zspace.tasks.generate.realism import (
    NOT_VOIDS,
    DataCloud,
    ReencodeReference,
    bootstrap_interval,
    latent_whitener,
    placement,
    reencode_realism,
    reencode_scores,
    why_random_fail,
)
from zspace.tasks.ingest.synthetic import synthetic_face


# -- the rule's pieces, on a planted linear model ---------------------------------------------
def test_whitener_leaves_out_collapsed_directions():
    w = latent_whitener(np.diag([4.0, 1.0, 0.0]))
    assert w.shape == (3, 2)
    d = np.linalg.norm(np.array([[2.0, 1.0, 100.0]]) @ w, axis=1)
    assert d[0] == pytest.approx(np.sqrt(2.0))  # the collapsed component is not divided by 0


def test_bootstrap_interval_holds_the_mean_and_is_seeded():
    v = np.random.default_rng(0).uniform(size=200)
    lo, hi = bootstrap_interval(v)
    assert lo < v.mean() < hi and hi - lo < 0.2
    assert bootstrap_interval(v) == [lo, hi]
    assert bootstrap_interval(np.full(10, 0.3)) == pytest.approx([0.3, 0.3])


@pytest.fixture(scope="module")
def linear() -> dict:
    """Images = mean + basis @ z (6 latent dims, 16x16 grey-as-RGB), encoder = least squares,
    decoder = the map itself: reconstructions are exact fixed points of D(E(.)), so each
    feature's verdict on a planted image is decided by construction, not by training."""
    rng = np.random.default_rng(0)
    k, side = 6, 16
    mean_img = np.full(side * side * 3, 0.5)
    basis = rng.normal(size=(side * side * 3, k)) * 0.02

    def decode(z: np.ndarray) -> np.ndarray:
        return (mean_img + np.asarray(z, np.float64) @ basis.T).reshape(-1, side, side, 3)

    def encode(x: np.ndarray) -> np.ndarray:
        flat = np.asarray(x, np.float64).reshape(len(x), -1) - mean_img
        return np.linalg.lstsq(basis, flat.T, rcond=None)[0].T

    def data(n: int) -> np.ndarray:  # photos: the model's images plus detail it cannot draw
        return decode(rng.normal(size=(n, k))) + rng.normal(0, 0.003, (n, side, side, 3))

    ref = ReencodeReference.fit(data(200), data(200), encode, decode, np.zeros(k), np.eye(k))
    return {"ref": ref, "encode": encode, "decode": decode, "data": data, "k": k, "rng": rng}


def test_planted_images_score_by_construction(linear):
    t, rng, n = linear, linear["rng"], 200
    on_sphere = rng.normal(size=(n, t["k"]))
    on_sphere *= np.sqrt(t["k"]) / np.linalg.norm(on_sphere, axis=1, keepdims=True)
    sets = {"reconstruction": t["decode"](t["encode"](t["data"](n))),
            "gaussian": t["decode"](rng.normal(size=(n, t["k"]))),
            "faded": t["decode"](0.1 * on_sphere),  # the average face, by its exact radius
            "far": t["decode"](6.0 * on_sphere),
            "noise": rng.uniform(0, 1, (n, 16, 16, 3))}
    r = {k: reencode_realism(v, t["encode"], t["decode"], t["ref"]) for k, v in sets.items()}
    floor = 1.0 / (1.0 + len(t["ref"].calibration))  # the smallest conformal p-value
    assert 0.4 < r["reconstruction"]["realism"] < 0.6 and 0.4 < r["gaussian"]["realism"] < 0.6
    for k in ("faded", "far", "noise"):
        assert r[k]["realism"] == pytest.approx(floor), k
        assert r[k]["realism_ci"] == pytest.approx([floor, floor]), k
    assert r["faded"]["realism_z_mahalanobis"] < -3 and r["faded"]["realism_z_contrast"] < -3
    assert r["far"]["realism_z_mahalanobis"] > 3
    assert r["noise"]["realism_z_reencode_error"] > 3
    assert "reconstructions" in r["gaussian"]["realism_rule"]
    json.dumps(r)


def test_p_values_are_conformal(linear):
    ref = linear["ref"]
    n = len(ref.calibration)
    assert ref.p_value(np.array([-1.0]))[0] == 1.0
    assert ref.p_value(np.array([np.inf]))[0] == pytest.approx(1 / (n + 1))
    s = reencode_scores(linear["data"](5), linear["encode"], linear["decode"], ref)
    assert np.all((s["realism"] > 0) & (s["realism"] <= 1))


def test_reference_needs_enough_images(linear):
    t = linear
    with pytest.raises(ValueError, match="at least 10 data images"):
        ReencodeReference.fit(t["data"](5), t["data"](20), t["encode"], t["decode"],
                              np.zeros(t["k"]), np.eye(t["k"]))


# -- the whole score on a trained tiny AE -----------------------------------------------------
@pytest.fixture(scope="module")
def trained() -> dict:
    """A tiny AE trained on 300 synthetic faces (seconds); reference from 160 held-out ones."""
    images = np.stack([synthetic_face(0, i, 32)[0] for i in range(500)])
    keras.utils.set_random_seed(0)
    model = build_model(ModelConfig(kind="ae", input_size=32, filters=[8, 16, 16, 16], z_dim=8))
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    model.fit(images[:300], batch_size=32, epochs=8, verbose=0)

    def encode(x: np.ndarray) -> np.ndarray:
        return model.encode(x, 256)["z_mean"]

    def decode(z: np.ndarray) -> np.ndarray:
        return model.decode(np.asarray(z, dtype=np.float32), 256)

    z = encode(images[:300])
    mean, cov = z.mean(axis=0), np.cov(z, rowvar=False)
    ref = ReencodeReference.fit(images[300:380], images[380:460], encode, decode, mean, cov)
    rng, n, held = np.random.default_rng(0), 100, images[460:]
    sets = {"reconstruction": decode(encode(held)),
            "noise": rng.uniform(0, 1, held.shape).astype(np.float32),
            "gaussian-fit": decode(rng.multivariate_normal(mean, cov, n)),
            **{f"uniform-r{r:g}": decode(rng.uniform(-r, r, (n, len(mean)))) for r in (1, 8)}}
    return {k: reencode_realism(v, encode, decode, ref) for k, v in sets.items()}


def test_reconstructions_and_noise_are_far_apart(trained):
    recon, noise = trained["reconstruction"]["realism"], trained["noise"]["realism"]
    assert 0.3 < recon < 0.7 and noise < 0.05 and recon - noise >= 0.3, (recon, noise)


def test_fitted_gaussian_near_reconstructions_far_points_near_noise(trained):
    fit = trained["gaussian-fit"]["realism"]
    assert fit > 0.3 and abs(fit - trained["reconstruction"]["realism"]) < 0.25, fit
    assert trained["uniform-r8"]["realism"] < 0.1 and trained["uniform-r8"]["realism"] < fit - 0.3


# -- where the probes lie, and why random probes fail -----------------------------------------
def _placements() -> dict[str, dict]:
    """Data on 4 thin lines in 8-D (voids between them): probes from the fitted Gaussian lie in
    the voids, far uniform probes miss the region, jittered data points lie on the data."""
    from scipy.spatial import cKDTree

    rng = np.random.default_rng(0)
    t, which = rng.uniform(-3, 3, (3000, 1)), rng.integers(0, 4, 3000)
    data = t * rng.normal(size=(4, 8))[which] + 0.01 * rng.normal(size=(3000, 8))
    mean, cov = data.mean(axis=0), np.cov(data, rowvar=False)
    evals, evecs = np.linalg.eigh(cov)
    comps, evals = evecs[:, ::-1].T, evals[::-1]
    a, tree = data[::2], cKDTree(data[1::2])
    cloud = DataCloud.fit(mean, comps, evals, mahalanobis(a, mean, comps,
                                                          mahalanobis_scale(evals)),
                          tree.query(a[:500])[0])
    probes = {"gaussian-fit": rng.multivariate_normal(mean, cov, 400),
              "uniform-r40": rng.uniform(-40, 40, (400, 8)),
              "data": data[rng.choice(3000, 400)] + 0.001 * rng.normal(size=(400, 8))}
    return {k: placement(z, tree.query(z)[0], cloud) for k, z in probes.items()}


def test_why_random_fail_on_planted_voids_and_a_missed_region():
    p = _placements()
    fit, far, on = p["gaussian-fit"], p["uniform-r40"], p["data"]
    assert fit["in_void"] > 0.8 and far["outside_region"] > 0.95 and on["on_data"] > 0.9

    def answer(**realism: float | None) -> str:
        return why_random_fail({k: {**p[k.replace("_", "-")], "realism": r}
                                for k, r in realism.items()})["answer"]

    assert answer(gaussian_fit=0.05, data=0.5) == "voids"
    assert answer(uniform_r40=0.01, data=0.5) == "miss the region"
    assert answer(gaussian_fit=0.05, uniform_r40=0.0) == "both"
    assert answer(data=0.05) == "fails on the data"
    assert answer(gaussian_fit=0.5, uniform_r40=0.0) == "miss the region"
    assert answer(gaussian_fit=0.5, data=0.5) == "no sampler fails"
    assert answer(gaussian_fit=None, data=0.5) == "not decidable"
    # a failing sampler in voids while another sampler in voids decodes data-like images
    both_in_voids = {"normal": {**fit, "realism": 0.05}, "gaussian-fit": {**fit, "realism": 0.5}}
    out = why_random_fail(both_in_voids)
    assert out["answer"] == NOT_VOIDS and out["passing_samplers_in_voids"] == ["gaussian-fit"]
    assert "99%" in out["rule"] and out["samplers"]["normal"]["fails"] is True
    json.dumps(out)


def test_why_random_fail_uses_the_interval():
    """A sampler whose interval holds the threshold is neither failing nor passing."""
    p = _placements()
    sure = {"uniform-r40": {**p["uniform-r40"], "realism": 0.1, "realism_ci": [0.05, 0.15]}}
    unsure = {"uniform-r40": {**p["uniform-r40"], "realism": 0.2, "realism_ci": [0.1, 0.3]}}
    assert why_random_fail(sure)["answer"] == "miss the region"
    out = why_random_fail(unsure)
    assert out["answer"] == "not decidable" and out["uncertain_samplers"] == ["uniform-r40"]
    assert "interval" in out["rule"]


# -- the Findings rows that read realism ------------------------------------------------------
def test_findings_rows_state_intervals_and_refuse_constant_input():
    from zspace.tasks.report.findings import (
        normal_faces,
        r_limit_quality,
        sharpening,
        voids_explain,
    )

    flat = {"scores": {f"uniform-r{r:g}": {"realism": 0.005, "realism_ci": [0.005, 0.005]}
                       for r in (0.5, 1, 2, 8)}}
    row = r_limit_quality(flat)
    assert row["verdict"] == "not decidable" and "undefined" in row["rule"]
    flat["scores"]["uniform-r1"] = {"realism": 0.006, "realism_ci": [0.005, 0.008]}  # at the floor
    row = r_limit_quality(flat)
    assert row["verdict"] == "not decidable" and "overlap" in row["rule"]
    falling = {"scores": {f"uniform-r{r:g}": {"realism": v, "realism_ci": [v - w, v + w]}
                          for r, v in ((0.5, 0.5), (1, 0.4), (2, 0.3), (8, 0.1))
                          for w in [0.05]}}
    assert r_limit_quality(falling)["verdict"] == "reproduced"
    falling["scores"]["uniform-r8"]["realism_ci"] = [0.0, 0.6]  # the fall is within the noise
    assert r_limit_quality(falling)["verdict"] == "not decidable"
    straddles = {"scores": {"normal": {"realism": 0.26, "realism_ci": [0.2, 0.32]}}}
    assert normal_faces("vae", straddles)["verdict"] == "not decidable"
    assert normal_faces("ae", {"scores": {"normal": {"realism": 0.02,
                                                     "realism_ci": [0.01, 0.03]}}}
                        )["verdict"] == "reproduced"
    gain = {"scores": {"normal": {"sharpness": 1e-4, "sharpness_sharpened": 1e-3,
                                  "realism_sharpening_gain_ci": [-0.3, -0.1]}},
            "reference": {"training_sharpness": 2e-3}}
    row = sharpening(gain)
    assert row["verdict"] == "reproduced" and row["ours"]["realism_gain_ci"] == {
        "normal": [-0.3, -0.1]} and "not used" in row["rule"]
    on = voids_explain({"void_or_miss": {"answer": "on the data", "rule": "r"}})
    assert on["verdict"] == "not reproduced"
