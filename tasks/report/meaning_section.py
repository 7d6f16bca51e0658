"""The report's "meaning" section: what the components encode (generating factors, attributes),
MIG and DCI with their definitions, and the AE-vs-VAE comparison with the rule that decided it."""

from __future__ import annotations

from typing import Any

from zspace.tasks.analyze import compare_meaning
from zspace.tasks.report.html import esc, fmt, table

SECTIONS = {"factors": "Generating factors", "attributes": "Attributes"}


def _score(entry: dict[str, Any]) -> str:
    se = f" +- {fmt(entry['probe_se'], 3)}" if entry.get("probe_se") is not None else ""
    base = (f", shuffled labels {fmt(entry['probe_baseline'], 3)}"
            if entry.get("probe_baseline") is not None else "")
    dec = "" if "decodable" not in entry else (" decodable" if entry["decodable"] else
                                               " not decodable")
    if "probe_r2" in entry:
        return f"R^2 {fmt(entry['probe_r2'], 3)}{se}{base};{dec}"
    if "probe_accuracy" in entry:
        return (f"accuracy {fmt(entry['probe_accuracy'], 3)}{se} (chance "
                f"{fmt(entry.get('chance'), 3)}{base});{dec}")
    return "-"


def _best(entry: dict[str, Any]) -> str:
    parts = []
    for c in entry.get("best_components", [])[:3]:
        extra = f", AUC {fmt(c['auc'], 3)}" if c.get("auc") is not None else ""
        parts.append(f"z{c['component']} (NMI {fmt(c.get('normalized_mi'), 3)}, above null "
                     f"{fmt(c.get('normalized_mi_above_null'), 3)}, r {fmt(c.get('r'), 3)}{extra})")
    carriers = entry.get("carriers")
    return "; ".join(parts) + (f"; carriers {carriers}" if carriers is not None else "")


def _pm(value: Any, se: Any, base: Any) -> str:
    out = fmt(value, 3)
    if se is not None:
        out += f" +- {fmt(se, 3)}"
    return out + (f" (shuffled-label baseline {fmt(base, 3)})" if base is not None else "")


def names_table(section: dict[str, Any]) -> str:
    rows = [[name, e.get("kind", ""), _score(e), _best(e)]
            for name, e in section.get("names", {}).items()]
    d = section.get("dci") or {}
    base = d.get("baseline") or {}
    flags = "".join(f" {k.replace('_', ' ')}: {'yes' if section[k] else 'no'}."
                    for k in ("mig_detected", "carriers_detected") if k in section)
    dci = {k: _pm(d.get(k), d.get(f"{k}_se"), base.get(k))
           for k in ("disentanglement", "completeness", "informativeness")}
    mig = _pm(section.get("mig"), section.get("mig_se"), section.get("mig_baseline"))
    head = (f"<p>MIG {mig}; DCI disentanglement {dci['disentanglement']}, completeness "
            f"{dci['completeness']}, informativeness (chance-corrected) "
            f"{dci['informativeness']}.{flags}</p>")
    rules = section.get("rules") or {}
    notes = "".join(f"<li>{esc(k)}: {esc(v)}</li>" for k, v in rules.items())
    return head + table(["name", "kind", "linear probe (test split)", "best components"], rows) \
        + (f'<ul class="note">{notes}</ul>' if notes else "")


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
