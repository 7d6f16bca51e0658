"""Disk faults: a store on a file system that fills up mid-stage fails with one clear message
(exit 2), claims nothing half-written as complete, and resumes to the same result once there
is room (a real, size-limited tmpfs)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from zspace.storage import Store


def _mount_tmpfs(path: Path, size: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True, text=True)
    assert done.returncode == 0, ("this test needs a small tmpfs (run as root, as CI does): "
                                  + done.stderr)


def _zspace(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value())}  # the session's server
    return subprocess.run([str(Path(sys.executable).parent / "zspace"), *args], env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture
def small_disk(tmp_path: Path):
    disk = tmp_path / "disk"
    _mount_tmpfs(disk, "1500k")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def test_disk_full_mid_ingest_keeps_chunks_and_resumes(tmp_path: Path, small_disk: Path) -> None:
    args = ["ingest", "--source", "synthetic", "--count", "1500", "--size", "32", "--name",
            "faces", "--chunk-rows", "100"]
    full = _zspace(tmp_path, *args, "--store", str(small_disk / "store"))
    out = full.stdout + full.stderr
    assert full.returncode == 2, out
    assert "no space left" in full.stderr and "Traceback" not in out, out
    # nothing half-written is claimed complete: the final array does not exist yet
    assert not (small_disk / "store" / "datasets" / "faces" / "images").exists()
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    resumed = _zspace(tmp_path, *args, "--store", str(small_disk / "store"))
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    clean = _zspace(tmp_path, *args, "--store", str(tmp_path / "clean"))
    assert clean.returncode == 0
    fp = [Store(s).open_array(Store(s).dataset("faces").images).attrs["fingerprint"]
          for s in (small_disk / "store", tmp_path / "clean")]
    assert fp[0] == fp[1]
