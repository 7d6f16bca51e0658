"""The Findings rows about the latent statistics (summary.json): each claim's number, its
interval, the rule that decides it and the verdict; a verdict whose interval straddles its
threshold is "not decidable", with the margin shown. Shared by :mod:`findings`, which re-exports
everything here."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.stats import binomtest, norm

from zspace import study

REPRODUCED, DIFFERS, NOT_REPRODUCED, UNDECIDABLE = (
    "reproduced", "differs", "not reproduced", "not decidable")
VERDICTS = (REPRODUCED, DIFFERS, NOT_REPRODUCED, UNDECIDABLE)
Row = dict[str, Any]
Z95 = 1.959964  # two-sided 95% normal quantile


def row(claim: str, study_value: Any, ours: Any, verdict: str, rule: str) -> Row:
    assert verdict in VERDICTS, verdict
    return {"claim": claim, "study": study_value, "ours": ours, "verdict": verdict, "rule": rule}


def _missing(claim: str, study_value: Any, what: str) -> Row:
    return row(claim, study_value, None, UNDECIDABLE, f"needs {what}")


def calibrated(rule_id: str) -> Callable[[Callable[..., Row]], Callable[..., Row]]:
    """Tag a rule's rows with their id: report.calibration.annotate adds the measured false-
    positive rate and power of the calibration rules behind it (CALIBRATED_BY)."""
    def wrap(fn: Callable[..., Row]) -> Callable[..., Row]:
        @functools.wraps(fn)
        def rule(*args: Any, **kwargs: Any) -> Row:
            return {**fn(*args, **kwargs), "id": rule_id}
        return rule
    return wrap


def proportion_interval(hits: float, n: int | None) -> list[float] | None:
    """Exact (Clopper-Pearson) 95% interval of a share of n; None when n is unknown."""
    if not n:
        return None
    ci = binomtest(int(round(hits)), int(n)).proportion_ci(0.95, method="exact")
    return [float(ci.low), float(ci.high)]


# -- intervals and thresholds ------------------------------------------------------------------
def side(value: float | None, interval: list[float] | None, lo: float = -math.inf,
         hi: float = math.inf) -> str:
    """Where a value lies against the range [lo, hi]: "in", "out", or "straddles" when its
    interval reaches across a bound (then the verdict is not decidable)."""
    if value is None:
        return "straddles"
    inside = lo <= value <= hi
    if interval is not None:
        a, b = interval
        if (a < lo <= b) or (a <= hi < b):
            return "straddles"
    return "in" if inside else "out"


def margin(value: float | None, lo: float = -math.inf, hi: float = math.inf) -> float | None:
    """Signed distance to the nearer bound of [lo, hi] (positive inside)."""
    if value is None:
        return None
    return float(min(value - lo, hi - value))


def _straddle(claim: str, study_value: Any, ours: Any, rule: str, what: str) -> Row:
    return row(claim, study_value, ours, UNDECIDABLE,
               rule + f"; here the interval of {what} straddles its threshold")


# -- latent statistics (summary.json) ---------------------------------------------------------
SHAPE_RANGE = (0.8, 1.2)  # FWHM / (2.3548 std): a Gaussian's is 1 (calibrated: stats_rules)


def _shape_inputs(s: dict[str, Any]) -> dict[str, Any] | None:
    """The scale-free shape summary (stats version 2), or None for an older summary."""
    sh = s.get("shape")
    if not sh or sh.get("median_fwhm_over_gaussian") is None:
        return None
    return sh


@calibrated("gaussian_components")
def gaussian_components(s: dict[str, Any]) -> Row:
    claim = "most components are Gaussian, centre ~0, half-width (FWHM) ~1-2"
    lo, hi = SHAPE_RANGE
    rule = ("over the components neither dominant nor constant: shape = median of FWHM / (2.3548 "
            "std) with the FWHM read on each component's own histogram (bin std/4, scale-free), "
            f"Gaussian when in [{lo:g}, {hi:g}]; width = median half-width on the study's 0.25 "
            "bins (study units), in [1, 2]; reproduced when both, differs when only the shape, "
            "not reproduced when the shape does not match; not decidable when a 95% bootstrap "
            "interval straddles a bound")
    sh = _shape_inputs(s)
    if sh is None or "half_width" not in s:
        return _missing(claim, "hw 1-2", "summary.json shape (statistics version 2) and half_width")
    if not sh.get("components"):
        return row(claim, "hw 1-2", None, UNDECIDABLE, rule + "; no component left")
    ratio, width = sh["median_fwhm_over_gaussian"], sh["median_half_width"]
    ours = {"median_fwhm_over_gaussian": ratio, "shape_interval": sh.get("interval"),
            "shape_margin": margin(ratio, lo, hi), "median_half_width": width,
            "half_width_interval": sh.get("half_width_interval"),
            "half_width_margin": margin(width, 1.0, 2.0), "components": sh["components"]}
    shape = side(ratio, sh.get("interval"), lo, hi)
    ours["shape_gaussian"] = {"in": True, "out": False}.get(shape)  # None: not decidable
    if shape == "straddles":
        return _straddle(claim, "half-width ~1-2, centre ~0", ours, rule, "the shape")
    if shape == "out":
        return row(claim, "half-width ~1-2, centre ~0", ours, NOT_REPRODUCED, rule)
    wide = side(width, sh.get("half_width_interval"), 1.0, 2.0)
    if wide == "straddles":
        return _straddle(claim, "half-width ~1-2, centre ~0", ours, rule, "the half-width")
    return row(claim, "half-width ~1-2, centre ~0", ours,
               REPRODUCED if wide == "in" else DIFFERS, rule)


@calibrated("dominant")
def dominant(s: dict[str, Any]) -> Row:
    claim = "a few dominant components (|mu| or half-width clearly above the rest)"
    n_study = len(study.DOMINANT_COMPONENTS)
    rule = (f"reproduced when 1 <= count <= 15% of z_dim (study: {n_study} of {study.Z_DIM}); "
            "not reproduced when none; differs when more; flagged by the summary's "
            "dominant_rule")
    if "dominant_components" not in s or "z_dim" not in s:
        return _missing(claim, n_study, "summary.json dominant_components")
    count, z = len(s["dominant_components"]), int(s["z_dim"])
    verdict = (NOT_REPRODUCED if count == 0 else REPRODUCED if count <= 0.15 * z else DIFFERS)
    ours = {"count": count, "z_dim": z, "indices": s["dominant_components"]}
    dm = s.get("dominant_margin")
    if dm:  # how far the strongest score is from its cut (positive: flagged)
        ours["margin"] = max(dm["largest_z_mean"] - dm["cut_mean"],
                             dm["largest_z_std"] - dm["cut_std"])
    return row(claim, f"{n_study} of {study.Z_DIM}", ours, verdict, rule)


@calibrated("radius_peak")
def radius_peak(s: dict[str, Any]) -> Row:
    claim = "the radius distribution peaks near sqrt(z_dim)"
    rule = ("reproduced when |peak - sqrt(z_dim)| <= 10% of sqrt(z_dim); differs otherwise; not "
            "decidable when the peak's 95% bootstrap interval straddles that bound (summary's "
            "peak_rule)")
    rad = s.get("radius") or {}
    if rad.get("peak") is None:
        return _missing(claim, study.RADIUS_PEAK, "summary.json radius.peak")
    root = float(rad.get("sqrt_z_dim") or math.sqrt(s["z_dim"]))
    peak, iv = float(rad["peak"]), rad.get("peak_interval")
    rel = abs(peak - root) / root
    ours = {"peak": peak, "peak_interval": iv, "sqrt_z_dim": root, "relative_difference": rel,
            "margin": margin(peak, 0.9 * root, 1.1 * root), "max": rad.get("max")}
    where = side(peak, iv, 0.9 * root, 1.1 * root)
    verdict = {"in": REPRODUCED, "out": DIFFERS}.get(where, UNDECIDABLE)
    return row(claim, f"peak {study.RADIUS_PEAK} vs sqrt(256) = 16", ours, verdict,
               rule + ("; here the interval straddles the bound" if where == "straddles" else ""))


@calibrated("origin_border")
def origin_border(s: dict[str, Any], fragmentation: dict[str, Any] | None) -> Row:
    claim = "the origin sits at the border of the data cloud"
    rule = ("share of data closer (Mahalanobis, fitted Gaussian) to the mean than the origin: "
            "reproduced when >= 0.9, not reproduced below 0.5, differs between; not decidable "
            "when its exact binomial 95% interval (over the N vectors) straddles 0.9 or 0.5")
    origin = (fragmentation or {}).get("origin") or s.get("origin")
    if not origin or "data_fraction_closer" not in origin:
        return _missing(claim, "origin at the border (scatter plots)",
                        "the origin's Mahalanobis percentile (fragmentation['origin'])")
    f = float(origin["data_fraction_closer"])
    n = origin.get("n") or s.get("n")
    iv = proportion_interval(f * n, n) if n else None
    ours = {"data_fraction_closer": f, "interval": iv, "margin": margin(f, 0.9),
            "origin_mahalanobis": origin.get("mahalanobis")}
    if side(f, iv, 0.9) == "straddles" or side(f, iv, 0.5) == "straddles":
        return _straddle(claim, "origin at the border (scatter plots)", ours, rule, "the share")
    verdict = REPRODUCED if f >= 0.9 else NOT_REPRODUCED if f < 0.5 else DIFFERS
    return row(claim, "origin at the border (scatter plots)", ours, verdict, rule)


SUBSAMPLE_DRAWS = 200  # simulated subsamples behind each predicted count's spread


def subsample_counts(corr: np.ndarray, thresholds: Any = None,
                     m: int = study.CORRELATION_SUBSAMPLE, draws: int = SUBSAMPLE_DRAWS,
                     seed: int = 0) -> dict[str, dict[str, Any]]:
    """What the study's method (np.corrcoef on an m-row subsample) would count on OUR latents:
    the correlation matrices of `draws` simulated m-row samples of a Gaussian with our exact
    correlation (Wishart, m - 1 degrees of freedom), counted at each threshold. The spread
    comes from these repeated subsamples, so the pairs' dependence is kept (treating pairs as
    independent understated it). Gaussian approximation: heavy tails widen the true spread."""
    from scipy.stats import wishart

    thresholds = list(study.CORRELATION_COUNTS.keys() if thresholds is None else thresholds)
    c = np.asarray(corr, dtype=np.float64)
    live = np.diag(c) > 0
    c = c[np.ix_(live, live)] + 1e-9 * np.eye(int(live.sum()))
    iu = np.triu_indices(len(c), 1)
    counts = np.zeros((draws, len(thresholds)))
    for k, w in enumerate(np.atleast_3d(wishart(df=m - 1, scale=c).rvs(
            size=draws, random_state=np.random.default_rng(seed))).reshape(draws, *c.shape)):
        d = np.sqrt(np.diag(w))
        r = np.abs((w / np.outer(d, d))[iu])
        counts[k] = [np.count_nonzero(r > float(t)) for t in thresholds]
    out = {}
    for j, t in enumerate(thresholds):
        lo, hi = np.quantile(counts[:, j], [0.025, 0.975])
        out[f"{float(t):g}"] = {"expected": float(counts[:, j].mean()),
                                "sd": float(counts[:, j].std(ddof=1)),
                                "interval": [float(lo), float(hi)]}
    return out


def _count_comparison(counts: dict[str, int], z: int, n: int | None,
                      predicted: dict[str, dict[str, Any]] | None) -> dict[str, Any]:
    """Our exact counts beside the study's subsample counts; with the exact matrix, what the
    study's method would count on our latents (repeated simulated subsamples)."""
    m, pairs = study.CORRELATION_SUBSAMPLE, z * (z - 1) // 2
    out = {}
    for t, c_study in study.CORRELATION_COUNTS.items():
        ours = counts.get(t)
        out[t] = {"ours_exact": ours, "study_subsample": c_study,
                  "difference": None if ours is None else ours - c_study,
                  "noise_pairs_expected": pairs * 2 * float(norm.sf(float(t) * math.sqrt(m)))}
        if predicted and t in predicted:
            e, sd, iv = (predicted[t][k] for k in ("expected", "sd", "interval"))
            out[t].update(ours_subsample_expected=e, ours_subsample_sd=sd,
                          ours_subsample_interval=iv,
                          study_within_3_sd=abs(c_study - e) <= 3 * max(sd, 1.0))
    return out


