"""Where everything lives in a store: the one module that names store paths.

Every path is relative to the store root and built here; stages ask a layout for a path by
what it is (``store.run(r).history``), never by spelling it::

    datasets/<name>/images            uint8 (N, H, W, 3), chunked along N
    datasets/<name>/staging-images    ingest's working array before it is complete
    datasets/<name>/index.csv         one row per source file
    datasets/<name>/.lock             one writer at a time
    runs/<run>/config.yaml, train.json, history.json, loss_curve.png, model.keras
    runs/<run>/checkpoints/epoch-NNNN.keras
    runs/<run>/latents/<z_mean|z_log_var>
    runs/<run>/stats/                 arrays, summary.json, complete.json, meaning.json
    runs/<run>/projections/<config>/  t-SNE coordinates, rows, record.json
    runs/<run>/samples/<sampler>.npz, samples/scores.json
    runs/<run>/figures/<file>.png, figures/<stage>.json (a stage's figure manifest)
    runs/<run>/reconstruction.json, findings.json, report.html, .lock
    .prefect-results/                 the pipeline's cached stage results (small JSON)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
# A file name inside a layout folder (figure, sampler, projection config): one plain segment.
_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class StoreError(RuntimeError):
    """A store problem a user can act on: the message says which path and what is wrong."""


class LayoutError(StoreError, ValueError):
    """A name that cannot become a path segment."""


def check_name(kind: str, name: str) -> str:
    """Dataset and run names become path segments, so they must be plain."""
    if not isinstance(name, str) or not _NAME.match(name) or ".." in name:
        raise LayoutError(
            f"{kind} name {name!r} is not valid: use letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def _segment(kind: str, name: str) -> str:
    if name == ".lock":
        return name
    if not isinstance(name, str) or not _SEGMENT.match(name) or ".." in name:
        raise LayoutError(f"{kind} {name!r} is not a plain file name")
    return name


PREFECT_RESULTS = ".prefect-results"


def array_meta(rel: str) -> str:
    """The zarr metadata document whose presence means an array exists at `rel`."""
    return f"{rel.rstrip('/')}/zarr.json"


@dataclass(frozen=True)
class StatsLayout:
    """A statistics folder: runs/<run>/stats, or any folder `zspace analyze --out` names."""

    root: str

    def array(self, name: str) -> str:
        name = _segment("statistics array", name)
        return f"{self.root}/{name}" if self.root else name

    def file(self, name: str) -> str:
        return self.array(name)

    @property
    def summary(self) -> str:
        return self.file("summary.json")

    @property
    def complete(self) -> str:
        return self.file("complete.json")

    @property
    def meaning(self) -> str:
        return self.file("meaning.json")

    @property
    def lock(self) -> str:
        return self.file(".lock") if self.root else ".lock"


@dataclass(frozen=True)
class DatasetLayout:
    name: str

    def __post_init__(self) -> None:
        check_name("dataset", self.name)

    @property
    def root(self) -> str:
        return f"datasets/{self.name}"

    @property
    def images(self) -> str:
        return f"{self.root}/images"

    @property
    def staging_images(self) -> str:
        return f"{self.root}/staging-images"

    @property
    def index(self) -> str:
        return f"{self.root}/index.csv"

    @property
    def lock(self) -> str:
        return f"{self.root}/.lock"


RUNS_ROOT = "runs"


@dataclass(frozen=True)
class RunLayout:
    name: str

    def __post_init__(self) -> None:
        check_name("run", self.name)

    @property
    def root(self) -> str:
        return f"{RUNS_ROOT}/{self.name}"

    def _f(self, *parts: str) -> str:
        return "/".join((self.root, *parts))

    # training
    @property
    def config(self) -> str:
        return self._f("config.yaml")

    @property
    def train_record(self) -> str:
        return self._f("train.json")

    @property
    def history(self) -> str:
        return self._f("history.json")

    @property
    def loss_curve(self) -> str:
        return self._f("loss_curve.png")

    @property
    def model(self) -> str:
        return self._f("model.keras")

    @property
    def checkpoints(self) -> str:
        return self._f("checkpoints")

    def checkpoint(self, epoch: int) -> str:
        return self._f("checkpoints", f"epoch-{int(epoch):04d}.keras")

    # encode and analyze
    @property
    def latents_dir(self) -> str:
        return self._f("latents")

    def latents(self, name: str = "z_mean") -> str:
        return self._f("latents", _segment("latent array", name))

    @property
    def stats(self) -> StatsLayout:
        return StatsLayout(self._f("stats"))

    # project
    @property
    def projections(self) -> str:
        return self._f("projections")

    def projection(self, config: str) -> str:
        return self._f("projections", _segment("projection config", config))

    def projection_coordinates(self, config: str) -> str:
        return f"{self.projection(config)}/coordinates"

    def projection_rows(self, config: str) -> str:
        return f"{self.projection(config)}/rows"

    def projection_record(self, config: str) -> str:
        """A projection's completion record (parameters, n, fingerprints), written last."""
        return f"{self.projection(config)}/record.json"

    # generate
    @property
    def samples(self) -> str:
        return self._f("samples")

    def sample(self, sampler: str) -> str:
        return self._f("samples", f"{_segment('sampler', sampler)}.npz")

    @property
    def scores(self) -> str:
        return self._f("samples", "scores.json")

    @property
    def reconstruction(self) -> str:
        return self._f("reconstruction.json")

    # figures and report
    @property
    def figures(self) -> str:
        return self._f("figures")

    def figure(self, file: str) -> str:
        return self._f("figures", _segment("figure file", file))

    def manifest(self, stage: str) -> str:
        """The figure manifest a stage writes: the figures the report embeds, in order."""
        return self._f("figures", f"{_segment('stage', stage)}.json")

    @property
    def findings(self) -> str:
        return self._f("findings.json")

    @property
    def report(self) -> str:
        return self._f("report.html")

    @property
    def lock(self) -> str:
        return self._f(".lock")
