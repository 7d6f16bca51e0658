"""Generation and reconstruction on tiny real runs: real Keras decoders, a real Prefect flow."""

from __future__ import annotations

import io

import numpy as np
import pytest
from latent_runs import DATASET, latent_store
from PIL import Image

from zspace import study
from zspace.cli.main import main
from zspace.flows.generate import generate_flow
from zspace.storage import Store, split_rows
from zspace.tasks.common.runs import load_run_model
from zspace.tasks.generate.params import GenerateParams, SamplerParams
from zspace.tasks.generate.reconstruct import compare_reconstructions
from zspace.tasks.generate.samplers import sample_fitted_gaussian
from zspace.tasks.generate.scoring import laplacian_variance, nearest_distances, sharpen

RUN, OTHER = "tiny-vae", "tiny-ae"
PARAMS = {"n_reference": 150}


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Store:
    return latent_store(tmp_path_factory.getbasetemp() / "latent-runs")


@pytest.fixture(scope="module")
def generated(store):
    return generate_flow(GenerateParams(store=store.url, run=RUN, generation=PARAMS,
                                        compare=[OTHER]))


def valid_png(path) -> tuple[int, int]:
    with Image.open(path) as im:
        im.verify()
        assert im.format == "PNG"
        return im.size


def test_every_sampler_decodes_28_images_in_0_1_with_figures(store, generated):
    assert not generated["cached"]
    names = ["normal", *[f"uniform-r{r:g}" for r in study.R_LIMITS], "gaussian-fit"]
    assert generated["samplers"] == names
    for name in names:
        with np.load(io.BytesIO(store.read_bytes(store.run(RUN).sample(name)))) as f:
            z, images, sharp = f["z"], f["images"], f["sharpened"]
        assert z.shape == (28, 8) and images.shape == (28, 32, 32, 3) and sharp.dtype == np.uint8
        assert images.dtype == np.float32 and images.min() >= 0 and images.max() <= 1
        assert np.array_equal(sharp, sharpen(images, 7.0))
    with np.load(io.BytesIO(store.read_bytes(store.run(RUN).sample("uniform-r2")))) as f:
        assert np.abs(f["z"]).max() <= 2.0
    rec = store.read_json(generated["scores_rel"])
    scores = rec["scores"]
    for s in scores.values():
        assert all(np.isfinite(s[k]) for k in ("pixel_nn", "pixel_nn_sharpened", "latent_nn",
                                                "sharpness", "sharpness_sharpened"))
    assert scores["uniform-r8"]["latent_nn"] > scores["uniform-r0.5"]["latent_nn"]
    assert scores["uniform-r8"]["radius_mean"] > scores["uniform-r0.5"]["radius_mean"]
    assert scores["normal"]["sharpness_sharpened"] > scores["normal"]["sharpness"]
    for s in scores.values():
        assert 0.0 <= s["realism"] <= 1.0 and "re-encoded" in s["realism_rule"]
        assert 0.0 <= s["pixel_typicality"] <= 1.0
        assert abs(sum(s["placement"][k] for k in ("on_data", "in_void", "outside_region"))
                   - 1.0) < 1e-9
    assert scores["uniform-r8"]["placement"]["outside_region"] == 1.0
    assert rec["void_or_miss"]["answer"] and rec["void_or_miss"]["rule"]
    assert rec["why_random_fail"]["answer"] and "interval" in rec["why_random_fail"]["rule"]
    assert all(0.0 <= s["realism_sharpened"] <= 1.0 for s in scores.values())

    manifest = store.read_json(store.run(RUN).manifest("generate"))
    files = [e["file"] for e in manifest]
    assert {f"gen_{n}.png" for n in names} | {"gen_uniform_overview.png", "gen_sharpen_compare.png",
                                              "gen_scores.png", "gen_placement.png"} == set(files)
    for e in manifest:
        assert e["section"] == "generation" and e["title"] and e["caption"]
        w, h = valid_png(store.local_path(store.run(RUN).figure(e["file"])))
        assert w >= 400 and h >= 200

    again = generate_flow(GenerateParams(store=store.url, run=RUN, generation=PARAMS))
    assert again["cached"] and again["fingerprint"] == generated["fingerprint"]


