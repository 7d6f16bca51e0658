"""Test session set-up: a private Prefect home and a real ephemeral Prefect server."""

from __future__ import annotations

import os
import tempfile

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
