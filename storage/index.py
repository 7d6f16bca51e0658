"""The per-dataset index: one CSV row per source file, so failures are listed, not lost."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from zspace.storage.layout import StoreError
from zspace.storage.store import Store

SPLITS = ("train", "val", "test")
BASE_COLUMNS = ("file", "split", "status", "row")
# CelebA-style binary attributes (list_attr_celeba.txt) are index columns with this prefix.
ATTRIBUTE_PREFIX = "attr_"


def write_index(store: Store, name: str, records: Iterable[Mapping[str, Any]]) -> int:
    """Write index.csv: file, split, status ('ok' or 'failed: why'), row in images (-1 if none),
    then any factor columns (synthetic faces)."""
    records = list(records)
    extra: list[str] = []
    for r in records:
        extra.extend(k for k in r if k not in BASE_COLUMNS and k not in extra)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=[*BASE_COLUMNS, *extra], lineterminator="\n")
    writer.writeheader()
    for r in records:
        writer.writerow({k: _fmt(v) for k, v in r.items()})
    store.write_text(store.dataset(name).index, buf.getvalue())
    return len(records)


def _fmt(v: Any) -> Any:
    if isinstance(v, float | np.floating):
        return repr(float(v))
    return v


def read_index(store: Store, name: str) -> dict[str, np.ndarray]:
    """The index as columns: 'row' as int64, factor columns as float64, the rest as str."""
    rel = store.dataset(name).index
    if not store.exists(rel):
        raise StoreError(f"{store.join(rel)} does not exist: ingest dataset {name!r} first")
    rows = list(csv.DictReader(io.StringIO(store.read_text(rel))))
    if not rows:
        return {c: np.array([], dtype=object) for c in BASE_COLUMNS}
    cols: dict[str, np.ndarray] = {}
    for key in rows[0]:
        values = [r[key] for r in rows]
        if key == "row":
            cols[key] = np.array(values, dtype=np.int64)
        elif key in BASE_COLUMNS:
            cols[key] = np.array(values, dtype=str)
        else:
            cols[key] = np.array([float(v) if v != "" else np.nan for v in values], dtype=np.float64)
    return cols


def split_rows(store: Store, name: str, split: str) -> np.ndarray:
    """Rows of datasets/<name>/images that belong to a split, in image order."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
    idx = read_index(store, name)
    keep = (idx["split"] == split) & (idx["row"] >= 0)
    return np.sort(idx["row"][keep])


def _per_row(store: Store, name: str) -> dict[str, np.ndarray]:
    """Non-base index columns, one value per image row, aligned with datasets/<name>/images."""
    idx = read_index(store, name)
    ok = idx["row"] >= 0
    order = np.argsort(idx["row"][ok])
    return {k: v[ok][order] for k, v in idx.items() if k not in BASE_COLUMNS}


def factor_table(store: Store, name: str) -> dict[str, np.ndarray]:
    """Generating factors per image row (synthetic data), aligned with datasets/<name>/images."""
    return {k: v for k, v in _per_row(store, name).items() if not k.startswith(ATTRIBUTE_PREFIX)}


def attribute_table(store: Store, name: str) -> dict[str, np.ndarray]:
    """Binary attributes per image row (1/0, NaN where the attribute file had no row),
    named without the prefix."""
    return {k[len(ATTRIBUTE_PREFIX):]: v for k, v in _per_row(store, name).items()
            if k.startswith(ATTRIBUTE_PREFIX)}
