"""What one ingest asks for: the ingest stage's one parameter model, which its flow takes whole."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from zspace.tasks.ingest.sources import SYNTHETIC


class IngestParams(BaseModel):
    """Parameters of one ingest; everything that decides the images' content goes in the plan."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(description="image folder, zip of images, or 'synthetic'")
    store: str
    name: str
    size: int = Field(96, ge=8, le=1024, description="output images are size x size")
    count: int | None = Field(None, ge=1, description="synthetic: how many; folder/zip: at most")
    seed: int = 0
    partition: str | None = Field(None, description="CelebA list_eval_partition.txt")
    attributes: str | None = Field(None, description="CelebA list_attr_celeba.txt (default: "
                                   "found in or beside the image folder or zip)")
    crop: tuple[int, int, int, int] | None = Field(
        None, description="(left, top, right, bottom) in source pixels; default: centred square"
    )
    chunk_rows: int | None = Field(None, ge=1)
    max_pixels: int = Field(64_000_000, ge=1, description="larger images are refused (bombs)")
    dask_address: str | None = None
    workers: int | None = Field(None, ge=1)

    @field_validator("crop")
    @classmethod
    def _crop_box(cls, v: tuple[int, int, int, int] | None) -> tuple[int, int, int, int] | None:
        if v is not None and not (v[0] >= 0 and v[1] >= 0 and v[2] > v[0] and v[3] > v[1]):
            raise ValueError(f"crop must be (left, top, right, bottom) with right>left, bottom>top; got {v}")
        return v

    @model_validator(mode="after")
    def _source_exists(self) -> IngestParams:
        if self.source != SYNTHETIC and not Path(self.source).exists():
            raise ValueError(f"source {self.source!r} does not exist (a folder, a .zip, or 'synthetic')")
        if self.partition is not None and not Path(self.partition).is_file():
            raise ValueError(f"partition file {self.partition!r} does not exist")
        return self
