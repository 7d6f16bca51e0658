"""kill -9 at seeded random moments, every stage after training: the rerun finishes and its
result is identical to an uninterrupted run (bit-identical arrays, same fingerprints, complete
figures and report). Ingest and training have their own kill tests (test_ingest, test_train);
the whole pipeline's is in test_pipeline."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from latent_runs import RUNS, latent_store

from zspace.storage import Store

RUN = RUNS[0]
KILLS_PER_STAGE = 2
SEED = 20261125
STAGE_ARGS = {
    "encode": [],
    "analyze": ["--n-artificial", "100", "--artificial-b", "1.0", "2.0"],
    "project": ["--configs", "pca-2", "--n-iter", "100", "--early-exaggeration-iter", "50"],
    "generate": ["--n-images", "8", "--r-limits", "1.0", "3.0", "--n-reference", "100"],
    "report": ["--sample", "300"],  # over whatever project/generate left in the copy
}


def _api_url() -> str:
    from prefect.settings import PREFECT_API_URL

    return str(PREFECT_API_URL.value())


def _command(stage: str, store: Path) -> list[str]:
    return [sys.executable, "-m", "zspace.cli", stage, "--store", str(store), "--run", RUN,
            *STAGE_ARGS[stage]]


def _env() -> dict[str, str]:
    return {**os.environ, "PREFECT_API_URL": _api_url()}  # the test session's server


def run_to_end(stage: str, store: Path) -> None:
    done = subprocess.run(_command(stage, store), env=_env(), capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


def kill_after(stage: str, store: Path, delay: float) -> None:
    proc = subprocess.Popen(_command(stage, store), env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def outcome(stage: str, store: Path) -> object:
    """What must be identical after a kill and a rerun."""
    st = Store(store)
    layout = st.run(RUN)
    if stage == "encode":
        return st.open_array(layout.latents("z_mean")).attrs["fingerprint"]
    if stage == "analyze":
        return (st.read_json(layout.stats.summary)["fingerprint"],
                st.read_json(layout.stats.meaning)["stats_fingerprint"])
    if stage == "project":
        return st.read_json(layout.projection_record("pca-2"))["fingerprint"]
    if stage == "generate":
        scores = st.read_json(layout.scores)
        return json.dumps({k: v for k, v in scores.items() if k not in ("seconds",)},
                          sort_keys=True)
    html = (store / layout.report).read_text(encoding="utf-8")
    return [s.split("</h2>")[0] for s in html.split("<h2>")[1:]]


def fresh(base: Store, dest: Path, stage: str) -> Path:
    """A copy of the tiny store with this stage's output (and what follows it) removed."""
    shutil.copytree(base.local_path(), dest)
    st = Store(dest)
    layout = st.run(RUN)
    remove = {"encode": [layout.latents_dir, layout.stats.root], "analyze": [layout.stats.root],
              "project": [layout.projections], "generate": [layout.samples],
              "report": [layout.report, layout.manifest("stats")]}[stage]
    for rel in remove:
        st.remove(rel)
    return dest


@pytest.mark.parametrize("stage", list(STAGE_ARGS))
def test_kill9_then_rerun_is_identical(stage: str, tmp_path: Path,
                                       tmp_path_factory: pytest.TempPathFactory) -> None:
    base = latent_store(tmp_path_factory.getbasetemp() / "latent-runs")
    reference = fresh(base, tmp_path / "reference", stage)
    run_to_end(stage, reference)
    expected = outcome(stage, reference)
    rng = random.Random(f"{SEED}-{stage}")
    for k in range(KILLS_PER_STAGE):
        killed = fresh(base, tmp_path / f"killed-{k}", stage)
        delay = rng.uniform(2.0, 9.0)
        t0 = time.monotonic()
        kill_after(stage, killed, delay)
        assert time.monotonic() - t0 < 120
        run_to_end(stage, killed)
        assert outcome(stage, killed) == expected, (stage, k, round(delay, 2))
