"""The typed result of one analysis, and what it writes: the stored arrays and summary.json.

:class:`Analysis` holds each pass's typed result; :meth:`Analysis.arrays` lists the small arrays
(name -> data, attrs) and :meth:`Analysis.summary` the JSON summary. The statistics fingerprint
hashes the summary (without the input's URL) and the sha256 of every array.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from zspace.tasks.analyze.artificial import ArtificialResult
from zspace.tasks.analyze.correlation import (
    CORRELATION_THRESHOLDS,
    correlated_pairs,
    correlation_counts,
)
from zspace.tasks.analyze.derived import Derived, Finished
from zspace.tasks.analyze.dominant import DOMINANT_RULE, dominant_cut
from zspace.tasks.analyze.params import (
    HALF_WIDTH_RULE,
    INSIDE_RULE,
    MATCHING_RULE,
    RADIUS_BIN_COARSE,
    RADIUS_BIN_FINE,
    SLICE_RULE,
    W1_RULE,
    StatsParams,
)
from zspace.tasks.analyze.passes import PASS2_ARRAYS, Pass2Result
from zspace.tasks.analyze.radii import PEAK_RULE
from zspace.tasks.analyze.resample import GROUPS

SHAPE_RULE = (
    "half_width_scaled: the half-width rule on each component's own histogram, bin std/4 over "
    "mean +- 8 std; fwhm_over_gaussian = half_width_scaled / (2.3548 std), 1 for a Gaussian at any "
    "scale; medians over the components neither constant nor dominant"
)
BOOTSTRAP_RULE = (
    "95% percentile intervals: each row falls in one of `groups` random groups (seeded per "
    "block); each of `replicates` replicates weights the groups by Poisson(1) and recomputes "
    "the statistic; the first PCA share is recomputed along the fixed principal axes (first order)"
)
ArraySpec = dict[str, tuple[np.ndarray, dict[str, Any]]]


@dataclass
class Analysis:
    """Everything one analysis computed, pass by pass."""

    n: int
    z: int
    input: dict[str, Any]  # url, fingerprint, dtype, chunks
    params: StatsParams
    derived: Derived
    pass2: Pass2Result
    finished: Finished
    artificial: ArtificialResult
    slice_fingerprint: str

    @property
    def params_json(self) -> dict[str, Any]:
        return json.loads(self.params.model_dump_json())

    def arrays(self) -> ArraySpec:
        """The small arrays written whole, with their attributes (order = write order)."""
        d, f, a, p = self.derived, self.finished, self.artificial, self.params
        width = d.hist_width
        return {
            "mean": (d.mean, {}), "std": (d.std, {"ddof": 1}), "min": (d.min, {}),
            "max": (d.max, {}), "mode": (f.mode, {}),
            "half_width": (f.half_width, {"rule": HALF_WIDTH_RULE}),
            "histogram_counts": (self.pass2.partial.hist, {"bin_width": width}),
            "histogram_edges": (d.hist_edges, {"bin_width": width}),
            "radius_hist_coarse": (f.r_coarse, {"bin_width": RADIUS_BIN_COARSE}),
            "radius_edges_coarse": (f.r_edges_coarse, {"bin_width": RADIUS_BIN_COARSE}),
            "radius_hist_fine": (f.r_fine, {"bin_width": RADIUS_BIN_FINE}),
            "radius_edges_fine": (f.r_edges_fine, {"bin_width": RADIUS_BIN_FINE}),
            "covariance": (d.covariance, {"ddof": 1}),
            "correlation": (d.correlation, {"zero_variance_components":
                                            np.flatnonzero(d.zero_variance).tolist()}),
            "pca_eigenvalues": (d.pca_eigenvalues, {}),
            "pca_explained_variance_ratio": (d.pca_ratio, {}),
            "pca_components": (d.pca_components, {"rows": "components"}),
            "artificial_b": (np.array(p.artificial_b), {"seed": p.seed, "n": p.n_artificial}),
            "artificial_radius_hist": (a.hist, {"bin_width": RADIUS_BIN_COARSE}),
            "artificial_radius_edges": (a.edges, {"bin_width": RADIUS_BIN_COARSE}),
            "artificial_radius_data_hist": (a.data_hist, {"bin_width": RADIUS_BIN_COARSE}),
            "artificial_fraction_inside": (a.inside, {"rule": INSIDE_RULE}),
            "artificial_wasserstein": (a.w1, {"rule": W1_RULE}),
        }

    def array_names(self) -> list[str]:
        return sorted([*self.arrays(), *PASS2_ARRAYS, "slice_indices"])

    def summary(self) -> dict[str, Any]:
        """summary.json without fingerprint and seconds (see :func:`summary_with_fingerprint`)."""
        d, f = self.derived, self.finished
        return {
            "n": self.n, "z_dim": self.z, "input": self.input, "params": self.params_json,
            "mean": d.mean.tolist(), "std": d.std.tolist(), "min": d.min.tolist(),
            "max": d.max.tolist(), "mode": f.mode.tolist(), "half_width": f.half_width.tolist(),
            "half_width_rule": HALF_WIDTH_RULE,
            "half_width_scaled": f.half_width_scaled.tolist(),
            "fwhm_over_gaussian": [None if not np.isfinite(v) else float(v)
                                   for v in f.fwhm_over_gaussian],
            "shape": {**f.shape, "rule": SHAPE_RULE},
            "bootstrap": {"groups": GROUPS, "replicates": self.params.bootstrap_replicates, "seed": self.params.seed,
                          "rule": BOOTSTRAP_RULE},
            "histogram": {"bin_width": d.hist_width, "lo": float(d.hist_edges[0]),
                          "hi": float(d.hist_edges[-1]), "n_bins": len(d.hist_edges) - 1},
            "dominant_components": f.dominant, "dominant_rule": DOMINANT_RULE,
            "dominant_scores": {str(i): {"abs_mean": float(f.dominant_z_mean[i]),
                                         "half_width": float(f.dominant_z_half_width[i])}
                                for i in f.dominant},
            "dominant_margin": self._dominant_margin(),
            "zero_variance_components": np.flatnonzero(d.zero_variance).tolist(),
            "radius": self._radius(),
            **self._correlations(),
            "pca_eigenvalues": d.pca_eigenvalues.tolist(),
            "pca_explained_variance_ratio": d.pca_ratio.tolist(),
            "pca_first_share_interval": f.pc1_share_interval,
            "pca_ratio_intervals": f.pca_ratio_intervals,
            "slice": self._slice(),
            "mahalanobis": {"quantile": self.params.mahalanobis_quantile,
                            "value": f.mahalanobis_q, "rule": INSIDE_RULE},
            **self._artificial(),
            "arrays": self.array_names(),
        }

    def _dominant_margin(self) -> dict[str, Any]:
        """The largest robust z of each score beside its cut (abs_mean: the signed mean's |z|;
        half_width: the std's z), so a reader sees how near the rule came to flagging."""
        f, k = self.finished, int((~self.derived.zero_variance).sum())
        zm, zs = np.abs(f.dominant_z_mean), f.dominant_z_half_width
        return {"largest_z_mean": float(zm.max()) if len(zm) else 0.0,
                "cut_mean": dominant_cut(k, True),
                "largest_z_std": float(zs.max()) if len(zs) else 0.0,
                "cut_std": dominant_cut(k, False)}

    def _radius(self) -> dict[str, Any]:
        f, rad = self.finished, self.finished.radius
        return {"mean": rad.mean, "std": rad.std, "min": rad.min, "max": rad.max,
                "peak": f.peak["value"], "peak_interval": f.peak["interval"],
                "peak_bandwidth": f.peak["bandwidth"], "peak_coarse": f.peak["coarse"],
                "peak_rule": PEAK_RULE, "sqrt_z_dim": math.sqrt(self.z),
                "bin_widths": [RADIUS_BIN_COARSE, RADIUS_BIN_FINE]}

    def _correlations(self) -> dict[str, Any]:
        corr = self.derived.correlation
        return {"correlation_counts": correlation_counts(corr, CORRELATION_THRESHOLDS),
                "corr_threshold": self.params.corr_threshold,
                "correlated_pairs": correlated_pairs(corr, self.params.corr_threshold)}

    def _slice(self) -> dict[str, Any]:
        n_slice = self.pass2.partial.n_slice
        return {"axes": list(self.derived.slice_axes), "threshold": self.params.slice_threshold,
                "count": n_slice, "fraction": n_slice / self.n,
                "axes_rule": "given" if self.derived.slice_axes_given else "the most correlated pair",
                "rule": SLICE_RULE}

    def _artificial(self) -> dict[str, Any]:
        a = self.artificial
        return {"artificial": {f"{b:g}": row for b, row in
                               zip(self.params.artificial_b, a.rows, strict=True)},
                "artificial_best_b": a.best_b, "artificial_matching_b": a.matching_b,
                "artificial_rule": W1_RULE, "artificial_matching_rule": MATCHING_RULE}


def statistics_fingerprint(summary: dict[str, Any], input_fingerprint: str,
                           array_fingerprints: dict[str, str]) -> str:
    """sha256 of the summary (less the input's URL), the input's and every array's fingerprint."""
    return hashlib.sha256(
        json.dumps({"summary": {k: v for k, v in summary.items() if k != "input"},
                    "input": input_fingerprint, "arrays": array_fingerprints},
                   sort_keys=True).encode()
    ).hexdigest()
