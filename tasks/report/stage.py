"""One self-contained HTML report per run: every figure the stages drew, the statistics, and the
study's reference numbers (SPEC.md §2-§5) beside ours.

The report knows no stage's internals: it embeds (base64) every PNG listed in every figure
manifest ``runs/<run>/figures/<stage>.json`` (``[{"file", "title", "caption", "section"}]``),
reads the statistics from ``runs/<run>/stats/summary.json``, training from ``train.json`` and
``history.json``, generation scores from ``samples/scores.json`` and reconstruction metrics from
``reconstruction.json``, and lists whatever is absent in a section of its own.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import math
import time
from typing import Any

from zspace.storage import Store

# The study's numbers (SPEC.md). Dominant components of the reference AE: index -> (mu, hw).
REFERENCE_DOMINANT = {
    15: (-0.25, 1.5), 16: (0.5, 1.125), 56: (0.0, 1.625), 58: (0.25, 2.125), 66: (0.25, 1.5),
    68: (0.0, 2.0), 110: (0.5, 1.875), 118: (2.25, 2.25), 151: (1.5, 4.125), 177: (-1.0, 2.25),
    178: (0.5, 1.875), 180: (-0.25, 1.5), 188: (0.25, 1.75), 195: (-1.5, 2.0), 202: (-0.5, 2.25),
    204: (-0.5, 1.25), 210: (0.0, 1.75), 230: (0.25, 1.5), 242: (-0.25, 2.375), 253: (-0.5, 1.0),
}
REFERENCE_COUNTS = {"0.1": 1456, "0.2": 158, "0.3": 44, "0.4": 25, "0.5": 16, "0.6": 8}
REFERENCE = {
    "z_dim": 256, "radius_peak": 16.5, "sqrt_z_dim": 16.0, "radius_max": 32.0,
    "strongest_r": 0.85, "pairs_above_0.5": 16, "b_range": (1.0, 2.0),
    "loss": {"vae": 5015.0, "ae": 4850.0}, "input_size": 96, "epochs": 24,
}

# section id -> heading; every report has all of them, in this order
SECTIONS = {
    "overview": "Run overview",
    "components": "Number distributions and dominant components",
    "radius": "Radius",
    "correlations": "Correlations",
    "pca": "PCA",
    "artificial": "Artificial vectors",
    "projections": "Projections (t-SNE)",
    "generation": "Generation",
    "reconstruction": "Reconstruction: AE vs VAE",
    "other": "Other figures",
    "missing": "Missing",
}
STAGE_SECTION = {"project": "projections", "generate": "generation", "reconstruction": "reconstruction"}
HOW_TO = {
    "train": "zspace train --store {s} --run {r} ...",
    "encode": "zspace encode --store {s} --run {r}",
    "analyze": "zspace analyze --store {s} --run {r}",
    "project": "zspace project --store {s} --run {r}",
    "generate": "zspace generate --store {s} --run {r}",
    "reconstruction": "zspace report --store {s} --run {r} --compare OTHER_RUN",
}

CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2330;background:#f5f6f8}
header{background:#1f3b57;color:#fff;padding:18px 32px}
header h1{margin:0 0 4px;font-size:24px} header p{margin:0;opacity:.85}
nav{display:flex;flex-wrap:wrap;row-gap:2px;background:#fff;border-bottom:1px solid #dde1e6;padding:8px 32px;position:sticky;top:0;z-index:2}
nav a{margin-right:14px;color:#1f5c99;text-decoration:none;font-size:14px;white-space:nowrap}
main{max-width:1200px;margin:0 auto;padding:8px 32px 48px}
section{background:#fff;border:1px solid #dde1e6;border-radius:6px;margin:20px 0;padding:6px 22px 16px}
h2{border-bottom:2px solid #1f3b57;padding-bottom:4px} h3{margin:18px 0 6px;color:#1f3b57}
table{border-collapse:collapse;margin:8px 0 14px;font-size:13.5px}
th,td{border:1px solid #d5d9de;padding:3px 9px;text-align:right}
th{background:#eef1f5} td:first-child,th:first-child{text-align:left}
tr.hl td{background:#fff4d6}
.cols{display:flex;flex-wrap:wrap;gap:28px;align-items:flex-start}
figure{margin:14px 0 22px} figure img{max-width:100%;height:auto;border:1px solid #e3e6ea}
figcaption{font-size:13.5px;color:#444;max-width:1000px} figcaption b{color:#1d2330}
.note{color:#555;font-size:13.5px} .missing{color:#9a3412}
code,pre{background:#f0f2f5;padding:1px 4px;border-radius:3px;font-size:13px}
pre{padding:8px;overflow:auto}
"""


