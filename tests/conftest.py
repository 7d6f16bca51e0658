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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that drives the browser is a `browser` test, whichever module it is in."""
    for item in items:
        if "browser" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)
