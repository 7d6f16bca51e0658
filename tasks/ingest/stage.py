"""Ingest: images from a folder, a zip read in place, or synthetic faces -> datasets/<name>/images.

Sources are decoded in parallel on dask and written in source order, chunk by chunk, through
ChunkedWriter. Each chunk's mark carries the index records of the sources it consumed, so an
ingest killed at any point resumes at the first unmarked chunk and ends bit-identical to an
uninterrupted one. Unreadable files are skipped and listed in the index with the reason.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from zspace.storage import ChunkedWriter, Store, StoreError, iter_row_blocks, write_index
from zspace.storage.store import chunk_rows_for
from zspace.tasks.common.parallel import ordered_map
from zspace.tasks.common.progress import Progress
from zspace.tasks.ingest.decode import IMAGE_EXTENSIONS, decode_to_chunk

SPLIT_NAMES = ("train", "val", "test")
DEFAULT_SPLIT_FRACTIONS = (0.85, 0.05, 0.10)
SYNTHETIC = "synthetic"
PARTITION_FILE = "list_eval_partition.txt"


class IngestConfig(BaseModel):
    """Parameters of one ingest; everything that decides the images' content goes in the plan."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(description="image folder, zip of images, or 'synthetic'")
    store: str
    name: str
    size: int = Field(96, ge=8, le=1024, description="output images are size x size")
    count: int | None = Field(None, ge=1, description="synthetic: how many; folder/zip: at most")
    seed: int = 0
    partition: str | None = Field(None, description="CelebA list_eval_partition.txt")
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
    def _source_exists(self) -> IngestConfig:
        if self.source != SYNTHETIC and not Path(self.source).exists():
            raise ValueError(f"source {self.source!r} does not exist (a folder, a .zip, or 'synthetic')")
        if self.partition is not None and not Path(self.partition).is_file():
            raise ValueError(f"partition file {self.partition!r} does not exist")
        return self


# -- sources ------------------------------------------------------------------------------
def _is_image_name(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS)


def _size(path: Path) -> int:
    """Bytes of a listed file; -1 for what cannot be stat'ed (a broken or looping link),
    which the decoder then lists as failed with its reason."""
    try:
        return path.stat().st_size
    except OSError:
        return -1


def list_sources(cfg: IngestConfig) -> tuple[str, list[str], list[int]]:
    """(kind, keys, sizes) in a stable order: sorted relative paths, or synthetic indices."""
    if cfg.source == SYNTHETIC:
        n = cfg.count or 2000
        return "synthetic", [f"synthetic/{i:07d}" for i in range(n)], [0] * n
    src = Path(cfg.source)
    if src.is_dir():
        found: list[tuple[str, int]] = []
        for root, dirs, files in os.walk(src):
            dirs.sort()
            for f in files:
                if _is_image_name(f):
                    full = Path(root) / f
                    found.append((full.relative_to(src).as_posix(), _size(full)))
        found.sort()
        kind = "folder"
    elif zipfile.is_zipfile(src):
        with zipfile.ZipFile(src) as zf:
            found = sorted(
                (i.filename, i.file_size)
                for i in zf.infolist()
                if not i.is_dir() and _is_image_name(i.filename)
            )
        kind = "zip"
    else:
        raise ValueError(f"source {cfg.source!r} is neither a folder nor a zip file")
    if cfg.count is not None:
        found = found[: cfg.count]
    if not found:
        raise ValueError(f"source {cfg.source!r} holds no images ({', '.join(IMAGE_EXTENSIONS)})")
    return kind, [k for k, _ in found], [s for _, s in found]


def find_partition(cfg: IngestConfig) -> Path | None:
    """CelebA keeps list_eval_partition.txt beside img_align_celeba/ (or beside the zip)."""
    if cfg.partition:
        return Path(cfg.partition)
    if cfg.source == SYNTHETIC:
        return None
    src = Path(cfg.source)
    candidates = [src / PARTITION_FILE] if src.is_dir() else []
    candidates.append(src.parent / PARTITION_FILE)
    return next((c for c in candidates if c.is_file()), None)


def read_partition(path: Path) -> dict[str, str]:
    """file name -> split from 'name 0|1|2' lines; a malformed line is an error naming it."""
    out: dict[str, str] = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
            raise ValueError(f"{path}:{n}: expected '<file> <0|1|2>', got {line!r}")
        out[parts[0]] = SPLIT_NAMES[int(parts[1])]
    return out


def assign_splits(keys: Sequence[str], partition: dict[str, str] | None, seed: int) -> list[str]:
    """Partition file where it names the file; otherwise a seeded 85/5/10 split."""
    n = len(keys)
    perm = np.random.default_rng(seed).permutation(n)
    cut = np.cumsum([round(f * n) for f in DEFAULT_SPLIT_FRACTIONS[:2]])
    seeded = np.empty(n, dtype=object)
    seeded[perm[: cut[0]]] = "train"
    seeded[perm[cut[0] : cut[1]]] = "val"
    seeded[perm[cut[1] :]] = "test"
    if not partition:
        return list(seeded)
    return [partition.get(PurePosixPath(k).name, seeded[i]) for i, k in enumerate(keys)]