def fisher_interval(r: float, n: int | None) -> list[float] | None:
    """95% interval of a Pearson r over n rows (Fisher z)."""
    if not n or n <= 3 or abs(r) >= 1:
        return None
    z, se = math.atanh(r), 1 / math.sqrt(n - 3)
    return [math.tanh(z - Z95 * se), math.tanh(z + Z95 * se)]


def _strongest(s: dict[str, Any]) -> dict[str, Any]:
    """Our strongest |r| (with its interval over our N rows) beside the study's, against a
    5,000-row subsample's error of r, (1 - r^2)/sqrt(m)."""
    best = max((abs(p[2]) for p in s["correlated_pairs"]), default=None)
    if best is None:
        return {"strongest_abs_r": None, "strongest_difference": None,
                "strongest_beyond_3_r_errors": None}
    err = (1 - best**2) / math.sqrt(study.CORRELATION_SUBSAMPLE)
    diff = best - study.STRONGEST_R
    return {"strongest_abs_r": best, "strongest_interval": fisher_interval(best, s.get("n")),
            "strongest_difference": diff, "subsample_r_error": err,
            "strongest_beyond_3_r_errors": abs(diff) > 3 * err}


@calibrated("correlated")
def correlated(s: dict[str, Any], correlation: np.ndarray | None = None) -> Row:
    claim = "dominant components are correlated (pair counts above |r| 0.1..0.6)"
    m = study.CORRELATION_SUBSAMPLE
    rule = ("pairs above 0.5 = correlation_counts['0.5'] (exact, all N); a pair counts as above "
            "when its Fisher-z 95% interval over N rows lies above 0.5. Reproduced when some pair "
            "is above and most such pairs involve a dominant component; differs when they are "
            "mostly between other components; not reproduced when the count is 0; not decidable "
            "when the pairs above 0.5 all straddle it. The study's counts are from a "
            f"{m}-vector subsample: with the exact correlation matrix, "
            "ours_subsample_expected +- sd is what that method would count on our latents "
            f"({SUBSAMPLE_DRAWS} simulated Gaussian subsamples with our correlations), and the "
            "study's count is within the subsample error when within 3 sd of it; the strongest "
            f"|r| differs beyond the subsample error when by more than 3 (1 - r^2)/sqrt({m})")
    counts = s.get("correlation_counts")
    if counts is None or "correlated_pairs" not in s:
        return _missing(claim, dict(study.CORRELATION_COUNTS), "summary.json correlation_counts")
    dom, n = set(s.get("dominant_components", [])), s.get("n")
    strong = [p for p in s["correlated_pairs"] if abs(p[2]) > 0.5]
    sure = [p for p in strong if (fisher_interval(abs(p[2]), n) or [1.0])[0] > 0.5]
    with_dom = sum(1 for i, j, _ in sure if i in dom or j in dom)
    predicted = None if correlation is None else subsample_counts(correlation)
    ours = {"counts": _count_comparison(counts, int(s["z_dim"]), n, predicted),
            "pairs_above_0.5": int(counts.get("0.5", len(strong))),
            "pairs_surely_above_0.5": len(sure), "pairs_with_a_dominant": with_dom,
            **_strongest(s)}
    study_value = {"counts": dict(study.CORRELATION_COUNTS), "strongest_abs_r": study.STRONGEST_R}
    if ours["pairs_above_0.5"] == 0:
        return row(claim, study_value, ours, NOT_REPRODUCED, rule)
    if not sure:
        return _straddle(claim, study_value, ours, rule, "every pair's r")
    return row(claim, study_value, ours, REPRODUCED if 2 * with_dom > len(sure) else DIFFERS,
               rule)


