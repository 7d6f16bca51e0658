"""Drawing the statistics figures of the blog series "Autoencoders and latent space
fragmentation" from what the analyze stage stored: the registry's figures rendered to PNG and
written with their manifest.

Every figure is a PNG (matplotlib Agg, 100 dpi, fixed size) listed in a manifest
``[{"file", "title", "caption", "section", "width", "height", "stats_fingerprint"}]``; the report
embeds whatever the manifests list, filed by their section id. The figures themselves, one draw
function each, are the registry :data:`~zspace.tasks.report.figures.FIGURES`.

Two entry points: :func:`draw_stats_figures` (a run's stats -> its figures folder and the
manifest ``figures/stats.json``) and :func:`draw_figures` (any stats folder, e.g. ``zspace
analyze --latents URL --out DIR``, into any folder, with its manifest ``stats.json`` there).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from zspace.storage import StatsLayout, Store, StoreError, open_array
from zspace.tasks.analyze import RowsBar
from zspace.tasks.common.figures import png_bytes, write_manifest
from zspace.tasks.report.figures import FIGURES, FigureContext, StatsFigure
from zspace.tasks.report.style import size_px
from zspace.tasks.report.zoom import MAX_ZOOM_POINTS

MANIFEST = "stats.json"  # the manifest's name in a figures folder outside a run
STAGE = "stats"  # the manifest's stage name in a run: figures/stats.json


def figure_context(stats: Store, layout: StatsLayout, latents_url: str | None = None,
                   **settings: Any) -> FigureContext:
    """The context the draw functions read; the latents default to the analysed input."""
    stats.require(layout.summary, "run `zspace analyze` first")
    summary = stats.read_json(layout.summary)
    latents_url = latents_url or summary["input"]["url"]
    latents = open_array(latents_url)
    n, z = int(summary["n"]), int(summary["z_dim"])
    if tuple(latents.shape) != (n, z):
        raise StoreError(f"{latents_url} has shape {tuple(latents.shape)}, but the statistics in "
                         f"{stats.join(layout.root)} are of ({n}, {z}): redo `zspace analyze`")
    return FigureContext(stats, layout, summary, latents, **settings)


def render(ctx: FigureContext, figures: list[StatsFigure] = FIGURES
           ) -> Iterator[tuple[dict[str, Any], bytes]]:
    """(manifest entry, PNG bytes) of every file of every registered figure, in order."""
    fp = ctx.summary.get("fingerprint", "")
    for spec in figures:
        for d in spec.draw(ctx):
            w, h = size_px(d.fig)
            entry = {"file": d.file, "title": d.title or spec.title, "caption": d.caption,
                     "section": spec.section, "width": w, "height": h, "stats_fingerprint": fp}
            yield entry, png_bytes(d.fig)


def _draw(ctx: FigureContext, write: Callable[[str, bytes], None],
          show_progress: bool) -> list[dict[str, Any]]:
    bar = RowsBar(2 * ctx.n, "zoom series", show_progress)  # the two zoom passes over N rows
    ctx.progress = bar.update if show_progress else None
    manifest = []
    for entry, png in render(ctx):
        write(entry["file"], png)
        manifest.append(entry)
    bar.close()
    return manifest


def draw_figures(
    stats_url: str,
    out_url: str,
    latents_url: str | None = None,
    *,
    sample: int = 5000,
    seed: int = 0,
    label: str = "",
    max_zoom_points: int = MAX_ZOOM_POINTS,
    show_progress: bool = False,
) -> list[dict[str, Any]]:
    """Draw every statistics figure of the stats folder at stats_url into out_url.

    latents_url defaults to the input the statistics were computed from (summary.json). Returns
    the manifest, which is also written to ``<out_url>/stats.json``.
    """
    ctx = figure_context(Store(stats_url), StatsLayout(""), latents_url, sample=sample,
                         seed=seed, label=label, max_zoom_points=max_zoom_points)
    out = Store(out_url)
    manifest = _draw(ctx, out.write_bytes, show_progress)
    out.write_json(MANIFEST, manifest)
    return manifest


def draw_stats_figures(store_url: str, run: str, *, sample: int = 5000, seed: int = 0,
                       show_progress: bool = False,
                       max_zoom_points: int = MAX_ZOOM_POINTS) -> list[dict[str, Any]]:
    """Figures of the run's statistics into its figures folder (manifest figures/stats.json)."""
    store = Store(store_url)
    layout = store.run(run)
    store.require(layout.stats.complete,  # summary.json alone may be stale
                  f"no complete statistics: run `zspace analyze --store {store_url} --run {run}` "
                  "first")
    latents = layout.latents()
    latents_url = store.join(latents) if store.has_array(latents) else None
    ctx = figure_context(store, layout.stats, latents_url, sample=sample, seed=seed, label=run,
                         max_zoom_points=max_zoom_points)
    manifest = _draw(ctx, lambda file, png: store.write_bytes(layout.figure(file), png),
                     show_progress)
    write_manifest(store, run, STAGE, manifest)
    return manifest


def stats_figures_current(store_url: str, run: str) -> bool:
    """figures/stats.json lists existing files drawn from the current statistics."""
    store = Store(store_url)
    layout = store.run(run)
    if not (store.exists(layout.manifest("stats")) and store.exists(layout.stats.summary)):
        return False
    fp = store.read_json(layout.stats.summary).get("fingerprint")
    entries = store.read_json(layout.manifest("stats"))
    return bool(entries) and all(e.get("stats_fingerprint") == fp
                                 and store.exists(layout.figure(e["file"])) for e in entries)
