"""What one encode asks for: the encode stage's one parameter model, which its flow takes whole."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class EncodeParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    store: str = Field(description="store root (local path or fsspec URL)")
    run: str = Field(description="a trained run under the store")
    batch_size: int = Field(256, ge=1, description="images per encoder call")
