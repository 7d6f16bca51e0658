"""Where an ingest's images come from and which split each goes to, decided before any decoding:
the stable listing of a folder, a zip or the synthetic faces, CelebA's partition file, and the
seeded 85/5/10 split for files it does not name."""

from __future__ import annotations

import os
import zipfile
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

import numpy as np

from zspace.tasks.ingest.decode import IMAGE_EXTENSIONS

if TYPE_CHECKING:
    from zspace.tasks.ingest.params import IngestParams

SPLIT_NAMES = ("train", "val", "test")
DEFAULT_SPLIT_FRACTIONS = (0.85, 0.05, 0.10)
SYNTHETIC = "synthetic"
PARTITION_FILE = "list_eval_partition.txt"


# -- listing ------------------------------------------------------------------------------
def _is_image_name(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS)


def _size(path: Path) -> int:
    """Bytes of a listed file; -1 for what cannot be stat'ed (a broken or looping link),
    which the decoder then lists as failed with its reason."""
    try:
        return path.stat().st_size
    except OSError:
        return -1


def list_sources(cfg: IngestParams) -> tuple[str, list[str], list[int]]:
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


def find_partition(cfg: IngestParams) -> Path | None:
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
