"""CelebA's 40 binary attributes (`list_attr_celeba.txt`), matched to a dataset's index rows.

The file's format: line 1 the number of images, line 2 the 40 attribute names, then one line
per image, `<file> v1 ... v40` with values 1 or -1. Values become 1/0 columns of index.csv,
named ATTRIBUTE_PREFIX + name so they are never mistaken for synthetic generating factors.
A malformed file is one ValueError naming the file and the line; images the file does not
name are listed, not guessed. A file with fewer rows than its first line announces (a truncated
download, or the first 20,000 rows kept) is used as it is: `Attributes.shortfall` says so once.
"""

from __future__ import annotations

from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from zspace.storage.index import ATTRIBUTE_PREFIX

ATTRIBUTE_FILE = "list_attr_celeba.txt"


@dataclass(frozen=True)
class Attributes:
    """The parsed file: attribute names and, per image file name, its 0/1 values."""

    path: str
    names: tuple[str, ...]
    values: dict[str, np.ndarray]  # file name -> int8 (n_attributes,) of 0/1
    declared: int = -1  # the count on line 1; more than len(values) in a partial file

    @property
    def shortfall(self) -> str | None:
        """One line for a file that lists fewer images than it says, else None."""
        if self.declared <= len(self.values):
            return None
        return (f"{self.path}: the file says {self.declared} images but lists "
                f"{len(self.values)}; using the {len(self.values)} rows present")


@dataclass(frozen=True)
class AttributeTable:
    """Attributes aligned with a dataset: one row per given file (NaN where the file has none)."""

    names: tuple[str, ...]
    values: np.ndarray      # (n_files, n_attributes) float64: 1, 0 or NaN
    missing: list[str]      # files (as given) that the attribute file does not name

    def columns(self) -> dict[str, np.ndarray]:
        """index.csv column name -> values, in the table's row order."""
        return {ATTRIBUTE_PREFIX + n: self.values[:, k] for k, n in enumerate(self.names)}


def find_attributes(source: str | Path, explicit: str | Path | None = None) -> Path | None:
    """The attribute file for an image source: `explicit` if given (it must exist), else
    list_attr_celeba.txt inside the folder, beside the folder or zip, or in CelebA's Anno/."""
    if explicit is not None:
        p = Path(explicit)
        if not p.is_file():
            raise ValueError(f"attribute file {str(p)!r} does not exist (give CelebA's {ATTRIBUTE_FILE})")
        return p
    src = Path(source)
    candidates = [src / ATTRIBUTE_FILE] if src.is_dir() else []
    candidates += [src.parent / ATTRIBUTE_FILE, src.parent / "Anno" / ATTRIBUTE_FILE]
    return next((c for c in candidates if c.is_file()), None)


def _header(path: Path, lines: list[str]) -> tuple[int, tuple[str, ...]]:
    if len(lines) < 2:
        raise ValueError(f"{path}: expected a count line and a line of attribute names, "
                         f"got {len(lines)} line(s)")
    first = lines[0].split()
    if len(first) != 1 or not first[0].isdigit():
        raise ValueError(f"{path}:1: expected the number of images, got {lines[0].strip()!r}")
    names = tuple(lines[1].split())
    if not names:
        raise ValueError(f"{path}:2: expected the attribute names, got an empty line")
    if len(set(names)) != len(names):
        raise ValueError(f"{path}:2: attribute names repeat: {lines[1].strip()!r}")
    return int(first[0]), names


def _parse_line(path: Path, n: int, line: str, n_attr: int) -> tuple[str, np.ndarray]:
    parts = line.split()
    if len(parts) != n_attr + 1:
        raise ValueError(f"{path}:{n}: expected a file name and {n_attr} values (1 or -1), "
                         f"got {len(parts)} fields: {line.strip()[:120]!r}")
    bad = [v for v in parts[1:] if v not in ("1", "-1")]
    if bad:
        raise ValueError(f"{path}:{n}: values must be 1 or -1, got {bad[0]!r} in "
                         f"{line.strip()[:120]!r}")
    return parts[0], (np.array(parts[1:], dtype=np.int8) > 0).astype(np.int8)


def read_attributes(path: str | Path) -> Attributes:
    """Parse list_attr_celeba.txt; any malformed line is a ValueError naming file and line."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not a text file ({e.reason})") from None
    count, names = _header(path, lines)
    values: dict[str, np.ndarray] = {}
    for n, line in enumerate(lines[2:], 3):
        if not line.strip():
            continue
        name, row = _parse_line(path, n, line, len(names))
        if name in values:
            raise ValueError(f"{path}:{n}: {name!r} appears twice")
        values[name] = row
    if len(values) > count:  # a row too many is no truncation: the file is inconsistent
        raise ValueError(f"{path}:1: the file says {count} images but lists {len(values)}")
    return Attributes(str(path), names, values, declared=count)


def attribute_table(attrs: Attributes, files: Sequence[str]) -> AttributeTable:
    """Match by file name (the last path part, as list_eval_partition.txt is matched)."""
    out = np.full((len(files), len(attrs.names)), np.nan)
    missing: list[str] = []
    for i, f in enumerate(files):
        row = attrs.values.get(PurePosixPath(str(f)).name)
        if row is None:
            missing.append(str(f))
        else:
            out[i] = row
    return AttributeTable(attrs.names, out, missing)


def add_attribute_columns(records: Sequence[MutableMapping[str, Any]],
                          attrs: Attributes) -> list[str]:
    """Add the attribute columns (1/0; '' where the file has no row) to index records in place,
    for write_index. Only rows that hold an image are matched; returns the image files without
    attributes."""
    table = attribute_table(attrs, [str(r["file"]) for r in records])
    has_image = [int(r.get("row", 0)) >= 0 for r in records]
    for r, vals in zip(records, table.values, strict=True):
        for name, v in zip(attrs.names, vals, strict=True):
            r[ATTRIBUTE_PREFIX + name] = "" if np.isnan(v) else int(v)
    missing = set(table.missing)
    return [str(r["file"]) for r, ok in zip(records, has_image, strict=True)
            if ok and str(r["file"]) in missing]
