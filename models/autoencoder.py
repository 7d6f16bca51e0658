"""The study's Autoencoder and VAE as Keras models with their own train/test steps.

Both models take images as float32 in [0, 1] or as the store's uint8 (divided by 255 inside
the step, so that streamed batches stay 4x smaller on their way in). Losses are per image:
reconstruction summed over all pixels and channels, averaged over the batch; the VAE adds
`kl_factor` ("fact") times the KL divergence, summed over z and averaged over the batch.
"""

from __future__ import annotations

import os
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from zspace.models.config import ModelConfig
from zspace.models.networks import build_decoder, build_encoder

_EPS = 1e-7


def as_float_images(x: Any) -> np.ndarray:
    """Store images (uint8) or images already in [0, 1] -> float32 in [0, 1]."""
    x = np.asarray(x)
    if x.dtype == np.uint8:
        return x.astype(np.float32) / np.float32(255.0)
    return x.astype(np.float32, copy=False)


def _images_tensor(x: Any) -> Any:
    if x.dtype == "uint8" or x.dtype == tf.uint8:
        return ops.cast(x, "float32") / 255.0
    return ops.cast(x, "float32")


class _Inference:
    """A callable object, not a lambda: TensorFlow counts retracing per code object, and would
    warn once several models (one per run) have each traced their own function."""

    def __init__(self, sub: keras.Model):
        self.sub = sub

    def __call__(self, x: Any) -> Any:
        return self.sub(x, training=False)