# -- small helpers -------------------------------------------------------------------------
def esc(x: Any) -> str:
    return html.escape(str(x))


def fmt(v: Any, digits: int = 4) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        return f"{v:,.{digits}g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.3e}"
    return esc(v)


def table(header: list[str], rows: list[list[Any]], highlight: set[int] | None = None) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = []
    for k, row in enumerate(rows):
        cls = ' class="hl"' if highlight and k in highlight else ""
        body.append(f"<tr{cls}>" + "".join(f"<td>{c if isinstance(c, Raw) else fmt(c)}</td>"
                                           for c in row) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


class Raw(str):
    """Already-escaped HTML for a table cell."""


def _scalar(v: Any) -> bool:
    return v is None or isinstance(v, (int, float, str, bool))


def json_html(obj: Any, depth: int = 0) -> str:
    """Any small JSON as tables where it has a table's shape, else nested headings / <pre>."""
    if isinstance(obj, dict) and obj and all(isinstance(v, dict) and all(_scalar(x) for x in v.values())
                                             for v in obj.values()):
        cols: list[str] = []
        for v in obj.values():
            cols += [c for c in v if c not in cols]
        return table(["", *cols], [[k, *[v.get(c) for c in cols]] for k, v in obj.items()])
    if isinstance(obj, dict) and obj and all(_scalar(v) for v in obj.values()):
        return table(["", "value"], [[k, v] for k, v in obj.items()])
    if isinstance(obj, list) and obj and all(isinstance(v, dict) and all(_scalar(x) for x in v.values())
                                             for v in obj):
        cols = []
        for v in obj:
            cols += [c for c in v if c not in cols]
        return table(cols, [[v.get(c) for c in cols] for v in obj])
    if isinstance(obj, dict) and depth < 3:
        parts = []
        scalars = {k: v for k, v in obj.items() if _scalar(v)}
        if scalars:
            parts.append(json_html(scalars, depth + 1))
        for k, v in obj.items():
            if not _scalar(v):
                parts.append(f"<h4>{esc(k)}</h4>{json_html(v, depth + 1)}")
        return "".join(parts)
    return f"<pre>{esc(json.dumps(obj, indent=1)[:4000])}</pre>"


def _read_json(store: Store, rel: str) -> Any:
    return store.read_json(rel) if store.exists(rel) else None


def figure_html(png: bytes, title: str, caption: str) -> str:
    b64 = base64.b64encode(png).decode("ascii")
    return (f'<figure><img src="data:image/png;base64,{b64}" alt="{esc(title)}">'
            f"<figcaption><b>{esc(title)}.</b> {esc(caption)}</figcaption></figure>")


def manifests(store: Store, run: str) -> dict[str, list[dict[str, Any]]]:
    """stage -> manifest entries, for every figures/<stage>.json that holds a list."""
    rel = f"{Store.run_rel(run)}/figures"
    out: dict[str, list[dict[str, Any]]] = {}
    if not store.exists(rel):
        return out
    for name in sorted(store.listdir(rel)):
        base = name.rstrip("/").rsplit("/", 1)[-1]
        if not base.endswith(".json"):
            continue
        data = store.read_json(f"{rel}/{base}")
        if isinstance(data, list) and all(isinstance(e, dict) and "file" in e for e in data):
            out[base[: -len(".json")]] = data
    return out


def _section_of(stage: str, entry: dict[str, Any]) -> str:
    if stage in STAGE_SECTION:
        return STAGE_SECTION[stage]
    sec = str(entry.get("section", ""))
    return sec if sec in SECTIONS and sec not in {"overview", "missing"} else "other"


# -- the report ----------------------------------------------------------------------------
def write_report(store_url: str, run: str, compare: str | None = None,
                 compare_result: dict[str, Any] | None = None,
                 compare_error: str | None = None) -> dict[str, Any]:
    """Write runs/<run>/report.html and return {"report", "report_url", "fingerprint", ...}."""
    store = Store(store_url)
    run_rel = Store.run_rel(run)
    s, r = store_url, run
    missing: list[str] = []
    body: dict[str, list[str]] = {k: [] for k in SECTIONS}

    def need(stage: str, what: str) -> None:
        missing.append(f"{what}: run <code>{esc(HOW_TO[stage].format(s=s, r=r))}</code>")

    train = _read_json(store, f"{run_rel}/train.json")
    history = _read_json(store, f"{run_rel}/history.json")
    summary = _read_json(store, f"{Store.stats_rel(run)}/summary.json")

    # figures, by section
    figs = manifests(store, run)
    n_figures = 0
    for stage, entries in figs.items():
        for e in entries:
            rel = f"{run_rel}/figures/{e['file']}"
            if not store.exists(rel):
                missing.append(f"figure <code>{esc(e['file'])}</code> listed in figures/{esc(stage)}.json "
                               "is not there")
                continue
            body[_section_of(stage, e)].append(
                figure_html(store.read_bytes(rel), e.get("title", e["file"]), e.get("caption", "")))
            n_figures += 1

    # overview
    ov = body["overview"]
    if train is None:
        need("train", f"training record <code>{esc(run_rel)}/train.json</code>")
    ov.insert(0, _overview(store, run, train, history, compare))
    if store.exists(f"{run_rel}/loss_curve.png"):
        ov.append(figure_html(store.read_bytes(f"{run_rel}/loss_curve.png"), "Loss curve",
                              "Training (and validation) loss per epoch, from history.json."))
    if not store.exists(f"{Store.latents_rel(run)}/zarr.json"):
        need("encode", f"latents <code>{esc(Store.latents_rel(run))}</code>")

    # statistics
    if summary is None:
        need("analyze", f"statistics <code>{esc(Store.stats_rel(run))}/summary.json</code>")
        for sec in ("components", "radius", "correlations", "pca", "artificial"):
            body[sec].insert(0, '<p class="missing">No statistics yet (see Missing).</p>')
    else:
        if "stats" not in figs:
            missing.append("statistics figures (figures/stats.json): run <code>"
                           f"{esc(f'zspace report --store {s} --run {r} --redraw')}</code>")
        body["components"].insert(0, _components(summary))
        body["radius"].insert(0, _radius(summary))
        body["correlations"].insert(0, _correlations(summary))
        body["pca"].insert(0, _pca(summary))
        body["artificial"].insert(0, _artificial(summary))

    # projections, generation, reconstruction
    if "project" not in figs:
        need("project", "projections (figures/project.json)")
        body["projections"].insert(0, '<p class="missing">Not run yet.</p>')
    if "generate" not in figs:
        need("generate", "generation (figures/generate.json)")
        body["generation"].insert(0, '<p class="missing">Not run yet.</p>')
    scores = _read_json(store, f"{run_rel}/samples/scores.json")
    if scores is not None:
        body["generation"].insert(0, "<h3>Scores (samples/scores.json)</h3>" + json_html(scores))
    rec = body["reconstruction"]
    metrics = _read_json(store, f"{run_rel}/reconstruction.json")
    if metrics is not None:
        rec.insert(0, "<h3>Metrics over the test split (reconstruction.json)</h3>" + json_html(metrics))
    if compare_result:
        rec.insert(0, f"<h3>Comparison of {esc(run)} and {esc(compare)}</h3>" + json_html(compare_result))
    if compare_error:
        rec.insert(0, f'<p class="missing">Reconstruction comparison failed: {esc(compare_error)}</p>')
        missing.append(f"reconstruction comparison with {esc(compare)}: {esc(compare_error)}")
    if not rec:
        rec.append('<p class="missing">No reconstruction comparison'
                   + (f" (compare run {esc(compare)} given)" if compare else "") + ".</p>")
        need("reconstruction", "reconstruction comparison AE vs VAE")

    body["missing"] = ([f"<ul>{''.join(f'<li>{m}</li>' for m in missing)}</ul>"] if missing
                       else ["<p>Nothing is missing: every stage has run.</p>"])
    sections = [k for k in SECTIONS if k != "other" or body["other"]]

    nav = "".join(f'<a href="#{k}">{esc(SECTIONS[k])}</a>' for k in sections)
    parts = [f'<section id="{k}"><h2>{esc(SECTIONS[k])}</h2>{"".join(body[k])}</section>'
             for k in sections]
    subtitle = ", ".join(x for x in [
        f"dataset {train['dataset']}" if train else "", f"{train['kind'].upper()}" if train else "",
        f"{summary['n']:,} latent vectors x {summary['z_dim']}" if summary else "",
        f"written {time.strftime('%Y-%m-%d %H:%M')}"] if x)
    doc = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
           f'<meta name="viewport" content="width=device-width, initial-scale=1">'
           f"<title>zspace report: {esc(run)}</title><style>{CSS}</style></head><body>"
           f"<header><h1>zspace report: {esc(run)}</h1><p>{esc(subtitle)}</p></header>"
           f"<nav>{nav}</nav><main>{''.join(parts)}</main></body></html>")
    report_rel = f"{run_rel}/report.html"
    store.write_text(report_rel, doc)
    path = str(store.local_path(report_rel)) if store.is_local else store.join(report_rel)
    return {
        "report": path,
        "report_url": store.join(report_rel),
        "fingerprint": hashlib.sha256(doc.encode()).hexdigest(),
        "bytes": len(doc.encode()),
        "n_figures": n_figures,
        "manifests": sorted(figs),
        "sections": [SECTIONS[k] for k in sections],
        "missing": [html.unescape(_strip_tags(m)) for m in missing],
    }


