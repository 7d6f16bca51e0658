"""`zspace explore --store S --run R [--port P]`: a local web page for one run's latent space
(:mod:`zspace.tasks.explore`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ExploreParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    store: str = Field(description="store root (local path)")
    run: str = Field(description="an encoded and analyzed run under the store")
    host: str = Field("127.0.0.1", description="address to serve on (local only by default)")
    port: int = Field(8765, ge=1, le=65535, description="port to serve on")


def _explore(values: dict[str, Any]) -> int:
    from zspace.tasks.explore import serve_explorer

    p = ExploreParams(**values)
    serve_explorer(p.store, p.run, host=p.host, port=p.port)
    return 0


def _command() -> Any:
    from zspace.cli.main import Command

    return Command(name="explore", help="an interactive latent-space explorer in the browser",
                   params=lambda: ExploreParams, run=_explore)


COMMAND = _command()
