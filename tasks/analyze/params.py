"""What determines the latent statistics: their parameters, version, and the rules the summary
states in words (so a reader of summary.json knows how each number was decided)."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from zspace import study

STATS_VERSION = 2  # 2: kernel radius peak, scale-free shape, dominant cut, bootstrap intervals
PRODUCER = "zspace.stats"
DEFAULT_B = tuple(float(b) for b in np.arange(0.5, 8.0001, 0.5))
RADIUS_BIN_COARSE, RADIUS_BIN_FINE = study.RADIUS_BIN_WIDTHS  # 0.5 and 0.05, from 0
W1_RULE = (
    "best_b minimises the Wasserstein-1 distance between the radius distribution of the "
    "artificial vectors and the data's, both binned at 0.05 from 0 (resolution 0.05)"
)
HALF_WIDTH_RULE = (
    "full width at half maximum of the component's histogram: from the highest bin walk outwards "
    "to the first bin below half the maximum on each side, interpolate linearly between bin "
    "centres where the count crosses half the maximum (one occupied bin gives one bin width)"
)
INSIDE_RULE = (
    "inside the data cloud: Mahalanobis distance under the fitted Gaussian N(mean, covariance) "
    "below the data's own 99th percentile of that distance (exact, linear interpolation); "
    "null directions of the covariance are left out (pseudo-inverse)"
)
MATCHING_RULE = "matching_b: mean radius within one data radius std of the data's"
SLICE_RULE = "|z_k| < threshold for every component k except the two axes"


class StatsParams(BaseModel):
    """Parameters that determine the statistics (the completion record compares them)."""

    model_config = ConfigDict(extra="forbid")

    corr_threshold: float = Field(study.CORR_THRESHOLD, gt=0, lt=1,
                                  description="|r| above which pairs are listed")
    slice_axes: tuple[int, int] | None = Field(
        None, description="two components left free in the slice; default: the most correlated pair"
    )
    slice_threshold: float = Field(study.SLICE_THRESHOLD, gt=0)
    seed: int = 0
    artificial_b: tuple[float, ...] = DEFAULT_B
    n_artificial: int = Field(10_000, ge=10)
    hist_bin_width: float = Field(study.HIST_BIN_WIDTH, gt=0)
    max_hist_bins: int = Field(4096, ge=16, description="the bin width is widened beyond this")
    mahalanobis_quantile: float = Field(0.99, gt=0, lt=1)
    bootstrap_replicates: int = Field(200, ge=20, description="replicates behind each interval")
    block_rows: int | None = Field(None, ge=1, description="rows per block; default ~8 MB float64, whole chunks")

    @field_validator("slice_axes")
    @classmethod
    def _two_axes(cls, v: tuple[int, int] | None) -> tuple[int, int] | None:
        if v is not None and (v[0] == v[1] or min(v) < 0):
            raise ValueError(f"slice_axes must be two different component indices, not {v}")
        return v

    @field_validator("artificial_b")
    @classmethod
    def _positive_b(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if not v or min(v) <= 0:
            raise ValueError("artificial_b must be a non-empty list of positive half-widths")
        return tuple(sorted(float(b) for b in v))


class AnalyzeParams(BaseModel):
    """Where the latents are and where the statistics go; the statistics' own parameters are
    :class:`StatsParams` (nested as ``analysis``)."""

    model_config = ConfigDict(extra="forbid")

    store: str | None = Field(None, description="store root (local path or fsspec URL)")
    run: str | None = Field(None, description="run name under the store")
    latents: str | None = Field(None, description="any (N, z_dim) zarr array URL")
    out: str | None = Field(None, description="output folder for --latents")
    dask_address: str | None = Field(None, description="an existing dask scheduler, tcp://host:port")
    analysis: StatsParams = Field(default_factory=StatsParams,
                                  description="what the statistics compute")
