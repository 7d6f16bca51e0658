"""The whole pipeline on a tiny preset: end to end, fully cached, partial reruns, a real server."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import yaml
import zarr
from support import free_port

from zspace.flows.pipeline import PipelineParams, pipeline_flow

TINY = str(Path(__file__).parent / "presets" / "tiny.yaml")
UPSTREAM = ("ingest", "train", "encode")
DOWNSTREAM_OF_ANALYSIS = ("analyze", "project", "generate", "report")


def stage_states(result: dict) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for key, state in result["stages"].items():
        out.setdefault(key.split("-", 1)[0], []).append(state)
    return out


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    store = tmp_path_factory.mktemp("pipeline") / "store"
    return store, pipeline_flow(PipelineParams(preset=TINY, store=str(store)))


def embedded_pngs(html: str) -> list[bytes]:
    return [base64.b64decode(b64) for b64 in re.findall(r'src="data:image/png;base64,([^"]+)"', html)]


def test_end_to_end(first_run: tuple[Path, dict]) -> None:
    store, result = first_run
    drawn = False
    assert set(stage_states(result)) == {
        "ingest", "train", "encode", "analyze", "project", "generate", "report"}
    assert all(s == "Completed" for s in result["stages"].values())
    assert sorted(result["runs"]) == ["ae", "vae"]
    runs = sorted(result["runs"].values())
    for run, report in result["reports"].items():
        html = Path(report).read_text()
        assert Path(report) == store / "runs" / run / "report.html"
        # every figure the stages drew is in the report, byte for byte
        figures = {p.name: p.read_bytes() for p in (store / "runs" / run / "figures").glob("*.png")}
        shown = embedded_pngs(html)
        assert len(figures) >= 5 and [n for n, png in figures.items() if png not in shown] == []
        # the AE-vs-VAE comparison ran: both runs measured on the test split, and shown
        rec = json.loads((store / "runs" / run / "reconstruction.json").read_text())
        assert sorted(rec) == runs, rec
        assert all(m["n"] > 0 and m["psnr"] > 0 for m in rec.values())
        section = html.split('id="reconstruction"', 1)[1].split("</section>", 1)[0]
        if "reconstruction.png" in figures:  # drawn once, in the first run's figures
            assert figures["reconstruction.png"] in embedded_pngs(section)
            drawn = True
        assert all(r in section for r in runs)
    assert drawn, "no run drew the reconstruction comparison"
    # Prefect results are small JSON files kept in the store, not pickles in the home directory
    results = list((store / ".prefect-results").iterdir())
    assert results and all(p.stat().st_size < 200_000 for p in results)
    assert all(p.read_bytes().lstrip().startswith(b"{") for p in results)


def test_second_run_is_fully_cached(first_run: tuple[Path, dict]) -> None:
    store, _ = first_run
    t = time.perf_counter()
    again = pipeline_flow(PipelineParams(preset=TINY, store=str(store)))
    assert all(s == "Cached" for s in again["stages"].values()), again["stages"]
    assert time.perf_counter() - t < 60


def test_analysis_change_reruns_only_downstream(first_run: tuple[Path, dict]) -> None:
    store, _ = first_run
    changed = pipeline_flow(PipelineParams(preset=TINY, store=str(store),
                                           analysis={"corr_threshold": 0.3}))
    states = stage_states(changed)
    for stage in UPSTREAM:
        assert set(states[stage]) == {"Cached"}, (stage, states[stage])
    for stage in DOWNSTREAM_OF_ANALYSIS:
        assert set(states[stage]) == {"Completed"}, (stage, states[stage])
    refreshed = pipeline_flow(PipelineParams(preset=TINY, store=str(store),
                                             analysis={"corr_threshold": 0.3}, refresh=["report"]))
    states = stage_states(refreshed)
    assert set(states["report"]) == {"Completed"} and set(states["analyze"]) == {"Cached"}


def rerun_with_edited_module(store: Path, module: str, tmp_path: Path,
                             monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """The pipeline's stage states after `module`'s source gains a comment (as the cache keys'
    code fingerprints read it; nothing is imported from the edited copy)."""
    from zspace.cli import stage as stage_mod

    real = stage_mod._module_file
    edited = tmp_path / f"{module.rsplit('.', 1)[-1]}.py"
    edited.write_text(real(module).read_text() + "\n# edited\n")
    monkeypatch.setattr(stage_mod, "_module_file",
                        lambda name: edited if name == module else real(name))
    return stage_states(pipeline_flow(PipelineParams(preset=TINY, store=str(store))))


def test_code_change_two_imports_deep_reruns_the_stages_that_import_it(
        first_run: tuple[Path, dict], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """tasks/generate/scoring.py is imported by tasks/generate/stage.py (not by the flow itself):
    editing it must rerun generate and nothing upstream. The report does not import it: it
    follows generate's result, rerunning only when that changed (here it can: the tests before
    this one leave another analysis in the shared store)."""
    states = rerun_with_edited_module(first_run[0], "zspace.tasks.generate.scoring", tmp_path, monkeypatch)
    for name in (*UPSTREAM, "analyze", "project"):
        assert set(states[name]) == {"Cached"}, (name, states[name])
    assert set(states["generate"]) == {"Completed"}, states["generate"]


def test_editing_the_image_streamer_reruns_train_and_nothing_downstream(
        first_run: tuple[Path, dict], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """tasks/train/stream.py is training code only: editing it reruns train, which finds each
    run finished with the same parameters and returns the same train.json, so encode and what
    follows stay cached (loading a model for inference does not import the training code)."""
    states = rerun_with_edited_module(first_run[0], "zspace.tasks.train.stream", tmp_path, monkeypatch)
    assert set(states["train"]) == {"Completed"}, states["train"]
    for name in ("ingest", "encode", *DOWNSTREAM_OF_ANALYSIS):
        assert set(states[name]) == {"Cached"}, (name, states[name])


def test_missing_outputs_are_recomputed_not_trusted(first_run: tuple[Path, dict]) -> None:
    store, result = first_run
    run = result["runs"]["ae"]
    (store / "runs" / run / "report.html").unlink()
    again = pipeline_flow(PipelineParams(preset=TINY, store=str(store)))
    assert again["stages"][f"report-{run}"] == "Completed"
    assert (store / "runs" / run / "report.html").exists()


def test_replicates_train_each_seed_and_the_findings_compare_them(tmp_path: Path) -> None:
    """--replicates 2: two seeded trainings of the kind, every stage on each, and Findings that
    give each claim per seed; a rerun is all cache hits."""
    params = PipelineParams(preset=TINY, store=str(tmp_path / "store"), kinds=["ae"],
                            replicates=2)
    result = pipeline_flow(params)
    assert sorted(result["runs"]) == ["ae", "ae-r1"]
    first, second = result["runs"]["ae"], result["runs"]["ae-r1"]
    assert second == first + "-r1"
    assert all(s == "Completed" for s in result["stages"].values()), result["stages"]
    store = tmp_path / "store" / "runs"
    seeds = [yaml.safe_load((store / r / "config.yaml").read_text())["train"]["seed"]
             for r in (first, second)]
    assert seeds[1] == seeds[0] + 1
    z = [np.asarray(zarr.open_array(str(store / r / "latents" / "z_mean"))[:]) for r in (first, second)]
    assert not np.array_equal(z[0], z[1])  # another seed, another model
    for run, other in ((first, second), (second, first)):
        rows = json.loads((store / run / "findings.json").read_text())
        assert all(set(r["seeds"]) == {run, other} for r in rows)
        assert all(r["agreement"].endswith("/2") and "across 2 seeds" in r["rule"] for r in rows)
        disagree = [r for r in rows if len({s["verdict"] for s in r["seeds"].values()}) > 1]
        assert all(r["verdict"] == "not decidable" for r in disagree)
        assert "Per training seed" in (store / run / "report.html").read_text()
    again = pipeline_flow(params)
    assert all(s == "Cached" for s in again["stages"].values()), again["stages"]


def test_bad_parameters_are_refused(tmp_path: Path) -> None:
    from zspace.cli.main import main

    assert main(["run", "--preset", "no-such-preset", "--store", str(tmp_path)]) == 2
    assert main(["run", "--preset", TINY, "--store", str(tmp_path), "--analysis", "oops"]) == 2


# What the console must not show by default (issue: a quiet, readable console).
NOISE = {
    "TensorFlow C++ logging": re.compile(r"^[IWEF]\d{4} |cpu_feature_guard|oneDNN|remapper"),
    "a per-batch Keras progbar": re.compile(r"\r|━━|\d+/\d+ \[=*>?\.*\]"),
    "distributed INFO logs": re.compile(r"distributed\.\w+ - INFO"),
    "pip noise": re.compile(r"is ignored: it is neither a file nor a directory"),
}


def assert_quiet_console(output: str, max_lines: int = 150) -> None:
    lines = output.splitlines()
    for what, pattern in NOISE.items():
        bad = [line for line in lines if pattern.search(line)]
        assert not bad, f"{what} on the console: {bad[:3]}"
    assert len(lines) < max_lines, f"{len(lines)} lines:\n" + "\n".join(lines[:200])
    assert max(map(len, lines), default=0) < 2000, "a line of several KB"


def _zspace(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(Path(sys.executable).parent / "zspace"), *args],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PREFECT_HOME": str(tmp_path / "home")})


def test_user_errors_are_one_line_and_exit_2(tmp_path: Path) -> None:
    """Caught before a flow run (no such dataset) or inside one (a dataset ingested at another
    size than the preset's): one message naming the thing, exit 2, no traceback."""
    store = str(tmp_path / "store")
    missing = _zspace(tmp_path, "train", "--store", store, "--dataset", "nope", "--preset", TINY)
    assert _zspace(tmp_path, "ingest", "--source", "synthetic", "--store", store, "--name",
                   "small", "--size", "16", "--count", "40").returncode == 0
    wrong_size = _zspace(tmp_path, "train", "--store", store, "--dataset", "small",
                         "--preset", TINY)
    for run, named in ((missing, "nope"), (wrong_size, "small")):
        out = run.stdout + run.stderr
        assert run.returncode == 2, out
        assert "Traceback" not in out, out
        errors = [line for line in run.stderr.splitlines() if line.startswith("zspace train")]
        assert len(errors) == 1 and named in errors[0], out


def test_against_a_real_prefect_server(tmp_path: Path) -> None:
    """`prefect server start` as its own process; the pipeline reports to it over HTTP."""
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "home"), "PREFECT_API_URL": api,
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_UI_ENABLED": "false"}
    prefect = Path(sys.executable).parent / "prefect"
    server = subprocess.Popen(
        [str(prefect), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{api}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None, "prefect server exited"
            assert time.monotonic() < deadline, "prefect server did not start"
            time.sleep(0.5)
        zspace = Path(sys.executable).parent / "zspace"
        run = subprocess.run(
            [str(zspace), "run", "--preset", TINY, "--store", str(tmp_path / "store"),
             "--kinds", "ae"], env=env, capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        assert_quiet_console(run.stdout + run.stderr)

        flows = httpx.post(f"{api}/flow_runs/filter", json={}).json()
        by_name = {}
        for fr in flows:
            flow = httpx.get(f"{api}/flows/{fr['flow_id']}").json()
            by_name.setdefault(flow["name"], []).append(fr)
        assert {"pipeline", "ingest", "train", "encode", "analyze", "project", "generate",
                "report"} <= set(by_name)
        pipeline_run = by_name["pipeline"][0]
        assert pipeline_run["state_type"] == "COMPLETED"
        tasks = httpx.post(f"{api}/task_runs/filter", json={
            "flow_runs": {"id": {"any_": [pipeline_run["id"]]}}}).json()
        stage_runs = [t for t in tasks if t["task_key"].startswith("run_stage")]
        assert sorted(t["name"].split("-", 1)[0] for t in stage_runs) == sorted(
            ["ingest", "train", "encode", "analyze", "project", "generate", "report"])
        assert all(t["state_type"] == "COMPLETED" for t in stage_runs)
        artifacts = httpx.post(f"{api}/artifacts/filter", json={}).json()
        kinds = {a["type"] for a in artifacts}
        assert {"markdown", "table", "progress"} <= kinds
        assert any((a.get("key") or "").startswith("report-link") for a in artifacts)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
