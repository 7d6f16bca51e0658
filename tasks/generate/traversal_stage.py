"""The generate stage's traversal step: strips decoded along the dominant components, the
leading principal components and the best-carried attribute directions, filed in the report's
"meaning" section (manifest figures/traversals.json)."""

from __future__ import annotations

from typing import Any

import numpy as np

from zspace.storage import Store
from zspace.tasks.common.figures import write_manifest
from zspace.tasks.generate.traversals import traversal_figures

MAX_ATTRIBUTE_STRIPS = 6


def _stats(store: Store, run: str, name: str) -> np.ndarray:
    return np.asarray(store.open_array(store.run(run).stats.array(name))[...], dtype=np.float64)


def attribute_directions(meaning: dict[str, Any], k: int = MAX_ATTRIBUTE_STRIPS
                         ) -> dict[str, np.ndarray]:
    """The k attributes a linear probe finds best (accuracy above chance), with their
    class-mean directions."""
    names = (meaning.get("attributes") or {}).get("names") or {}
    gain = {a: e.get("probe_accuracy", 0.0) - e.get("chance", 0.0)
            for a, e in names.items() if e.get("direction") is not None}
    best = sorted(gain, key=gain.get, reverse=True)[:k]
    return {a: np.asarray(names[a]["direction"], dtype=np.float64) for a in best}


def write_traversals(store_url: str, run: str, batch_size: int = 256) -> dict[str, Any]:
    """Decode the traversal strips of a run and write them with their manifest."""
    from zspace.tasks.common.runs import load_run_model

    store = Store(store_url)
    layout = store.run(run)
    summary = store.read_json(layout.stats.summary)
    meaning = store.read_json_if(layout.stats.meaning, {}) or {}
    cov = _stats(store, run, "covariance")
    std = np.sqrt(np.diag(cov))
    # the dominant components, or when none stands out, the widest ones
    components = summary["dominant_components"] or [int(j) for j in np.argsort(-std)[:4]]
    model = load_run_model(store, run)
    figs = traversal_figures(
        lambda z, b: model.decode(z, b), _stats(store, run, "mean"), std,
        components, _stats(store, run, "pca_components"),
        _stats(store, run, "pca_eigenvalues"), attribute_directions(meaning), covariance=cov)
    for f in figs:
        store.write_bytes(layout.figure(str(f["file"])), f.pop("png"))  # type: ignore[arg-type]
        f["caption"] = ("Decoded from the data mean moved by t x the data's spread along the "
                        "direction, t = -3 ... 3; the middle image is the mean itself.")
    write_manifest(store, run, "traversals", figs)  # type: ignore[arg-type]
    return {"figures": [f["file"] for f in figs], "stats_fingerprint": summary.get("fingerprint")}
