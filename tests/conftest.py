"""Test session set-up: a private Prefect home and a real ephemeral Prefect server."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from typing import Any

_TMP = tempfile.mkdtemp(prefix="zspace-tests-")
# Set before prefect is imported anywhere, so nothing touches the user's ~/.prefect.
os.environ["PREFECT_HOME"] = os.path.join(_TMP, "prefect-home")
os.environ["PREFECT_RESULTS_LOCAL_STORAGE_PATH"] = os.path.join(_TMP, "prefect-results")
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["PREFECT_LOGGING_LEVEL"] = "WARNING"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import pytest  # noqa: E402
from prefect.testing.utilities import prefect_test_harness  # noqa: E402


@pytest.fixture(autouse=True, scope="session")
def prefect_server():
    with prefect_test_harness(server_startup_timeout=60):
        yield


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium for a module's browser tests (marked `browser` below)."""
    from support import chromium, quit_chromium

    driver = chromium()
    yield driver
    quit_chromium(driver)


# Modules whose tests train models, run whole stages or pipelines, or build wheels (seconds to
# minutes each): `slow`. Tests that start a real server process (Prefect, uvicorn, dask): `server`.
SLOW_MODULES = {
    "test_backends", "test_dask_cluster", "test_encode", "test_explore", "test_faults",
    "test_generate", "test_hostile", "test_interrupted", "test_lock", "test_meaning",
    "test_packaging", "test_pipeline", "test_prefect_server", "test_prefect_ui", "test_project",
    "test_realism_score", "test_s3", "test_train", "test_traversals",
}
SERVER_MODULES = {"test_dask_cluster", "test_prefect_server", "test_prefect_ui"}
SERVER_FIXTURES = {"site", "s3_server"}  # uvicorn serving the explorer; moto S3
SERVER_TESTS = {"test_against_a_real_prefect_server"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Markers by what a test does: `browser` for a test that drives Chromium (its fixture),
    `server` and `slow` by module, fixture or name (see above)."""
    for item in items:
        module = item.module.__name__.rsplit(".", 1)[-1] if item.module else ""
        fixtures = set(getattr(item, "fixturenames", ()))
        if "browser" in fixtures:
            item.add_marker(pytest.mark.browser)
        if (module in SERVER_MODULES or fixtures & SERVER_FIXTURES
                or item.originalname in SERVER_TESTS):
            item.add_marker(pytest.mark.server)
        if module in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[Any]:
    """A real S3 server (moto) on 127.0.0.1 for the session, its user's AWS variables set in
    os.environ while it runs (tests/s3.py: `.endpoint`, `.env`, `.environ()`, `.bucket()`)."""
    from s3 import S3Server

    server = S3Server.start()
    saved = {k: os.environ.get(k) for k in server.env}
    os.environ.update(server.env)
    yield server
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    server.stop()
