"""Prefect the way a team runs it, each command a real process: `prefect server start` on a free
port (its home and SQLite database in a temp folder), a process work pool, `prefect deploy` of
deployments/prefect.yaml, `prefect worker start`; then runs triggered through the API, a run
that waits for the training slot naming its holder, cancelled runs that the next run resumes,
one stage rerun alone with a custom parameter, an interval schedule firing by itself, and the
same deployments served by `zspace serve`. One server and one store for the module."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from support import free_port

ROOT = Path(__file__).resolve().parents[1]
TINY = str(Path(__file__).parent / "presets" / "tiny.yaml")
# Enough epochs after the first checkpoint (a fraction of a second each) that the cancel lands
# while the trainer still runs: its round trip through server and worker takes about a second.
EPOCHS = 10
PREFECT = (sys.executable, "-m", "prefect")  # this venv's, whatever its scripts' first lines say
HOLDER = textwrap.dedent('''
    import logging
    import sys
    import time
    from pathlib import Path

    from prefect import flow
    from prefect.runtime import flow_run

    from zspace.cli.slots import describe_holder, ensure_training_limit, training_slot


    @flow(name="slot-holder")
    def hold(release: str) -> None:
        ensure_training_limit(logging.getLogger("zspace"))
        with training_slot(describe_holder("/elsewhere/store", "other-run")):
            print("HOLDING", flow_run.name, flush=True)
            while not Path(release).exists():
                time.sleep(0.2)

    hold(sys.argv[1])
''')


@dataclass
class Prefect:
    """The module's server and the processes started against it."""

    api: str
    env: dict[str, str]
    home: Path
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    def start(self, name: str, *args: str, **env: str) -> subprocess.Popen:
        """A long-running command in its own process group, its output in <home>/<name>.log."""
        log = open(self.home / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen([*args], env={**self.env, **env}, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True, cwd=ROOT)
        log.close()
        self.procs[name] = proc
        return proc

    def log(self, name: str) -> str:
        return (self.home / f"{name}.log").read_text(errors="replace")

    def stop(self, name: str) -> None:
        proc = self.procs.pop(name)
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)

    def cli(self, *args: str, timeout: float = 240) -> str:
        done = subprocess.run([*PREFECT, *args], env=self.env, cwd=ROOT,
                              capture_output=True, text=True, timeout=timeout)
        assert done.returncode == 0, (args, done.stdout[-3000:], done.stderr[-3000:])
        return done.stdout

    @contextmanager
    def client(self) -> Iterator[Any]:
        from prefect.client.orchestration import get_client
        from prefect.settings import PREFECT_API_URL, temporary_settings

        with temporary_settings({PREFECT_API_URL: self.api}), \
                get_client(sync_client=True) as client:
            yield client


def until(what: str, check: Callable[[], Any], timeout: float, every: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        assert time.monotonic() < deadline, f"no {what} within {timeout:.0f} s"
        time.sleep(every)


@pytest.fixture(scope="module")
def prefect(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prefect]:
    """server, pool, deploy, worker: what README's "Scaling out" has a team type."""
    home = tmp_path_factory.mktemp("prefect-server")
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PREFECT_HOME": str(home / "home"), "PREFECT_API_URL": api,
           "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{home / 'prefect.db'}",
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_UI_ENABLED": "false",
           "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "1",
           "PREFECT_WORKER_QUERY_SECONDS": "1", "PREFECT_RUNNER_POLL_FREQUENCY": "1",
           "PREFECT_LOGGING_LEVEL": "INFO", "ZSPACE_HOME": str(ROOT),
           "ZSPACE_SLOT_REPORT_S": "2", "ZSPACE_TRAINING_SLOTS": "1"}
    env.pop("PREFECT_RESULTS_LOCAL_STORAGE_PATH", None)
    p = Prefect(api, env, home)
    try:
        server = p.start("server", *PREFECT, "server", "start", "--host",
                         "127.0.0.1", "--port", str(port))
        until("healthy server", lambda: _healthy(api) or server.poll() is not None, 120)
        assert server.poll() is None, p.log("server")[-3000:]
        p.cli("work-pool", "create", "zspace", "--type", "process")
        p.cli("deploy", "--no-prompt", "--prefect-file", "deployments/prefect.yaml", "--all")
        p.start("worker", *PREFECT, "worker", "start", "--pool", "zspace")
        yield p
    finally:
        for name in list(p.procs):
            p.stop(name)


