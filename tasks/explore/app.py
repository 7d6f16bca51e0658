"""The explorer's web app: one static page (static/) and a small JSON/PNG/binary API over
:class:`~zspace.tasks.explore.data.RunData`. Errors are a JSON ``{"error": message}`` (or, for
the page itself, an escaped HTML page) with HTTP 404/422, never a stack trace."""

from __future__ import annotations

import base64
import html
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from zspace.storage import Store, StoreError
from zspace.storage.layout import LayoutError
from zspace.tasks.explore.data import (
    MAX_PCS,
    SLIDER_STD,
    ExploreError,
    RunData,
    load_run,
    png,
    strip_png,
)
from zspace.tasks.explore.params import ExploreParams

STATIC = Path(__file__).parent / "static"
PNG = "image/png"


class RunCache:
    """Runs loaded on first use (the default one at start); a failed load is not kept, so a
    run encoded or analyzed later is picked up on the next request."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.runs: dict[str, RunData] = {}
        self.lock = threading.Lock()

    def get(self, run: str) -> RunData:
        with self.lock:
            if run not in self.runs:
                self.runs[run] = load_run(self.store, run)
            return self.runs[run]


def _status(exc: Exception) -> int:
    return 404 if isinstance(exc, StoreError | LayoutError | FileNotFoundError) else 422


def _install_error_handlers(app: FastAPI) -> None:
    """Every failure becomes one readable message; a page request gets an escaped HTML page."""

    def reply(request: Request, status: int, message: str) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": message}, status_code=status)
        body = (f"<!doctype html><meta charset='utf-8'><title>zspace explore: error</title>"
                f"<h1>zspace explore</h1><p id='error'>{html.escape(message)}</p>")
        return HTMLResponse(body, status_code=status)

    @app.exception_handler(StoreError)
    @app.exception_handler(ValueError)
    @app.exception_handler(FileNotFoundError)
    async def _known(request: Request, exc: Exception) -> Response:
        return reply(request, _status(exc), str(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        parts = [f"{'.'.join(str(p) for p in e.get('loc', ())[1:])}: {e.get('msg')}"
                 for e in exc.errors()]
        return reply(request, 422, "invalid request: " + "; ".join(parts))

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Response:
        return reply(request, exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _other(request: Request, exc: Exception) -> Response:
        return reply(request, 500, f"internal error ({type(exc).__name__}): {exc}")


def meta(data: RunData) -> dict[str, Any]:
    """What the page needs to draw its controls."""
    n_pcs = min(MAX_PCS, len(data.pca_eigenvalues))
    return {
        "run": data.run, "dataset": data.dataset, "n": data.n,
        "z_dim": int(data.z_mean.shape[1]), "image_shape": list(data.images.shape[1:]),
        "maps": [{"name": m.name, "label": m.label, "n": len(m.rows)} for m in data.maps.values()],
        "colourings": list(data.colourings),
        "dominant_components": data.dominant_components,
        "pcs": [{"index": k, "eigenvalue": float(data.pca_eigenvalues[k])} for k in range(n_pcs)],
        "slider_std": SLIDER_STD, "decode_ms": round(data.decode_ms, 2),
    }


def point(data: RunData, index: int) -> dict[str, Any]:
    """One encoded image: its z_mean, radius, colouring values and nearest neighbours."""
    i = data.row(index)
    z = data.z_mean[i]
    dist, idx = data.neighbours.kneighbors(z[None])
    near = [{"index": int(j), "distance": float(d)} for d, j in zip(dist[0], idx[0], strict=True)
            if int(j) != i][: len(idx[0]) - 1]
    values = {k: (None if not np.isfinite(v[i]) else float(v[i])) for k, v in data.colourings.items()}
    return {"index": i, "radius": float(np.linalg.norm(z)), "z_mean": z.tolist(),
            "values": values, "neighbours": near}


def _weights(text: str, count: int, what: str) -> np.ndarray:
    """A comma-separated list of up to `count` slider positions, in standard deviations."""
    w = np.zeros(count)
    if not text:
        return w
    try:
        vals = [float(v) for v in text.split(",")]
    except ValueError:
        raise ExploreError(f"{what} must be comma-separated numbers, got {text[:40]!r}") from None
    if len(vals) > count or not np.all(np.isfinite(vals)):
        raise ExploreError(f"{what} takes at most {count} finite numbers, got {len(vals)}")
    w[: len(vals)] = np.clip(vals, -10 * SLIDER_STD, 10 * SLIDER_STD)
    return w


def slider_point(data: RunData, base: str, pc: str, dom: str) -> np.ndarray:
    """base (a row index or "mean") + sum_k pc_k sqrt(eigenvalue_k) axis_k + sum_j dom_j std_j e_j."""
    z = data.mean.copy() if base == "mean" else data.z_mean[data.row(_int(base, "base"))].copy()
    n_pcs = min(MAX_PCS, len(data.pca_eigenvalues))
    w = _weights(pc, n_pcs, "pc")
    scale = np.sqrt(np.clip(data.pca_eigenvalues[:n_pcs], 0.0, None))
    z = z + (w * scale) @ data.pca_components[:n_pcs]
    wd = _weights(dom, len(data.dominant_components), "dom")
    for j, t in zip(data.dominant_components, wd, strict=True):
        z[j] += t * data.std[j]
    return z


def _int(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ExploreError(f"{what} must be a row index or 'mean', got {text[:40]!r}") from None


def _api(app: FastAPI, runs: RunCache) -> None:
    """The JSON, binary and PNG endpoints under /api/runs/<run>/."""
    r = "/api/runs/{run}"

    @app.get(r + "/meta")
    def _meta(run: str) -> dict[str, Any]:
        return meta(runs.get(run))

    @app.get(r + "/map/{name}")
    def _map(run: str, name: str) -> Response:
        data = runs.get(run)
        if name not in data.maps:
            raise ExploreError(f"map {name!r} is unknown: choose from {sorted(data.maps)}")
        return Response(data.maps[name].binary(), media_type="application/octet-stream")

    @app.get(r + "/colour/{name}")
    def _colour(run: str, name: str) -> Response:
        data = runs.get(run)
        if name not in data.colourings:
            raise ExploreError(f"colouring {name!r} is unknown: choose from {list(data.colourings)}")
        return Response(np.ascontiguousarray(data.colourings[name], "<f4").tobytes(),
                        media_type="application/octet-stream")

    @app.get(r + "/point/{index}")
    def _point(run: str, index: int) -> dict[str, Any]:
        return point(runs.get(run), index)

    @app.get(r + "/image/{index}.png")
    def _image(run: str, index: int) -> Response:
        data = runs.get(run)
        return Response(png(np.asarray(data.images[data.row(index)])), media_type=PNG)

    @app.get(r + "/reconstruction/{index}.png")
    def _reconstruction(run: str, index: int) -> Response:
        data = runs.get(run)
        return Response(png(data.decode(data.z_mean[data.row(index)][None])[0]), media_type=PNG)

    _generative_api(app, runs, r)


def _generative_api(app: FastAPI, runs: RunCache, r: str) -> None:
    """Decoding chosen points: slider positions and straight-line interpolations."""

    @app.get(r + "/decode")
    def _decode(run: str, base: str = "mean", pc: str = "", dom: str = "") -> dict[str, Any]:
        data = runs.get(run)
        z = slider_point(data, base, pc, dom)
        t0 = time.perf_counter()
        image = png(data.decode(z[None])[0])
        ms = (time.perf_counter() - t0) * 1000.0
        return {"image": "data:image/png;base64," + base64.b64encode(image).decode("ascii"),
                "decode_ms": round(ms, 2), "radius": float(np.linalg.norm(z))}

    @app.get(r + "/interpolate.png")
    def _interpolate(run: str, a: int, b: int, steps: int = 8) -> Response:
        data = runs.get(run)
        if not 2 <= steps <= 32:
            raise ExploreError(f"steps must be between 2 and 32, got {steps}")
        za, zb = data.z_mean[data.row(a)], data.z_mean[data.row(b)]
        t = np.linspace(0.0, 1.0, steps)[:, None]
        return Response(strip_png(data.decode((1 - t) * za + t * zb)), media_type=PNG)


def create_app(store: str, run: str) -> FastAPI:
    """The explorer's ASGI app for `run` under the store at `store` (loads the run now, so a
    run that cannot be explored fails here with a clear StoreError)."""
    runs = RunCache(Store(store))
    runs.get(run)
    app = FastAPI(title="zspace explore", docs_url=None, redoc_url=None, openapi_url=None)
    _install_error_handlers(app)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/")
    def _root() -> RedirectResponse:
        return RedirectResponse("/run/" + quote(run, safe=""))

    @app.get("/run/{name}")
    def _page(name: str) -> FileResponse:
        runs.get(name)
        return FileResponse(STATIC / "index.html", media_type="text/html")

    _api(app, runs)
    return app


def serve_explorer(params: ExploreParams) -> None:
    """`zspace explore`: serve the explorer until interrupted."""
    import uvicorn

    app = create_app(params.store, params.run)
    print(f"zspace explore: http://{params.host}:{params.port}/run/{params.run}  (Ctrl-C to stop)",
          flush=True)
    uvicorn.run(app, host=params.host, port=params.port, log_level="warning")