def _strip_tags(s: str) -> str:
    import re

    return re.sub(r"<[^>]+>", "", s)


def _final_loss(history: list[dict[str, Any]] | None, train: dict[str, Any] | None) -> dict[str, Any]:
    last = history[-1] if history else {}
    return {k: last.get(k, (train or {}).get(k)) for k in
            ("epoch", "loss", "val_loss", "reconstruction", "kl", "kl_share", "val_reconstruction",
             "val_kl", "images_per_s")}


def _run_row(store: Store, run: str) -> dict[str, Any]:
    rel = Store.run_rel(run)
    train = _read_json(store, f"{rel}/train.json") or {}
    history = _read_json(store, f"{rel}/history.json")
    return {"train": train, "final": _final_loss(history, train), "history": history}


def _overview(store: Store, run: str, train: dict[str, Any] | None,
              history: list[dict[str, Any]] | None, compare: str | None) -> str:
    runs = [run] + ([compare] if compare else [])
    info = {x: _run_row(store, x) for x in runs}
    keys = ["dataset", "preset", "kind", "epochs", "z_dim", "input_size", "n_train", "n_val",
            "model_fingerprint"]
    rows = [[k, *[(str(info[x]["train"].get(k))[:16] if k.endswith("fingerprint") and
                   info[x]["train"].get(k) else info[x]["train"].get(k)) for x in runs]] for k in keys]
    out = ["<h3>Training</h3>", table(["", *runs], rows)]
    frows = []
    for k in ("epoch", "loss", "val_loss", "reconstruction", "kl", "kl_share", "images_per_s"):
        frows.append([k, *[info[x]["final"].get(k) for x in runs]])
    # per-pixel loss, so that runs at other image sizes compare with the study's 96x96x3 figure
    pix = []
    for x in runs:
        size = info[x]["train"].get("input_size")
        loss = info[x]["final"].get("loss")
        pix.append(loss / (3 * size * size) if size and loss is not None else None)
    frows.append(["loss per pixel value", *pix])
    out += ["<h3>Final losses (history.json, last epoch)</h3>", table(["", *runs], frows)]
    ref_px = {k: v / (3 * 96 * 96) for k, v in REFERENCE["loss"].items()}
    out.append(table(["study (24 epochs, 96x96x3, BCE summed)", "loss per image", "per pixel value"],
                     [["VAE", REFERENCE["loss"]["vae"], ref_px["vae"]],
                      ["AE", REFERENCE["loss"]["ae"], ref_px["ae"]]]))
    out.append('<p class="note">The study\'s losses are per image, summed over 96x96x3; the per-pixel '
               "value makes runs at other image sizes comparable.</p>")
    if not history:
        out.append('<p class="missing">No history.json.</p>')
    return "".join(out)


