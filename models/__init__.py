"""Keras model code: the study's AE and VAE, their configs and the named presets.

Importing this package imports Keras (lazily: the config and preset helpers load without it,
so `from zspace.models.config import ModelConfig` stays fast). Keras runs on TensorFlow (the
default) or JAX: call `zspace.models.backend.use_backend(name)` before anything imports keras.

Public API::

    ModelConfig, TrainConfig            pydantic; errors name the field
    load_preset(name_or_path) -> (ModelConfig, TrainConfig)   deployments/presets/<name>.yaml
    build_model(config) -> Autoencoder | VAE                    uncompiled
    load_model(path, compile=True) -> Autoencoder | VAE         .keras, safe_mode on
    model.kind, .config, .z_dim, .encoder, .decoder
    model.encode(x, batch_size=256) -> {"z_mean"[, "z_log_var"]}   float32
    model.decode(z, batch_size=256) -> images float32 in [0, 1]
    backend.use_backend(name) / current_backend() / device_name()
"""

from __future__ import annotations

from typing import Any

from zspace.models.config import (
    ModelConfig,
    TrainConfig,
    load_preset,
    preset_name,
    preset_names,
    preset_path,
)

_KERAS_NAMES = {"Autoencoder", "VAE", "build_model", "load_model", "as_float_images"}

__all__ = [
    "ModelConfig",
    "TrainConfig",
    "load_preset",
    "preset_name",
    "preset_names",
    "preset_path",
    *sorted(_KERAS_NAMES),
]


def __getattr__(name: str) -> Any:
    if name in _KERAS_NAMES:
        from zspace.models import autoencoder

        return getattr(autoencoder, name)
    raise AttributeError(f"module 'zspace.models' has no attribute {name!r}")
