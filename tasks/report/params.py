"""The report stage's parameter model: what its flow takes whole."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ReportParams(BaseModel):
    """Which run to report on, what it is compared with, and how the figures are drawn."""

    model_config = ConfigDict(extra="forbid")

    store: str = Field(description="store root (local path or fsspec URL)")
    run: str = Field(description="run name under the store")
    compare: str | None = Field(
        None, description="a second run (AE vs VAE on the same dataset) for reconstruction")
    seeds: dict[str, str] = Field(
        default_factory=dict, description="the other training seeds' runs of this run's kind, "
        "each with the run it is compared with (RUN=OTHER, repeatable; OTHER may be empty): the "
        "Findings then give each claim per seed, and a verdict only where the seeds agree")
    redraw: bool = Field(False, description="redraw the statistics figures")
    sample: int = Field(5000, ge=1, description="data points in the pair scatter")
    seed: int = Field(0, description="seed of the point sample")