# -- the stage ------------------------------------------------------------------------------
def ingest_plan(cfg: IngestConfig, kind: str, keys: list[str], sizes: list[int],
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


def plan_ingest(cfg: IngestConfig) -> tuple[str, list[str], list[str], Path | None, dict[str, Any]]:
    """What an ingest would read and produce, without decoding: (kind, keys, splits, partition
    file, plan). The plan changes whenever the source listing, sizes, split or parameters do."""
    kind, keys, sizes = list_sources(cfg)
    partition_path = find_partition(cfg)
    partition = read_partition(partition_path) if partition_path else None
    splits = assign_splits(keys, partition, cfg.seed)
    return kind, keys, splits, partition_path, ingest_plan(cfg, kind, keys, sizes, splits)


def ingest(cfg: IngestConfig) -> dict[str, Any]:
    """Run (or resume, or skip) one ingest; returns a small summary.

    Phase 1 decodes every source in parallel into a staging array aligned with the sources
    (workers write their own chunks). Phase 2 is a rename when nothing failed, otherwise a
    sequential copy that drops the failed rows. Both phases resume from their chunk marks.
    """
    store = Store(cfg.store)
    kind, keys, splits, partition_path, plan = plan_ingest(cfg)
    row_shape = (cfg.size, cfg.size, 3)
    chunk_rows = cfg.chunk_rows or chunk_rows_for(row_shape, np.uint8)
    final_rel = Store.images_rel(cfg.name)
    staging_rel = f"{Store.dataset_rel(cfg.name)}/staging-images"
    has_final = store.exists(f"{final_rel}/zarr.json")
    if has_final:
        final = ChunkedWriter(store, final_rel, (1, *row_shape), chunk_rows, np.uint8, plan)
        if final.complete and store.exists(Store.index_rel(cfg.name)):
            store.remove(staging_rel)  # left behind if killed right after finishing
            return _summary(store, cfg.name, final.array.attrs.asdict(), cached=True)

    # Phase 1 resumes from the staging array, or, when it was already renamed (nothing had
    # failed), from the final array, which carries the same chunk marks.
    has_staging = store.exists(f"{staging_rel}/zarr.json")
    phase1_rel = staging_rel if has_staging or not has_final else final_rel
    records = _decode_all(cfg, store, phase1_rel, kind, keys, splits, chunk_rows, plan)
    ok = np.array([r["status"] == "ok" for r in records])
    n_images, n_failed = int(ok.sum()), int((~ok).sum())
    if n_images == 0:
        reasons = "; ".join(f"{r['file']}: {r['status']}" for r in records[:5])
        raise StoreError(f"no image could be read from {cfg.source} ({n_failed} failed: {reasons})")
    rows = np.cumsum(ok) - 1
    for r, good, row in zip(records, ok, rows, strict=True):
        r["row"] = int(row) if good else -1

    if n_failed == 0 and phase1_rel == staging_rel:
        store.fs.mv(store._fspath(staging_rel), store._fspath(final_rel), recursive=True)
    final = ChunkedWriter(store, final_rel, (n_images, *row_shape), chunk_rows, np.uint8, plan)
    if n_failed:
        _compact(store.open_array(staging_rel), final, np.flatnonzero(ok))
    write_index(store, cfg.name, [{k: v for k, v in r.items()} for r in records])
    attrs = {
        "source": plan["source"],
        "kind": kind,
        "size": cfg.size,
        "crop": plan["crop"],
        "n_images": n_images,
        "n_failed": n_failed,
        "n_sources": len(keys),
        "splits": {s: int(sum(1 for r in records if r["split"] == s and r["row"] >= 0))
                   for s in SPLIT_NAMES},
        "partition": str(partition_path) if partition_path else f"seeded 85/5/10, seed {cfg.seed}",
    }
    if kind == "synthetic":
        attrs["seed"] = cfg.seed
    final.finalize(n_images, attrs)
    store.remove(staging_rel)
    return _summary(store, cfg.name, final.array.attrs.asdict(), cached=False)


def _decode_all(cfg: IngestConfig, store: Store, staging_rel: str, kind: str, keys: list[str],
                splits: list[str], chunk_rows: int, plan: dict[str, Any]) -> list[dict[str, Any]]:
    """Phase 1: every source decoded once into the staging array; returns the index records."""
    row_shape = (cfg.size, cfg.size, 3)
    staging = ChunkedWriter(store, staging_rel, (len(keys), *row_shape), chunk_rows, np.uint8,
                            plan, dimension_names=("source", "y", "x", "channel"))
    marks = staging.done_chunks()
    todo = [c for c in range(staging.n_chunks) if c not in marks]
    if todo:
        root = str(Path(cfg.source).resolve()) if kind != "synthetic" else ""
        jobs = (
            (staging.url, c, chunk_rows, kind, root, keys[c * chunk_rows : (c + 1) * chunk_rows],
             cfg.size, cfg.crop, cfg.max_pixels, cfg.seed)
            for c in todo
        )
        preload = ["zspace.tasks.ingest.decode", "zspace.storage.store"]
        if kind == "synthetic":
            preload.append("zspace.tasks.ingest.synthetic")
        done = len(keys) - sum(len(keys[c * chunk_rows : (c + 1) * chunk_rows]) for c in todo)
        with Progress(len(keys), f"ingest {cfg.name}", key=f"ingest-{cfg.name}", unit="img",
                      initial=done) as bar:
            for c, status, factors, sha in ordered_map(
                decode_to_chunk, jobs, dask_address=cfg.dask_address, workers=cfg.workers,
                preload=preload,
            ):
                recs = []
                for b, st in enumerate(status):
                    pos = c * chunk_rows + b
                    rec: dict[str, Any] = {"file": keys[pos], "split": splits[pos], "status": st}
                    if factors is not None:
                        rec.update(factors[b])
                    recs.append(rec)
                staging.record_chunk(c, len(status), sha, {"records": recs})
                marks[c] = {"meta": {"records": recs}}
                bar.update(len(status))
    # Never marked complete itself: only the final array is, after the index is written.
    return [rec for c in range(staging.n_chunks) for rec in marks[c]["meta"]["records"]]


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
        images=store.join(Store.images_rel(name)),
        index=store.join(Store.index_rel(name)),
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
