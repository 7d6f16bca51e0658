"""The generate stage's parameter model, `GenerateParams`: what its flow takes whole. The
samplers' settings, :class:`SamplerParams`, nest in it as ``generation``."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from zspace import study


class SamplerParams(BaseModel):
    """How many images each sampler draws, and how they are sharpened and scored."""

    model_config = ConfigDict(extra="forbid")

    n_images: int = Field(28, ge=1, le=4096, description="images per sampler")
    r_limits: tuple[float, ...] = study.R_LIMITS
    sharpen_factor: float = Field(study.SHARPEN_FACTOR, ge=0)
    compare_factors: tuple[float, ...] = study.SHARPEN_COMPARED
    n_reference: int = Field(2000, ge=1, description="training images for the pixel-space distance")
    grid_cols: int = Field(7, ge=1)
    seed: int = 0
    batch_size: int = Field(256, ge=1)

    @field_validator("r_limits")
    @classmethod
    def _positive(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if not v or min(v) <= 0:
            raise ValueError("r_limits must be a non-empty list of positive numbers")
        return tuple(sorted(float(r) for r in v))


class GenerateParams(BaseModel):
    """Which run to generate from; the samplers' settings are :class:`SamplerParams`
    (nested as ``generation``)."""

    model_config = ConfigDict(extra="forbid")

    store: str = Field(description="store root (local path or fsspec URL)")
    run: str = Field(description="run name under the store")
    compare: list[str] | None = Field(
        None, description="also compare test-split reconstructions with these runs (same dataset)")
    generation: SamplerParams = Field(default_factory=SamplerParams,
                                      description="the samplers and how they are scored")