def test_fitted_gaussian_reproduces_the_data_covariance(store):
    stats = store.run(RUN).stats
    mean = store.open_array(stats.array("mean"))[...]
    cov = store.open_array(stats.array("covariance"))[...]
    n = 40_000
    z = sample_fitted_gaussian(mean, cov, n, seed=3)
    assert z.shape == (n, 8)
    sample_cov = np.cov(z, rowvar=False)
    d = np.sqrt(np.diag(cov))
    se = np.sqrt((np.outer(d, d) ** 2 + cov**2) / n)  # std error of a Gaussian sample covariance
    assert np.all(np.abs(sample_cov - cov) < 5 * se + 1e-12)
    assert np.all(np.abs(z.mean(0) - mean) < 5 * d / np.sqrt(n) + 1e-12)
    # a dead component (zero variance) still samples, with a tiny jitter
    cov0 = cov.copy()
    cov0[0, :] = cov0[:, 0] = 0
    z0 = sample_fitted_gaussian(mean, cov0, 1000, seed=0)
    assert np.isfinite(z0).all() and np.std(z0[:, 0]) < 1e-3 * d[1:].min()


def test_reconstruction_metrics_match_numpy_on_the_test_split(store, generated):
    rec = generated["reconstruction"]
    rows = split_rows(store, DATASET, "test")
    images = store.open_array(store.dataset(DATASET).images)[...][rows]
    x = images.astype(np.float64) / 255.0
    for run in (RUN, OTHER):
        model = load_run_model(store, run)
        y = model.decode(model.encode(images)["z_mean"]).astype(np.float64)
        mse = float(np.mean((y - x) ** 2))
        got = rec["runs"][run]
        assert got["n"] == len(rows) and got["kind"] == run.rsplit("-", 1)[1]
        assert got["mse"] == pytest.approx(mse, rel=1e-4)
        assert got["psnr"] == pytest.approx(10 * np.log10(1 / mse), rel=1e-4)
    assert store.read_json(store.run(RUN).reconstruction) == rec["runs"]
    valid_png(store.local_path(store.run(RUN).figure("reconstruction.png")))
    (entry,) = store.read_json(store.run(RUN).manifest("reconstruction"))
    assert entry["file"] == "reconstruction.png" and "PSNR" in entry["caption"]


def test_runs_on_different_datasets_are_refused(store, capsys):
    store.write_json(store.run("elsewhere").train_record, {"dataset": "other", "dataset_fingerprint": "x",
                                                   "kind": "ae"})
    with pytest.raises(ValueError, match="different datasets"):
        compare_reconstructions(store.url, [RUN, "elsewhere"])
    assert main(["generate", "--store", store.url, "--run", RUN, "--n-reference", "150",
                 "--compare", "elsewhere"]) == 2
    assert "different datasets" in capsys.readouterr().err


def test_helpers_against_brute_force():
    rng = np.random.default_rng(0)
    ref = rng.integers(0, 256, (50, 4, 4, 3), dtype=np.uint8)
    q = rng.random((7, 4, 4, 3)).astype(np.float32)

    class Chunked(np.ndarray):
        chunks = (8,)

    arr = ref.view(Chunked)
    rows = np.array([1, 5, 9, 17, 33, 49])
    d = nearest_distances(q, arr, rows)
    brute = np.sqrt(((q.reshape(7, 1, -1) - ref[rows].reshape(1, 6, -1) / 255.0) ** 2).sum(-1)).min(1)
    assert np.allclose(d, brute)
    flat = np.full((2, 8, 8, 3), 0.5, np.float32)
    assert np.allclose(laplacian_variance(flat), 0)


