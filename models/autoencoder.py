"""The study's Autoencoder and VAE as backend-agnostic Keras 3 models (TensorFlow or JAX).

Both models take images as float32 in [0, 1] or as the store's uint8 (divided by 255 inside the
model, so that streamed batches stay 4x smaller on their way in). Keras's own train and test
steps run them on every backend; the study's loss comes in through `compute_loss`:

    reconstruction = binary_crossentropy(x, x_hat) per pixel (Keras: the mean over the channel
                     axis), summed over the HxW pixels ("pixels", the study's units) or over all
                     HxWxC values ("values" = C x the former), averaged over the batch
    kl             = -0.5 x sum over z of (1 + log_var - mu^2 - exp(log_var)), batch mean
    loss           = reconstruction + kl_factor x kl        (kl_factor: the study's `fact`)
    kl_share       = kl_factor x kl / loss

Inference (encode, decode) goes through each sub-model's compiled predict step, one per backend
(tf.function or jax.jit), with batches padded to one shape so it is traced once.
"""

from __future__ import annotations

import os
from typing import Any

import keras
import numpy as np
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
    """uint8 store batches or floats -> float32 in [0, 1], inside the compiled step."""
    if "uint8" in str(getattr(x, "dtype", "")):
        return ops.cast(x, "float32") / 255.0
    return ops.cast(x, "float32")


def _replica_share(loss: Any) -> Any:
    """TensorFlow's MirroredStrategy sums gradients over replicas: each replica's loss is its
    share. JAX's DataParallel computes one loss on the global batch, so it stays whole."""
    if keras.backend.backend() != "tensorflow":
        return loss
    import tensorflow as tf

    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return loss / replicas if replicas > 1 else loss


def reconstruction_per_image(x: Any, y: Any, config: ModelConfig) -> Any:
    """The study's reconstruction term per image, in the config's `recon_sum` units."""
    y = ops.cast(y, "float32")
    if config.reconstruction_loss == "bce":
        per_pixel = keras.losses.binary_crossentropy(x, ops.clip(y, _EPS, 1.0 - _EPS))
    else:
        per_pixel = keras.losses.mean_squared_error(x, y)
    total = ops.sum(per_pixel, axis=(1, 2))  # channel mean, summed over the HxW pixels
    return total * config.channels if config.recon_sum == "values" else total


def kl_per_image(z_mean: Any, z_log_var: Any) -> Any:
    """KL(q(z|x) || N(0, I)) per image, summed over z."""
    return -0.5 * ops.sum(1.0 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=1)


