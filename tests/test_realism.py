"""Re-encoding realism on a real tiny trained AE and VAE, and where probes lie (voids vs a missed
region) on clouds where voids are planted and where the probes miss the cloud."""

from __future__ import annotations

import json

import numpy as np
import pytest
from latent_runs import DATASET, latent_store

from zspace.tasks.common.runs import load_run_model
from zspace.tasks.generate.realism_reencode import (
    DataCloud,
    build_reference,
    probe_placement,
    sampler_realism,
    void_or_miss,
)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return latent_store(tmp_path_factory.getbasetemp() / "latent-runs")


def _run_parts(store, run: str):
    model = load_run_model(store, run)
    stats = store.run(run).stats
    mean = np.asarray(store.open_array(stats.array("mean"))[:])
    cov = np.asarray(store.open_array(stats.array("covariance"))[:])
    return (lambda x: model.encode(x, 256)["z_mean"]), (lambda z: model.decode(z, 256)), mean, cov


@pytest.mark.parametrize("run", ["tiny-ae", "tiny-vae"])
def test_data_images_score_as_data_noise_scores_low(store, run):
    images = np.asarray(store.open_array(store.dataset(DATASET).images)[:])
    encode, decode, mean, cov = _run_parts(store, run)
    ref = build_reference(images[:120], images[120:240], encode, decode, mean, cov)
    held_out = images[240:]
    real = sampler_realism(held_out, encode, decode, ref)
    recon = sampler_realism(decode(encode(held_out)), encode, decode, ref)
    noise = sampler_realism(np.random.default_rng(0).uniform(0, 1, held_out.shape)
                            .astype(np.float32), encode, decode, ref)
    assert 0.3 < real["realism"] < 0.7  # calibrated: held-out data ~0.5
    assert recon["realism"] >= real["realism"]
    assert noise["realism"] < 0.2 and noise["mean_p_error"] > 0.8
    assert real["realism_rule"] == noise["realism_rule"] and json.dumps(real)


def test_reference_needs_enough_images(store):
    encode, decode, mean, cov = _run_parts(store, "tiny-ae")
    images = np.asarray(store.open_array(store.dataset(DATASET).images)[:20])
    with pytest.raises(ValueError, match="at least 10 data images"):
        build_reference(images[:5], images[5:], encode, decode, mean, cov)


def _filaments(n: int = 2000, d: int = 8, seed: int = 0) -> np.ndarray:
    """Data on 3 straight segments through a wide box: the Gaussian fitted to them fills the
    space between the segments, which is empty (voids)."""
    rng = np.random.default_rng(seed)
    dirs, offs = rng.normal(size=(3, d)), rng.normal(scale=3.0, size=(3, d))
    t = rng.uniform(-4, 4, size=(n, 1))
    which = rng.integers(0, 3, n)
    return offs[which] + t * dirs[which] + 0.01 * rng.normal(size=(n, d))


def test_probes_from_the_fitted_gaussian_fall_into_voids_far_probes_miss():
    z = _filaments()
    mean, cov = z.mean(axis=0), np.cov(z.T)
    cloud = DataCloud.fit(z[:1000], mean, cov)
    rng = np.random.default_rng(1)
    fitted = rng.multivariate_normal(mean, cov, 500)
    far = rng.uniform(-8, 8, (500, z.shape[1])) * 10
    on_data = z[1000:1500]
    p_fit, p_far, p_on = (probe_placement(x, cloud) for x in (fitted, far, on_data))
    assert p_fit["void_fraction"] > 0.8 and p_fit["nn_ratio"] > 5
    assert p_far["miss_fraction"] > 0.9
    assert p_on["on_data_fraction"] > 0.9 and p_on["nn_ratio"] < 2
    voids = void_or_miss({"fitted": {**p_fit, "realism": 0.05}, "data": {**p_on, "realism": 0.5}})
    assert voids["answer"] == "voids" and voids["samplers"]["data"]["fails"] is False
    miss = void_or_miss({"uniform": {**p_far, "realism": 0.01}})
    assert miss["answer"] == "miss the region"
    both = void_or_miss({"fitted": {**p_fit, "realism": 0.05}, "uniform": {**p_far, "realism": 0.0}})
    assert both["answer"] == "both" and "99%" in both["rule"]
    assert void_or_miss({"fitted": {**p_fit, "realism": None}})["answer"] == "not decidable"
    assert void_or_miss({"data": {**p_on, "realism": 0.5}})["answer"] == "no sampler fails"
