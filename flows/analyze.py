"""Analyze stage: exact latent statistics on all N vectors (the study's latent statistics, on all N).

`zspace analyze --store S --run R` reads runs/<run>/latents/z_mean and writes runs/<run>/stats/;
`zspace analyze --latents URL --out DIR` does the same for any (N, z_dim) zarr array.
The work is in :mod:`zspace.tasks.analyze.stats`; this flow wraps it, publishes a markdown summary,
and returns a small dict (paths, the stats fingerprint, headline numbers).
"""

from __future__ import annotations

import json
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from pydantic import BaseModel, ConfigDict, Field

from zspace import study
from zspace.cli.stage import Stage
from zspace.storage import StatsLayout, Store, StoreError
from zspace.storage.lock import writer_lock
from zspace.tasks.analyze.stats import StatsParams, analyze_latents
from zspace.tasks.common.artifacts import artifact_key, md


def resolve_io(store: str | None, run: str | None, latents: str | None, out: str | None,
               latents_name: str = "z_mean") -> tuple[str, str, str, str]:
    """(latents URL, output store URL, output folder under it, label) from either form."""
    if store and run and not (latents or out):
        st = Store(store)
        latents_rel = st.run(run).latents(latents_name)
        if not st.has_array(latents_rel):
            raise StoreError(f"{st.join(latents_rel)} does not exist: run `zspace encode --store "
                             f"{store} --run {run}` first")
        return st.join(latents_rel), st.url, st.run(run).stats.root, run
    if latents and out and not (store or run):
        return latents, Store(out).url, "", latents.rstrip("/").rsplit("/", 1)[-1]
    raise ValueError("give either --store and --run, or --latents and --out")


@task(name="latent-statistics")
def latent_statistics(latents_url: str, out_url: str, out_rel: str, params: dict[str, Any],
                      dask_address: str | None = None) -> dict[str, Any]:
    return analyze_latents(latents_url, Store(out_url), out_rel, StatsParams(**params),
                           dask_address=dask_address)


@task(name="latent-fragmentation")
def latent_fragmentation(out_url: str, out_rel: str, latents_url: str,
                         params: dict[str, Any]) -> dict[str, Any]:
    from zspace.tasks.analyze.fragmentation_stage import write_fragmentation

    return write_fragmentation(out_url, out_rel, latents_url, params)


@task(name="latent-meaning")
def latent_meaning(store: str, run: str, seed: int = 0) -> dict[str, Any]:
    from zspace.tasks.analyze.meaning_stage import write_meaning

    return write_meaning(store, run, seed)