def _healthy(api: str) -> bool:
    try:
        return httpx.get(f"{api}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def trigger(p: Prefect, name: str, params: dict[str, Any]) -> UUID:
    from prefect.deployments import run_deployment

    with p.client():
        return run_deployment(name, parameters={"params": params}, timeout=0).id


def state_of(p: Prefect, run_id: UUID) -> Any:
    with p.client() as client:
        return client.read_flow_run(run_id).state


def finished(p: Prefect, run_id: UUID, timeout: float = 240) -> Any:
    state = until("finished flow run", lambda: (s := state_of(p, run_id)).is_final() and s,
                  timeout, every=1)
    return state


def task_states(p: Prefect, run_id: UUID) -> dict[str, str]:
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with p.client() as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run_id])))
    return {t.name: t.state.name for t in runs if t.state}


def log_lines(p: Prefect, run_id: UUID) -> list[str]:
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    with p.client() as client:
        logs = client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])))
    return [entry.message for entry in logs]


def request_cancel(p: Prefect, run_id: UUID) -> None:
    from prefect.states import Cancelling

    with p.client() as client:
        if not client.read_flow_run(run_id).state.is_final():
            client.set_flow_run_state(run_id, Cancelling(), force=True)


def cancel(p: Prefect, run_id: UUID) -> Any:
    request_cancel(p, run_id)
    return finished(p, run_id, 90)


def no_process_mentions(text: str) -> bool:
    """No process left whose command line names `text` (a store path of this test)."""
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            with suppress(OSError):
                if text.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                    return False
    return True


