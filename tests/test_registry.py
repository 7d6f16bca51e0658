"""The stage registry is the one declaration of every stage: the CLI, `zspace serve`,
deployments/prefect.yaml and the cache keys all follow it."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import yaml

from zspace.cli.main import build_parser, main
from zspace.cli.registry import STAGE_NAMES, stage, stages
from zspace.cli.serve import stage_parameters
from zspace.cli.stage import code_fingerprint, code_modules

ROOT = Path(__file__).resolve().parents[1]


def test_every_stage_declared_once_in_graph_order() -> None:
    names = [s.name for s in stages()]
    assert names == list(STAGE_NAMES) and len(set(names)) == len(names)
    for i, s in enumerate(stages()):
        assert set(s.upstream) <= set(names[:i])
        assert s.flow.name == s.name


def test_cli_subcommands_and_options_come_from_the_models() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert set(sub.choices) == {*STAGE_NAMES, "run", "serve", "explore"}
    for s in stages():
        opts = {o for a in sub.choices[s.name]._actions for o in a.option_strings}
        for model in (s.params, *s.nested.values()):
            for field in model.model_fields:
                if field in s.nested:
                    continue
                assert "--" + field.replace("_", "-") in opts, (s.name, field)


def test_cli_defaults_are_the_models_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    from zspace.tasks.analyze import StatsParams

    with pytest.raises(SystemExit):
        build_parser().parse_args(["analyze", "--help"])
    text = capsys.readouterr().out
    assert f"(default: {StatsParams.model_fields['corr_threshold'].default})" in text


def test_user_errors_name_the_option_without_traceback(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ingest", "--source", str(tmp_path / "nowhere"), "--store", str(tmp_path),
                 "--name", "d"]) == 2
    err = capsys.readouterr().err
    # one line, naming the path that is wrong and saying what is wrong with it
    assert err.count("\n") == 1 and str(tmp_path / "nowhere") in err, err
    assert "does not exist" in err, err
    assert "errors.pydantic.dev" not in err and "Traceback" not in err
    assert main(["encode", "--store", str(tmp_path), "--run", "r", "--batch-size", "0"]) == 2
    err = capsys.readouterr().err
    assert "--batch-size" in err and err.count("\n") == 1


def test_prefect_yaml_matches_the_registry(tmp_path: Path) -> None:
    """deployments/prefect.yaml stays a file for `prefect deploy`; it must say what
    `zspace serve` serves."""
    from zspace.cli.serve import PRESETS

    doc = yaml.safe_load((ROOT / "deployments" / "prefect.yaml").read_text())
    deps = {d["name"]: d for d in doc["deployments"]}
    assert set(deps) == {*(f"pipeline-{p}" for p in PRESETS), *(f"stage-{n}" for n in STAGE_NAMES)}
    store = "{{ $ZSPACE_HOME }}/zspace-store"
    expected = stage_parameters(store)
    for s in stages():
        dep = deps[f"stage-{s.name}"]
        path, func = dep["entrypoint"].split(":")
        assert importlib.import_module(s.flow.fn.__module__).__file__.endswith(path)
        assert func == s.flow.fn.__name__
        assert dep["parameters"] == expected[s.name], s.name


def test_code_fingerprint_follows_imports_transitively() -> None:
    """generate imports tasks/generate/stage, which imports tasks/common/sampling: a change
    two imports deep must reach generate's key (the old hand-kept list missed such helpers)."""
    assert "zspace.tasks.common.sampling" in code_modules("zspace.flows.generate")
    assert "zspace.tasks.generate.reconstruct" in code_modules("zspace.flows.report")
    assert "zspace.models.autoencoder" in code_modules("zspace.flows.train")
    assert "zspace.tasks.analyze.analysis" not in code_modules("zspace.flows.ingest")
    assert stage("generate").code_fingerprint() == code_fingerprint("zspace.flows.generate")


def test_artifact_keys_are_distinct_and_run_names_do_not_repeat_the_kind() -> None:
    """Defects: the ingest progress and summary artifacts shared one key; run names repeated
    the kind (<dataset>-celeba-ae-ae)."""
    from zspace.flows.pipeline import run_name
    from zspace.tasks.common.artifacts import artifact_key

    keys = [artifact_key(k.format(dataset="faces", run="faces-demo-ae"))
            for s in stages() for k in s.artifacts]
    assert len(keys) == len(set(keys)), keys
    assert run_name("celeba16k-96px", "celeba-ae", "ae") == "celeba16k-96px-celeba-ae"
    assert run_name("celeba16k-96px", "celeba-ae", "vae") == "celeba16k-96px-celeba-ae-vae"
    assert run_name("synthetic-32px", "demo", "ae") == "synthetic-32px-demo-ae"
