"""What a stage is, declared once: name, parameter model, flow, completion mark, upstream stages,
artifacts. The pipeline, the CLI, `zspace serve` and the cache keys are all derived from these
declarations (collected in :mod:`zspace.cli.registry`).

A stage's cache key holds the fingerprint of every zspace module its flow imports, followed
transitively (function-level imports included), so no code change can return a stale result.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from zspace.storage import Store

PACKAGE = "zspace"


@dataclass
class PipelineContext:
    """What one pipeline run resolved: where, which dataset, which runs, stage sections."""

    store: str
    preset: str
    dataset: str
    runs: dict[str, str]  # label (the kind; "<kind>-r<i>" for replicate i > 0) -> run name
    settings: dict[str, Any]  # the pipeline's resolved parameters (source, size, epochs, ...)
    results: dict[str, dict[str, Any]] = field(default_factory=dict)  # stage -> target -> result
    replicas: dict[str, tuple[str, int]] = field(default_factory=dict)  # run -> (kind, replicate)

    def kind_of(self, run: str) -> str:
        if run in self.replicas:
            return self.replicas[run][0]
        return next(k for k, r in self.runs.items() if r == run)

    def replicate_of(self, run: str) -> int:
        return self.replicas.get(run, ("", 0))[1]

    def others(self, run: str) -> list[str]:
        """The runs of the other kinds trained with the same seed (the AE-vs-VAE comparison)."""
        return [r for r in self.runs.values()
                if r != run and self.replicate_of(r) == self.replicate_of(run)]

    def seeds_of(self, run: str) -> list[str]:
        """Every replicate run of this run's kind, replicate 0 first (just [run] without any)."""
        kind = self.kind_of(run)
        same = [r for r in self.runs.values() if self.kind_of(r) == kind]
        return sorted(same, key=self.replicate_of)


@dataclass(frozen=True)
class Stage:
    """One stage of the study.

    params: the stage's one parameter model; its flow takes it whole, the CLI options and their
        defaults come from its fields (and from those of its nested models, see `nested`).
    flow: the stage's Prefect flow, called with one instance of ``params``.
    complete: whether the store holds this stage's finished output for these parameters.
    per: what one execution is for in the pipeline: a dataset or a run.
    upstream: stages whose results this stage's cache key depends on (same dataset / run).
    artifacts: the Prefect artifact keys it publishes ({dataset} / {run} filled in).
    closing: the lines the CLI prints from the flow's result.
    check: cheap validation of the parameters before any flow run starts (clear errors).
    from_pipeline: the parameters (as JSON values) the pipeline gives this stage for one
        dataset or run; unset fields keep the model's defaults.
    extra_key: more cache-key inputs than the upstream results (e.g. the resolved config).
    runtime: fields that do not decide the output (a scheduler address): not in the key.
    concurrency: a Prefect global concurrency limit held while the stage runs.
    """

    name: str
    help: str
    params: type[BaseModel]
    flow: Any
    complete: Callable[[Store, Any], bool]
    per: Literal["dataset", "run"] = "run"
    upstream: tuple[str, ...] = ()
    artifacts: tuple[str, ...] = ()
    closing: Callable[[dict[str, Any]], str] | None = None
    check: Callable[[Any], None] | None = None
    from_pipeline: Callable[[PipelineContext, str], dict[str, Any]] | None = None
    extra_key: Callable[[PipelineContext, str], dict[str, Any]] | None = None
    runtime: tuple[str, ...] = ()
    concurrency: str | None = None

    @property
    def nested(self) -> dict[str, type[BaseModel]]:
        """Fields of the parameter model that are parameter models themselves."""
        return {name: f.annotation for name, f in self.params.model_fields.items()
                if isinstance(f.annotation, type) and issubclass(f.annotation, BaseModel)}

    def build(self, values: dict[str, Any]) -> Any:
        """Flat CLI values -> the stage's parameter model (nested models from their fields)."""
        top = {k: v for k, v in values.items()
               if k in self.params.model_fields and k not in self.nested}
        for arg, model in self.nested.items():
            top[arg] = {k: v for k, v in values.items() if k in model.model_fields and v is not None}
        return self.params(**top)

    @property
    def entry_module(self) -> str:
        return self.flow.fn.__module__

    def code_fingerprint(self) -> str:
        return code_fingerprint(self.entry_module)


# -- code fingerprints ---------------------------------------------------------------------
@functools.cache
def _package_dir(top: str) -> Path | None:
    """Folder of a top-level subpackage (zspace.tasks ...), found without executing it."""
    spec = importlib.util.find_spec(top)
    locations = spec.submodule_search_locations if spec else None
    return Path(next(iter(locations))) if locations else None


def _module_file(name: str) -> Path | None:
    """Source file of a zspace module, without importing it (models/ would import Keras)."""
    parts = name.split(".")
    if parts[0] != PACKAGE:
        return None
    if len(parts) == 1:
        spec = importlib.util.find_spec(PACKAGE)
        return Path(spec.origin) if spec and spec.origin else None
    base = _package_dir(".".join(parts[:2]))
    if base is None:
        return None
    path = base.joinpath(*parts[2:])
    for candidate in (path / "__init__.py", path.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def _imported(name: str, path: Path) -> set[str]:
    """zspace modules a module imports anywhere in its body (lazy imports included)."""
    found: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)  # submodules imported by name
    return {m for m in found if m.split(".")[0] == PACKAGE and _module_file(m) is not None}


def _with_parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


@functools.cache
def code_modules(entry: str) -> tuple[str, ...]:
    """Every zspace module `entry` imports, transitively, with the packages that hold them."""
    seen: set[str] = set()
    todo = [entry]
    while todo:
        name = todo.pop()
        for mod in _with_parents(name):
            if mod in seen or (path := _module_file(mod)) is None:
                continue
            seen.add(mod)
            todo.extend(_imported(mod, path) - seen)
    return tuple(sorted(seen))


def code_fingerprint(entry: str) -> str:
    """sha256 over the source of every module `entry` depends on (read now, not cached)."""
    h = hashlib.sha256()
    for mod in code_modules(entry):
        path = _module_file(mod)
        h.update(mod.encode() + b"\0" + (path.read_bytes() if path else b"") + b"\0")
    return h.hexdigest()


def stage_cache_key(context: Any, parameters: dict[str, Any]) -> str:
    """Cache key of a pipeline stage task: stage, JSON parameters and upstream results, the
    stage's code (all it imports) and the task's own source."""
    from zspace.cli.registry import stage as lookup

    name = parameters["stage"]
    blob = json.dumps({k: v for k, v in parameters.items() if k != "runtime"}, sort_keys=True,
                      default=str)
    h = hashlib.sha256()
    for part in (name, blob, lookup(name).code_fingerprint(), inspect.getsource(context.task.fn)):
        h.update(part.encode() + b"\0")
    return f"zspace-{name}-{h.hexdigest()[:32]}"
