"""What one encode asks for: the encode stage's one parameter model, which its flow takes whole."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class EncodeParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    store: str = Field(description="store root (local path or fsspec URL)")
    run: str = Field(description="a trained run under the store")
    batch_size: int = Field(256, ge=1, description="images per encoder call")
    chunk_images: int | None = Field(None, ge=1, description="images per latent chunk, the "
                                     "unit of resuming and of cluster work (default: ~2 MB "
                                     "of latents, whole image chunks)")
    dask_address: str | None = Field(None, description="a dask scheduler, tcp://host:port, "
                                     "whose workers encode (they must reach the store)")