class _LatentModel(keras.Model):
    """What AE and VAE share: sub-models, config round trip, losses, metrics, encode/decode."""

    kind: str = ""

    def __init__(
        self,
        config: ModelConfig | dict[str, Any],
        compute_policy: str | None = None,
        **kwargs: Any,
    ):
        cfg = config if isinstance(config, ModelConfig) else ModelConfig.model_validate(config)
        if cfg.kind != self.kind:
            raise ValueError(f"kind is {cfg.kind!r} but {type(self).__name__} needs {self.kind!r}")
        # a mixed-precision model reloads as one (and its loss-scaled optimizer state with it),
        # whatever the global policy of the process that loads it
        previous = keras.mixed_precision.global_policy()
        if compute_policy is not None:
            keras.mixed_precision.set_global_policy(compute_policy)
        try:
            super().__init__(**kwargs)
            self.config = cfg
            self.encoder = build_encoder(cfg)
            self.decoder = build_decoder(cfg)
        finally:
            keras.mixed_precision.set_global_policy(previous)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction")
        self.kl_tracker = keras.metrics.Mean(name="kl")
        self.kl_share_tracker = keras.metrics.Mean(name="kl_share")
        self.built = True  # the sub-models are built; nothing is created lazily

    # -- serialisation ----------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "config": self.config.model_dump(),
            "compute_policy": self.dtype_policy.name,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> _LatentModel:
        return cls(**config)

    # -- the study's terms ------------------------------------------------------------
    @property
    def z_dim(self) -> int:
        return self.config.z_dim

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        return [self.loss_tracker, self.reconstruction_tracker, self.kl_tracker, self.kl_share_tracker]

    def reconstruction_loss(self, x: Any, y: Any) -> Any:
        """Per image: BCE (or squared error) summed over pixels and channels."""
        y = ops.cast(y, "float32")
        if self.config.reconstruction_loss == "bce":
            y = ops.clip(y, _EPS, 1.0 - _EPS)
            per_pixel = -(x * ops.log(y) + (1.0 - x) * ops.log(1.0 - y))
        else:
            per_pixel = ops.square(x - y)
        return ops.sum(per_pixel, axis=(1, 2, 3))

    def loss_parts(self, x: Any, training: bool) -> dict[str, Any]:
        raise NotImplementedError

    # -- Keras steps ------------------------------------------------------------------
    def _update_metrics(self, parts: dict[str, Any], x: Any) -> dict[str, Any]:
        n = ops.cast(ops.shape(x)[0], "float32")
        self.loss_tracker.update_state(parts["loss"], sample_weight=n)
        self.reconstruction_tracker.update_state(parts["reconstruction"], sample_weight=n)
        self.kl_tracker.update_state(parts["kl"], sample_weight=n)
        self.kl_share_tracker.update_state(parts["kl_share"], sample_weight=n)
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data: Any) -> dict[str, Any]:
        x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        x = _images_tensor(x)
        with tf.GradientTape() as tape:
            parts = self.loss_parts(x, training=True)
            # per-replica loss: gradients are summed over replicas under MirroredStrategy
            loss = parts["loss"] / tf.distribute.get_strategy().num_replicas_in_sync
            loss = self.optimizer.scale_loss(loss)  # a no-op unless mixed precision
        grads = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights, strict=True))
        return self._update_metrics(parts, x)

    def test_step(self, data: Any) -> dict[str, Any]:
        x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        x = _images_tensor(x)
        return self._update_metrics(self.loss_parts(x, training=False), x)

    # -- numpy in, numpy out ------------------------------------------------------------
    def _inference_fn(self, which: str) -> Any:
        """One traced function per sub-model, batch dimension left open: the encode stage
        calls encode once per store chunk, and predict() would rebuild a pipeline each time."""
        key = f"_zspace_{which}_fn"
        fn = self.__dict__.get(key)
        if fn is None:
            sub = self.encoder if which == "encoder" else self.decoder
            spec = tf.TensorSpec([None, *sub.input_shape[1:]], tf.float32)
            fn = tf.function(_Inference(sub), input_signature=[spec])
            object.__setattr__(self, key, fn)  # not a Keras-tracked attribute
        return fn

    def _batched(self, which: str, x: np.ndarray, batch_size: int) -> list[np.ndarray]:
        fn = self._inference_fn(which)
        outs: list[list[np.ndarray]] = []
        for start in range(0, len(x), batch_size):
            out = fn(tf.constant(x[start : start + batch_size]))
            outs.append([np.asarray(o, np.float32) for o in (out if isinstance(out, list | tuple) else [out])])
        return [np.concatenate(parts) for parts in zip(*outs, strict=True)]

    def encode(self, x: np.ndarray, batch_size: int = 256) -> dict[str, np.ndarray]:
        """Images (N, H, W, C), uint8 or float32 in [0, 1] -> {"z_mean"[, "z_log_var"]}."""
        x = as_float_images(x)
        names = ["z_mean"] if self.kind == "ae" else ["z_mean", "z_log_var"]
        s, c = self.config.input_size, self.config.channels
        if x.ndim != 4 or x.shape[1:] != (s, s, c):
            raise ValueError(f"encode needs images of shape (N, {s}, {s}, {c}), got {x.shape}")
        if len(x) == 0:
            return {n: np.zeros((0, self.z_dim), np.float32) for n in names}
        return dict(zip(names, self._batched("encoder", x, batch_size), strict=True))

    def decode(self, z: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Latent vectors (N, z_dim) -> images float32 in [0, 1], (N, H, W, C)."""
        z = np.asarray(z, dtype=np.float32)
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"decode needs z of shape (N, {self.z_dim}), got {z.shape}")
        if len(z) == 0:
            s, c = self.config.input_size, self.config.channels
            return np.zeros((0, s, s, c), np.float32)
        return self._batched("decoder", z, batch_size)[0]


@keras.saving.register_keras_serializable(package="zspace")
class Autoencoder(_LatentModel):
    """Deterministic AE: the code z is what later stages call z_mean."""

    kind = "ae"

    def call(self, inputs: Any, training: bool = False) -> Any:
        return self.decoder(self.encoder(_images_tensor(inputs), training=training), training=training)

    def loss_parts(self, x: Any, training: bool) -> dict[str, Any]:
        z = self.encoder(x, training=training)
        reconstruction = ops.mean(self.reconstruction_loss(x, self.decoder(z, training=training)))
        zero = ops.zeros_like(reconstruction)
        return {"loss": reconstruction, "reconstruction": reconstruction, "kl": zero, "kl_share": zero}


@keras.saving.register_keras_serializable(package="zspace")
class VAE(_LatentModel):
    """VAE with the reparameterisation trick; KL scaled by kl_factor (the study's `fact`)."""

    kind = "vae"

    def call(self, inputs: Any, training: bool = False) -> Any:
        z_mean, z_log_var = self.encoder(_images_tensor(inputs), training=training)
        z = self.sample(z_mean, z_log_var) if training else z_mean
        return self.decoder(z, training=training)

    @staticmethod
    def sample(z_mean: Any, z_log_var: Any) -> Any:
        eps = tf.random.normal(tf.shape(z_mean), dtype=z_mean.dtype)
        return z_mean + ops.exp(0.5 * z_log_var) * eps

    def loss_parts(self, x: Any, training: bool) -> dict[str, Any]:
        # validation also samples z: val_loss is the same estimate as the training loss
        z_mean, z_log_var = self.encoder(x, training=training)
        y = self.decoder(self.sample(z_mean, z_log_var), training=training)
        reconstruction = ops.mean(self.reconstruction_loss(x, y))
        kl_per_image = -0.5 * ops.sum(
            1.0 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=1
        )
        kl = ops.mean(kl_per_image)
        weighted_kl = self.config.kl_factor * kl
        loss = reconstruction + weighted_kl
        return {
            "loss": loss,
            "reconstruction": reconstruction,
            "kl": kl,
            "kl_share": weighted_kl / ops.maximum(loss, _EPS),
        }


def build_model(config: ModelConfig | dict[str, Any]) -> Autoencoder | VAE:
    """An uncompiled AE or VAE for the config's kind."""
    cfg = config if isinstance(config, ModelConfig) else ModelConfig.model_validate(config)
    return Autoencoder(cfg) if cfg.kind == "ae" else VAE(cfg)


def load_model(path: str | os.PathLike[str], compile: bool = True) -> Autoencoder | VAE:
    """A saved .keras model (with its optimizer state when compiled); safe_mode stays on."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no saved model at {path}")
    model = keras.models.load_model(path, compile=compile, safe_mode=True)
    if not isinstance(model, _LatentModel):
        raise ValueError(f"{path} holds a {type(model).__name__}, not a zspace Autoencoder/VAE")
    return model
