"""Architecture and training parameters, and the named presets that hold them.

Cross-field checks sit on the later field (kernels after filters, input_size after strides) so
that a pydantic error names the field a user has to change.
"""

from __future__ import annotations

import importlib.resources
import math
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

ACTIVATIONS = ("leaky_relu", "relu", "elu", "gelu", "silu", "swish", "tanh")

# The named presets ship as package data (zspace.presets = deployments/presets), so an
# installed zspace finds them as well as a source checkout does.
PRESETS_DIR = Path(str(importlib.resources.files("zspace.presets")))


def _per_layer(value: Any, info: ValidationInfo, what: str) -> Any:
    """An int (or nothing) means the same value for every encoder layer."""
    filters = info.data.get("filters")
    if filters is None:  # filters itself was invalid; its own error says so
        return value
    if value is None:
        value = 3 if what == "kernels" else 2
    if isinstance(value, int):
        return [value] * len(filters)
    if isinstance(value, list | tuple) and len(value) != len(filters):
        raise ValueError(
            f"{what} has {len(value)} entries but filters has {len(filters)}: "
            f"give one {what[:-1]} per encoder layer"
        )
    return value


class ModelConfig(BaseModel):
    """One AE or VAE architecture: 4 strided convs, Dense to z, mirrored decoder."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    kind: Literal["ae", "vae"] = "ae"
    filters: list[int] = Field(default=[64, 64, 128, 128], min_length=1)
    kernels: list[int] = Field(default=None, validate_default=True)
    strides: list[int] = Field(default=None, validate_default=True)
    decoder_filters: list[int] = Field(default=None, validate_default=True)
    input_size: int = 96
    channels: int = Field(default=3, gt=0)
    z_dim: int = 256
    activation: str = "leaky_relu"
    batch_norm: bool = False
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0)
    upsampling: Literal["transpose", "upsample"] = "transpose"
    extra_dense: int | None = Field(default=None, gt=0)
    reconstruction_loss: Literal["bce", "mse"] = "bce"
    # "pixels": the study's units (Keras binary_crossentropy, a mean over the channel axis,
    # summed over the HxW pixels); "values": summed over all HxWxC values (C times larger, so
    # the same kl_factor weighs KL C times less). The default stays "values" so that runs made
    # before this option keep their meaning; the study presets say "pixels".
    recon_sum: Literal["pixels", "values"] = "values"
    kl_factor: float = Field(default=5.0, ge=0.0, validation_alias=AliasChoices("kl_factor", "fact"))

    @field_validator("kernels", mode="before")
    @classmethod
    def _kernels_per_layer(cls, v: Any, info: ValidationInfo) -> Any:
        return _per_layer(v, info, "kernels")

    @field_validator("strides", mode="before")
    @classmethod
    def _strides_per_layer(cls, v: Any, info: ValidationInfo) -> Any:
        return _per_layer(v, info, "strides")

    @field_validator("filters", "kernels", "strides")
    @classmethod
    def _positive(cls, v: list[int], info: ValidationInfo) -> list[int]:
        if any(k <= 0 for k in v):
            raise ValueError(f"{info.field_name} must all be positive, got {v}")
        return v

    @field_validator("decoder_filters", mode="before")
    @classmethod
    def _decoder_mirror(cls, v: Any, info: ValidationInfo) -> Any:
        filters = info.data.get("filters")
        if v is None:
            return list(reversed(filters)) if filters is not None else v
        if filters is not None and len(v) != len(filters):
            raise ValueError(
                f"decoder_filters has {len(v)} entries but filters has {len(filters)}: "
                "the decoder mirrors the encoder layer for layer"
            )
        return v

    @field_validator("input_size")
    @classmethod
    def _divisible(cls, v: int, info: ValidationInfo) -> int:
        if v <= 0:
            raise ValueError(f"input_size must be positive, got {v}")
        strides = info.data.get("strides")
        if strides:
            total = math.prod(strides)
            if v % total:
                raise ValueError(
                    f"input_size {v} is not divisible by the product of the strides {strides} "
                    f"(= {total}): the decoder could not mirror the encoder exactly"
                )
        return v

    @field_validator("z_dim")
    @classmethod
    def _z_dim_positive(cls, v: int) -> int:
        if v <= 0:
            raise ValueError(f"z_dim must be a positive number of latent components, got {v}")
        return v

    @field_validator("activation")
    @classmethod
    def _known_activation(cls, v: str) -> str:
        if v not in ACTIVATIONS:
            raise ValueError(f"activation {v!r} is not one of {', '.join(ACTIVATIONS)}")
        return v

    @property
    def bottleneck_size(self) -> int:
        """Side of the smallest feature map, where Flatten/Dense meet."""
        return self.input_size // math.prod(self.strides)


class TrainConfig(BaseModel):
    """How a model is fitted; the `train:` section of a preset."""

    model_config = ConfigDict(extra="forbid")

    epochs: int = Field(default=24, gt=0)
    batch_size: int = Field(default=64, gt=0)
    learning_rate: float = Field(default=5e-4, gt=0)
    limit: int | None = Field(default=None, gt=0, description="max training images; None = all")
    val_limit: int | None = Field(default=None, gt=0, description="max validation images")
    seed: int = 0
    shuffle_buffer: int = Field(default=4096, gt=0, description="images mixed at a time")
    prefetch_chunks: int = Field(default=8, gt=0, description="zarr chunks read ahead")
    read_threads: int = Field(default=2, gt=0)
    keep_checkpoints: int | None = Field(
        default=3, gt=0, description="newest per-epoch checkpoints kept; None = all"
    )
    # True or "float16": mixed_float16 (loss-scaled); "bfloat16": mixed_bfloat16 (no scaling)
    mixed_precision: bool | Literal["float16", "bfloat16"] = False

    @property
    def precision_policy(self) -> str | None:
        """The Keras dtype policy of the compute, None for plain float32."""
        if self.mixed_precision is False:
            return None
        return "mixed_bfloat16" if self.mixed_precision == "bfloat16" else "mixed_float16"


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))


def preset_path(name_or_path: str | Path) -> Path:
    """A preset name (deployments/presets/<name>.yaml) or a path to a YAML file."""
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.exists():
        if not p.is_file():
            raise FileNotFoundError(f"preset file {p} does not exist")
        return p
    found = PRESETS_DIR / f"{name_or_path}.yaml"
    if not found.is_file():
        raise ValueError(
            f"preset {str(name_or_path)!r} not found in {PRESETS_DIR} "
            f"(known: {', '.join(preset_names()) or 'none'}); or give a path to a YAML file"
        )
    return found


def preset_name(name_or_path: str | Path) -> str:
    """The short name recorded in run folders: the file stem for a path."""
    return Path(name_or_path).stem if Path(name_or_path).suffix in (".yaml", ".yml") else str(name_or_path)


def read_preset(name_or_path: str | Path) -> tuple[Path, dict[str, Any]]:
    """(path, the preset's top-level mapping); safe YAML only (no Python tags), and a file
    that is not valid YAML or not a mapping is one message naming the file and line."""
    path = preset_path(name_or_path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ValueError(f"preset {path} is not valid YAML{where}: "
                         f"{getattr(e, 'problem', None) or e}") from None
    except UnicodeDecodeError:
        raise ValueError(f"preset {path} is not a UTF-8 text file") from None
    if not isinstance(data, dict):
        raise ValueError(f"preset {path} must be a mapping with model:, train: and pipeline: "
                         f"sections, not a {type(data).__name__}")
    return path, data


def load_preset(name_or_path: str | Path) -> tuple[ModelConfig, TrainConfig]:
    """The `model:` and `train:` sections of a preset; other top-level sections are ignored
    here (they belong to other stages)."""
    path, data = read_preset(name_or_path)
    if "model" not in data:
        raise ValueError(f"preset {path} has no 'model:' section")
    problems = []
    model = train = None
    for section, cls in (("model", ModelConfig), ("train", TrainConfig)):
        try:
            value = cls.model_validate(data.get(section) or {})
        except ValidationError as e:
            problems += [
                f"{section}.{'.'.join(str(p) for p in err['loc'])}: "
                f"{err['msg'].removeprefix('Value error, ')}"
                for err in e.errors()
            ]
            continue
        model, train = (value, train) if section == "model" else (model, value)
    if problems:
        raise ValueError(f"preset {path}: " + "; ".join(problems))
    assert model is not None and train is not None
    return model, train
