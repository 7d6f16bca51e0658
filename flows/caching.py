"""Stage caching for the pipeline: keys from inputs, upstream fingerprints and the stage's code.

A stage's cache key hashes its parameters (store URL, dataset/run names, its config, and the
upstream results, which carry the content fingerprints recorded by the store) together with
the source of every module that does the stage's work. Results are small JSON documents kept
under the store (``<store>/.prefect-results``), so a cache follows the data, not the home
directory.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
from pathlib import Path
from typing import Any

from prefect.context import TaskRunContext
from prefect.filesystems import RemoteFileSystem

from zspace.storage import Store

# The modules whose code decides each stage's output.
STAGE_CODE: dict[str, tuple[str, ...]] = {
    "ingest": ("zspace.tasks.ingest.stage", "zspace.tasks.ingest.decode", "zspace.tasks.ingest.synthetic",
               "zspace.storage.store", "zspace.storage.index"),
    "train": ("zspace.tasks.train.stage", "zspace.models.config", "zspace.models.networks",
              "zspace.models.autoencoder"),
    "encode": ("zspace.tasks.encode.stage",),
    "analyze": ("zspace.tasks.analyze.stats", "zspace.tasks.analyze.stats_core"),
    "project": ("zspace.tasks.project.stage",),
    "generate": ("zspace.tasks.generate.stage",),
    "report": ("zspace.tasks.report.stage", "zspace.tasks.report.figures", "zspace.tasks.generate.reconstruct"),
}


def _module_source(name: str) -> bytes:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        return b"<absent>"
    return Path(spec.origin).read_bytes()


def code_fingerprint(stage: str) -> str:
    h = hashlib.sha256()
    for name in STAGE_CODE.get(stage, ()):
        h.update(name.encode() + b"\0" + _module_source(name) + b"\0")
    return h.hexdigest()


def stage_cache_key(context: TaskRunContext, parameters: dict[str, Any]) -> str:
    """Cache key of a pipeline stage task: name, JSON parameters, stage code, task source."""
    stage = parameters.get("stage") or context.task.name
    task_src = inspect.getsource(context.task.fn)
    blob = json.dumps(parameters, sort_keys=True, default=str)
    h = hashlib.sha256()
    for part in (stage, blob, code_fingerprint(stage), task_src):
        h.update(part.encode() + b"\0")
    return f"zspace-{stage}-{h.hexdigest()[:32]}"


def result_storage_for(store: Store) -> Any:
    """Prefect result storage inside the store: a local folder, or for a remote store a
    RemoteFileSystem block (saved under a name derived from the URL, as Prefect requires)."""
    if store.is_local:
        path = store.local_path(".prefect-results")
        path.mkdir(parents=True, exist_ok=True)
        return path
    url = store.join(".prefect-results")
    block = RemoteFileSystem(basepath=url)
    name = "zspace-results-" + hashlib.sha256(url.encode()).hexdigest()[:12]
    block.save(name, overwrite=True)
    return f"remote-file-system/{name}"
