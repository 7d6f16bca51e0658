"""Ingest: images from a folder, a zip read in place, or synthetic faces -> datasets/<name>/images.

Sources are decoded in parallel on dask and written in source order, chunk by chunk, through
ChunkedWriter. Each chunk's mark carries the index records of the sources it consumed, so an
ingest killed at any point resumes at the first unmarked chunk and ends bit-identical to an
uninterrupted one. Unreadable files are skipped and listed in the index with the reason.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zspace.storage import ChunkedWriter, Store, StoreError, iter_row_blocks, write_index
from zspace.storage.store import chunk_rows_for
from zspace.tasks.common.parallel import ordered_map
from zspace.tasks.common.progress import Progress
from zspace.tasks.ingest.attributes import (
    Attributes,
    add_attribute_columns,
    find_attributes,
    read_attributes,
)
from zspace.tasks.ingest.decode import DecodeSpec, decode_to_chunk
from zspace.tasks.ingest.params import IngestParams
from zspace.tasks.ingest.sources import (
    SPLIT_NAMES,
    SYNTHETIC,
    assign_splits,
    find_partition,
    list_sources,
    read_partition,
)


# -- the stage ------------------------------------------------------------------------------
def ingest_plan(cfg: IngestParams, kind: str, keys: list[str], sizes: list[int],
                splits: list[str]) -> dict[str, Any]:
    h = hashlib.sha256()
    for k, s, sp in zip(keys, sizes, splits, strict=True):
        h.update(f"{k}\0{s}\0{sp}\n".encode())
    plan: dict[str, Any] = {
        "source": cfg.source if kind == "synthetic" else str(Path(cfg.source).resolve()),
        "kind": kind,
        "n_sources": len(keys),
        "sources_sha256": h.hexdigest(),
        "size": cfg.size,
        "crop": list(cfg.crop) if cfg.crop else "centre-square",
        "max_pixels": cfg.max_pixels,
    }
    if kind == "synthetic":
        plan["seed"] = cfg.seed
    return plan


def plan_ingest(cfg: IngestParams) -> tuple[str, list[str], list[str], Path | None, dict[str, Any]]:
    """What an ingest would read and produce, without decoding: (kind, keys, splits, partition
    file, plan). The plan changes whenever the source listing, sizes, split or parameters do."""
    kind, keys, sizes = list_sources(cfg)
    partition_path = find_partition(cfg)
    partition = read_partition(partition_path) if partition_path else None
    splits = assign_splits(keys, partition, cfg.seed)
    return kind, keys, splits, partition_path, ingest_plan(cfg, kind, keys, sizes, splits)


@dataclass
class _Planned:
    """One ingest's listing, plan and array layout, decided before anything is decoded."""

    cfg: IngestParams
    store: Store
    kind: str
    keys: list[str]
    splits: list[str]
    partition_path: Path | None
    plan: dict[str, Any]
    chunk_rows: int

    @property
    def row_shape(self) -> tuple[int, int, int]:
        return (self.cfg.size, self.cfg.size, 3)

    @property
    def final_rel(self) -> str:
        return self.store.dataset(self.cfg.name).images

    @property
    def staging_rel(self) -> str:
        return self.store.dataset(self.cfg.name).staging_images

    def writer(self, rel: str, n_rows: int) -> ChunkedWriter:
        return ChunkedWriter(self.store, rel, (n_rows, *self.row_shape), self.chunk_rows,
                             np.uint8, self.plan)