def descendants(pid: int) -> set[int]:
    """Every process started, directly or not, by process `pid`."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with suppress(OSError, IndexError, ValueError):
                stat = Path(f"/proc/{entry}/stat").read_text()
                parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {c for c, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def pipeline_params(store: Path, **more: Any) -> dict[str, Any]:
    return {"preset": TINY, "store": str(store), "kinds": ["ae"], **more}


@pytest.fixture(scope="module")
def store(prefect: Prefect, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("prefect-store") / "store"


@dataclass
class Interrupted:
    """A pipeline run that waited for the training slot, trained one epoch, was cancelled."""

    run: UUID
    holder: str  # the flow run that held the slot meanwhile
    lines: list[str]  # what the run said while it waited
    state: Any


@pytest.fixture(scope="module")
def interrupted(prefect: Prefect, store: Path,
                tmp_path_factory: pytest.TempPathFactory) -> Interrupted:
    """Another flow run holds the one training slot while pipeline-demo (tiny, EPOCHS epochs) is
    triggered through the API; once the holder lets go and an epoch is trained, the run is
    cancelled through the API."""
    folder = tmp_path_factory.mktemp("slot-holder")
    release = folder / "release"
    (folder / "holder.py").write_text(HOLDER)
    holder = prefect.start("holder", sys.executable, str(folder / "holder.py"), str(release))
    until("slot holder", lambda: "HOLDING" in prefect.log("holder") or holder.poll() is not None,
          90)
    assert holder.poll() is None, prefect.log("holder")[-3000:]
    name = prefect.log("holder").split("HOLDING ", 1)[1].split()[0]
    run = trigger(prefect, "pipeline/pipeline-demo", pipeline_params(store, epochs=EPOCHS))
    lines = until("a 'still waiting' line", lambda: _unfinished(prefect, run) and [
        m for m in log_lines(prefect, run) if "waiting for the zspace-training slot" in m
        and any("still waiting" in n for n in log_lines(prefect, run))], 180)
    train = [s for n, s in task_states(prefect, run).items() if n.startswith("train-")]
    assert train == ["Running"], task_states(prefect, run)
    release.touch()
    assert holder.wait(60) == 0
    prefect.procs.pop("holder")
    until("an epoch's checkpoint", lambda: _unfinished(prefect, run)
          and list(store.glob("runs/*/checkpoints/epoch-*.keras")), 240)
    return Interrupted(run, name, lines, cancel(prefect, run))


def test_a_run_waiting_for_the_training_slot_names_its_holder(prefect: Prefect,
                                                             interrupted: Interrupted) -> None:
    """The train stage says who holds the slot (flow run, run, store) in the flow run's logs,
    so in the UI, and on the worker's console: when it starts waiting and every
    ZSPACE_SLOT_REPORT_S (2 s here) after that; then that it took the slot."""
    lines = interrupted.lines
    assert lines[0].startswith("waiting for") and lines[-1].startswith("still waiting"), lines
    for line in lines:
        assert f"held by flow run {interrupted.holder!r}" in line, line
        assert "training run 'other-run' of store /elsewhere/store" in line, line
    assert f"held by flow run {interrupted.holder!r}" in prefect.log("worker")  # the console
    assert any(m.startswith("took the zspace-training slot after waiting")
               for m in log_lines(prefect, interrupted.run))


def test_a_run_cancelled_mid_training_is_resumed_by_the_next(
        prefect: Prefect, store: Path, interrupted: Interrupted) -> None:
    """Cancelled through the API after an epoch: the run is Cancelled, its trainer gone and its
    slot free; the next run of the deployment resumes from the store (ingest cached, training
    from its checkpoint) and ends with the report."""
    from zspace.cli.slots import holders

    assert interrupted.state.is_cancelled(), interrupted.state
    assert not list(store.glob("runs/*/train.json")), "training finished before the cancel"
    until("the trainer gone", lambda: no_process_mentions(str(store)), 30)
    [run_dir] = store.glob("runs/*/")
    kept = len(list(run_dir.glob("checkpoints/epoch-*.keras")))
    trained = json.loads((run_dir / "history.json").read_text())[:kept]
    assert kept >= 1
    with prefect.client() as client:
        limit = client.read_global_concurrency_limit_by_name("zspace-training")
        assert (limit.active_slots, limit.limit) == (0, 1)
        assert holders() == []
    again = trigger(prefect, "pipeline/pipeline-demo", pipeline_params(store, epochs=EPOCHS))
    assert finished(prefect, again, 300).is_completed(), prefect.log("worker")[-4000:]
    states = task_states(prefect, again)
    assert {n.split("-", 1)[0] for n, s in states.items() if s == "Cached"} == {"ingest"}, states
    assert (run_dir / "report.html").exists()
    history = json.loads((run_dir / "history.json").read_text())
    # resumed, not redone: the checkpointed epochs are kept as they were (their timings
    # included), the rest trained now
    assert len(history) == EPOCHS and history[:len(trained)] == trained, (trained, history)


def _unfinished(p: Prefect, run_id: UUID) -> bool:
    state = state_of(p, run_id)
    assert not state.is_final(), (state, p.log("worker")[-3000:])
    return True


def _unstopped(p: Prefect, name: str) -> bool:
    assert p.procs[name].poll() is None, p.log(name)[-3000:]
    return True


def _deployment(p: Prefect, name: str) -> Any:
    from prefect.exceptions import ObjectNotFound

    with p.client() as client, suppress(ObjectNotFound):
        return client.read_deployment_by_name(name)
    return None


def _all_runs(p: Prefect) -> list[Any]:
    with p.client() as client:
        return client.read_flow_runs()


def test_analyze_rerun_with_a_custom_parameter_reruns_that_stage_only(prefect: Prefect,
                                                                      store: Path) -> None:
    """stage-analyze with another correlation threshold, through the API: the statistics are
    rewritten; the dataset, model, latents, projections, samples and report are untouched."""
    run_dir = next(store.glob("runs/*/"))
    before = _mtimes(store)
    # analyze's outputs: the statistics and the figure of what the components encode
    analyzed = {p for p in before if "/stats/" in p or "/figures/meaning" in p}
    params = {"store": str(store), "run": run_dir.name, "analysis": {"corr_threshold": 0.3}}
    flow_run = trigger(prefect, "analyze/stage-analyze", params)
    assert finished(prefect, flow_run).is_completed(), prefect.log("worker")[-4000:]
    after = _mtimes(store)
    changed = {p for p in before if after.get(p) != before[p]}
    assert changed and changed <= analyzed, sorted(changed - analyzed)[:10]
    assert f"runs/{run_dir.name}/stats/summary.json" in changed
    summary = json.loads((run_dir / "stats" / "summary.json").read_text())
    assert summary["params"]["corr_threshold"] == 0.3


def _mtimes(store: Path) -> dict[str, int]:
    return {str(p.relative_to(store)).replace(os.sep, "/"): p.stat().st_mtime_ns
            for p in store.rglob("*") if p.is_file() and ".prefect-results" not in p.parts}


def test_an_interval_schedule_fires_by_itself(prefect: Prefect, store: Path) -> None:
    """A 5-second interval schedule on stage-analyze (its parameters on the schedule): a
    scheduled run appears and completes on the worker with no one triggering it."""
    from prefect.client.schemas.actions import DeploymentScheduleCreate
    from prefect.client.schemas.schedules import IntervalSchedule

    run_dir = next(store.glob("runs/*/"))
    params = {"params": {"store": str(store), "run": run_dir.name,
                         "analysis": {"corr_threshold": 0.3}}}
    with prefect.client() as client:
        dep = client.read_deployment_by_name("analyze/stage-analyze")
        [schedule] = client.create_deployment_schedules(dep.id, [DeploymentScheduleCreate(
            schedule=IntervalSchedule(interval=timedelta(seconds=5)), active=True,
            parameters=params, max_scheduled_runs=2)])
    try:
        def scheduled_done() -> list[Any]:
            with prefect.client() as client:
                runs = client.read_flow_runs()
            return [r for r in runs if r.deployment_id == dep.id and r.auto_scheduled
                    and r.state and r.state.is_completed()]

        assert until("a scheduled run completed", scheduled_done, 180)
    finally:
        with prefect.client() as client:
            client.delete_deployment_schedule(dep.id, schedule.id)


def test_zspace_serve_runs_on_demand_and_on_its_interval(prefect: Prefect, store: Path,
                                                         tmp_path: Path) -> None:
    """`zspace serve --interval 5`: a stage run triggered through the API completes in the
    serving process; pipeline-demo's interval schedule starts a run by itself (cancelled)."""
    prefect.stop("worker")
    with prefect.client() as client:  # one way or the other: serve makes its own deployments
        for dep in client.read_deployments():
            client.delete_deployment(dep.id)
    served = tmp_path / "served-store"
    prefect.start("serve", sys.executable, "-m", "zspace.cli", "serve", "--store", str(served),
                  "--interval", "5", "--cron", "none")
    until("deployments served", lambda: _unstopped(prefect, "serve")
          and _deployment(prefect, "report/stage-report"), 120)
    run_dir = next(store.glob("runs/*/"))
    flow_run = trigger(prefect, "analyze/stage-analyze", {
        "store": str(store), "run": run_dir.name, "analysis": {"corr_threshold": 0.3}})
    assert finished(prefect, flow_run).is_completed(), prefect.log("serve")[-4000:]
    with prefect.client() as client:
        demo = client.read_deployment_by_name("pipeline/pipeline-demo")

    def started() -> list[Any]:
        return [r for r in _all_runs(prefect) if r.deployment_id == demo.id and r.auto_scheduled
                and r.state and r.state.is_running()]

    until("a scheduled pipeline-demo run", started, 120)
    with prefect.client() as client:  # the demo pipeline is not for this test: pause, cancel
        for schedule in demo.schedules:
            client.update_deployment_schedule(demo.id, schedule.id, active=False)
    fired = [r for r in _all_runs(prefect) if r.deployment_id == demo.id]
    for r in fired:
        request_cancel(prefect, r.id)
    until("the fired runs cancelled", lambda: all(
        state_of(prefect, r.id).is_cancelled() for r in fired), 120, every=1)
    serving = prefect.procs["serve"].pid
    until("the served runs' processes gone", lambda: not descendants(serving), 60)


def test_a_bad_training_slot_setting_is_one_line_and_exit_2(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from zspace.cli.main import main

    monkeypatch.setenv("ZSPACE_TRAINING_SLOTS", "two")
    assert main(["run", "--preset", TINY, "--store", str(tmp_path / "store")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "ZSPACE_TRAINING_SLOTS='two'" in err, err
    assert not (tmp_path / "store").exists()
