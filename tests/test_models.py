"""Model configs, presets, and the AE/VAE themselves: shapes, losses against numpy, save/load."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from pydantic import ValidationError

from zspace.models import (
    VAE,
    Autoencoder,
    ModelConfig,
    TrainConfig,
    build_model,
    load_model,
    load_preset,
    preset_names,
)

TINY = dict(input_size=32, filters=[8, 16], z_dim=8)


def _images(n: int, size: int = 32, seed: int = 0) -> np.ndarray:
    """Smooth random images (low-frequency noise), uint8 like the store."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 255, (n, 4, 4, 3))
    return np.repeat(np.repeat(coarse, size // 4, axis=1), size // 4, axis=2).astype(np.uint8)


@pytest.mark.parametrize(
    "bad, field",
    [
        (dict(filters=[8, 8, 16, 16], kernels=[3, 3, 3]), "kernels"),
        (dict(filters=[8, 8, 16, 16], strides=[2, 2]), "strides"),
        (dict(filters=[8, 16], decoder_filters=[16]), "decoder_filters"),
        (dict(input_size=100), "input_size"),
        (dict(input_size=32, filters=[8, 8, 8, 8, 8, 8]), "input_size"),
        (dict(z_dim=0), "z_dim"),
        (dict(z_dim=-3), "z_dim"),
        (dict(dropout=1.5), "dropout"),
        (dict(activation="softplus-ish"), "activation"),
        (dict(filterz=[8]), "filterz"),
    ],
)
def test_bad_config_names_the_field(bad: dict, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        ModelConfig(**bad)
    errors = info.value.errors()
    assert [e["loc"][0] for e in errors] == [field]
    assert field in str(info.value)


def test_config_defaults_mirror_the_encoder() -> None:
    cfg = ModelConfig(filters=[8, 16, 32], kernels=[5, 3, 3], input_size=32, fact=2.5)
    assert cfg.decoder_filters == [32, 16, 8]
    assert cfg.strides == [2, 2, 2]
    assert cfg.kl_factor == 2.5
    assert cfg.bottleneck_size == 4
    assert ModelConfig.model_validate(cfg.model_dump()) == cfg


def test_presets_hold_the_reference_architectures() -> None:
    assert {"demo", "celeba-ae", "celeba-ae-1600", "celeba-vae"} <= set(preset_names())
    vae, vae_train = load_preset("celeba-vae")
    assert (vae.kind, vae.filters, vae.kernels, vae.strides) == ("vae", [32, 64, 128, 256], [3] * 4, [2] * 4)
    assert (vae.z_dim, vae.kl_factor, vae.reconstruction_loss, vae.input_size) == (256, 5.0, "bce", 96)
    assert (vae_train.learning_rate, vae_train.epochs) == (5e-4, 24)
    ae, ae_train = load_preset("celeba-ae")
    assert (ae.filters, ae.decoder_filters, ae.z_dim, ae_train.epochs) == (
        [64, 64, 128, 128], [128, 128, 64, 64], 256, 24,
    )
    ae1600, ae1600_train = load_preset("celeba-ae-1600")
    assert (ae1600.z_dim, ae1600.kernels, ae1600_train.limit) == (1600, [5, 5, 3, 3], 80000)
    demo, demo_train = load_preset("demo")
    assert demo.input_size == 32 and isinstance(demo_train, TrainConfig)


def test_preset_errors_name_the_file_and_field(tmp_path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: {filters: [8, 8, 8, 8], kernels: [3, 3, 3]}\ntrain: {epochs: 1}\n")
    with pytest.raises(ValueError, match=r"bad\.yaml: model\.kernels: kernels has 3 entries"):
        load_preset(bad)
    with pytest.raises(ValueError, match="not found"):
        load_preset("no-such-preset")


@pytest.mark.parametrize("kind", ["ae", "vae"])
def test_shapes_and_value_ranges(kind: str) -> None:
    model = build_model(ModelConfig(kind=kind, **TINY))
    assert isinstance(model, Autoencoder if kind == "ae" else VAE)
    assert (model.kind, model.z_dim) == (kind, 8)
    x = _images(10)
    codes = model.encode(x, batch_size=4)
    assert set(codes) == ({"z_mean"} if kind == "ae" else {"z_mean", "z_log_var"})
    assert all(v.shape == (10, 8) and v.dtype == np.float32 for v in codes.values())
    # uint8 from the store and float32 in [0, 1] are the same images
    again = model.encode(x.astype(np.float32) / 255.0)
    np.testing.assert_allclose(again["z_mean"], codes["z_mean"], rtol=1e-5, atol=1e-5)
    # the sub-models are plain Keras models with the agreed inputs and outputs
    direct = model.encoder(x.astype(np.float32) / 255.0)
    direct = direct if kind == "ae" else direct[0]
    np.testing.assert_allclose(np.asarray(direct), codes["z_mean"], rtol=1e-5, atol=1e-5)
    images = model.decode(codes["z_mean"], batch_size=3)
    assert images.shape == (10, 32, 32, 3) and images.dtype == np.float32
    assert images.min() >= 0.0 and images.max() <= 1.0
    assert model.encode(x[:0])["z_mean"].shape == (0, 8)
    with pytest.raises(ValueError, match="z of shape"):
        model.decode(np.zeros((2, 5)))


def _numpy_bce(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    y = np.clip(np.asarray(y, np.float64), 1e-7, 1 - 1e-7)
    return -(x * np.log(y) + (1 - x) * np.log(1 - y))


@pytest.mark.parametrize("recon_sum", ["pixels", "values"])
def test_losses_match_numpy(recon_sum: str) -> None:
    """The study's units: BCE averaged over the channel axis, summed over the HxW pixels
    ("pixels"), or summed over all HxWx3 values ("values"); KL summed over z; batch means."""
    x = _images(6).astype(np.float32) / 255.0
    ae = build_model(ModelConfig(kind="ae", recon_sum=recon_sum, **TINY))
    per_value = _numpy_bce(x, ae(x)["images"])
    pixels = per_value.mean(axis=3).sum(axis=(1, 2)).mean()
    expected = pixels if recon_sum == "pixels" else per_value.sum(axis=(1, 2, 3)).mean()
    assert expected == pytest.approx(pixels * (1 if recon_sum == "pixels" else 3), rel=1e-9)
    ae_parts = ae.loss_parts(x, training=False)
    assert float(ae_parts["reconstruction"]) == pytest.approx(expected, rel=1e-4)
    assert float(ae_parts["loss"]) == pytest.approx(expected, rel=1e-4)
    assert float(ae_parts["kl"]) == 0.0 and float(ae_parts["kl_share"]) == 0.0

    vae = build_model(ModelConfig(kind="vae", kl_factor=5.0, recon_sum=recon_sum, **TINY))
    parts = {k: float(v) for k, v in vae.loss_parts(x, training=False).items()}
    z_mean, z_log_var = (np.asarray(a, np.float64) for a in vae.encoder(x))
    kl = np.mean(-0.5 * np.sum(1 + z_log_var - z_mean**2 - np.exp(z_log_var), axis=1))
    assert parts["kl"] == pytest.approx(kl, rel=1e-4)
    assert parts["loss"] == pytest.approx(parts["reconstruction"] + 5.0 * parts["kl"], rel=1e-6)
    assert parts["kl_share"] == pytest.approx(5.0 * parts["kl"] / parts["loss"], rel=1e-5)


def test_mse_and_default_units() -> None:
    assert ModelConfig().recon_sum == "values"  # the demo's units; presets say what they use
    for study in ("celeba-vae", "celeba-ae", "celeba-ae-1600"):
        assert load_preset(study)[0].recon_sum == "pixels", study
    assert load_preset("demo")[0].recon_sum == "values"
    x = _images(6).astype(np.float32) / 255.0
    mse_model = build_model(ModelConfig(kind="ae", reconstruction_loss="mse", **TINY))
    y = np.asarray(mse_model(x)["images"], np.float64)
    mse = ((x - y) ** 2).sum(axis=(1, 2, 3)).mean()
    assert float(mse_model.loss_parts(x, training=False)["loss"]) == pytest.approx(mse, rel=1e-4)


@pytest.mark.parametrize(
    "options",
    [
        dict(kind="vae", upsampling="upsample", batch_norm=True, dropout=0.1, extra_dense=32),
        dict(kind="ae", upsampling="upsample", reconstruction_loss="mse", kernels=[5, 3]),
    ],
)
def test_options_build_and_train(options: dict) -> None:
    model = build_model(ModelConfig(**{**TINY, **options}))
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    history = model.fit(_images(64), batch_size=16, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert model.decode(np.zeros((2, 8), np.float32)).shape == (2, 32, 32, 3)


@pytest.mark.parametrize("kind", ["ae", "vae"])
def test_save_load_round_trip(tmp_path, kind: str) -> None:
    model = build_model(ModelConfig(kind=kind, batch_norm=True, **TINY))
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    x = _images(64, seed=1)
    model.fit(x, batch_size=16, epochs=1, verbose=0)
    path = tmp_path / f"{kind}.keras"
    model.save(path)
    loaded = load_model(path)
    assert type(loaded) is type(model) and loaded.config == model.config and loaded.kind == kind
    before, after = model.encode(x), loaded.encode(x)
    for key in before:
        np.testing.assert_array_equal(before[key], after[key])
    np.testing.assert_array_equal(model.decode(before["z_mean"]), loaded.decode(after["z_mean"]))
    # the optimizer state came along, and training goes on from it
    assert int(loaded.optimizer.iterations) == int(model.optimizer.iterations) == 4
    history = loaded.fit(x, batch_size=16, epochs=2, initial_epoch=1, verbose=0)
    assert int(loaded.optimizer.iterations) == 8 and np.isfinite(history.history["loss"][0])
    inference_only = load_model(path, compile=False)
    np.testing.assert_array_equal(inference_only.encode(x)["z_mean"], before["z_mean"])


def test_load_model_says_what_is_wrong(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="no saved model"):
        load_model(tmp_path / "missing.keras")
    plain = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    plain.save(tmp_path / "plain.keras")
    with pytest.raises(ValueError, match="not a zspace"):
        load_model(tmp_path / "plain.keras")


def test_mixed_precision_model_reloads_as_one(tmp_path) -> None:
    model = build_model(ModelConfig(kind="vae", **TINY))
    mixed = type(model)(model.config, compute_policy="mixed_float16")
    assert keras.mixed_precision.global_policy().name == "float32"  # left as it was
    mixed.compile(optimizer=keras.optimizers.Adam(1e-3))
    assert type(mixed.optimizer).__name__ == "LossScaleOptimizer"
    x = _images(32)
    mixed.fit(x, batch_size=16, epochs=1, verbose=0)
    mixed.save(tmp_path / "mixed.keras")
    loaded = load_model(tmp_path / "mixed.keras")
    assert loaded.dtype_policy.name == "mixed_float16"
    assert type(loaded.optimizer).__name__ == "LossScaleOptimizer"
    assert int(loaded.optimizer.iterations) == int(mixed.optimizer.iterations)
    codes = loaded.encode(x)
    assert codes["z_mean"].dtype == np.float32  # latents stay float32 for the statistics
    np.testing.assert_array_equal(codes["z_mean"], mixed.encode(x)["z_mean"])
