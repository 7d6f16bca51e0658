"""One self-contained HTML report per run: every figure the stages drew, the statistics, and the
study's reference numbers (:mod:`zspace.study`) beside ours.

The report knows no stage's internals: it embeds (base64) every PNG listed in every figure
manifest ``figures/<stage>.json`` (``[{"file", "title", "caption", "section"}]``) in the section
the entry names (an id of :data:`zspace.tasks.common.figures.SECTIONS`; an unknown id lands in
"other"), reads the statistics from the run's ``stats/summary.json``, training from its records,
generation scores and reconstruction metrics, and lists whatever is absent in "Missing".

Each section is one function ``(ReportContext) -> list[str]`` in :data:`SECTION_TEXT` (the text
above the section's figures); a section with neither text nor figures is left out.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from zspace.storage import RunLayout, Store
from zspace.storage.layout import LayoutError
from zspace.tasks.common.figures import SECTIONS
from zspace.tasks.report.html import esc, figure_html, json_html, page, strip_tags
from zspace.tasks.report.tables import (
    artificial_table,
    components_table,
    correlations_table,
    final_loss,
    pca_table,
    radius_table,
    training_tables,
)

HOW_TO = {
    "train": "zspace train --store {s} --run {r} ...",
    "encode": "zspace encode --store {s} --run {r}",
    "analyze": "zspace analyze --store {s} --run {r}",
    "project": "zspace project --store {s} --run {r}",
    "generate": "zspace generate --store {s} --run {r}",
    "reconstruction": "zspace report --store {s} --run {r} --compare OTHER_RUN",
}
STATS_SECTIONS = ("components", "radius", "correlations", "pca", "artificial")
NOT_FILED = {"missing"}  # sections no figure goes into


def manifests(store: Store, run: str) -> dict[str, list[dict[str, Any]]]:
    """stage -> manifest entries, for every figures/<stage>.json that holds a list."""
    layout = store.run(run)
    out: dict[str, list[dict[str, Any]]] = {}
    for name in sorted(store.listdir(layout.figures)):
        base = name.rstrip("/").rsplit("/", 1)[-1]
        if not base.endswith(".json"):
            continue
        try:
            rel = layout.manifest(base[: -len(".json")])
        except LayoutError:
            continue
        data = store.read_json(rel)
        if isinstance(data, list) and all(isinstance(e, dict) and "file" in e for e in data):
            out[base[: -len(".json")]] = data
    return out


def section_of(entry: dict[str, Any]) -> str:
    """The report section a manifest entry names; unknown ids go to "other"."""
    sec = str(entry.get("section", ""))
    return sec if sec in SECTIONS and sec not in NOT_FILED else "other"


@dataclass
class ReportContext:
    """What the section functions read, and the list of what is missing they add to."""

    store: Store
    run: str
    compare: str | None = None
    compare_result: dict[str, Any] | None = None
    compare_error: str | None = None
    seeds: dict[str, str] = field(default_factory=dict)  # other seed's run -> its comparison run
    figures: dict[str, list[str]] = field(default_factory=dict)  # section -> figure HTML
    manifests: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    n_figures: int = 0

    @property
    def layout(self) -> RunLayout:
        return self.store.run(self.run)

    def read(self, rel: str) -> Any:
        return self.store.read_json_if(rel)

    @cached_property
    def train(self) -> dict[str, Any] | None:
        return self.read(self.layout.train_record)

    @cached_property
    def history(self) -> list[dict[str, Any]] | None:
        return self.read(self.layout.history)

    @cached_property
    def summary(self) -> dict[str, Any] | None:
        return self.read(self.layout.stats.summary)

    def need(self, stage: str, what: str) -> None:
        cmd = HOW_TO[stage].format(s=self.store.url, r=self.run)
        self.missing.append(f"{what}: run <code>{esc(cmd)}</code>")

    def file_figures(self) -> None:
        """Every figure of every manifest, as HTML in its section; absent files are missing."""
        self.manifests = manifests(self.store, self.run)
        for stage, entries in self.manifests.items():
            for e in entries:
                rel = self.layout.figure(e["file"])
                if not self.store.exists(rel):
                    listed = esc(self.layout.manifest(stage))
                    self.missing.append(f"figure <code>{esc(e['file'])}</code> listed in "
                                        f"<code>{listed}</code> is not there")
                    continue
                self.figures.setdefault(section_of(e), []).append(figure_html(
                    self.store.read_bytes(rel), e.get("title", e["file"]), e.get("caption", "")))
                self.n_figures += 1


# -- one function per section: the text above its figures -------------------------------------
def _run_info(store: Store, run: str) -> dict[str, Any]:
    layout = store.run(run)
    train = store.read_json_if(layout.train_record) or {}
    return {"train": train, "final": final_loss(store.read_json_if(layout.history), train)}


def overview_section(ctx: ReportContext) -> list[str]:
    runs = [ctx.run] + ([ctx.compare] if ctx.compare else [])
    out = [training_tables({x: _run_info(ctx.store, x) for x in runs})]
    if not ctx.history:
        out.append('<p class="missing">No history.json.</p>')
    if ctx.train is None:
        ctx.need("train", f"training record <code>{esc(ctx.layout.train_record)}</code>")
    if ctx.store.exists(ctx.layout.loss_curve):
        out.append(figure_html(ctx.store.read_bytes(ctx.layout.loss_curve), "Loss curve",
                               "Training (and validation) loss per epoch, from history.json."))
    if not ctx.store.has_array(ctx.layout.latents()):
        ctx.need("encode", f"latents <code>{esc(ctx.layout.latents())}</code>")
    return out


def _stats_section(table_of: Callable[[dict[str, Any]], str]) -> Callable[[ReportContext], list[str]]:
    def section(ctx: ReportContext) -> list[str]:
        sm = ctx.summary
        return ['<p class="missing">No statistics yet (see Missing).</p>'] if sm is None \
            else [table_of(sm)]

    section.__doc__ = f"The statistics section drawn by {table_of.__name__}."
    return section


def components_section(ctx: ReportContext) -> list[str]:
    """The first statistics section also says when the statistics or their figures are missing."""
    if ctx.summary is None:
        ctx.need("analyze", f"statistics <code>{esc(ctx.layout.stats.summary)}</code>")
    elif "stats" not in ctx.manifests:
        cmd = f"zspace report --store {ctx.store.url} --run {ctx.run} --redraw"
        ctx.missing.append(f"statistics figures (figures/stats.json): run <code>{esc(cmd)}</code>")
    return _stats_section(components_table)(ctx)


def _stage_section(stage: str, manifest: str) -> Callable[[ReportContext], list[str]]:
    def section(ctx: ReportContext) -> list[str]:
        if stage in ctx.manifests:
            return []
        ctx.need(stage, f"{manifest} (figures/{stage}.json)")
        return ['<p class="missing">Not run yet.</p>']

    return section


def generation_section(ctx: ReportContext) -> list[str]:
    out = _stage_section("generate", "generation")(ctx)
    scores = ctx.read(ctx.layout.scores)
    return (["<h3>Scores (samples/scores.json)</h3>" + json_html(scores)] if scores is not None
            else []) + out


def reconstruction_section(ctx: ReportContext) -> list[str]:
    out = []
    if ctx.compare_error:
        out.append(f'<p class="missing">Reconstruction comparison failed: {esc(ctx.compare_error)}</p>')
        ctx.missing.append(f"reconstruction comparison with {esc(ctx.compare)}: "
                           f"{esc(ctx.compare_error)}")
    if ctx.compare_result:
        out.append(f"<h3>Comparison of {esc(ctx.run)} and {esc(ctx.compare)}</h3>"
                   + json_html(ctx.compare_result))
    metrics = ctx.read(ctx.layout.reconstruction)
    if metrics is not None:
        out.append("<h3>Metrics over the test split (reconstruction.json)</h3>" + json_html(metrics))
    if not out and not ctx.figures.get("reconstruction"):
        out.append('<p class="missing">No reconstruction comparison'
                   + (f" (compare run {esc(ctx.compare)} given)" if ctx.compare else "") + ".</p>")
        ctx.need("reconstruction", "reconstruction comparison AE vs VAE")
    return out


def meaning_section(ctx: ReportContext) -> list[str]:
    from zspace.tasks.report.meaning_section import meaning_html

    if ctx.summary is not None and not ctx.store.exists(ctx.layout.stats.meaning):
        ctx.need("analyze", f"what the components encode <code>{esc(ctx.layout.stats.meaning)}"
                 "</code>")
    if not ctx.store.exists(ctx.layout.stats.meaning):
        return []
    other = ctx.store.read_json_if(ctx.store.run(ctx.compare).stats.meaning) if ctx.compare \
        else None
    kinds = (str((ctx.train or {}).get("kind", ctx.run)).upper(),
             str((ctx.store.read_json_if(ctx.store.run(ctx.compare).train_record) or {}).get(
                 "kind", ctx.compare)).upper() if ctx.compare else "")
    if kinds[0] == kinds[1]:
        kinds = (ctx.run, ctx.compare or "")
    return meaning_html(ctx.read(ctx.layout.stats.meaning), other, kinds)


def run_findings(store: Store, run: str, compare: str | None) -> list[dict[str, Any]] | None:
    """The Findings rows of one run (None before its statistics exist)."""
    from zspace.tasks.report.findings import findings

    layout = store.run(run)
    summary = store.read_json_if(layout.stats.summary)
    if summary is None:
        return None
    by_kind = {}
    if compare:
        other = store.run(compare)
        kind = (store.read_json_if(other.train_record) or {}).get("kind")
        scores = store.read_json_if(other.scores)
        if kind and scores:
            by_kind[kind] = scores
    return findings(summary, store.read_json_if(layout.scores),
                    store.read_json_if(layout.train_record), store.read_json_if(layout.history),
                    summary.get("fragmentation"), store.read_json_if(layout.stats.meaning), by_kind)


def findings_section(ctx: ReportContext) -> list[str]:
    """The Findings table opens every report; also written as findings.json. With other
    training seeds, each claim is given per seed and holds only where the seeds agree."""
    from zspace.tasks.report.findings import findings_html
    from zspace.tasks.report.replicates import across_seeds, seeds_html

    rows = run_findings(ctx.store, ctx.run, ctx.compare)
    if rows is None:
        return []
    if ctx.seeds:
        per_seed = {ctx.run: rows}
        for run, compare in ctx.seeds.items():
            per_seed[run] = run_findings(ctx.store, run, compare or None) or []
        rows = across_seeds(per_seed)
    ctx.store.write_json(ctx.layout.findings, rows)
    return [findings_html(rows), seeds_html(rows)]


def fragmentation_section(ctx: ReportContext) -> list[str]:
    from zspace.tasks.report.fragmentation_section import fragmentation_html

    return fragmentation_html((ctx.summary or {}).get("fragmentation"))


def missing_section(ctx: ReportContext) -> list[str]:
    if not ctx.missing:
        return ["<p>Nothing is missing: every stage has run.</p>"]
    return [f"<ul>{''.join(f'<li>{m}</li>' for m in ctx.missing)}</ul>"]


SECTION_TEXT: dict[str, Callable[[ReportContext], list[str]]] = {
    "findings": findings_section,
    "overview": overview_section,
    "components": components_section,
    "meaning": meaning_section,
    "radius": _stats_section(radius_table),
    "correlations": _stats_section(correlations_table),
    "pca": _stats_section(pca_table),
    "fragmentation": fragmentation_section,
    "artificial": _stats_section(artificial_table),
    "projections": _stage_section("project", "projections"),
    "generation": generation_section,
    "reconstruction": reconstruction_section,
    "missing": missing_section,
}


# -- the report ----------------------------------------------------------------------------
def build_sections(ctx: ReportContext) -> list[tuple[str, str, list[str]]]:
    """(id, heading, parts) of every section with something in it, in SECTIONS order;
    "missing" last of all, once every other section has said what it lacks."""
    ctx.file_figures()
    body: dict[str, list[str]] = {}
    for key in [k for k in SECTIONS if k != "missing"] + ["missing"]:
        text = SECTION_TEXT[key](ctx) if key in SECTION_TEXT else []
        body[key] = text + ctx.figures.get(key, [])
    return [(k, SECTIONS[k], body[k]) for k in SECTIONS if body[k]]


def _subtitle(train: dict[str, Any] | None, summary: dict[str, Any] | None) -> str:
    return ", ".join(x for x in [
        f"dataset {train['dataset']}" if train else "", f"{train['kind'].upper()}" if train else "",
        f"{summary['n']:,} latent vectors x {summary['z_dim']}" if summary else "",
        f"written {time.strftime('%Y-%m-%d %H:%M')}"] if x)


def write_report(store_url: str, run: str, compare: str | None = None,
                 compare_result: dict[str, Any] | None = None,
                 compare_error: str | None = None,
                 seeds: dict[str, str] | None = None) -> dict[str, Any]:
    """Write the run's report.html and return {"report", "report_url", "fingerprint", ...}.
    seeds: the other training seeds' runs of this kind, each with its comparison run."""
    store = Store(store_url)
    ctx = ReportContext(store, run, compare, compare_result, compare_error, seeds=seeds or {})
    sections = build_sections(ctx)
    doc = page(run, _subtitle(ctx.train, ctx.summary), sections)
    rel = ctx.layout.report
    store.write_text(rel, doc)
    return {
        "report": str(store.local_path(rel)) if store.is_local else store.join(rel),
        "report_url": store.join(rel),
        "fingerprint": hashlib.sha256(doc.encode()).hexdigest(),
        "bytes": len(doc.encode()),
        "n_figures": ctx.n_figures,
        "manifests": sorted(ctx.manifests),
        "sections": [heading for _, heading, _ in sections],
        "missing": [strip_tags(m) for m in ctx.missing],
    }
