"""The generate stage's parameter model, `GenerateStageParams`: what its flow takes whole (the
samplers' own parameters, :class:`GenerateParams`, nest in it as ``generation``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from zspace.tasks.generate.samplers import GenerateParams


class GenerateStageParams(BaseModel):
    """Which run to generate from; the samplers' own parameters are :class:`GenerateParams`
    (nested as ``generation``)."""

    model_config = ConfigDict(extra="forbid")

    store: str = Field(description="store root (local path or fsspec URL)")
    run: str = Field(description="run name under the store")
    compare: list[str] | None = Field(
        None, description="also compare test-split reconstructions with these runs (same dataset)")
    generation: GenerateParams = Field(default_factory=GenerateParams,
                                       description="the samplers and how they are scored")
