"""The analyze stage's meaning step: stats/meaning.json for a run, and its heatmaps as figures
of the report's "meaning" section (manifest figures/meaning.json)."""

from __future__ import annotations

from typing import Any

from zspace.storage import Store, attribute_table, factor_table
from zspace.tasks.analyze.meaning import heatmap_components, heatmap_png, meaning_for_run
from zspace.tasks.common.figures import write_manifest

HEATMAPS = {"factors": "Generating factors x components: normalised mutual information",
            "attributes": "Attributes x components: normalised mutual information"}


def meaning_current(store: Store, run: str) -> bool:
    """meaning.json exists and was computed from the current statistics."""
    layout = store.run(run).stats
    if not (store.exists(layout.meaning) and store.exists(layout.summary)):
        return False
    fp = store.read_json(layout.summary).get("fingerprint")
    return store.read_json(layout.meaning).get("stats_fingerprint") == fp


def write_meaning(store_url: str, run: str, seed: int = 0) -> dict[str, Any]:
    """What the components encode, for runs with generating factors or attributes."""
    store = Store(store_url)
    layout = store.run(run)
    summary = store.read_json(layout.stats.summary)
    if not meaning_current(store, run):
        dataset = (store.read_json_if(layout.train_record, {}) or {}).get("dataset")
        if dataset is None:
            out = {"note": f"run {run!r} has no training record, so its dataset (and the "
                   "factors or attributes of its images) is unknown"}
        elif factor_table(store, dataset) or attribute_table(store, dataset):
            out = meaning_for_run(store, run, dataset, summary["dominant_components"], seed=seed)
        else:
            out = {"note": f"dataset {dataset!r} has no generating factors and no attributes "
                   "(synthetic faces have factors; CelebA has list_attr_celeba.txt)"}
        out["stats_fingerprint"] = summary.get("fingerprint")
        store.write_json(layout.stats.meaning, out)
    out = store.read_json(layout.stats.meaning)
    entries = []
    for section, title in HEATMAPS.items():
        if section in out and out[section].get("names"):
            file = f"meaning_{section}.png"
            comps = heatmap_components(out[section], summary["dominant_components"])
            store.write_bytes(layout.figure(file), heatmap_png(out[section], title, comps))
            entries.append({"file": file, "title": title, "section": "meaning",
                            "caption": out["definitions"]["mutual_information"]})
    write_manifest(store, run, "meaning", entries)
    return {"meaning": store.join(layout.stats.meaning), "sections": sorted(
        k for k in HEATMAPS if k in out), "figures": [e["file"] for e in entries]}
