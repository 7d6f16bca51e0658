"""The stage graph: every stage's declaration, in pipeline order.

Adding a stage means one declaration (a `STAGE = Stage(...)` in its flow module, see
:mod:`zspace.cli.stage`) and its name here; the pipeline, the CLI, `zspace serve` and the
cache keys pick it up.
"""

from __future__ import annotations

import functools
import importlib

from zspace.cli.stage import Stage

# Pipeline order: each stage's upstream stages come before it.
STAGE_NAMES = ("ingest", "train", "encode", "analyze", "project", "generate", "report")


@functools.cache
def stages() -> tuple[Stage, ...]:
    out = tuple(importlib.import_module(f"zspace.flows.{n}").STAGE for n in STAGE_NAMES)
    for i, s in enumerate(out):
        missing = set(s.upstream) - set(STAGE_NAMES[:i])
        if missing:
            raise RuntimeError(f"stage {s.name}: upstream {sorted(missing)} must come before it")
    return out


def stage(name: str) -> Stage:
    for s in stages():
        if s.name == name:
            return s
    raise ValueError(f"unknown stage {name!r}; stages are {', '.join(STAGE_NAMES)}")
