"""CelebA's list_attr_celeba.txt: parsed, matched to index rows, and every malformed file
refused with one message naming the file and the line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from zspace.storage import Store
from zspace.storage.index import attribute_table as stored_attributes
from zspace.storage.index import factor_table, read_index, write_index
from zspace.tasks.ingest.attributes import (
    ATTRIBUTE_FILE,
    add_attribute_columns,
    attribute_table,
    find_attributes,
    read_attributes,
)

NAMES = ["5_o_Clock_Shadow", "Arched_Eyebrows", "Smiling", "Young"]


def _write(path: Path, rows: dict[str, list[int]], names=NAMES, count: int | None = None) -> Path:
    lines = [str(len(rows) if count is None else count), " ".join(names)]
    lines += [f"{f}  " + " ".join(f"{v:2d}" for v in vals) for f, vals in rows.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


GOOD = {"000001.jpg": [-1, 1, 1, 1], "000002.jpg": [1, -1, -1, 1], "000003.jpg": [-1, -1, 1, -1]}


def test_good_file_parses_to_zero_one_values(tmp_path):
    attrs = read_attributes(_write(tmp_path / ATTRIBUTE_FILE, GOOD))
    assert attrs.names == tuple(NAMES)
    assert attrs.values["000001.jpg"].tolist() == [0, 1, 1, 1]
    assert attrs.values["000002.jpg"].tolist() == [1, 0, 0, 1]
    assert len(attrs.values) == 3


def test_rows_match_by_file_name_and_missing_images_are_listed(tmp_path):
    attrs = read_attributes(_write(tmp_path / ATTRIBUTE_FILE, GOOD))
    files = ["img_align_celeba/000002.jpg", "img_align_celeba/000009.jpg", "000003.jpg"]
    table = attribute_table(attrs, files)
    assert table.missing == ["img_align_celeba/000009.jpg"]
    assert table.values[0].tolist() == [1, 0, 0, 1]
    assert np.isnan(table.values[1]).all()
    assert table.values[2].tolist() == [0, 0, 1, 0]
    assert list(table.columns()) == [f"attr_{n}" for n in NAMES]


def test_attribute_columns_round_trip_through_index_csv(tmp_path):
    attrs = read_attributes(_write(tmp_path / ATTRIBUTE_FILE, GOOD))
    records = [{"file": "a/000001.jpg", "split": "train", "status": "ok", "row": 0},
               {"file": "a/000007.jpg", "split": "test", "status": "ok", "row": 1},
               {"file": "a/000003.jpg", "split": "test", "status": "failed: truncated", "row": -1}]
    missing = add_attribute_columns(records, attrs)
    assert missing == ["a/000007.jpg"]
    store = Store(tmp_path / "store")
    write_index(store, "celeb", records)
    assert read_index(store, "celeb")["attr_Smiling"][0] == 1.0
    factors, attributes = factor_table(store, "celeb"), stored_attributes(store, "celeb")
    assert factors == {}
    assert attributes["Smiling"][0] == 1.0 and np.isnan(attributes["Smiling"][1])
    assert list(attributes) == NAMES


@pytest.mark.parametrize("bad_line, fragment", [
    ("000004.jpg -1 1 1", "expected a file name and 4 values"),
    ("000004.jpg -1 1 1 1 1", "got 6 fields"),
    ("000004.jpg -1 0 1 1", "values must be 1 or -1, got '0'"),
    ("000004.jpg -1 yes 1 1", "got 'yes'"),
])
def test_malformed_line_is_named_by_file_and_line(tmp_path, bad_line, fragment):
    path = _write(tmp_path / ATTRIBUTE_FILE, GOOD, count=4)
    path.write_text(path.read_text() + bad_line + "\n")
    with pytest.raises(ValueError, match=fragment) as err:
        read_attributes(path)
    assert f"{path}:6:" in str(err.value)


def test_bad_headers_and_counts_are_refused(tmp_path):
    p = tmp_path / ATTRIBUTE_FILE
    p.write_text("many\n" + " ".join(NAMES) + "\n")
    with pytest.raises(ValueError, match=r":1: expected the number of images"):
        read_attributes(p)
    p.write_text("3\n")
    with pytest.raises(ValueError, match="a count line and a line of attribute names"):
        read_attributes(p)
    with pytest.raises(ValueError, match="says 2 images but lists 3"):
        read_attributes(_write(p, GOOD, count=2))
    with pytest.raises(ValueError, match=":2: attribute names repeat"):
        read_attributes(_write(p, GOOD, names=["Smiling", "Smiling", "Young", "Male"]))
    p.write_text("2\n" + " ".join(NAMES) + "\n000001.jpg 1 1 1 1\n000001.jpg 1 1 1 1\n")
    with pytest.raises(ValueError, match=":4: '000001.jpg' appears twice"):
        read_attributes(p)
    p.write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(ValueError, match="not a text file"):
        read_attributes(p)


def test_find_attributes_beside_the_images(tmp_path):
    images = tmp_path / "img_align_celeba"
    images.mkdir()
    assert find_attributes(images) is None
    (tmp_path / "Anno").mkdir()
    anno = _write(tmp_path / "Anno" / ATTRIBUTE_FILE, GOOD)
    assert find_attributes(images) == anno
    beside = _write(tmp_path / ATTRIBUTE_FILE, GOOD)
    assert find_attributes(images) == beside
    inside = _write(images / ATTRIBUTE_FILE, GOOD)
    assert find_attributes(images) == inside
    assert find_attributes(tmp_path / "celeba.zip") == beside
    with pytest.raises(ValueError, match="does not exist"):
        find_attributes(images, tmp_path / "nope.txt")


def test_ingest_reads_the_attribute_file_beside_the_images(tmp_path: Path) -> None:
    """A CelebA-style folder: the attributes land in index.csv row for row; a malformed file
    is one message naming file and line, before anything is decoded."""
    from PIL import Image

    from zspace.cli.main import main

    src = tmp_path / "img_align_celeba"
    src.mkdir()
    for i in range(1, 5):
        Image.new("RGB", (20, 24), (40 * i, 10, 10)).save(src / f"{i:06d}.jpg")
    _write(tmp_path / ATTRIBUTE_FILE, {f"{i:06d}.jpg": [1, -1, 1 if i % 2 else -1, 1]
                                       for i in range(1, 4)})
    store = Store(tmp_path / "store")
    assert main(["ingest", "--source", str(src), "--store", store.url, "--name", "celeb",
                 "--size", "16"]) == 0
    attrs = stored_attributes(store, "celeb")
    assert list(attrs) == NAMES and attrs["Smiling"][:3].tolist() == [1.0, 0.0, 1.0]
    assert np.isnan(attrs["Smiling"][3])  # 000004.jpg has no row in the file
    bad = _write(tmp_path / "bad.txt", {"000001.jpg": [1, 1, 1, 1]})
    bad.write_text(bad.read_text() + "000002.jpg 1 2 1 1\n")
    assert main(["ingest", "--source", str(src), "--store", store.url, "--name", "other",
                 "--size", "16", "--attributes", str(bad)]) == 2
    assert not store.exists(store.dataset("other").root)


def test_a_partial_file_is_used_with_one_warning(tmp_path: Path) -> None:
    """CelebA's file says 202,599; a truncated copy (or its first rows) still gives attributes
    to the images it lists, and the images without a row are counted, not refused."""
    from PIL import Image

    attrs = read_attributes(_write(tmp_path / "partial.txt", GOOD, count=202599))
    assert len(attrs.values) == 3 and "says 202599 images but lists 3" in attrs.shortfall
    assert read_attributes(_write(tmp_path / "full.txt", GOOD)).shortfall is None
    src = tmp_path / "img_align_celeba"
    src.mkdir()
    for i in (1, 2, 3, 7):
        Image.new("RGB", (20, 24), (30 * i, 10, 10)).save(src / f"{i:06d}.jpg")
    _write(tmp_path / ATTRIBUTE_FILE, GOOD, count=202599)
    store = Store(tmp_path / "store")
    run = subprocess.run([sys.executable, "-m", "zspace.cli", "ingest", "--source", str(src),
                          "--store", store.url, "--name", "celeb", "--size", "16"],
                         capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PREFECT_LOGGING_LEVEL": "INFO"})
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
    assert out.count("says 202599 images but lists 3") == 1, out
    assert "1 images have no row in the attribute file" in out, out
    smiling = stored_attributes(store, "celeb")["Smiling"]
    assert np.isfinite(smiling).sum() == 3 and np.isnan(smiling).sum() == 1