def ingest(cfg: IngestParams) -> dict[str, Any]:
    """Run (or resume, or skip) one ingest; returns a small summary.

    Phase 1 decodes every source in parallel into a staging array aligned with the sources
    (workers write their own chunks). Phase 2 is a rename when nothing failed, otherwise a
    sequential copy that drops the failed rows. Both phases resume from their chunk marks.
    """
    store = Store(cfg.store)
    kind, keys, splits, partition_path, plan = plan_ingest(cfg)
    chunk_rows = cfg.chunk_rows or chunk_rows_for((cfg.size, cfg.size, 3), np.uint8)
    p = _Planned(cfg, store, kind, keys, splits, partition_path, plan, chunk_rows)
    has_final = store.has_array(p.final_rel)
    if has_final:
        final = p.writer(p.final_rel, 1)
        if final.complete and store.exists(store.dataset(cfg.name).index):
            store.remove(p.staging_rel)  # left behind if killed right after finishing
            return _summary(store, cfg.name, final.array.attrs.asdict(), cached=True)
    # Phase 1 resumes from the staging array, or, when it was already renamed (nothing had
    # failed), from the final array, which carries the same chunk marks.
    phase1_rel = p.staging_rel if store.has_array(p.staging_rel) or not has_final else p.final_rel
    attributes = attribute_file(cfg)  # parsed before decoding: a bad file costs nothing
    records = _decode_all(p, phase1_rel)
    ok = _number_rows(cfg, records)
    final = _phase2(p, phase1_rel, ok)
    if attributes is not None:
        if attributes.shortfall:
            print(f"ingest {cfg.name}: warning: {attributes.shortfall}")
        missing = add_attribute_columns(records, attributes)
        if missing:
            print(f"ingest {cfg.name}: {len(missing)} images have no row in the attribute "
                  f"file (first: {', '.join(missing[:3])})")
    write_index(store, cfg.name, [dict(r) for r in records])
    final.finalize(int(ok.sum()), _attrs(p, records, ok))
    store.remove(p.staging_rel)
    return _summary(store, cfg.name, final.array.attrs.asdict(), cached=False)


def attribute_file(cfg: IngestParams) -> Attributes | None:
    """CelebA's 40 attributes, when the source has list_attr_celeba.txt (or --attributes)."""
    if cfg.source == SYNTHETIC:
        return None
    path = find_attributes(cfg.source, cfg.attributes)
    return read_attributes(path) if path is not None else None


def _number_rows(cfg: IngestParams, records: list[dict[str, Any]]) -> np.ndarray:
    """Each record's row in the final array (-1 for a failed source); which sources were read.
    Nothing readable at all is an error naming the first reasons."""
    ok = np.array([r["status"] == "ok" for r in records])
    if not ok.any():
        reasons = "; ".join(f"{r['file']}: {r['status']}" for r in records[:5])
        raise StoreError(f"no image could be read from {cfg.source} "
                         f"({int((~ok).sum())} failed: {reasons})")
    rows = np.cumsum(ok) - 1
    for r, good, row in zip(records, ok, rows, strict=True):
        r["row"] = int(row) if good else -1
    return ok


def _phase2(p: _Planned, phase1_rel: str, ok: np.ndarray) -> ChunkedWriter:
    """The final array: the staging array renamed when every source was read, otherwise the
    good rows copied over in order."""
    n_failed = int((~ok).sum())
    if n_failed == 0 and phase1_rel == p.staging_rel:
        p.store.move(p.staging_rel, p.final_rel)
    final = p.writer(p.final_rel, int(ok.sum()))
    if n_failed:
        _compact(p.store.open_array(p.staging_rel), final, np.flatnonzero(ok))
    return final


def _attrs(p: _Planned, records: list[dict[str, Any]], ok: np.ndarray) -> dict[str, Any]:
    """What the images array records about its making (beside its plan and fingerprint)."""
    cfg = p.cfg
    attrs = {
        "source": p.plan["source"],
        "kind": p.kind,
        "size": cfg.size,
        "crop": p.plan["crop"],
        "n_images": int(ok.sum()),
        "n_failed": int((~ok).sum()),
        "n_sources": len(p.keys),
        "splits": {s: int(sum(1 for r in records if r["split"] == s and r["row"] >= 0))
                   for s in SPLIT_NAMES},
        "partition": (str(p.partition_path) if p.partition_path
                      else f"seeded 85/5/10, seed {cfg.seed}"),
    }
    if p.kind == "synthetic":
        attrs["seed"] = cfg.seed
    return attrs


