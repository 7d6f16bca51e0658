"""Traversal strips: the right z-points reach the decoder (checked exactly through an affine
decoder), attribute directions add the attribute, and a real Keras decoder draws a figure."""

from __future__ import annotations

import numpy as np
import pytest

from zspace.tasks.generate.traversals import (
    T_VALUES,
    LatentSpread,
    attribute_directions,
    component_traversals,
    direction_step,
    direction_traversals,
    pca_traversals,
    traversal_png,
)

Z_DIM = 6
RNG = np.random.default_rng(0)
W = RNG.standard_normal((Z_DIM, 4 * 4 * 3))
B = RNG.standard_normal(4 * 4 * 3)
CALLS: list[tuple[int, int]] = []


def affine_decode(z: np.ndarray, batch_size: int) -> np.ndarray:
    """An affine 'decoder' whose images can be inverted back to the z-points it was given."""
    CALLS.append((len(z), batch_size))
    return (np.asarray(z, np.float64) @ W + B).reshape(-1, 4, 4, 3)


def points_of(images: np.ndarray) -> np.ndarray:
    return np.linalg.lstsq(W.T, (images.reshape(len(images), -1) - B).T, rcond=None)[0].T


def test_t_values_are_seven_steps_from_minus_three_to_three():
    assert T_VALUES == (-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0)


def test_component_traversals_move_one_component_by_t_std():
    mean, std = RNG.standard_normal(Z_DIM), np.array([1.0, 2.0, 0.5, 1.0, 3.0, 1.0])
    CALLS.clear()
    strips = component_traversals(affine_decode, mean, std, [4, 1], batch_size=32)
    assert list(strips) == ["z4", "z1"] and CALLS == [(14, 32)]  # one decoder call
    z = points_of(strips["z4"])
    want = np.tile(mean, (7, 1))
    want[:, 4] += np.array(T_VALUES) * 3.0
    assert np.allclose(z, want, atol=1e-8)
    with pytest.raises(ValueError, match="outside 0..5"):
        component_traversals(affine_decode, mean, std, [6])


def test_pca_traversals_follow_the_principal_axes():
    x = RNG.standard_normal((2000, Z_DIM)) @ RNG.standard_normal((Z_DIM, Z_DIM))
    mean = x.mean(0)
    evals, evecs = np.linalg.eigh(np.cov(x, rowvar=False))
    order = np.argsort(evals)[::-1]
    comps, var = evecs[:, order].T, evals[order]
    strips = pca_traversals(affine_decode, mean, comps, var, which=[0, 2])
    z = points_of(strips["PC3"])
    want = mean + np.outer(T_VALUES, comps[2]) * np.sqrt(var[2])
    assert list(strips) == ["PC1", "PC3"] and np.allclose(z, want, atol=1e-8)


def test_attribute_direction_adds_the_attribute():
    # 'Smiling' shifts the class mean by d; without a covariance t = +1 lands at mean + d / 2
    mean, d = np.zeros(Z_DIM), np.array([0.0, 2.0, 0.0, 0.0, -1.0, 0.0])
    strips = direction_traversals(affine_decode, mean, {"Smiling": d})
    z = points_of(strips["+Smiling"])
    assert np.allclose(z[T_VALUES.index(1.0)], d / 2) and np.allclose(z[T_VALUES.index(-1.0)], -d / 2)
    cov = np.diag([1.0, 4.0, 1.0, 1.0, 9.0, 1.0])
    u = d / np.linalg.norm(d)
    assert direction_step(d, cov) == pytest.approx(np.sqrt(u @ cov @ u))
    with pytest.raises(ValueError, match="non-zero"):
        direction_traversals(affine_decode, mean, {"none": np.zeros(Z_DIM)})


def test_attribute_directions_are_the_best_probed_attributes():
    """Ranked by probe accuracy above chance; an attribute without a direction is left out."""
    names = {"Smiling": {"probe_accuracy": 0.9, "chance": 0.5, "direction": [1.0, 0.0]},
             "Male": {"probe_accuracy": 0.8, "chance": 0.2, "direction": [0.0, 2.0]},
             "Bald": {"probe_accuracy": 0.6, "chance": 0.5, "direction": [1.0, 1.0]},
             "Hat": {"probe_accuracy": 0.99, "chance": 0.5, "direction": None}}
    best = attribute_directions({"attributes": {"names": names}}, k=2)
    assert list(best) == ["Male", "Smiling"] and np.array_equal(best["Male"], [0.0, 2.0])
    assert attribute_directions({}) == {}


def test_real_keras_decoder_draws_a_traversal_figure():
    from zspace.models.autoencoder import build_model

    model = build_model({"kind": "vae", "input_size": 32, "channels": 3, "filters": [4, 4, 8, 8],
                         "decoder_filters": [8, 8, 4, 4], "z_dim": 4})
    strips = component_traversals(model.decode, np.zeros(4), np.ones(4), [0, 3])
    strips.update(pca_traversals(model.decode, np.zeros(4), np.eye(4), np.ones(4), which=[0]))
    assert all(s.shape == (7, 32, 32, 3) for s in strips.values())
    assert all(s.min() >= 0.0 and s.max() <= 1.0 for s in strips.values())
    assert not np.allclose(strips["z0"][0], strips["z0"][-1])  # moving z changes the image
    png = traversal_png(strips, "dominant components")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="no traversal strips"):
        traversal_png({}, "empty")


def test_traversal_figures_for_a_stored_run(tmp_path_factory):
    from latent_runs import RUNS, latent_store

    from zspace.tasks.common.runs import load_run_model
    from zspace.tasks.generate.traversals import traversal_figures

    store = latent_store(tmp_path_factory.getbasetemp() / "latent-runs")
    stats = store.run(RUNS[1]).stats
    summary = store.read_json(stats.summary)

    def array(name: str) -> np.ndarray:
        return np.asarray(store.open_array(stats.array(name))[...])

    model = load_run_model(store, RUNS[1])
    spread = LatentSpread(np.array(summary["mean"]), np.array(summary["std"]),
                          array("pca_components"), array("pca_eigenvalues"), array("covariance"))
    figs = traversal_figures(model.decode, spread, summary["dominant_components"] or [0],
                             {"Smiling": np.ones(len(summary["mean"]))})
    assert [f["file"] for f in figs] == ["traversal_dominant.png", "traversal_pca.png",
                                         "traversal_attributes.png"]
    assert all(f["section"] == "meaning" and f["png"][:4] == b"\x89PNG" for f in figs)
