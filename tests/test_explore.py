"""`zspace explore` in a real browser: the app served by uvicorn on a free local port, a tiny
trained, encoded and analyzed run, headless Chromium through selenium clicking a point and
moving a slider; and the API's answers to bad input."""

from __future__ import annotations

import base64
import io
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from latent_runs import RUNS, latent_store
from PIL import Image
from support import free_port, wait

from zspace.storage import Store
from zspace.tasks.explore import create_app

RUN = RUNS[1]
SCREENSHOT = Path(__file__).resolve().parents[1] / "docs" / "explorer.png"


def serve(app: Any) -> tuple[str, Any, threading.Thread]:
    """uvicorn in a thread on a free 127.0.0.1 port; returns (base URL, server, thread)."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server, thread


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Store:
    return latent_store(tmp_path_factory.getbasetemp() / "latent-runs")


@pytest.fixture(scope="module")
def app(store) -> Any:
    return create_app(store.url, RUN)


@pytest.fixture(scope="module")
def client(app) -> TestClient:
    return TestClient(app)


@pytest.fixture(scope="module")
def site(app) -> Iterator[str]:
    url, server, thread = serve(app)
    yield url
    server.should_exit = True
    thread.join(10)


def image_of(data_url: str) -> np.ndarray:
    assert data_url.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))))


def js(driver: Any, script: str, *args: Any) -> Any:
    return driver.execute_script(script, *args)


def click_row(driver: Any, row: int, shift: bool = False) -> dict[str, float]:
    """A real mouse click on the canvas where map row `row` is drawn."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    canvas = driver.find_element(By.ID, "map")
    pos = js(driver, "return window.zspaceExplorer.screenPosition(arguments[0])", row)
    size = canvas.size
    chain = ActionChains(driver).move_to_element_with_offset(
        canvas, int(pos["x"] - size["width"] / 2), int(pos["y"] - size["height"] / 2))
    chain = chain.key_down(Keys.SHIFT).click().key_up(Keys.SHIFT) if shift else chain.click()
    chain.perform()
    return pos


def loaded(driver: Any, element_id: str) -> int:
    return js(driver, "const i = document.getElementById(arguments[0]);"
                      "return i.complete ? i.naturalWidth : 0;", element_id)


def test_page_click_point_slider_and_interpolation(site, browser, client, store):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    t0 = time.perf_counter()
    browser.get(f"{site}/run/{RUN}")
    wait(browser, lambda d: js(d, "return !!(window.zspaceExplorer && window.zspaceExplorer.ready)"))
    assert "error" not in browser.find_element(By.ID, "status").get_attribute("class")
    n = js(browser, "return window.zspaceExplorer.state.rows.length")
    assert n == client.get(f"/api/runs/{RUN}/meta").json()["n"] == 320

    pos = click_row(browser, 17)
    wait(browser, lambda d: loaded(d, "point-image") and loaded(d, "point-reconstruction"))
    selected = js(browser, "return window.zspaceExplorer.state.selected")
    near = js(browser, "return window.zspaceExplorer.screenPosition(arguments[0])", selected)
    assert abs(near["x"] - pos["x"]) <= 11 and abs(near["y"] - pos["y"]) <= 11
    assert browser.find_element(By.ID, "point-index").text == f"#{selected}"
    assert loaded(browser, "point-image") == 32
    wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#neighbours img")) == 8)
    expected = [nb["index"] for nb in client.get(f"/api/runs/{RUN}/point/{selected}").json()
                ["neighbours"]]
    shown = [int(i.get_attribute("alt")[1:])
             for i in browser.find_elements(By.CSS_SELECTOR, "#neighbours img")]
    assert shown == expected and selected not in shown

    browser.find_element(By.ID, "base-point").click()
    zeros = ",".join(["0"] * 8)
    # one slider per dominant component, at 0 (a tiny model may have none)
    dom = ",".join("0" for _ in client.get(f"/api/runs/{RUN}/meta").json()["dominant_components"])
    from_point = client.get(f"/api/runs/{RUN}/decode",
                            params={"base": selected, "pc": zeros, "dom": dom}).json()["image"]
    wait(browser, lambda d: d.find_element(By.ID, "decoded").get_attribute("src") == from_point)
    before = browser.find_element(By.ID, "decoded").get_attribute("src")
    slider = browser.find_elements(By.CSS_SELECTOR, "#sliders input[data-kind=pc]")[0]
    slider.send_keys(Keys.END)  # PC1 to +3 standard deviations, by keyboard like a user
    wait(browser, lambda d: d.find_element(By.ID, "decoded").get_attribute("src") != before)
    after_expected = client.get(f"/api/runs/{RUN}/decode", params={
        "base": selected, "pc": "3," + ",".join(["0"] * 7), "dom": dom}).json()["image"]
    wait(browser, lambda d: d.find_element(By.ID, "decoded").get_attribute("src")
         == after_expected)
    assert not np.array_equal(image_of(before), image_of(after_expected))
    assert "decoded in" in browser.find_element(By.ID, "decode-info").text

    browser.find_element(By.ID, "set-a").click()
    z = np.asarray(store.open_array(store.run(RUN).latents("z_mean"))[:])
    other = int(np.argmax(np.linalg.norm(z, axis=1)))  # the farthest from the origin: B
    click_row(browser, other, shift=True)
    wait(browser, lambda d: loaded(d, "interpolation") == 8 * 33 + 1)
    assert js(browser, "return window.zspaceExplorer.state.a") == selected
    assert js(browser, "return window.zspaceExplorer.state.b") is not None
    print(f"browser flow {time.perf_counter() - t0:.1f} s")


