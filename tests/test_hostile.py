"""Hostile inputs: a corpus made here (no committed binaries), run through the real `zspace`
command. Every input gets one clear message (exit 2, no traceback) or is skipped and listed
with its reason; none crashes, hangs or executes anything; user-controlled names are escaped
wherever they are shown."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

HOSTILE_NAME = "<img src=x onerror=alert(1)>.jpg"
GOOD = {HOSTILE_NAME, "with space.jpg", "ünïcødé-顔.png", "new\nline.jpg", "ok.jpg",
        "cmyk.jpg", "grey16.png", "rgba.png", "palette.png", "one-pixel.png"}
BAD = {"truncated.jpg", "empty.jpg", "text.jpg", "fifo.jpg", "dangling.jpg", "loop.jpg"}


def _face(seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (40, 36, 3), dtype=np.uint8))


def hostile_folder(root: Path) -> Path:
    """Every kind of file a careless or hostile folder can hold."""
    root.mkdir(parents=True)
    for name in (HOSTILE_NAME, "with space.jpg", "new\nline.jpg", "ok.jpg"):
        _face(len(name)).save(root / name)
    _face(1).save(root / "ünïcødé-顔.png")
    _face(2).convert("CMYK").save(root / "cmyk.jpg")
    Image.fromarray((np.arange(1600).reshape(40, 40) * 40).astype(np.uint16)).save(
        root / "grey16.png")
    _face(3).convert("RGBA").save(root / "rgba.png")
    _face(4).convert("P").save(root / "palette.png")
    Image.new("RGB", (1, 1), (200, 10, 10)).save(root / "one-pixel.png")
    (root / "truncated.jpg").write_bytes((root / "ok.jpg").read_bytes()[:200])
    (root / "empty.jpg").write_bytes(b"")
    (root / "text.jpg").write_text("not an image, just text")
    os.mkfifo(root / "fifo.jpg")  # opening it would block forever
    (root / "dangling.jpg").symlink_to(root / "no-such-file.jpg")
    (root / "loop.jpg").symlink_to(root / "loop2.jpg")
    (root / "loop2.jpg").symlink_to(root / "loop.jpg")
    (root / "folder.jpg").mkdir()  # a directory with an image name
    (root / "subdir").mkdir()
    (root / "subdir" / "cycle").symlink_to(root, target_is_directory=True)
    return root


def zspace(tmp_path: Path, *args: str, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect-home")}
    return subprocess.run([str(Path(sys.executable).parent / "zspace"), *args], env=env,
                          capture_output=True, text=True, timeout=timeout)


def assert_user_error(run: subprocess.CompletedProcess[str], *named: str) -> None:
    out = run.stdout + run.stderr
    assert run.returncode == 2, out
    assert "Traceback" not in out and "errors.pydantic.dev" not in out, out
    lines = [line for line in run.stderr.splitlines() if line.startswith("zspace ")]
    assert len(lines) == 1, out
    for name in named:
        assert name in lines[0], (name, lines[0])


def test_hostile_folder_is_ingested_with_every_failure_listed(tmp_path: Path) -> None:
    src = hostile_folder(tmp_path / "faces")
    store = tmp_path / "store"
    run = zspace(tmp_path, "ingest", "--source", str(src), "--store", str(store), "--name",
                 "hostile", "--size", "16")
    assert run.returncode == 0, run.stdout + run.stderr
    rows = list(csv.DictReader(io.StringIO(
        (store / "datasets" / "hostile" / "index.csv").read_text(encoding="utf-8"))))
    by_file = {r["file"]: r for r in rows}
    assert set(by_file) >= GOOD and set(by_file) >= BAD, sorted(by_file)
    for name in GOOD:
        assert by_file[name]["status"] == "ok", (name, by_file[name])
    for name in BAD:
        assert by_file[name]["status"].startswith("failed: "), (name, by_file[name])
    assert "folder.jpg" not in by_file  # a directory is not a source
    assert "Traceback" not in run.stdout + run.stderr


def test_bad_sources_and_names_are_one_clear_message(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "corrupt.zip").write_bytes(b"PK\x03\x04 this is not a zip")
    store = str(tmp_path / "store")
    cases = [
        (["--source", str(tmp_path / "nowhere")], "nowhere"),
        (["--source", str(tmp_path / "empty")], "holds no images"),
        (["--source", str(tmp_path / "corrupt.zip")], "corrupt.zip"),
        (["--source", "synthetic", "--name", "../escape"], "../escape"),
        (["--source", "synthetic", "--name", "a/b"], "a/b"),
        (["--source", "synthetic", "--size", "0"], "--size"),
        (["--source", "synthetic", "--size", "-32"], "--size"),
        (["--source", "synthetic", "--count", "0"], "--count"),
    ]
    for extra, named in cases:
        args = ["ingest", "--store", store, "--name", "d", *extra]
        run = zspace(tmp_path, *args)
        assert_user_error(run, named)
    (tmp_path / "a-file").write_text("x")
    assert_user_error(zspace(tmp_path, "encode", "--store", str(tmp_path / "a-file"), "--run",
                             "r"), "is a file")


PRESETS = {
    "malformed": "model: {kind: ae, z_dim: [\n",
    "typo": "model:\n  knd: ae\n  z_dim: 8\n",
    "z_dim-0": "model: {kind: ae, input_size: 32, z_dim: 0}\n",
    "lengths": "model: {kind: ae, input_size: 32, filters: [8, 8, 16, 16], kernels: [3, 3]}\n",
    "python-tag": "model: !!python/object/apply:os.system ['touch PWNED']\n",
    "not-a-mapping": "- just\n- a list\n",
}


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_bad_presets_are_refused_and_nothing_runs(tmp_path: Path, name: str) -> None:
    preset = tmp_path / f"{name}.yaml"
    preset.write_text(PRESETS[name])
    run = zspace(tmp_path, "run", "--preset", str(preset), "--store", str(tmp_path / "s"))
    assert_user_error(run, f"{name}.yaml")
    assert not (tmp_path / "PWNED").exists() and not Path("PWNED").exists()
    assert not (tmp_path / "s" / "datasets").exists()  # refused before any stage ran


def test_partition_file_errors_name_file_and_line(tmp_path: Path) -> None:
    src = tmp_path / "faces"
    src.mkdir()
    _face(0).save(src / "a.jpg")
    part = tmp_path / "list_eval_partition.txt"
    part.write_text("a.jpg 0\nb.jpg seven\n")
    run = zspace(tmp_path, "ingest", "--source", str(src), "--store", str(tmp_path / "s"),
                 "--name", "d", "--partition", str(part))
    assert_user_error(run, "list_eval_partition.txt", "2")


def test_zip_slip_and_hostile_names_in_a_zip(tmp_path: Path) -> None:
    buf = io.BytesIO()
    _face(0).save(buf, format="JPEG")
    with zipfile.ZipFile(tmp_path / "faces.zip", "w") as zf:
        zf.writestr("../../evil.jpg", buf.getvalue())
        zf.writestr("/abs.jpg", buf.getvalue())
        zf.writestr(HOSTILE_NAME, buf.getvalue())
    run = zspace(tmp_path, "ingest", "--source", str(tmp_path / "faces.zip"), "--store",
                 str(tmp_path / "s"), "--name", "z", "--size", "16")
    assert run.returncode == 0, run.stdout + run.stderr
    assert not (tmp_path.parent / "evil.jpg").exists()
    rows = {r["file"]: r["status"] for r in csv.DictReader(io.StringIO(
        (tmp_path / "s" / "datasets" / "z" / "index.csv").read_text(encoding="utf-8")))}
    assert rows[HOSTILE_NAME] == "ok"
    assert rows["../../evil.jpg"].startswith("failed: refused")


def test_markdown_artifacts_escape_user_names() -> None:
    from zspace.tasks.common.artifacts import md
    from zspace.tasks.ingest.artifacts import artifact_markdown

    text = artifact_markdown(
        {"dataset": "d", "source": "/x/<b>", "kind": "folder", "n_images": 1, "n_sources": 2,
         "size": 16, "n_failed": 1, "splits": {"train": 1}, "images": "u", "fingerprint": "f"},
        [(HOSTILE_NAME, "failed: <script>alert(1)</script> | x")])
    assert "<img" not in text and "<script>" not in text and "<b>" not in text
    assert md("a|b\nc") == "a\\|b c" and "&lt;img" in md(HOSTILE_NAME)


def test_report_escapes_attribute_names(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Attribute names come from the user's list_attr_celeba.txt and reach the report."""
    from latent_runs import DATASET, RUNS, latent_store

    from zspace.storage import read_index, write_index
    from zspace.tasks.analyze import write_meaning
    from zspace.tasks.report.stage import write_report

    store = latent_store(tmp_path_factory.getbasetemp() / "latent-runs")
    idx = read_index(store, DATASET)
    rng = np.random.default_rng(0)
    evil = "<script>alert(1)</script>"
    original = [{k: (v[i].item() if hasattr(v[i], "item") else v[i]) for k, v in idx.items()}
                for i in range(len(idx["file"]))]
    records = [{**r, f"attr_{evil}": float(rng.integers(0, 2)) if r["row"] >= 0 else ""}
               for r in original]
    write_index(store, DATASET, records)
    try:
        write_meaning(store.url, RUNS[0])
        doc = Path(write_report(store.url, RUNS[0])["report"]).read_text(encoding="utf-8")
    finally:  # the shared tiny store goes back to exactly what it was
        store.remove(store.run(RUNS[0]).stats.meaning)
        write_index(store, DATASET, original)
    assert read_index(store, DATASET).keys() == idx.keys()
    assert evil not in doc and "&lt;script&gt;alert(1)&lt;/script&gt;" in doc