class _LatentModel(keras.Model):
    """What AE and VAE share: sub-models, config round trip, the loss, encode/decode."""

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
            self.seed_generator = keras.random.SeedGenerator(None, name="sampling_seed")
        finally:
            keras.mixed_precision.set_global_policy(previous)
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

    def parts_from_outputs(self, x: Any, outputs: dict[str, Any]) -> dict[str, Any]:
        """loss, reconstruction, kl, kl_share (batch means) from the forward pass's outputs."""
        reconstruction = ops.mean(reconstruction_per_image(x, outputs["images"], self.config))
        if "z_log_var" not in outputs:
            zero = ops.zeros_like(reconstruction)
            return {"loss": reconstruction, "reconstruction": reconstruction, "kl": zero,
                    "kl_share": zero}
        kl = ops.mean(kl_per_image(outputs["z_mean"], outputs["z_log_var"]))
        weighted_kl = self.config.kl_factor * kl
        loss = reconstruction + weighted_kl
        return {"loss": loss, "reconstruction": reconstruction, "kl": kl,
                "kl_share": weighted_kl / ops.maximum(loss, _EPS)}

    def loss_parts(self, x: Any, training: bool = False) -> dict[str, Any]:
        """The loss terms of one batch, outside fit (tests, diagnostics)."""
        x = _images_tensor(x)
        return self.parts_from_outputs(x, self(x, training=training))

    def compute_loss(
        self,
        x: Any = None,
        y: Any = None,
        y_pred: Any = None,
        sample_weight: Any = None,
        training: bool = True,
    ) -> Any:
        """Keras's hook on every backend: the study's loss, its terms kept as metrics."""
        parts = self.parts_from_outputs(_images_tensor(x), y_pred)
        n = ops.cast(ops.shape(x)[0], "float32")
        self.reconstruction_tracker.update_state(parts["reconstruction"], sample_weight=n)
        self.kl_tracker.update_state(parts["kl"], sample_weight=n)
        self.kl_share_tracker.update_state(parts["kl_share"], sample_weight=n)
        return _replica_share(parts["loss"])

    # -- numpy in, numpy out ------------------------------------------------------------
    def _batched(self, sub: keras.Model, x: np.ndarray, batch_size: int) -> list[np.ndarray]:
        """Fixed-shape batches through the sub-model's compiled predict step: the last one is
        padded so that jax.jit and tf.function trace a single shape."""
        outs: list[list[np.ndarray]] = []
        for start in range(0, len(x), batch_size):
            batch = x[start : start + batch_size]
            n = len(batch)
            if n < batch_size and len(x) > batch_size:
                batch = np.concatenate([batch, np.zeros((batch_size - n, *batch.shape[1:]),
                                                        batch.dtype)])
            out = sub.predict_on_batch(batch)
            out = out if isinstance(out, list | tuple) else [out]
            outs.append([np.asarray(o, np.float32)[:n] for o in out])
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
        return dict(zip(names, self._batched(self.encoder, x, batch_size), strict=True))

    def decode(self, z: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Latent vectors (N, z_dim) -> images float32 in [0, 1], (N, H, W, C)."""
        z = np.asarray(z, dtype=np.float32)
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"decode needs z of shape (N, {self.z_dim}), got {z.shape}")
        if len(z) == 0:
            s, c = self.config.input_size, self.config.channels
            return np.zeros((0, s, s, c), np.float32)
        return self._batched(self.decoder, z, batch_size)[0]


@keras.saving.register_keras_serializable(package="zspace")
class Autoencoder(_LatentModel):
    """Deterministic AE: the code z is what later stages call z_mean."""

    kind = "ae"

    def call(self, inputs: Any, training: bool = False) -> dict[str, Any]:
        z = self.encoder(_images_tensor(inputs), training=training)
        return {"images": self.decoder(z, training=training), "z_mean": z}


@keras.saving.register_keras_serializable(package="zspace")
class VAE(_LatentModel):
    """VAE with the reparameterisation trick; KL scaled by kl_factor (the study's `fact`).

    The forward pass always samples z (validation too: val_loss is the same estimate as the
    training loss); deterministic reconstructions are decode(encode(x)["z_mean"])."""

    kind = "vae"

    def call(self, inputs: Any, training: bool = False) -> dict[str, Any]:
        z_mean, z_log_var = self.encoder(_images_tensor(inputs), training=training)
        z = self.sample(z_mean, z_log_var)
        return {"images": self.decoder(z, training=training), "z_mean": z_mean,
                "z_log_var": z_log_var}

    def sample(self, z_mean: Any, z_log_var: Any) -> Any:
        eps = keras.random.normal(ops.shape(z_mean), dtype=z_mean.dtype, seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * eps


def build_model(config: ModelConfig | dict[str, Any]) -> Autoencoder | VAE:
    """An uncompiled AE or VAE for the config's kind."""
    cfg = config if isinstance(config, ModelConfig) else ModelConfig.model_validate(config)
    return Autoencoder(cfg) if cfg.kind == "ae" else VAE(cfg)


def load_model(path: str | os.PathLike[str], compile: bool = True) -> Autoencoder | VAE:
    """A saved .keras model (with its optimizer state when compiled); safe_mode stays on.
    .keras files are backend-neutral: one saved on TensorFlow loads on JAX and back."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no saved model at {path}")
    model = keras.models.load_model(path, compile=compile, safe_mode=True)
    if not isinstance(model, _LatentModel):
        raise ValueError(f"{path} holds a {type(model).__name__}, not a zspace Autoencoder/VAE")
    return model
