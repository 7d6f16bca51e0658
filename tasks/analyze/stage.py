"""The analyze stage's steps as plain functions its flow's tasks call, each with its "already
done?" check: the plan (which latents it reads and where its statistics go, checked before any
flow run starts; a run not yet encoded is refused with the command that encodes it), the
fragmentation step and the meaning step. The statistics themselves are
:func:`~zspace.tasks.analyze.analysis.analyze_latents`."""

from __future__ import annotations

from typing import Any

from zspace.storage import (
    StatsLayout,
    Store,
    StoreError,
    attribute_table,
    factor_table,
    open_array,
    read_array,
)
from zspace.tasks.analyze.fragmentation import FragmentationParams, fragmentation_summary
from zspace.tasks.analyze.meaning import heatmap_components, heatmap_png, meaning_for_run
from zspace.tasks.common.figures import write_manifest

HEATMAPS = {"factors": "Generating factors x components: normalised mutual information",
            "attributes": "Attributes x components: normalised mutual information"}


# -- the plan --------------------------------------------------------------------------------
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


# -- fragmentation: summary.json["fragmentation"], tied to the statistics fingerprint ------------
def write_fragmentation(out_url: str, stats_root: str, latents_url: str,
                        params: dict[str, Any] | None = None) -> dict[str, Any]:
    """summary.json["fragmentation"] for the statistics at `stats_root` (rewritten whole):
    filaments and voids against null models (:mod:`.fragmentation`); new statistics
    recompute it."""
    store, layout = Store(out_url), StatsLayout(stats_root)
    summary = store.read_json(layout.summary)
    p = FragmentationParams(**(params or {}))
    done = summary.get("fragmentation") or {}
    if done.get("stats_fingerprint") == summary.get("fingerprint") and \
            done.get("params") == p.model_dump(mode="json"):
        return {"overall": done.get("overall"), "cached": True}
    frag = fragmentation_summary(
        open_array(latents_url), read_array(store, layout.array("mean")),
        read_array(store, layout.array("covariance")),
        read_array(store, layout.array("pca_components")), axes=tuple(summary["slice"]["axes"]),
        params=p)
    frag["stats_fingerprint"] = summary.get("fingerprint")
    store.write_json(layout.summary, {**summary, "fragmentation": frag})
    return {"overall": frag["overall"], "cached": False}


def fragmentation_current(store: Store, layout: StatsLayout) -> bool:
    summary = store.read_json_if(layout.summary) or {}
    frag = summary.get("fragmentation") or {}
    return bool(frag) and frag.get("stats_fingerprint") == summary.get("fingerprint")


# -- meaning: stats/meaning.json and its heatmaps (the report's "meaning" section) -----------
def meaning_current(store: Store, run: str) -> bool:
    """meaning.json exists and was computed from the current statistics."""
    layout = store.run(run).stats
    if not (store.exists(layout.meaning) and store.exists(layout.summary)):
        return False
    fp = store.read_json(layout.summary).get("fingerprint")
    return store.read_json(layout.meaning).get("stats_fingerprint") == fp


def _meaning_json(store: Store, run: str, summary: dict[str, Any], seed: int) -> None:
    """stats/meaning.json from the run's dataset, or a note saying why there is none."""
    layout = store.run(run)
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


def write_meaning(store_url: str, run: str, seed: int = 0) -> dict[str, Any]:
    """What the components encode, for runs with generating factors or attributes; its
    heatmaps as figures of the report's "meaning" section (manifest figures/meaning.json)."""
    store = Store(store_url)
    layout = store.run(run)
    summary = store.read_json(layout.stats.summary)
    if not meaning_current(store, run):
        _meaning_json(store, run, summary, seed)
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
