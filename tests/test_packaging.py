"""A non-editable install carries what zspace reads at run time: the presets (package data),
every subpackage, and the `zspace` command."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_holds_presets_and_every_package(tmp_path: Path) -> None:
    src = tmp_path / "src"  # built from a copy, so no build/ folder lands in the checkout
    for part in ("cli", "flows", "tasks", "models", "storage", "zspace", "deployments"):
        shutil.copytree(ROOT / part, src / part, ignore=shutil.ignore_patterns("__pycache__"))
    for f in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(ROOT / f, src / f)
    (src / "tasks" / "newstage").mkdir()  # a new stage package, named nowhere else
    (src / "tasks" / "newstage" / "__init__.py").write_text("")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path / "dist"), str(src)], check=True,
                   capture_output=True, timeout=300)
    wheel = next((tmp_path / "dist").glob("zspace-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for preset in ("demo", "celeba-ae", "celeba-ae-1600", "celeba-vae"):
        assert f"zspace/presets/{preset}.yaml" in names
    packages = {p.parent.relative_to(ROOT).as_posix() for d in ("cli", "flows", "tasks",
                                                                 "models", "storage")
                for p in (ROOT / d).rglob("__init__.py")}
    for pkg in [*packages, "tasks/newstage"]:
        assert f"zspace/{pkg}/__init__.py" in names, pkg
    assert any(n.endswith("entry_points.txt") for n in names)
    static = [p.relative_to(ROOT / "tasks").as_posix()
              for p in (ROOT / "tasks").rglob("static/*") if p.is_file()]
    for f in static:
        assert f"zspace/tasks/{f}" in names, f