def _components(sm: dict[str, Any]) -> str:
    mean, hw, std = sm["mean"], sm["half_width"], sm["std"]
    dom = sm["dominant_components"]
    ours = table(["index", "mean mu", "half-width hw", "std"],
                 [[k, mean[k], hw[k], std[k]] for k in dom]) if dom else "<p>none</p>"
    ref = table(["index", "mu", "hw"], [[k, mu, h] for k, (mu, h) in REFERENCE_DOMINANT.items()])
    med_hw = sorted(hw)[len(hw) // 2]
    med_mu = sorted(mean)[len(mean) // 2]
    return (f"<p>{sm['n']:,} vectors, {sm['z_dim']} components; histograms with bin width "
            f"{sm['histogram']['bin_width']:g}. Median over components: mean {med_mu:+.3f}, "
            f"half-width {med_hw:.3f}. {len(dom)} dominant components ({esc(sm['dominant_rule'])}).</p>"
            f'<div class="cols"><div><h3>Ours: dominant components</h3>{ours}</div>'
            f"<div><h3>Study (reference AE, z_dim 256)</h3>{ref}"
            '<p class="note">Indices depend on the trained model; only the pattern carries over.</p>'
            "</div></div>")


def _radius(sm: dict[str, Any]) -> str:
    r = sm["radius"]
    z = sm["z_dim"]
    rows = [["peak", r["peak"], REFERENCE["radius_peak"]],
            ["sqrt(z_dim)", r["sqrt_z_dim"], REFERENCE["sqrt_z_dim"]],
            ["peak / sqrt(z_dim)", r["peak"] / r["sqrt_z_dim"], REFERENCE["radius_peak"] / 16.0],
            ["mean", r["mean"], None], ["std", r["std"], None], ["min", r["min"], None],
            ["max", r["max"], REFERENCE["radius_max"]]]
    return (table(["radius ||z||", f"ours (z_dim {z})", "study (z_dim 256)"], rows)
            + f'<p class="note">{esc(r["peak_rule"])}. Study: no points beyond R ~ 32.</p>')


def _correlations(sm: dict[str, Any]) -> str:
    counts = sm["correlation_counts"]
    rows = [[f"> {t}", c, REFERENCE_COUNTS.get(t)] for t, c in counts.items()]
    pairs = sm["correlated_pairs"]
    strongest = max((abs(p[2]) for p in pairs), default=None)
    dom = set(sm["dominant_components"])
    out = [f"<p>Pearson correlations exact on all {sm['n']:,} vectors (the study: a 5,000-vector "
           "subsample, because of RAM).</p>",
           '<div class="cols"><div><h3>Pairs i&lt;j with |r| above</h3>',
           table(["|r|", f"ours (N = {sm['n']:,})", "study (5,000)"], rows), "</div><div><h3>Headline</h3>",
           table(["", "ours", "study"],
                 [[f"pairs with |r| > {sm['corr_threshold']:g}", len(pairs),
                   REFERENCE["pairs_above_0.5"] if sm["corr_threshold"] == 0.5 else None],
                  ["strongest |r|", strongest, REFERENCE["strongest_r"]],
                  ["pairs among dominant components",
                   sum(1 for i, j, _ in pairs if i in dom and j in dom), None]]),
           "</div></div>"]
    shown = pairs[:100]
    out.append(f"<h3>Correlated pairs (|r| &gt; {sm['corr_threshold']:g})"
               + (f", strongest 100 of {len(pairs)}" if len(pairs) > 100 else "") + "</h3>")
    if shown:
        out.append(table(["i", "j", "r", "dominant"],
                         [[i, j, v, " & ".join(str(k) for k in (i, j) if k in dom) or ""]
                          for i, j, v in shown]))
    else:
        out.append("<p>none</p>")
    sl = sm.get("slice")
    if sl:
        out.append(f"<h3>Slice</h3><p>{sl['count']:,} vectors ({sl['fraction']:.2%}) have every "
                   f"component except z{sl['axes'][0]} and z{sl['axes'][1]} ({esc(sl['axes_rule'])}) "
                   f"below {sl['threshold']:g} in absolute value.</p>")
    return "".join(out)


def _pca(sm: dict[str, Any]) -> str:
    ratio = sm["pca_explained_variance_ratio"]
    k = min(10, len(ratio))
    cum = 0.0
    rows = []
    for i in range(k):
        cum += ratio[i]
        rows.append([f"PC{i + 1}", ratio[i], cum])
    return ("<p>Study: one dominant component, the spectrum flat after ~10.</p>"
            + table(["component", "explained variance ratio", "cumulative"], rows))


def _artificial(sm: dict[str, Any]) -> str:
    best = sm["artificial_best_b"]
    lo, hi = REFERENCE["b_range"]
    rows, hl = [], set()
    for k, (b, row) in enumerate(sm["artificial"].items()):
        if float(b) == best:
            hl.add(k)
        rows.append([b, row["radius_mean"], row.get("radius_expected"), row["wasserstein"],
                     row["fraction_inside"]])
    return (f"<p>Each component uniform in [-b, b]. Best radius match: <b>b = {best:g}</b> "
            f"({esc(sm['artificial_rule'])}); mean radius within one std of the data's: b in "
            f"{esc(sm['artificial_matching_b'])}. Study: {lo:g} &lt;= b &lt;= {hi:g}.</p>"
            + table(["b", "mean radius", "expected b*sqrt(z/3)", "W1 to data radii",
                     "fraction inside the data cloud"], rows, hl)
            + f'<p class="note">{esc(sm["mahalanobis"]["rule"])}. Data radius mean '
            f"{sm['radius']['mean']:.2f}.</p>")


def report_markdown(result: dict[str, Any], store_url: str, run: str) -> str:
    """A short markdown summary for the Prefect UI."""
    store = Store(store_url)
    sm = _read_json(store, f"{Store.stats_rel(run)}/summary.json")
    lines = [f"# Report: {run}", "", f"`{result['report']}` ({result['bytes'] / 1e6:.1f} MB, "
             f"{result['n_figures']} figures from {', '.join(result['manifests']) or 'no manifests'})", ""]
    if sm:
        r = sm["radius"]
        lines += [f"- {sm['n']:,} vectors x {sm['z_dim']}; radius peak {r['peak']:.2f} "
                  f"(sqrt(z_dim) {r['sqrt_z_dim']:.2f}; study 16.5 vs 16)",
                  "- pairs |r| > t: " + ", ".join(f"{t}: {c}" for t, c in sm["correlation_counts"].items())
                  + " (study, 5,000 vectors: 1456/158/44/25/16/8 for 0.1..0.6)",
                  f"- dominant components: {sm['dominant_components']}",
                  f"- best artificial b: {sm['artificial_best_b']:g} (study: 1.0 <= b <= 2.0)"]
    if result["missing"]:
        lines += ["", "## Missing", *[f"- {m}" for m in result["missing"]]]
    return "\n".join(lines)


def correlated_pairs_rows(store_url: str, run: str, limit: int = 200) -> list[dict[str, Any]]:
    sm = _read_json(Store(store_url), f"{Store.stats_rel(run)}/summary.json")
    if not sm:
        return []
    return [{"i": i, "j": j, "r": round(v, 4)} for i, j, v in sm["correlated_pairs"][:limit]]
