"""The reconstruction comparison as a Prefect task, one definition for the two flows that run it:
generate (with --compare) and report (with --compare). The work is
:func:`zspace.tasks.generate.reconstruct.compare_reconstructions`, imported when it runs."""

from __future__ import annotations

from typing import Any

from prefect import task


@task(name="compare-reconstructions")
def compare_reconstructions_task(store: str, runs: list[str], n_show: int = 8) -> dict[str, Any]:
    from zspace.tasks.generate.reconstruct import compare_reconstructions

    return compare_reconstructions(store, runs, n_show)
