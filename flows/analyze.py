"""Analyze stage: exact latent statistics on all N vectors (the study's latent statistics, on all N).

`zspace analyze --store S --run R` reads runs/<run>/latents/z_mean and writes runs/<run>/stats/;
`zspace analyze --latents URL --out DIR` does the same for any (N, z_dim) zarr array.
The work is in :mod:`zspace.tasks.analyze` (`analysis.py`, `stage.py`); this flow wraps it, publishes a markdown summary,
and returns a small dict (paths, the stats fingerprint, headline numbers).
"""

from __future__ import annotations

import json
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact

from zspace.cli.stage import Stage
from zspace.storage import StatsLayout, Store
from zspace.storage.lock import writer_lock
from zspace.tasks.analyze import (
    AnalyzeParams,
    StatsParams,
    analyze_latents,
    closing_lines,
    fragmentation_current,
    meaning_current,
    resolve_io,
    summary_markdown,
    write_fragmentation,
    write_meaning,
)
from zspace.tasks.common.artifacts import artifact_key


@task(name="latent-statistics")
def latent_statistics(latents_url: str, out_url: str, out_rel: str, params: dict[str, Any],
                      dask_address: str | None = None) -> dict[str, Any]:
    return analyze_latents(latents_url, Store(out_url), out_rel, StatsParams(**params),
                           dask_address=dask_address)


@task(name="latent-fragmentation")
def latent_fragmentation(out_url: str, out_rel: str, latents_url: str,
                         params: dict[str, Any]) -> dict[str, Any]:
    return write_fragmentation(out_url, out_rel, latents_url, params)


@task(name="latent-meaning")
def latent_meaning(store: str, run: str, seed: int = 0) -> dict[str, Any]:
    return write_meaning(store, run, seed)


def _artifact_key(label: str) -> str:
    return artifact_key(f"analyze-{label}")


@flow(name="analyze", log_prints=True)
def analyze_flow(params: AnalyzeParams) -> dict[str, Any]:
    """Statistics of runs/<run>/latents/z_mean (store + run) or of any zarr array (latents + out)."""
    store, run = params.store, params.run
    latents_url, out_url, out_rel, label = resolve_io(store, run, params.latents, params.out)
    params_json = json.loads(params.analysis.model_dump_json())
    st = Store(out_url)
    lock = st.run(run).lock if store and run else StatsLayout(out_rel).lock
    with writer_lock(st, lock, f"analyze {label}"):
        result = latent_statistics(latents_url, out_url, out_rel, params_json,
                                   params.dask_address)
        result["fragmentation"] = latent_fragmentation(out_url, out_rel, latents_url,
                                                       {"seed": params_json.get("seed", 0)})
        if store and run:  # what the components encode needs the run's dataset index
            result["meaning"] = latent_meaning(store, run, params_json.get("seed", 0))
    summary = Store(out_url).read_json(StatsLayout(out_rel).summary)
    create_markdown_artifact(markdown=summary_markdown(summary, label), key=_artifact_key(label),
                             description=f"Latent statistics of {latents_url}")
    return result



def _complete(store: Store, p: AnalyzeParams) -> bool:
    stats = store.run(p.run).stats
    return store.exists(stats.complete) and meaning_current(store, p.run) \
        and fragmentation_current(store, stats)


STAGE = Stage(
    name="analyze",
    help="exact statistics of a latent array (all N vectors, out of core)",
    params=AnalyzeParams,
    flow=analyze_flow,
    complete=_complete,
    upstream=("encode",),
    artifacts=("analyze-{run}",),
    check=lambda p: resolve_io(p.store, p.run, p.latents, p.out) and None,
    closing=closing_lines,
    from_pipeline=lambda ctx, run: {"store": ctx.store, "run": run,
                                    "analysis": ctx.settings["analysis"]},
    runtime=("dask_address",),
)
