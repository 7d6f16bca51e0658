"""The Prefect UI shows what zspace's flows publish: a real `prefect server start` on a free port,
a real flow run (in a subprocess) that creates a markdown, a table and a link artifact, and
headless Chromium reading them on the flow-run page's Artifacts tab and the artifact pages."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import free_port, wait

FLOW = textwrap.dedent('''
    from prefect import flow
    from prefect.artifacts import (create_link_artifact, create_markdown_artifact,
                                   create_table_artifact)
    from prefect.runtime import flow_run


    @flow(name="zspace-ui-check")
    def artifacts_flow() -> str:
        create_markdown_artifact("# Latent radius\\n\\nThe **radius peak** is 4.2 at z_dim 64.",
                                 key="radius-summary", description="markdown artifact")
        create_table_artifact([{"component": 3, "half_width": 1.25},
                               {"component": 7, "half_width": 0.5}],
                              key="dominant-components", description="table artifact")
        create_link_artifact("http://127.0.0.1:9/report.html", link_text="zspace report tiny-vae",
                             key="report-link", description="link artifact")
        return str(flow_run.get_id())


    print("FLOW_RUN_ID", artifacts_flow())
''')
KEYS = ("radius-summary", "dominant-components", "report-link")


def prefect_env(home: Path, port: int) -> dict[str, str]:
    api = f"http://127.0.0.1:{port}/api"
    return {**os.environ, "PREFECT_HOME": str(home), "PREFECT_API_URL": api,
            "PREFECT_UI_API_URL": api, "PREFECT_UI_ENABLED": "true",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_LOGGING_LEVEL": "WARNING"}


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[tuple[int, dict[str, str]]]:
    """`prefect server start` in its own session (stopped with its whole process group)."""
    home = tmp_path_factory.mktemp("prefect-ui-home")
    port = free_port()
    env = prefect_env(home, port)
    log = open(home / "server.log", "w")  # noqa: SIM115 - closed after the server stops
    proc = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host",
                             "127.0.0.1", "--port", str(port)], env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not healthy(port):
            assert proc.poll() is None, (home / "server.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "prefect server did not answer in 120 s"
            time.sleep(0.5)
        yield port, env
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


@pytest.fixture(scope="module")
def flow_run_id(server, tmp_path_factory) -> str:
    _, env = server
    script = tmp_path_factory.mktemp("prefect-ui-flow") / "flow.py"
    script.write_text(FLOW)
    out = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return [ln.split()[1] for ln in out.stdout.splitlines() if ln.startswith("FLOW_RUN_ID")][0]


def body_text(driver: Any) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.TAG_NAME, "body").text


def test_flow_run_page_shows_markdown_table_and_link_artifacts(server, flow_run_id, browser,
                                                              tmp_path):
    from selenium.webdriver.common.by import By

    port, _ = server
    t0 = time.perf_counter()
    browser.get(f"http://127.0.0.1:{port}/runs/flow-run/{flow_run_id}")
    tab = wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "li.p-tab#artifacts"), 60)
    assert "Completed" in body_text(browser)
    tab[0].click()
    wait(browser, lambda d: all(k in body_text(d) for k in KEYS), 60)
    browser.save_screenshot(str(tmp_path / "prefect-artifacts.png"))
    cards = {k: browser.find_element(By.XPATH, f"//a[contains(normalize-space(.), '{k}')]")
             .get_attribute("href") for k in KEYS}

    browser.get(cards["radius-summary"])
    heading = wait(browser, lambda d: d.find_elements(By.XPATH, "//h1[.='Latent radius']"), 60)
    assert heading and "#" not in heading[0].text  # rendered, not raw markdown
    bold = browser.find_element(By.XPATH, "//*[normalize-space(.)='radius peak']")
    assert int(browser.execute_script(
        "return getComputedStyle(arguments[0]).fontWeight", bold)) >= 600
    browser.get(cards["dominant-components"])
    wait(browser, lambda d: d.find_elements(By.XPATH, "//td[normalize-space(.)='1.25']"), 60)
    assert "half_width" in body_text(browser) and "component" in body_text(browser)
    browser.get(cards["report-link"])
    link = wait(browser, lambda d: d.find_elements(
        By.XPATH, "//a[normalize-space(.)='zspace report tiny-vae']"), 60)
    assert link[0].get_attribute("href") == "http://127.0.0.1:9/report.html"
    print(f"Prefect UI checks {time.perf_counter() - t0:.1f} s")
