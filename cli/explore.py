"""`zspace explore --store S --run R [--port P]`: a local web page for one run's latent space
(:mod:`zspace.tasks.explore`)."""

from __future__ import annotations

from typing import Any


def _explore(values: dict[str, Any]) -> int:
    from zspace.tasks.explore import ExploreParams, serve_explorer

    serve_explorer(ExploreParams(**values))
    return 0


def _command() -> Any:
    from zspace.cli.main import Command
    from zspace.tasks.explore.params import ExploreParams

    return Command(name="explore", help="an interactive latent-space explorer in the browser",
                   params=lambda: ExploreParams, run=_explore)


COMMAND = _command()
