"""The report's "meaning" section: what the components encode (generating factors, attributes),
MIG and DCI with their definitions, and the AE-vs-VAE comparison with the rule that decided it."""

from __future__ import annotations

from typing import Any

from zspace.tasks.analyze.meaning import compare_meaning
from zspace.tasks.report.html import esc, fmt, table

SECTIONS = {"factors": "Generating factors", "attributes": "Attributes"}


def _score(entry: dict[str, Any]) -> str:
    if "probe_r2" in entry:
        return f"R^2 {fmt(entry['probe_r2'], 3)}"
    if "probe_accuracy" in entry:
        return f"accuracy {fmt(entry['probe_accuracy'], 3)} (chance {fmt(entry.get('chance'), 3)})"
    return "-"


def _best(entry: dict[str, Any]) -> str:
    parts = []
    for c in entry.get("best_components", [])[:3]:
        extra = f", AUC {fmt(c['auc'], 3)}" if c.get("auc") is not None else ""
        parts.append(f"z{c['component']} (NMI {fmt(c.get('normalized_mi'), 3)}, "
                     f"r {fmt(c.get('r'), 3)}{extra})")
    return "; ".join(parts)


def names_table(section: dict[str, Any]) -> str:
    rows = [[name, e.get("kind", ""), _score(e), _best(e)]
            for name, e in section.get("names", {}).items()]
    head = (f"<p>MIG {fmt(section.get('mig'), 3)}; DCI disentanglement "
            f"{fmt((section.get('dci') or {}).get('disentanglement'), 3)}, completeness "
            f"{fmt((section.get('dci') or {}).get('completeness'), 3)}, informativeness "
            f"{fmt((section.get('dci') or {}).get('informativeness'), 3)}.</p>")
    return head + table(["name", "kind", "linear probe (test split)", "best components"], rows)


def comparison_html(ours: dict[str, Any], other: dict[str, Any], labels: tuple[str, str]) -> str:
    cmp = compare_meaning(ours, other, labels)
    out = []
    for key, title in SECTIONS.items():
        if key in cmp:
            c = cmp[key]
            out.append(f"<p><b>{esc(title)}, {esc(labels[0])} vs {esc(labels[1])}:</b> "
                       f"{esc(c.get('verdict', ''))} <span class='note'>Rule: "
                       f"{esc(c.get('rule', cmp.get('rule', '')))}</span></p>")
    return "".join(out)


def meaning_html(meaning: dict[str, Any] | None, other: dict[str, Any] | None = None,
                 labels: tuple[str, str] = ("this run", "the other run")) -> list[str]:
    """The section's text above its figures (heatmaps, traversal strips)."""
    if not meaning:
        return ['<p class="missing">No meaning.json yet (the analyze stage writes it).</p>']
    if "note" in meaning and not any(k in meaning for k in SECTIONS):
        return [f"<p>{esc(meaning['note'])}</p>"]
    out = []
    for key, title in SECTIONS.items():
        if key in meaning:
            out.append(f"<h3>{esc(title)}</h3>" + names_table(meaning[key]))
    if other and any(k in other for k in SECTIONS):
        out.append("<h3>AE vs VAE</h3>" + comparison_html(meaning, other, labels))
    defs = meaning.get("definitions", {})
    if defs:
        out.append("<details><summary>Definitions</summary><ul>" + "".join(
            f"<li><b>{esc(k)}</b>: {esc(v)}</li>" for k, v in defs.items()) + "</ul></details>")
    return out
