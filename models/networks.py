"""Encoder and decoder builders: strided convs down to a Dense latent layer, and back."""

from __future__ import annotations

import keras
from keras import layers

from zspace.models.config import ModelConfig


def _activation(name: str, label: str) -> layers.Layer:
    if name == "leaky_relu":
        return layers.LeakyReLU(name=label)  # Keras default slope 0.3, as in the study
    return layers.Activation(name, name=label)


def build_encoder(config: ModelConfig) -> keras.Model:
    """Images float32 in [0, 1] -> z (AE) or [z_mean, z_log_var] (VAE)."""
    size, ch = config.input_size, config.channels
    inputs = keras.Input(shape=(size, size, ch), name="images")
    x = inputs
    for i, (f, k, s) in enumerate(zip(config.filters, config.kernels, config.strides, strict=True)):
        x = layers.Conv2D(f, k, strides=s, padding="same", name=f"conv{i + 1}")(x)
        if config.batch_norm:
            x = layers.BatchNormalization(name=f"conv{i + 1}_bn")(x)
        x = _activation(config.activation, f"conv{i + 1}_act")(x)
        if config.dropout:
            x = layers.Dropout(config.dropout, name=f"conv{i + 1}_dropout")(x)
    x = layers.Flatten(name="flatten")(x)
    if config.extra_dense:
        x = layers.Dense(config.extra_dense, name="extra_dense")(x)
        x = _activation(config.activation, "extra_dense_act")(x)
    # latent outputs in float32 even under mixed precision: statistics are taken on them
    if config.kind == "ae":
        z = layers.Dense(config.z_dim, name="z", dtype="float32")(x)
        return keras.Model(inputs, z, name="encoder")
    z_mean = layers.Dense(config.z_dim, name="z_mean", dtype="float32")(x)
    z_log_var = layers.Dense(config.z_dim, name="z_log_var", dtype="float32")(x)
    return keras.Model(inputs, [z_mean, z_log_var], name="encoder")


def build_decoder(config: ModelConfig) -> keras.Model:
    """z -> images in [0, 1] (sigmoid), mirroring the encoder layer for layer."""
    side = config.bottleneck_size
    first = config.decoder_filters[0]
    z = keras.Input(shape=(config.z_dim,), name="z")
    x = layers.Dense(side * side * first, name="dense")(z)
    x = _activation(config.activation, "dense_act")(x)
    x = layers.Reshape((side, side, first), name="reshape")(x)
    mirrored = zip(
        config.decoder_filters, reversed(config.kernels), reversed(config.strides), strict=True
    )
    for i, (f, k, s) in enumerate(mirrored):
        if config.upsampling == "transpose":
            x = layers.Conv2DTranspose(f, k, strides=s, padding="same", name=f"deconv{i + 1}")(x)
        else:  # UpSampling2D + Conv2D: the study's suggestion against checkerboard artefacts
            if s > 1:
                x = layers.UpSampling2D(s, name=f"upsample{i + 1}")(x)
            x = layers.Conv2D(f, k, padding="same", name=f"deconv{i + 1}")(x)
        if config.batch_norm:
            x = layers.BatchNormalization(name=f"deconv{i + 1}_bn")(x)
        x = _activation(config.activation, f"deconv{i + 1}_act")(x)
    out = layers.Conv2D(
        config.channels, 3, padding="same", activation="sigmoid", name="images", dtype="float32"
    )(x)
    return keras.Model(z, out, name="decoder")