def _ratio_interval(ratio: float | None, n: int | None) -> list[float] | None:
    """95% interval of a ratio of two sample-covariance eigenvalues (each with relative error
    sqrt(2/n) for Gaussian data: log-ratio error 2/sqrt(n))."""
    if ratio is None or not n or ratio <= 0:
        return None
    f = math.exp(Z95 * 2 / math.sqrt(n))
    return [ratio / f, ratio * f]


@calibrated("pca_spectrum")
def pca_spectrum(s: dict[str, Any]) -> Row:
    claim = "one dominant principal component, the spectrum flat after ~10"
    k = study.PCA_FLAT_AFTER
    rule = (f"one dominant: lambda1 >= 2 lambda2; flat after {k}: lambda{k + 1} <= 2 x the "
            "median of the remaining eigenvalues; reproduced when both, differs when one, "
            f"not reproduced when neither; not decidable with fewer than {2 * k} components or "
            "when a ratio's 95% bootstrap interval (summary's pca_ratio_intervals; without them "
            "the Gaussian eigenvalue error sqrt(2/N)) straddles 2; explained_ratio_first "
            "carries its bootstrap interval")
    ev = np.asarray(s.get("pca_eigenvalues") or [], dtype=float)
    if len(ev) < 2 * k:
        return row(claim, "1 dominant, flat after ~10", {"components": len(ev)}, UNDECIDABLE,
                   rule)
    n, tail = s.get("n"), float(np.median(ev[k:]))
    r1 = float(ev[0] / ev[1]) if ev[1] > 0 else None
    rk = float(ev[k] / tail) if tail > 0 else None
    boot = s.get("pca_ratio_intervals") or {}
    i1 = boot.get("lambda1_over_lambda2") or _ratio_interval(r1, n)
    ik = boot.get(f"lambda{k + 1}_over_tail_median") or _ratio_interval(rk, n)
    ours = {"lambda1_over_lambda2": r1, "lambda1_over_lambda2_interval": i1,
            f"lambda{k + 1}_over_tail_median": rk, f"lambda{k + 1}_interval": ik,
            "explained_ratio_first": (s.get("pca_explained_variance_ratio") or [None])[0],
            "explained_ratio_first_interval": s.get("pca_first_share_interval")}
    one = side(r1 if r1 is not None else math.inf, i1, 2.0)
    flat = side(rk if rk is not None else 0.0, ik, -math.inf, 2.0)
    if "straddles" in (one, flat):
        return _straddle(claim, "1 dominant, flat after ~10", ours, rule, "a ratio")
    one_ok, flat_ok = one == "in", flat == "in"
    verdict = (REPRODUCED if one_ok and flat_ok else DIFFERS if one_ok or flat_ok
               else NOT_REPRODUCED)
    return row(claim, "1 dominant, flat after ~10", ours, verdict, rule)