def _decode_all(p: _Planned, staging_rel: str) -> list[dict[str, Any]]:
    """Phase 1: every source decoded once into the staging array; returns the index records."""
    cfg, keys, rows = p.cfg, p.keys, p.chunk_rows
    staging = ChunkedWriter(p.store, staging_rel, (len(keys), *p.row_shape), rows, np.uint8,
                            p.plan, dimension_names=("source", "y", "x", "channel"))
    marks = staging.done_chunks()
    todo = [c for c in range(staging.n_chunks) if c not in marks]
    if todo:
        root = str(Path(cfg.source).resolve()) if p.kind != "synthetic" else ""
        spec = DecodeSpec(p.kind, root, cfg.size, cfg.crop, cfg.max_pixels, cfg.seed)
        jobs = ((staging.url, c, rows, spec, keys[c * rows : (c + 1) * rows]) for c in todo)
        preload = ["zspace.tasks.ingest.decode", "zspace.storage.store"]
        if p.kind == "synthetic":
            preload.append("zspace.tasks.ingest.synthetic")
        done = len(keys) - sum(len(keys[c * rows : (c + 1) * rows]) for c in todo)
        with Progress(len(keys), f"ingest {cfg.name}", key=f"ingest-{cfg.name}", unit="img",
                      initial=done) as bar:
            for c, status, factors, sha in ordered_map(
                decode_to_chunk, jobs, dask_address=cfg.dask_address, workers=cfg.workers,
                preload=preload,
            ):
                recs = _chunk_records(p, c, status, factors)
                staging.record_chunk(c, len(status), sha, {"records": recs})
                marks[c] = {"meta": {"records": recs}}
                bar.update(len(status))
    # Never marked complete itself: only the final array is, after the index is written.
    return [rec for c in range(staging.n_chunks) for rec in marks[c]["meta"]["records"]]


def _chunk_records(p: _Planned, c: int, status: list[str],
                   factors: list[dict[str, float]] | None) -> list[dict[str, Any]]:
    """The index records of one decoded chunk: file, split, status (and the face factors)."""
    recs = []
    for b, st in enumerate(status):
        pos = c * p.chunk_rows + b
        rec: dict[str, Any] = {"file": p.keys[pos], "split": p.splits[pos], "status": st}
        if factors is not None:
            rec.update(factors[b])
        recs.append(rec)
    return recs


def _compact(staging: Any, final: ChunkedWriter, ok_rows: np.ndarray) -> None:
    """Phase 2 with failures: copy the good rows in order, chunk by chunk, resumably."""
    done = final.done_chunks()
    for k in range(final.n_chunks):
        if k in done:
            continue
        src = ok_rows[k * final.chunk_rows : (k + 1) * final.chunk_rows]
        final.write_chunk(k, np.concatenate([b for _, _, b in iter_row_blocks(staging, src)]))


def _summary(store: Store, name: str, attrs: dict[str, Any], cached: bool) -> dict[str, Any]:
    keys = ("n_images", "n_failed", "n_sources", "size", "kind", "splits", "fingerprint", "source")
    out = {k: attrs.get(k) for k in keys}
    out.update(
        dataset=name,
        store=store.url,
        images=store.join(store.dataset(name).images),
        index=store.join(store.dataset(name).index),
        cached=cached,
    )
    return json.loads(json.dumps(out))


def iter_failed(store: Store, name: str) -> Iterator[tuple[str, str]]:
    """(file, reason) for every source that was skipped."""
    from zspace.storage import read_index

    idx = read_index(store, name)
    for f, st in zip(idx["file"], idx["status"], strict=True):
        if st != "ok":
            yield str(f), str(st)
