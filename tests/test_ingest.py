"""Ingest on real files: folders, zips, broken images, partitions, resume after kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import zarr
from PIL import Image
from samples import write_sample_jpegs

from zspace.cli.main import main as cli_main
from zspace.flows.ingest import ingest_flow
from zspace.storage import Store, StoreError, array_meta, factor_table, read_index
from zspace.tasks.ingest.params import IngestParams
from zspace.tasks.ingest.stage import ingest
from zspace.tasks.ingest.synthetic import sample_factors, synthetic_face

SIZE = 32


def at(store: Path, name: str, part: str = "images") -> Path:
    """Where the layout puts a dataset's part (images, staging_images, index) in a local store."""
    return Store(store).local_path(getattr(Store(store).dataset(name), part))


def images(store: Path, name: str) -> np.ndarray:
    return zarr.open_array(str(at(store, name)))[:]


def status_of(store: Path, name: str) -> dict[str, str]:
    idx = read_index(Store(store), name)
    return dict(zip(idx["file"].tolist(), idx["status"].tolist(), strict=True))


@pytest.fixture(scope="module")
def messy_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20 good CelebA-sized JPEGs plus every kind of awkward or broken file."""
    root = tmp_path_factory.mktemp("messy") / "img_align_celeba"
    write_sample_jpegs(root, 20, seed=3)
    good = (root / "000001.jpg").read_bytes()
    (root / "000021.jpg").write_bytes(good[: len(good) // 2])  # truncated
    (root / "000022.jpg").write_bytes(b"")  # zero bytes
    (root / "000023.jpg").write_text("not an image at all\n")  # text named .jpg
    sub = root / "more"
    sub.mkdir()
    Image.new("L", (60, 80), 77).save(sub / "grey.png")
    rgba = Image.new("RGBA", (50, 50), (255, 0, 0, 0))  # fully transparent red -> white
    rgba.save(sub / "rgba.png")
    Image.new("RGB", (40, 40), (10, 200, 30)).convert("P").save(sub / "palette.png")
    Image.new("CMYK", (40, 40), (0, 255, 255, 0)).save(sub / "cmyk.jpg")
    Image.fromarray(np.full((30, 30), 65535, np.uint16)).save(sub / "deep16.png")
    (root / "notes.txt").write_text("ignored: not an image extension")
    return root


def test_folder_with_broken_files(messy_folder: Path, tmp_path: Path) -> None:
    s = ingest(IngestParams(source=str(messy_folder), store=str(tmp_path), name="m", size=SIZE))
    assert s["n_sources"] == 28 and s["n_failed"] == 3 and s["n_images"] == 25
    arr = zarr.open_array(str(at(tmp_path, "m")))
    assert arr.shape == (25, SIZE, SIZE, 3) and arr.dtype == np.uint8
    assert arr.attrs["n_failed"] == 3 and arr.attrs["complete"] is True
    st = status_of(tmp_path, "m")
    for bad in ("000021.jpg", "000022.jpg", "000023.jpg"):
        assert st[bad].startswith("failed: ")
    assert "truncated" in st["000021.jpg"] and "empty" in st["000022.jpg"]
    assert "not an image" in st["000023.jpg"]
    idx = read_index(Store(tmp_path), "m")
    rows = {f: r for f, r in zip(idx["file"], idx["row"], strict=True)}
    data = arr[:]
    grey = data[rows["more/grey.png"]]
    assert (grey == 77).all()  # grey -> RGB keeps the value in all channels
    assert (data[rows["more/rgba.png"]] == 255).all()  # transparent over white
    assert tuple(data[rows["more/palette.png"]][5, 5].astype(int)) == pytest.approx((10, 200, 30), abs=10)
    cmyk = data[rows["more/cmyk.jpg"]].astype(int)
    assert cmyk[..., 0].mean() > 200 and cmyk[..., 1].mean() < 60  # CMYK red -> RGB red
    assert (data[rows["more/deep16.png"]] == 255).all()  # 16-bit full scale -> 255
    # rows are dense and in sorted source order
    assert sorted(r for r in idx["row"] if r >= 0) == list(range(25))


def test_zip_matches_folder_and_refuses_zip_slip(messy_folder: Path, tmp_path: Path) -> None:
    zpath = tmp_path / "faces.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for p in sorted(messy_folder.rglob("*")):
            if p.is_file():
                zf.write(p, p.relative_to(messy_folder).as_posix())
    folder = ingest(IngestParams(source=str(messy_folder), store=str(tmp_path / "a"), name="f",
                                 size=SIZE))
    zipped = ingest(IngestParams(source=str(zpath), store=str(tmp_path / "b"), name="f", size=SIZE))
    assert zipped["fingerprint"] == folder["fingerprint"]
    assert np.array_equal(images(tmp_path / "a", "f"), images(tmp_path / "b", "f"))

    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("ok/000001.jpg", (messy_folder / "000001.jpg").read_bytes())
        zf.writestr("../../escape.jpg", (messy_folder / "000002.jpg").read_bytes())
        zf.writestr("/abs/path.jpg", (messy_folder / "000003.jpg").read_bytes())
    s = ingest(IngestParams(source=str(evil), store=str(tmp_path / "c"), name="e", size=SIZE))
    assert s["n_images"] == 1 and s["n_failed"] == 2
    st = status_of(tmp_path / "c", "e")
    assert all("unsafe path" in v for k, v in st.items() if k != "ok/000001.jpg")
    assert not (tmp_path / "escape.jpg").exists()


def test_partition_file_sets_splits(tmp_path: Path) -> None:
    src = tmp_path / "celeba" / "img_align_celeba"
    write_sample_jpegs(src, 12, seed=5)
    lines = [f"{i:06d}.jpg {0 if i <= 8 else (1 if i <= 10 else 2)}" for i in range(1, 13)]
    (src.parent / "list_eval_partition.txt").write_text("\n".join(lines) + "\n")
    s = ingest(IngestParams(source=str(src), store=str(tmp_path / "st"), name="c", size=SIZE))
    assert s["splits"] == {"train": 8, "val": 2, "test": 2}
    bad = tmp_path / "bad_partition.txt"
    bad.write_text("000001.jpg 7\n")
    with pytest.raises(ValueError, match="bad_partition.txt:1"):
        ingest(IngestParams(source=str(src), store=str(tmp_path / "st2"), name="c", size=SIZE,
                            partition=str(bad)))


def test_seeded_split_without_partition(tmp_path: Path) -> None:
    s = ingest(IngestParams(source="synthetic", count=200, store=str(tmp_path), name="s", size=SIZE))
    assert s["splits"] == {"train": 170, "val": 10, "test": 20}


def test_decompression_bomb_is_skipped(tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_sample_jpegs(src, 2, seed=1)
    Image.new("RGB", (400, 400), (1, 2, 3)).save(src / "huge.png")
    s = ingest(IngestParams(source=str(src), store=str(tmp_path / "st"), name="b", size=SIZE,
                            max_pixels=100_000))
    assert s["n_images"] == 2 and "too many pixels" in status_of(tmp_path / "st", "b")["huge.png"]


def test_rerun_is_a_noop_and_other_params_are_refused(tmp_path: Path) -> None:
    cfg = IngestParams(source="synthetic", count=100, store=str(tmp_path), name="s", size=SIZE)
    first = ingest(cfg)
    zjson = Store(tmp_path).local_path(array_meta(Store(tmp_path).dataset("s").images))
    mtime = zjson.stat().st_mtime_ns
    t = time.perf_counter()
    again = ingest(cfg)
    assert again["cached"] and again["fingerprint"] == first["fingerprint"]
    assert time.perf_counter() - t < 5 and zjson.stat().st_mtime_ns == mtime
    with pytest.raises(StoreError, match="other parameters"):
        ingest(cfg.model_copy(update={"size": 16}))
    assert images(tmp_path, "s").shape == (100, SIZE, SIZE, 3)  # nothing lost


def test_synthetic_is_deterministic_and_factors_match(tmp_path: Path) -> None:
    a = ingest(IngestParams(source="synthetic", count=60, seed=7, store=str(tmp_path / "a"),
                            name="s", size=SIZE, chunk_rows=16))
    b = ingest(IngestParams(source="synthetic", count=60, seed=7, store=str(tmp_path / "b"),
                            name="s", size=SIZE, workers=1))
    c = ingest(IngestParams(source="synthetic", count=60, seed=8, store=str(tmp_path / "c"),
                            name="s", size=SIZE))
    assert np.array_equal(images(tmp_path / "a", "s"), images(tmp_path / "b", "s"))
    assert a["fingerprint"] != c["fingerprint"]
    imgs = images(tmp_path / "a", "s")
    table = factor_table(Store(tmp_path / "a"), "s")
    for i in (0, 17, 59):
        img, factors = synthetic_face(7, i, SIZE)
        assert np.array_equal(imgs[i], img)
        for k, v in sample_factors(7, i).items():
            assert table[k][i] == pytest.approx(v, rel=1e-12)
    assert a["n_images"] == 60 and b["n_images"] == 60


def test_no_readable_image_is_an_error(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.jpg").write_bytes(b"")
    (src / "b.png").write_text("nope")
    with pytest.raises(StoreError, match="no image could be read"):
        ingest(IngestParams(source=str(src), store=str(tmp_path / "st"), name="x", size=SIZE))


def test_bad_parameters_name_the_parameter(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert cli_main(["ingest", "--source", str(tmp_path / "absent"), "--store", str(tmp_path),
                     "--name", "x"]) == 2
    err = capsys.readouterr().err
    assert f"source '{tmp_path / 'absent'}' does not exist" in err, err
    assert cli_main(["ingest", "--source", "synthetic", "--store", str(tmp_path),
                     "--name", "../x"]) == 2
    assert "dataset name" in capsys.readouterr().err
    assert cli_main(["ingest", "--source", "synthetic", "--store", str(tmp_path), "--name", "x",
                     "--size", "2"]) == 2
    err = capsys.readouterr().err
    assert "--size" in err and "greater than or equal to 8" in err, err


RESUME_SCRIPT = """
import sys
from zspace.tasks.ingest.params import IngestParams
from zspace.tasks.ingest.stage import ingest
if __name__ == "__main__":
    ingest(IngestParams(source=sys.argv[1], store=sys.argv[2], name="r", size=32, chunk_rows=8,
                        workers=1))
