"""What one training asks for: the train stage's one parameter model.

The flow takes it whole, the CLI's options come from its fields, and the training process is
started with it serialised as JSON (:mod:`zspace.tasks.train.process`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from zspace.models.config import ModelConfig, TrainConfig, load_preset, preset_name


def default_run_name(dataset: str, preset: str, kind: str | None = None) -> str:
    """f"{dataset}-{preset}", with "-{kind}" appended when the preset's kind is overridden."""
    name = f"{dataset}-{preset_name(preset)}"
    return f"{name}-{kind}" if kind else name


class TrainParams(BaseModel):
    """Small, so it can be a task input and a cache key; the preset holds the rest."""

    model_config = ConfigDict(extra="forbid")

    store: str = Field(description="store root (local path or fsspec URL)")
    dataset: str = Field(description="an ingested dataset of the store")
    preset: str = Field("demo", description="preset name (demo, celeba-ae, celeba-ae-1600, "
                        "celeba-vae) or a preset YAML path")
    epochs: int | None = Field(default=None, gt=0, description="override the preset's epochs")
    run: str | None = Field(None, description="run name (default: from dataset, preset, kind)")
    limit: int | None = Field(default=None, gt=0, description="at most N training images")
    seed: int | None = Field(None, description="override the preset's training seed (weights, "
                             "shuffling, VAE sampling): replicates differ only in it")
    kind: Literal["ae", "vae"] | None = Field(None, description="override the preset's kind")
    mixed_precision: bool | Literal["float16", "bfloat16"] = Field(
        False, description="mixed-precision training (GPU): float16 (or true) or bfloat16")
    backend: Literal["tensorflow", "jax"] | None = Field(
        None, description="Keras backend of the training process (default: KERAS_BACKEND, else "
        "tensorflow)")

    @property
    def run_name(self) -> str:
        return self.run or default_run_name(self.dataset, self.preset, self.kind)

    def configs(self) -> tuple[ModelConfig, TrainConfig]:
        """The preset's configs with these overrides applied (and validated)."""
        model_cfg, train_cfg = load_preset(self.preset)
        if self.kind is not None:
            model_cfg = ModelConfig.model_validate({**model_cfg.model_dump(), "kind": self.kind})
        overrides = {k: v for k, v in (("epochs", self.epochs), ("limit", self.limit),
                                       ("seed", self.seed),
                                       ("mixed_precision", self.mixed_precision or None))
                     if v is not None}
        if overrides:
            train_cfg = TrainConfig.model_validate({**train_cfg.model_dump(), **overrides})
        return model_cfg, train_cfg
