"""The house rules, held by a test so they stay held: small functions and modules, store paths
named only in storage/, and no references to files outside the repository."""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("cli", "flows", "tasks", "models", "storage")
MAX_FUNCTION_LINES = 60
MAX_MODULE_LINES = 450


def _sources(dirs: tuple[str, ...] = PACKAGES) -> list[Path]:
    return sorted(p for d in dirs for p in (ROOT / d).rglob("*.py"))


def test_no_function_over_60_lines() -> None:
    long = []
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.name} ({n} lines)")
    assert not long, "functions over 60 lines: " + ", ".join(long)


def test_no_module_over_450_lines() -> None:
    big = [f"{p.relative_to(ROOT)} ({n})" for p in _sources()
           if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES]
    assert not big, "modules over 450 lines: " + ", ".join(big)


# Spellings of store paths: layout segments and the store's private members.
PATH_SPELLINGS = re.compile(
    r"""(["'/](datasets|runs|latents|stats|figures|samples|projections|checkpoints)/)"""
    r"""|(zarr\.json|train\.json|history\.json|summary\.json|complete\.json|scores\.json"""
    r"""|report\.html|index\.csv|model\.keras)["']"""
    r"""|_fspath|\b(images|index|run|latents|stats|dataset)_rel\(""")


def test_store_paths_are_named_only_in_storage() -> None:
    found = []
    for path in _sources(("cli", "flows", "tasks", "models")):
        tree = ast.parse(path.read_text())
        docstrings = {id(n.value) for n in ast.walk(tree)  # docstrings may describe the layout
                      if isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)}
        for node in ast.walk(tree):
            if id(node) in docstrings:
                continue
            if isinstance(node, ast.Constant | ast.JoinedStr | ast.Attribute | ast.Call):
                seg = ast.get_source_segment(path.read_text(), node) or ""
                if isinstance(node, ast.Call | ast.Attribute) and "_rel" not in seg \
                        and "_fspath" not in seg:
                    continue
                if seg.strip("\"'f").startswith("/api/"):  # the explorer's URL routes
                    continue
                if PATH_SPELLINGS.search(seg):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {seg[:60]}")
    assert not sorted(set(found)), "store paths built outside storage/:\n" + "\n".join(
        sorted(set(found)))


# Files a user's clone does not have: the steering documents beside a checkout, a sibling folder
# reached with ../, or a path of the machine the code was written on.
OUTSIDE = re.compile(r"\b(?:SPEC|DESIGN|REFERENCE)\.md\b|\bSPEC §|\.\./shared\b|(?<![\w.])/work/")


def outside_references(paths: Iterable[Path]) -> list[str]:
    return [f"{os.path.relpath(p, ROOT)}:{i}: {line.strip()[:80]}" for p in paths
            for i, line in enumerate(p.read_text().splitlines(), 1) if OUTSIDE.search(line)]


def test_no_reference_to_files_outside_the_repository(tmp_path: Path) -> None:
    hits = outside_references([*_sources(), *ROOT.glob("*.md"), *ROOT.glob("deployments/**/*.yaml"),
                               ROOT / "Makefile", ROOT / "pyproject.toml"])
    assert not hits, "files outside this repository:\n" + "\n".join(hits)
    # the check itself: each kind of reference is found
    planted = tmp_path / "planted.py"
    planted.write_text('"see DESIGN.md"\nPATH = "../shared/data/x.tar"\nA = "/work/main/y"\n'
                       '# the architecture (SPEC §2)\nB = "./work/ok"\n')
    assert len(outside_references([planted])) == 4