def test_wheel_zooms_and_drag_pans(site, browser):
    from selenium.webdriver.common.action_chains import ActionChains, ScrollOrigin
    from selenium.webdriver.common.by import By

    browser.get(f"{site}/run/{RUN}")
    wait(browser, lambda d: js(d, "return !!(window.zspaceExplorer && window.zspaceExplorer.ready)"))
    canvas = browser.find_element(By.ID, "map")
    view = js(browser, "return Object.assign({}, window.zspaceExplorer.state.view)")
    ActionChains(browser).scroll_from_origin(ScrollOrigin.from_element(canvas), 0, -300).perform()
    wait(browser, lambda d: js(d, "return window.zspaceExplorer.state.view.scale") > view["scale"])
    tx = js(browser, "return window.zspaceExplorer.state.view.tx")
    ActionChains(browser).move_to_element(canvas).click_and_hold().move_by_offset(60, 0) \
        .move_by_offset(60, 0).release().perform()
    wait(browser, lambda d: js(d, "return window.zspaceExplorer.state.view.tx") > tx + 50)


def test_unknown_run_page_is_a_clear_escaped_404(site, browser, client):
    from selenium.webdriver.common.by import By

    r = client.get("/run/no-such-run")
    assert r.status_code == 404 and "train run 'no-such-run' first" in html_unescape(r.text)
    assert "Traceback" not in r.text
    bad = client.get("/run/<img src=x onerror=alert(1)>")
    assert bad.status_code == 404 and "<img" not in bad.text and "&lt;img" in bad.text
    browser.get(f"{site}/run/no-such-run")
    assert "does not exist" in browser.find_element(By.ID, "error").text


def html_unescape(text: str) -> str:
    import html

    return html.unescape(text)


@pytest.mark.parametrize(("url", "status", "words"), [
    ("/api/runs/no-such-run/meta", 404, "train run 'no-such-run' first"),
    (f"/api/runs/{RUN}/point/320", 422, "index 320 is out of range"),
    (f"/api/runs/{RUN}/point/-1", 422, "out of range"),
    (f"/api/runs/{RUN}/image/99999.png", 422, "out of range"),
    (f"/api/runs/{RUN}/interpolate.png?a=0&b=320", 422, "out of range"),
    (f"/api/runs/{RUN}/interpolate.png?a=0&b=1&steps=1000", 422, "steps must be between"),
    (f"/api/runs/{RUN}/decode?base=abc", 422, "row index or 'mean'"),
    (f"/api/runs/{RUN}/decode?pc=1,x", 422, "comma-separated numbers"),
    (f"/api/runs/{RUN}/decode?pc=" + ",".join(["1"] * 20), 422, "at most 8"),
    (f"/api/runs/{RUN}/point/seven", 422, "index"),
    (f"/api/runs/{RUN}/map/umap", 422, "map 'umap' is unknown"),
    (f"/api/runs/{RUN}/colour/nope", 422, "colouring 'nope' is unknown"),
    ("/api/runs/bad..name/meta", 404, "is not valid"),
])
def test_bad_input_is_a_clear_json_error(client, url, status, words):
    r = client.get(url)
    assert r.status_code == status, r.text
    assert words in r.json()["error"] and "Traceback" not in r.text


def test_run_without_latents_is_refused_clearly(store, tmp_path, capsys):
    from zspace.cli.main import main
    from zspace.storage import StoreError

    bare = Store(tmp_path / "store")
    bare.write_json(bare.run("bare").train_record, store.read_run_record(RUN))
    with pytest.raises(StoreError, match="zspace encode"):
        create_app(bare.url, "bare")
    assert main(["explore", "--store", bare.url, "--run", "bare"]) == 2
    err = capsys.readouterr().err
    assert "zspace encode" in err and "Traceback" not in err


