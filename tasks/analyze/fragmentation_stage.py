"""The analyze stage's fragmentation step: filaments and voids against a Gaussian null model
(:mod:`.fragmentation`), written into summary.json as "fragmentation", tied to the statistics
fingerprint so that new statistics recompute it."""

from __future__ import annotations

from typing import Any

import numpy as np

from zspace.storage import StatsLayout, Store, open_array
from zspace.tasks.analyze.fragmentation import FragmentationParams, fragmentation_summary


def _array(store: Store, layout: StatsLayout, name: str) -> np.ndarray:
    return np.asarray(store.open_array(layout.array(name))[...], dtype=np.float64)


def write_fragmentation(out_url: str, stats_root: str, latents_url: str,
                        params: dict[str, Any] | None = None) -> dict[str, Any]:
    """summary.json["fragmentation"] for the statistics at `stats_root` (rewritten whole)."""
    store, layout = Store(out_url), StatsLayout(stats_root)
    summary = store.read_json(layout.summary)
    p = FragmentationParams(**(params or {}))
    done = summary.get("fragmentation") or {}
    if done.get("stats_fingerprint") == summary.get("fingerprint") and \
            done.get("params") == p.model_dump(mode="json"):
        return {"overall": done.get("overall"), "cached": True}
    frag = fragmentation_summary(
        open_array(latents_url), _array(store, layout, "mean"), _array(store, layout, "covariance"),
        _array(store, layout, "pca_components"), axes=tuple(summary["slice"]["axes"]), params=p)
    frag["stats_fingerprint"] = summary.get("fingerprint")
    store.write_json(layout.summary, {**summary, "fragmentation": frag})
    return {"overall": frag["overall"], "cached": False}


def fragmentation_current(store: Store, layout: StatsLayout) -> bool:
    summary = store.read_json_if(layout.summary) or {}
    frag = summary.get("fragmentation") or {}
    return bool(frag) and frag.get("stats_fingerprint") == summary.get("fingerprint")
