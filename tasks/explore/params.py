"""The explorer's parameter model: what `zspace explore` takes, whole."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ExploreParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    store: str = Field(description="store root (local path or fsspec URL)")
    run: str = Field(description="an encoded and analyzed run under the store")
    host: str = Field("127.0.0.1", description="address to serve on (local only by default)")
    port: int = Field(8765, ge=1, le=65535, description="port to serve on")