def test_api_answers_agree_with_the_store(client, store):
    meta = client.get(f"/api/runs/{RUN}/meta").json()
    z = np.asarray(store.open_array(store.run(RUN).latents("z_mean"))[:], np.float64)
    assert meta["n"] == len(z) and meta["z_dim"] == z.shape[1]
    assert meta["maps"][-1]["name"] == "pca" and "radius" in meta["colourings"]
    assert any(c.startswith("factor:") for c in meta["colourings"])  # synthetic faces
    raw = client.get(f"/api/runs/{RUN}/map/pca").content
    xy = np.frombuffer(raw[: 8 * len(z)], "<f4").reshape(-1, 2)
    pca = np.asarray(store.open_array(store.run(RUN).stats.array("pca_coordinates"))[:, :2])
    assert np.allclose(xy, pca) and np.array_equal(
        np.frombuffer(raw[8 * len(z):], "<i4"), np.arange(len(z)))
    radius = np.frombuffer(client.get(f"/api/runs/{RUN}/colour/radius").content, "<f4")
    assert np.allclose(radius, np.linalg.norm(z, axis=1), atol=1e-5)
    p = client.get(f"/api/runs/{RUN}/point/11").json()
    brute = np.argsort(np.linalg.norm(z - z[11], axis=1))[1:9]
    assert sorted(nb["index"] for nb in p["neighbours"]) == sorted(brute.tolist())
    assert meta["decode_ms"] < 100, f"one decode took {meta['decode_ms']} ms"
    strip = Image.open(io.BytesIO(client.get(f"/api/runs/{RUN}/interpolate.png?a=0&b=1").content))
    assert strip.size == (8 * 33 + 1, 34)
    images = store.open_array(store.dataset("faces").images)
    shown = np.asarray(Image.open(io.BytesIO(client.get(f"/api/runs/{RUN}/image/11.png").content)))
    assert np.array_equal(shown, images[11])


def test_hover_shows_the_image_and_colour_choice_recolours(site, browser, client):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    browser.get(f"{site}/run/{RUN}")
    wait(browser, lambda d: js(d, "return !!(window.zspaceExplorer && window.zspaceExplorer.ready)"))
    canvas = browser.find_element(By.ID, "map")
    pos = js(browser, "return window.zspaceExplorer.screenPosition(5)")
    ActionChains(browser).move_to_element_with_offset(
        canvas, int(pos["x"] - canvas.size["width"] / 2),
        int(pos["y"] - canvas.size["height"] / 2)).perform()
    wait(browser, lambda d: d.find_element(By.ID, "tooltip").is_displayed()
         and loaded(d, "tooltip-img") == 32)
    hovered = js(browser, "return window.zspaceExplorer.state.hover")
    assert browser.find_element(By.ID, "tooltip-img").get_attribute("src").endswith(
        f"/image/{hovered}.png")
    assert browser.find_element(By.ID, "tooltip-text").text.startswith(f"#{hovered}")

    factor = next(c for c in client.get(f"/api/runs/{RUN}/meta").json()["colourings"]
                  if c.startswith("factor:"))
    Select(browser.find_element(By.ID, "colour-select")).select_by_value(factor)
    expected = np.frombuffer(client.get(f"/api/runs/{RUN}/colour/{factor}").content, "<f4")
    wait(browser, lambda d: js(d, "return Array.from(window.zspaceExplorer.state.colour)")
         == pytest.approx(expected.tolist()))


def test_a_t_sne_projection_is_the_first_map(store, tmp_path):
    from zspace.tasks.project.stage import project_latents

    copy = Store(tmp_path / "store")
    shutil.copytree(store.local_path(""), copy.local_path(""), dirs_exist_ok=True)
    project_latents(copy.url, RUN, {"configs": ["pca-2"], "max_points": 150, "n_iter": 50,
                                    "early_exaggeration_iter": 20, "n_jobs": 1},
                    show_progress=False)
    client = TestClient(create_app(copy.url, RUN))
    maps = client.get(f"/api/runs/{RUN}/meta").json()["maps"]
    assert [m["name"] for m in maps] == ["pca-2", "pca"] and maps[0]["n"] == 150
    assert "t-SNE" in maps[0]["label"]
    raw = client.get(f"/api/runs/{RUN}/map/pca-2").content
    rows = np.asarray(copy.open_array(copy.run(RUN).projection_rows("pca-2"))[:])
    coords = np.asarray(copy.open_array(copy.run(RUN).projection_coordinates("pca-2"))[:])
    assert np.array_equal(np.frombuffer(raw[8 * 150:], "<i4"), rows)
    assert np.allclose(np.frombuffer(raw[: 8 * 150], "<f4").reshape(-1, 2), coords)


def test_run_without_statistics_is_refused_clearly(store, tmp_path):
    from zspace.storage import StoreError

    copy = Store(tmp_path / "store")
    shutil.copytree(store.local_path(""), copy.local_path(""), dirs_exist_ok=True)
    copy.remove(copy.run(RUN).stats.complete)
    with pytest.raises(StoreError, match="zspace analyze"):
        create_app(copy.url, RUN)