@calibrated("uniform_b")
def uniform_b(s: dict[str, Any]) -> Row:
    claim = "uniform components in [-b, b] give the data's radius only for b in [1, 2]"
    lo, hi = study.B_RANGE
    rule = (f"reproduced when the best b (Wasserstein-1 of radii, on the grid of b) lies in "
            f"[{lo:g}, {hi:g}]; differs otherwise; not decidable when the b whose uniform "
            "vectors have the data's mean radius, b_radius = mean radius / sqrt(z_dim / 3), "
            "has a 95% interval (radius std / sqrt(N)) straddling a bound")
    if "artificial_best_b" not in s:
        return _missing(claim, list(study.B_RANGE), "summary.json artificial_best_b")
    b = float(s["artificial_best_b"])
    rad, n, z = s.get("radius") or {}, s.get("n"), s.get("z_dim")
    b_r = iv = None
    if rad.get("mean") is not None and z:
        unit = math.sqrt(z / 3)
        b_r = rad["mean"] / unit
        if n and rad.get("std") is not None:
            e = Z95 * rad["std"] / math.sqrt(n) / unit
            iv = [b_r - e, b_r + e]
    ours = {"best_b": b, "matching_b": s.get("artificial_matching_b"), "b_radius": b_r,
            "b_radius_interval": iv, "margin": margin(b_r, lo, hi)}
    if b_r is not None and side(b_r, iv, lo, hi) == "straddles":
        return _straddle(claim, list(study.B_RANGE), ours, rule, "b_radius")
    return row(claim, list(study.B_RANGE), ours, REPRODUCED if lo <= b <= hi else DIFFERS, rule)


@calibrated("artificial_outside")
def artificial_outside(s: dict[str, Any]) -> Row:
    claim = "artificial vectors of the right length land outside the data cloud"
    rule = ("reproduced when under half of the artificial vectors at the best b lie inside the "
            "data's 99% Mahalanobis region (data: 99%); not reproduced otherwise; not decidable "
            "when the share's exact binomial 95% interval (over the artificial vectors) "
            "straddles 0.5")
    art, b = s.get("artificial") or {}, s.get("artificial_best_b")
    entry = art.get(f"{b:g}") if b is not None else None
    if not entry or "fraction_inside" not in entry:
        return _missing(claim, "mostly outside", "summary.json artificial[best_b]")
    f = float(entry["fraction_inside"])
    n = entry.get("n")
    iv = proportion_interval(f * n, n) if n else None
    ours = {"best_b": b, "fraction_inside": f, "interval": iv, "margin": margin(f, -math.inf, 0.5)}
    if side(f, iv, -math.inf, 0.5) == "straddles":
        return _straddle(claim, "mostly outside", ours, rule, "the share")
    return row(claim, "mostly outside (correlated real components)", ours,
               REPRODUCED if f < 0.5 else NOT_REPRODUCED, rule)
