"""What one projection run asks for: the project stage's one parameter model, which its flow
takes whole; the t-SNE settings are nested as ``projection``."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from zspace.tasks.project.stage import TsneParams


class ProjectParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    store: str = Field(description="store root (local path or fsspec URL)")
    run: str = Field(description="run name under the store")
    projection: TsneParams = Field(default_factory=TsneParams,
                                   description="the projections and their t-SNE settings")