def test_realism_tells_data_like_images_from_noise(store):
    """Validated on known cases: held-out real test images score as typical faces (~0.5);
    uniform noise, images decoded far out (uniform r_limit 8) and a blurred average face score
    low. (The one-epoch tiny models' reconstructions are blurred too; the demo run's numbers
    for trained models are in the closing notes.)"""
    from zspace.storage import split_rows
    from zspace.tasks.generate.realism import PixelTypicality, realism
    from zspace.tasks.generate.samplers import draw

    model = load_run_model(store, OTHER)  # the AE
    images = store.open_array(store.dataset("faces").images)

    def rows(split: str) -> np.ndarray:
        return np.asarray(images.get_orthogonal_selection(
            (split_rows(store, "faces", split), slice(None), slice(None), slice(None))))

    typical = PixelTypicality.fit(rows("train"))
    real = rows("test")
    rng = np.random.default_rng(0)
    noise = rng.uniform(0, 1, size=real.shape).astype(np.float32)
    far = model.decode(draw("uniform-r8", SamplerParams(n_images=len(real)), model.z_dim,
                            np.zeros(model.z_dim), np.eye(model.z_dim)).astype(np.float32), 64)
    blurred = np.repeat(rows("train").mean(axis=0, keepdims=True) / 255.0, len(real), axis=0)
    r = {k: float(realism(x, typical).mean())
         for k, x in (("real", real), ("noise", noise), ("far", far), ("blurred", blurred))}
    assert 0.35 < r["real"] < 0.65, r
    worst = max(r["noise"], r["far"], r["blurred"])
    assert worst < 0.2 and r["real"] > worst + 0.3, r


def test_a_sampler_added_to_the_registry_runs_through_the_whole_stage(store, tmp_path, monkeypatch):
    """The registry is the one place a sampler is declared: one entry, and the stage draws,
    decodes, scores, places and draws figures for it (here: z on a sphere of radius 3)."""
    import shutil

    from zspace.tasks.generate.samplers import SAMPLERS, Sampler, describe, draw, sampler_names
    from zspace.tasks.generate.stage import generate_samples

    def shell(rng, n, z_dim, r, mean, cov):
        z = rng.standard_normal((n, z_dim))
        return 3.0 * z / np.linalg.norm(z, axis=1, keepdims=True)

    monkeypatch.setitem(SAMPLERS, "shell", Sampler(shell, lambda r, j: "z on the sphere ||z|| = 3"))
    params = SamplerParams(n_images=4, r_limits=(1.0,), n_reference=50, grid_cols=4)
    assert sampler_names(params) == ["normal", "uniform-r1", "gaussian-fit", "shell"]
    z = draw("shell", params, 8, np.zeros(8), np.eye(8))
    assert np.allclose(np.linalg.norm(z, axis=1), 3.0)
    assert np.array_equal(z, draw("shell", params, 8, np.zeros(8), np.eye(8)))  # seeded
    assert not np.array_equal(z, draw("shell", params.model_copy(update={"seed": 1}), 8,
                                      np.zeros(8), np.eye(8)))
    assert describe("shell") == "z on the sphere ||z|| = 3"

    copy = Store(tmp_path / "copy")
    shutil.copytree(store.local_path(), copy.local_path())
    res = generate_samples(copy.url, RUN, params, show_progress=False)
    assert res["samplers"] == ["normal", "uniform-r1", "gaussian-fit", "shell"]
    scores = copy.read_json(res["scores_rel"])["scores"]
    assert abs(scores["shell"]["radius_mean"] - 3.0) < 1e-5 and scores["shell"]["r_limit"] is None
    with np.load(io.BytesIO(copy.read_bytes(copy.run(RUN).sample("shell")))) as f:
        assert f["images"].shape == (4, 32, 32, 3)
    files = [e["file"] for e in copy.read_json(copy.run(RUN).manifest("generate"))]
    assert "gen_shell.png" in files
    valid_png(copy.local_path(copy.run(RUN).figure("gen_shell.png")))
