"""The re-encoding realism score on a real, trained tiny AE (32x32 synthetic faces, z_dim 16):
held-out faces and their reconstructions score like data, noise images and decoded far-out
points score ~0, decoded samples of the data's fitted Gaussian score clearly above N(0, I), and
quality falls with r_limit."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from zspace.models import ModelConfig, build_model
from zspace.tasks.analyze.stats_core import mahalanobis, mahalanobis_scale
from zspace.tasks.generate.realism import (
    NOT_VOIDS,
    DataCloud,
    PixelTypicality,
    ReencodeReference,
    placement,
    precision_recall,
    reencode_realism,
    reencode_scores,
    why_random_fail,
)
from zspace.tasks.ingest.synthetic import synthetic_face

N_FACES, EPOCHS = 600, 12


@pytest.fixture(scope="module")
def trained() -> dict:
    """Faces, a trained AE, its encoder/decoder and the data's fitted Gaussian (~20 s)."""
    images = np.stack([synthetic_face(0, i, 32)[0] for i in range(N_FACES)])
    keras.utils.set_random_seed(0)
    model = build_model(ModelConfig(kind="ae", input_size=32, filters=[16, 16, 32, 32], z_dim=16))
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    model.fit(images, batch_size=32, epochs=EPOCHS, verbose=0)

    def encode(x: np.ndarray) -> np.ndarray:
        return model.encode(x, 256)["z_mean"]

    def decode(z: np.ndarray) -> np.ndarray:
        return model.decode(np.asarray(z, dtype=np.float32), 256)

    z = encode(images[:400])
    mean, cov = z.mean(axis=0), np.cov(z, rowvar=False)
    ref = ReencodeReference.fit(images[:200], images[200:400], encode, decode, mean, cov)
    return {"images": images, "encode": encode, "decode": decode, "mean": mean, "cov": cov,
            "ref": ref}


@pytest.fixture(scope="module")
def scored(trained) -> dict:
    """realism per probe set: held-out data, reconstructions, noise, decoded samplers."""
    t, rng, n = trained, np.random.default_rng(0), 100
    held_out, d = t["images"][400:], len(t["mean"])
    sets = {"data": held_out, "reconstruction": t["decode"](t["encode"](held_out)),
            "noise": rng.uniform(0, 1, held_out.shape).astype(np.float32),
            "gaussian-fit": t["decode"](rng.multivariate_normal(t["mean"], t["cov"], n)),
            "normal": t["decode"](rng.normal(size=(n, d))),
            **{f"uniform-r{r:g}": t["decode"](rng.uniform(-r, r, (n, d))) for r in (1, 3, 8)}}
    return {k: reencode_realism(v, t["encode"], t["decode"], t["ref"]) for k, v in sets.items()}


def test_data_and_reconstructions_score_like_data(scored):
    assert 0.35 < scored["data"]["realism"] < 0.65  # calibrated: data images ~0.5
    assert scored["reconstruction"]["realism"] > 0.4
    assert scored["data"]["realism_rule"].startswith("realism = share of held-out data")
    json.dumps(scored)


def test_noise_and_far_out_points_score_low(scored):
    assert scored["noise"]["realism"] < 0.1 and scored["noise"]["mean_p_error"] > 0.9
    assert scored["uniform-r8"]["realism"] < 0.1
    assert scored["uniform-r8"]["mean_p_mahalanobis"] > 0.9  # E(D(z)) lands outside the data


def test_fitted_gaussian_beats_standard_normal_and_quality_falls_with_r_limit(scored):
    fit, normal = scored["gaussian-fit"]["realism"], scored["normal"]["realism"]
    assert fit > 0.4 and fit - normal > 0.15, (fit, normal)
    by_r = [scored[f"uniform-r{r}"]["realism"] for r in (1, 3, 8)]
    assert by_r[0] > by_r[1] > by_r[2], by_r


def test_precision_recall_in_the_encoder_space(trained):
    """Decoded fitted-Gaussian samples are data-like and cover the data; far-out points neither
    (recall is fooled by them, coverage is not); N(0, I) in between."""
    t, rng, n = trained, np.random.default_rng(2), 200
    real = t["encode"](t["images"][400:])
    d = len(t["mean"])

    def pr(z: np.ndarray) -> dict:
        return precision_recall(real, t["encode"](t["decode"](z)))

    fit = pr(rng.multivariate_normal(t["mean"], t["cov"], n))
    normal, far = pr(rng.normal(size=(n, d))), pr(rng.uniform(-8, 8, (n, d)))
    assert fit["precision"] > 0.5 and fit["recall"] > 0.5 and fit["coverage"] > 0.5, fit
    assert far["precision"] < 0.05 and far["coverage"] < 0.05, far
    assert far["recall"] > 0.9  # the known flaw of recall that coverage avoids
    assert normal["precision"] < fit["precision"] - 0.2, (normal, fit)
    assert "Kynkaanniemi" in fit["rule"]
    with pytest.raises(ValueError, match="more than k=3"):
        precision_recall(real[:3], real)


def test_per_image_scores_are_in_unit_interval(trained):
    t = trained
    r = reencode_scores(t["images"][400:450], t["encode"], t["decode"], t["ref"])
    assert r["realism"].shape == (50,) and np.all((r["realism"] >= 0) & (r["realism"] <= 1))
    assert np.all(r["atypicality"] >= r["p_nn"])


def test_pixel_typicality_is_fooled_where_reencoding_is_not(trained, scored):
    """Why the re-encoding score: the pixel-PCA score rates decoded N(0, I) images at least as
    high as the fitted Gaussian's on this model (it rewards images nearer the median)."""
    t, rng = trained, np.random.default_rng(1)
    pix = PixelTypicality.fit(t["images"][:400])
    d = len(t["mean"])
    fit = pix.score(t["decode"](rng.multivariate_normal(t["mean"], t["cov"], 100))).mean()
    normal = pix.score(t["decode"](rng.normal(size=(100, d)))).mean()
    assert normal > fit - 0.05, (fit, normal)


def test_reference_needs_enough_images(trained):
    t = trained
    with pytest.raises(ValueError, match="at least 10 data images"):
        ReencodeReference.fit(t["images"][:5], t["images"][5:20], t["encode"], t["decode"],
                              t["mean"], t["cov"])


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
