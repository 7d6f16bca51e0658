"""Which Keras backend runs the models: TensorFlow (the default) or JAX.

Keras reads KERAS_BACKEND once, when it is first imported, so the choice has to be made before
anything imports keras; `use_backend` does that and refuses, with a clear message, once it is
too late. Importing this module imports neither keras nor a backend.
"""

from __future__ import annotations

import os
import sys

BACKENDS = ("tensorflow", "jax")
DEFAULT_BACKEND = "tensorflow"
ENV = "KERAS_BACKEND"


def check_backend(name: str | None) -> str:
    """A known backend name (None: KERAS_BACKEND, else TensorFlow), or a ValueError."""
    name = name or os.environ.get(ENV) or DEFAULT_BACKEND
    if name not in BACKENDS:
        raise ValueError(
            f"backend {name!r} is not supported: use --backend {' or '.join(BACKENDS)} "
            f"(or set {ENV})"
        )
    return name


def quiet_tensorflow() -> None:
    """No TensorFlow C++ start-up logs (oneDNN, cuda probing) in a process that trains."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")


def use_backend(name: str | None = None) -> str:
    """Select the backend before keras is imported; returns its name.

    A second call with the same backend is fine; asking for another backend after keras was
    imported raises ValueError (start a new process, e.g. with KERAS_BACKEND set).
    """
    name = check_backend(name)
    if "keras" in sys.modules:
        active = current_backend()
        if active != name:
            raise ValueError(
                f"keras was already imported with the {active!r} backend, so {name!r} cannot "
                f"be selected in this process: set {ENV}={name} before starting it"
            )
        return name
    os.environ[ENV] = name
    if name == "tensorflow":
        quiet_tensorflow()
    return name


def current_backend() -> str:
    """The backend keras runs on (imports keras)."""
    import keras

    return keras.backend.backend()


def device_name() -> str:
    """The accelerator the backend computes on, in words ("cpu" when there is none)."""
    backend = current_backend()
    if backend == "jax":
        import jax

        device = jax.devices()[0]
        return "cpu" if device.platform == "cpu" else str(device.device_kind)
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return "cpu"
    return str(tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU"))