def _imports(path: Path) -> set[str]:
    """Modules a source file imports anywhere in its body (function-level imports too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.update([node.module, *(f"{node.module}.{a.name}" for a in node.names)])
    return found


def test_inference_does_not_import_the_training_code() -> None:
    """Loading a model is in models/; only the train stage has the training loop in its key."""
    dirs = tuple(f"tasks/{d}" for d in ("encode", "project", "generate", "report", "common"))
    bad = [f"{p.relative_to(ROOT)}: {m}" for p in _sources(dirs) for m in sorted(_imports(p))
           if m == "zspace.tasks.train" or m.startswith("zspace.tasks.train.")]
    assert not bad, "inference imports the training code: " + ", ".join(bad)


MAX_PARAMETERS = 8
PARAMETER_DIRS = ("cli", "flows", "models", "storage", "tasks")


def test_no_function_takes_more_than_8_parameters() -> None:
    """A stage's parameters travel as its one parameter model, not restated in signatures."""
    wide = []
    for path in _sources(PARAMETER_DIRS):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                a = node.args
                names = [x.arg for x in (*a.posonlyargs, *a.args, *a.kwonlyargs)]
                n = len([x for x in names if x not in ("self", "cls")])
                if n > MAX_PARAMETERS:
                    wide.append(f"{path.relative_to(ROOT)}:{node.name} ({n})")
    assert not wide, "functions over 8 parameters: " + ", ".join(wide)


def test_no_task_module_parses_a_command_line() -> None:
    """The command line is the CLI's (built from the parameter models); a process a stage
    starts takes its parameter model as JSON instead."""
    bad = [str(p.relative_to(ROOT)) for p in _sources(("tasks",)) if "argparse" in _imports(p)]
    assert not bad, "argparse in tasks/: " + ", ".join(bad)


def test_no_flow_imports_another_flow() -> None:
    """flows/ holds only flows; what two flows share lives once in tasks/ or cli/, so a flow's
    cache key never holds another stage's code."""
    bad = [f"{p.relative_to(ROOT)}: {m}" for p in _sources(("flows",)) for m in sorted(_imports(p))
           if m.startswith("zspace.flows.")]
    assert not bad, "flows importing flows: " + ", ".join(bad)


def _module_of(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    parts = parts[1:] if parts[0] == "zspace" else parts  # zspace/study.py is zspace.study
    return ".".join(("zspace", *parts[:-1])) if parts[-1] == "__init__" else ".".join(
        ("zspace", *parts))


def _defined(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
    return names


def reexports(importers: Iterable[Path], modules: dict[str, set[str]], packages: set[str]
              ) -> list[str]:
    """`from zspace.x.y import N` where module x.y (not a package) does not define N: a name
    reached through a module that only passes it on; or where there is no module x.y (an
    import left behind by a move, in a script no test imports)."""
    found = []
    for path in importers:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("zspace.") \
                    and node.module not in modules and node.module not in packages:
                found.append(f"{os.path.relpath(path, ROOT)}:{node.lineno}: no module {node.module}")
            if isinstance(node, ast.ImportFrom) and node.module in modules:
                found += [f"{os.path.relpath(path, ROOT)}:{node.lineno}: {node.module}.{a.name}"
                          for a in node.names if a.name not in modules[node.module]
                          and f"{node.module}.{a.name}" not in modules]
    return found


def test_one_import_path_per_public_name(tmp_path: Path) -> None:
    """A name is imported from the module that defines it, or from its package's __init__
    (tasks.analyze exports its names there): no module passes on another module's names."""
    sources = [*_sources(), *(ROOT / "zspace").glob("*.py")]
    modules = {_module_of(p): _defined(ast.parse(p.read_text())) for p in sources
               if p.name != "__init__.py"}
    packages = {_module_of(p) for p in sources if p.name == "__init__.py"} | {"zspace.presets"}
    importers = [*sources, *(ROOT / "tests").glob("*.py"), *(ROOT / "benchmarks").glob("*.py")]
    bad = reexports(importers, modules, packages)
    assert not bad, "names imported through a module that does not define them:\n" + "\n".join(bad)
    planted = tmp_path / "planted.py"
    planted.write_text("from zspace.tasks.report.findings import Store\n"
                       "from zspace.tasks.analyze.stats import analyze_latents\n")
    assert len(reexports([planted], modules, packages)) == 2