def summary_markdown(summary: dict[str, Any], label: str) -> str:
    """The headline figures, beside the study's reference numbers where it gives one."""
    r = summary["radius"]
    lines = [
        f"# Latent statistics: {md(label)}",
        "",
        f"**{summary['n']:,} vectors x {summary['z_dim']} components**, exact on all of them. "
        f"Fingerprint `{summary['fingerprint'][:16]}`.",
        "",
        "## Radius ||z||",
        f"mean {r['mean']:.3f}, std {r['std']:.3f}, peak {r['peak']:.2f} "
        f"(sqrt(z_dim) = {r['sqrt_z_dim']:.2f}), max {r['max']:.2f}. Study: peak ~{study.RADIUS_PEAK:g} "
        f"for z_dim {study.Z_DIM}.",
        "",
        "## Correlations",
        f"| abs(r) above | pairs i<j | study ({study.CORRELATION_SUBSAMPLE:,}-vector subsample) |",
        "| --- | --- | --- |",
    ]
    ref = dict(study.CORRELATION_COUNTS)
    for t, c in summary["correlation_counts"].items():
        lines.append(f"| {t} | {c:,} | {ref.get(t, '')} |")
    pairs = summary["correlated_pairs"]
    lines += ["", f"{len(pairs)} pairs with abs(r) > {summary['corr_threshold']:g}"
              + (" (strongest 16):" if len(pairs) > 16 else ":"), ""]
    if pairs:
        lines += ["| i | j | r |", "| --- | --- | --- |"]
        lines += [f"| {i} | {j} | {v:+.3f} |" for i, j, v in pairs[:16]]
    dom = summary["dominant_components"]
    lines += ["", "## Components", f"Dominant components ({summary['dominant_rule']}): "
              + (", ".join(f"{k} (mean {summary['mean'][k]:+.2f}, half-width "
                           f"{summary['half_width'][k]:.2f})" for k in dom) or "none")]
    if summary["zero_variance_components"]:
        lines.append(f"Zero-variance components (correlations reported as 0): "
                     f"{summary['zero_variance_components']}")
    ratio = summary["pca_explained_variance_ratio"]
    lines += ["", "## PCA", "Explained variance, first 10 components: "
              + ", ".join(f"{v:.3f}" for v in ratio[:10])]
    s = summary["slice"]
    lines += ["", "## Slice", f"{s['count']:,} vectors ({s['fraction']:.2%}) with every component "
              f"except {s['axes'][0]} and {s['axes'][1]} below {s['threshold']:g} in absolute value."]
    lines += ["", "## Artificial uniform vectors in [-b, b]",
              f"Best radius match: b = {summary['artificial_best_b']:g}; mean radius within one std "
              f"of the data's: b in {summary['artificial_matching_b']}. Study: {study.B_RANGE[0]:g} <= b "
              f"<= {study.B_RANGE[1]:g}.",
              "", "| b | mean radius | W1 to data radii | inside the data cloud |",
              "| --- | --- | --- | --- |"]
    for b, row in summary["artificial"].items():
        lines.append(f"| {b} | {row['radius_mean']:.2f} | {row['wasserstein']:.2f} | "
                     f"{row['fraction_inside']:.2%} |")
    lines += ["", summary["mahalanobis"]["rule"] + ".", summary["artificial_rule"] + "."]
    return "\n".join(lines)


def _artifact_key(label: str) -> str:
    return artifact_key(f"analyze-{label}")


class AnalyzeParams(BaseModel):
    """Where the latents are and where the statistics go; the statistics' own parameters are
    :class:`StatsParams` (nested as ``analysis``)."""

    model_config = ConfigDict(extra="forbid")

    store: str | None = Field(None, description="store root (local path or fsspec URL)")
    run: str | None = Field(None, description="run name under the store")
    latents: str | None = Field(None, description="any (N, z_dim) zarr array URL")
    out: str | None = Field(None, description="output folder for --latents")
    dask_address: str | None = Field(None, description="an existing dask scheduler, tcp://host:port")
    analysis: StatsParams = Field(default_factory=StatsParams,
                                  description="what the statistics compute")


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


def _summary(res: dict[str, Any]) -> str:
    counts = ", ".join(f">{t}: {c}" for t, c in res["correlation_counts"].items())
    return "\n".join([
        f"statistics of {res['n']:,} x {res['z_dim']} -> {res['stats_url']}"
        f"{' (already complete)' if res['cached'] else ''}",
        f"radius mean {res['radius_mean']:.3f}, peak {res['radius_peak']:.2f} "
        f"(sqrt(z_dim) {res['sqrt_z_dim']:.2f}); pairs |r| {counts}",
        f"dominant components {res['dominant_components']}; best artificial b "
        f"{res['artificial_best_b']:g}; fingerprint {res['fingerprint'][:16]}",
    ])


def _complete(store: Store, p: AnalyzeParams) -> bool:
    from zspace.tasks.analyze.fragmentation_stage import fragmentation_current
    from zspace.tasks.analyze.meaning_stage import meaning_current

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
    summary=_summary,
    from_pipeline=lambda ctx, run: {"store": ctx.store, "run": run,
                                    "analysis": ctx.settings["analysis"]},
    runtime=("dask_address",),
)