"""


def test_resume_after_kill_is_bit_identical(messy_folder: Path, tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_sample_jpegs(src, 150, seed=9)
    for name in ("000021.jpg", "000022.jpg", "000023.jpg"):  # broken ones too
        (src / name).write_bytes((messy_folder / name).read_bytes())
    script = tmp_path / "run_ingest.py"
    script.write_text(RESUME_SCRIPT)
    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, str(script), str(src), str(killed)],
                            start_new_session=True, stderr=subprocess.DEVNULL)
    marks = at(killed, "r", "staging_images") / ".zspace-marks"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(marks.glob("*.json"))) < 3:
        assert proc.poll() is None, "ingest ended before it could be killed"
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not at(killed, "r").exists()

    cfg = dict(source=str(src), name="r", size=SIZE, chunk_rows=8)
    resumed = ingest(IngestParams(store=str(killed), **cfg))
    clean = ingest(IngestParams(store=str(tmp_path / "clean"), **cfg))
    assert resumed["fingerprint"] == clean["fingerprint"] and resumed["n_failed"] == 3
    assert np.array_equal(images(killed, "r"), images(tmp_path / "clean", "r"))
    assert at(killed, "r", "index").read_text() == at(tmp_path / "clean", "r", "index").read_text()
    assert not at(killed, "r", "staging_images").exists()


def test_flow_run_and_cli(messy_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    summary = ingest_flow(IngestParams(source=str(messy_folder), store=str(tmp_path / "st"),
                                       name="faces", size=SIZE))
    assert summary["n_images"] == 25 and summary["n_failed"] == 3
    rc = cli_main(["ingest", "--source", "synthetic", "--count", "50", "--store",
                   str(tmp_path / "st"), "--name", "synth", "--size", str(SIZE)])
    assert rc == 0 and "50 images (0 failed)" in capsys.readouterr().out


def test_kill_between_rename_and_index_resumes(tmp_path: Path) -> None:
    """The window after staging is renamed to images and before index.csv is written."""
    cfg = IngestParams(source="synthetic", count=50, store=str(tmp_path), name="w", size=SIZE,
                       chunk_rows=16)
    clean = ingest(cfg)
    index = at(tmp_path, "w", "index").read_text()
    arr = zarr.open_array(str(at(tmp_path, "w")), mode="r+")
    arr.update_attributes({"complete": False})  # the state a kill leaves in that window
    at(tmp_path, "w", "index").unlink()
    resumed = ingest(cfg)
    assert not resumed["cached"] and resumed["fingerprint"] == clean["fingerprint"]
    assert at(tmp_path, "w", "index").read_text() == index
    # a staging array left behind by a kill after finishing is cleaned up by the next call
    at(tmp_path, "w", "staging_images").mkdir()
    assert ingest(cfg)["cached"] and not at(tmp_path, "w", "staging_images").exists()
