"""The study's claims, each reproduced or refuted with a number and the rule that decided it.

One row per claim of "Autoencoders and latent space fragmentation" and "Variational Autoencoder
with Tensorflow": {"claim", "study", "ours", "verdict", "rule"}; verdict is one of VERDICTS.
Inputs are what the stages wrote: summary.json (analyze), scores.json (generate), train.json and
the history (train), the fragmentation dict; a missing input gives "not decidable" with the
reason, never a guess.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.stats import norm

from zspace import study

REPRODUCED, DIFFERS, NOT_REPRODUCED, UNDECIDABLE = (
    "reproduced", "differs", "not reproduced", "not decidable")
VERDICTS = (REPRODUCED, DIFFERS, NOT_REPRODUCED, UNDECIDABLE)
FAIL_REALISM = 0.25  # data images score ~0.5 on both realism scores; below this = no faces
Row = dict[str, Any]


def row(claim: str, study_value: Any, ours: Any, verdict: str, rule: str) -> Row:
    assert verdict in VERDICTS, verdict
    return {"claim": claim, "study": study_value, "ours": ours, "verdict": verdict, "rule": rule}


def _missing(claim: str, study_value: Any, what: str) -> Row:
    return row(claim, study_value, None, UNDECIDABLE, f"needs {what}")


# -- latent statistics (summary.json) ---------------------------------------------------------
def gaussian_components(s: dict[str, Any]) -> Row:
    claim = "most components are Gaussian, centre ~0, half-width (FWHM) ~1-2"
    rule = ("over the components neither dominant nor constant: reproduced when the median "
            "half-width is in [1, 2] and the median of half_width / (2.3548 std) is in "
            "[0.8, 1.2] (a Gaussian's FWHM); differs when only the shape matches; "
            "not reproduced when the shape does not")
    if not all(k in s for k in ("half_width", "std", "mean")):
        return _missing(claim, "hw 1-2", "summary.json half_width, std, mean")
    skip = set(s.get("dominant_components", [])) | set(s.get("zero_variance_components", []))
    keep = [i for i in range(len(s["half_width"])) if i not in skip]
    if not keep:
        return row(claim, "hw 1-2", None, UNDECIDABLE, rule + "; no component left")
    hw, sd = np.asarray(s["half_width"])[keep], np.asarray(s["std"])[keep]
    ours = {"median_half_width": float(np.median(hw)),
            "median_abs_mean": float(np.median(np.abs(np.asarray(s["mean"])[keep]))),
            "median_fwhm_over_gaussian": float(np.median(hw / (2.3548 * sd))),
            "components": len(keep)}
    shape = 0.8 <= ours["median_fwhm_over_gaussian"] <= 1.2
    width = 1.0 <= ours["median_half_width"] <= 2.0
    verdict = REPRODUCED if shape and width else DIFFERS if shape else NOT_REPRODUCED
    return row(claim, "half-width ~1-2, centre ~0", ours, verdict, rule)


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
    return row(claim, f"{n_study} of {study.Z_DIM}",
               {"count": count, "z_dim": z, "indices": s["dominant_components"]}, verdict, rule)


def radius_peak(s: dict[str, Any]) -> Row:
    claim = "the radius distribution peaks near sqrt(z_dim)"
    rule = "reproduced when |peak - sqrt(z_dim)| <= 10% of sqrt(z_dim); differs otherwise"
    rad = s.get("radius") or {}
    if "peak" not in rad:
        return _missing(claim, study.RADIUS_PEAK, "summary.json radius.peak")
    root = float(rad.get("sqrt_z_dim") or math.sqrt(s["z_dim"]))
    rel = abs(rad["peak"] - root) / root
    return row(claim, f"peak {study.RADIUS_PEAK} vs sqrt(256) = 16",
               {"peak": rad["peak"], "sqrt_z_dim": root, "relative_difference": rel,
                "max": rad.get("max")}, REPRODUCED if rel <= 0.1 else DIFFERS, rule)


def origin_border(s: dict[str, Any], fragmentation: dict[str, Any] | None) -> Row:
    claim = "the origin sits at the border of the data cloud"
    rule = ("share of data closer (Mahalanobis, fitted Gaussian) to the mean than the origin: "
            "reproduced when >= 0.9, not reproduced below 0.5, differs between")
    origin = (fragmentation or {}).get("origin") or s.get("origin")
    if not origin or "data_fraction_closer" not in origin:
        return _missing(claim, "origin at the border (scatter plots)",
                        "the origin's Mahalanobis percentile (fragmentation['origin'])")
    f = float(origin["data_fraction_closer"])
    verdict = REPRODUCED if f >= 0.9 else NOT_REPRODUCED if f < 0.5 else DIFFERS
    return row(claim, "origin at the border (scatter plots)",
               {"data_fraction_closer": f, "origin_mahalanobis": origin.get("mahalanobis")},
               verdict, rule)


def subsample_counts(corr: np.ndarray, thresholds: Any = None,
                     m: int = study.CORRELATION_SUBSAMPLE) -> dict[str, dict[str, float]]:
    """What the study's method (np.corrcoef on an m-row subsample) would count on OUR latents:
    for each pair i<j with exact r, the subsample's r_hat has Fisher z ~ N(atanh r,
    1 / sqrt(m - 3)); expected count = sum P(|r_hat| > t), sd = sqrt(sum p (1 - p)) (pairs
    treated as independent)."""
    thresholds = study.CORRELATION_COUNTS.keys() if thresholds is None else thresholds
    r = np.clip(np.asarray(corr, dtype=np.float64)[np.triu_indices(len(corr), 1)],
                -0.999999, 0.999999)
    z, se = np.arctanh(r), 1.0 / math.sqrt(m - 3)
    out = {}
    for t in thresholds:
        zt = math.atanh(float(t))
        p = norm.sf((zt - z) / se) + norm.cdf((-zt - z) / se)
        out[f"{float(t):g}"] = {"expected": float(p.sum()),
                                "sd": float(np.sqrt((p * (1 - p)).sum()))}
    return out


def _count_comparison(counts: dict[str, int], z: int,
                      predicted: dict[str, dict[str, float]] | None) -> dict[str, Any]:
    """Our exact counts beside the study's subsample counts, with the subsample's error."""
    m, pairs = study.CORRELATION_SUBSAMPLE, z * (z - 1) // 2
    out = {}
    for t, c_study in study.CORRELATION_COUNTS.items():
        ours = counts.get(t)
        spread = math.sqrt(c_study * (1 - c_study / pairs)) if pairs > c_study else 0.0
        out[t] = {"ours_exact": ours, "study_subsample": c_study,
                  "difference": None if ours is None else ours - c_study,
                  "binomial_spread": spread,
                  "within_3_spread": None if ours is None else abs(ours - c_study) <= 3 * spread,
                  "noise_pairs_expected": pairs * 2 * float(norm.sf(float(t) * math.sqrt(m)))}
        if predicted and t in predicted:
            e, sd = predicted[t]["expected"], predicted[t]["sd"]
            out[t].update(ours_subsample_expected=e, ours_subsample_sd=sd,
                          study_within_3_sd=abs(c_study - e) <= 3 * max(sd, 1.0))
    return out


def _strongest(s: dict[str, Any]) -> dict[str, Any]:
    """Our strongest |r| beside the study's, against the subsample's r error."""
    best = max((abs(p[2]) for p in s["correlated_pairs"]), default=None)
    err = 1 / math.sqrt(study.CORRELATION_SUBSAMPLE)
    diff = None if best is None else best - study.STRONGEST_R
    return {"strongest_abs_r": best, "strongest_difference": diff,
            "strongest_beyond_3_r_errors": None if diff is None else abs(diff) > 3 * err}


def correlated(s: dict[str, Any], correlation: np.ndarray | None = None) -> Row:
    claim = "dominant components are correlated (pair counts above |r| 0.1..0.6)"
    m = study.CORRELATION_SUBSAMPLE
    rule = (f"reproduced when some pair has |r| > 0.5 and most such pairs involve a dominant "
            f"component; differs when pairs above 0.5 exist but mostly between other components; "
            f"not reproduced when none. Counts: the study's are from a {m}-vector subsample "
            f"(r error ~1/sqrt({m}) = {1 / math.sqrt(m):.3f}); ours are exact on all N; a count "
            "differs beyond the subsample error when |ours - study| > 3 sqrt(c (1 - c/pairs)) "
            "(binomial-style); noise_pairs_expected = pairs whose |r| would pass the threshold "
            "from subsample noise alone if r = 0; with the exact correlation matrix, "
            "ours_subsample_expected +- sd = what the study's method would count on our latents "
            "(Fisher z per pair), and the study's count is within the subsample error when "
            "within 3 sd of it; the strongest |r| differs beyond the subsample error when by "
            f"more than 3/sqrt({m})")
    if "correlation_counts" not in s or "correlated_pairs" not in s:
        return _missing(claim, dict(study.CORRELATION_COUNTS), "summary.json correlation_counts")
    dom = set(s.get("dominant_components", []))
    strong = [p for p in s["correlated_pairs"] if abs(p[2]) > 0.5]
    with_dom = sum(1 for i, j, _ in strong if i in dom or j in dom)
    predicted = None if correlation is None else subsample_counts(correlation)
    ours = {"counts": _count_comparison(s["correlation_counts"], int(s["z_dim"]), predicted),
            "pairs_above_0.5": len(strong), "pairs_with_a_dominant": with_dom, **_strongest(s)}
    verdict = (NOT_REPRODUCED if not strong else REPRODUCED if 2 * with_dom > len(strong)
               else DIFFERS)
    return row(claim, {"counts": dict(study.CORRELATION_COUNTS), "strongest_abs_r":
                       study.STRONGEST_R}, ours, verdict, rule)


def pca_spectrum(s: dict[str, Any]) -> Row:
    claim = "one dominant principal component, the spectrum flat after ~10"
    k = study.PCA_FLAT_AFTER
    rule = (f"one dominant: lambda1 >= 2 lambda2; flat after {k}: lambda{k + 1} <= 2 x the "
            "median of the remaining eigenvalues; reproduced when both, differs when one, "
            f"not reproduced when neither; not decidable with fewer than {2 * k} components")
    ev = np.asarray(s.get("pca_eigenvalues") or [], dtype=float)
    if len(ev) < 2 * k:
        return row(claim, "1 dominant, flat after ~10", {"components": len(ev)}, UNDECIDABLE,
                   rule)
    one = ev[0] >= 2 * ev[1]
    flat = ev[k] <= 2 * float(np.median(ev[k:]))
    ours = {"lambda1_over_lambda2": float(ev[0] / ev[1]) if ev[1] > 0 else None,
            f"lambda{k + 1}_over_tail_median": float(ev[k] / np.median(ev[k:])),
            "explained_ratio_first": (s.get("pca_explained_variance_ratio") or [None])[0]}
    verdict = REPRODUCED if one and flat else DIFFERS if one or flat else NOT_REPRODUCED
    return row(claim, "1 dominant, flat after ~10", ours, verdict, rule)


def uniform_b(s: dict[str, Any]) -> Row:
    claim = "uniform components in [-b, b] give the data's radius only for b in [1, 2]"
    lo, hi = study.B_RANGE
    rule = (f"reproduced when the best b (Wasserstein-1 of radii) lies in [{lo:g}, {hi:g}]; "
            "differs otherwise")
    if "artificial_best_b" not in s:
        return _missing(claim, list(study.B_RANGE), "summary.json artificial_best_b")
    b = float(s["artificial_best_b"])
    return row(claim, list(study.B_RANGE), {"best_b": b,
                                            "matching_b": s.get("artificial_matching_b")},
               REPRODUCED if lo <= b <= hi else DIFFERS, rule)


def artificial_outside(s: dict[str, Any]) -> Row:
    claim = "artificial vectors of the right length land outside the data cloud"
    rule = ("reproduced when under half of the artificial vectors at the best b lie inside the "
            "data's 99% Mahalanobis region (data: 99%); not reproduced otherwise")
    art, b = s.get("artificial") or {}, s.get("artificial_best_b")
    entry = art.get(f"{b:g}") if b is not None else None
    if not entry or "fraction_inside" not in entry:
        return _missing(claim, "mostly outside", "summary.json artificial[best_b]")
    f = float(entry["fraction_inside"])
    return row(claim, "mostly outside (correlated real components)",
               {"best_b": b, "fraction_inside": f},
               REPRODUCED if f < 0.5 else NOT_REPRODUCED, rule)


# -- generation (scores.json) ---------------------------------------------------------------
def per_sampler(scores: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """scores.json's per-sampler scores, from the whole record or the scores dict itself."""
    if not scores:
        return {}
    inner = scores.get("scores", scores)
    return {k: v for k, v in inner.items() if isinstance(v, dict)}


def normal_faces(kind: str, scores: dict[str, Any] | None) -> Row:
    faces = kind == "vae"
    claim = (f"{kind.upper()}: decoding z ~ N(0, I) gives " + ("faces" if faces else "no faces"))
    rule = (f"realism of the 'normal' sampler (data images ~0.5): faces when >= {FAIL_REALISM:g}; "
            "reproduced when that matches the study, not reproduced otherwise")
    r = per_sampler(scores).get("normal", {}).get("realism")
    if r is None:
        return _missing(claim, "faces" if faces else "no faces",
                        f"scores.json of a {kind} run with the 'normal' sampler's realism")
    got_faces = r >= FAIL_REALISM
    return row(claim, "faces" if faces else "no faces", {"realism": r},
               REPRODUCED if got_faces == faces else NOT_REPRODUCED, rule)


def r_limit_quality(scores: dict[str, Any] | None) -> Row:
    from scipy.stats import spearmanr

    claim = "decoded quality falls as r_limit grows (uniform z in [-r, r])"
    rule = ("Spearman correlation of r_limit and realism over the uniform-r samplers: "
            "reproduced when <= -0.5, not reproduced otherwise; needs >= 3 r_limits")
    pts = sorted((float(k.removeprefix("uniform-r")), v["realism"])
                 for k, v in per_sampler(scores).items()
                 if k.startswith("uniform-r") and v.get("realism") is not None)
    if len(pts) < 3:
        return _missing(claim, "worse with r_limit", "realism of >= 3 uniform-r samplers")
    rho = float(spearmanr([p[0] for p in pts], [p[1] for p in pts]).statistic)
    ours = {"spearman": rho, "realism_by_r_limit": {f"{r:g}": v for r, v in pts}}
    return row(claim, "worse with r_limit", ours,
               REPRODUCED if rho <= -0.5 else NOT_REPRODUCED, rule)


def sharpening(scores: dict[str, Any] | None) -> Row:
    claim = f"sharpening (PIL Sharpness, factor {study.SHARPEN_FACTOR:g}) helps"
    rule = ("per sampler: helps when the sharpened images' Laplacian variance is closer to the "
            "training images' than the unsharpened; reproduced when it helps for most samplers")
    ref = (scores or {}).get("reference", {}).get("training_sharpness")
    rows = {k: v for k, v in per_sampler(scores).items()
            if v.get("sharpness") is not None and v.get("sharpness_sharpened") is not None}
    if ref is None or not rows:
        return _missing(claim, "helps", "scores.json sharpness, sharpness_sharpened and "
                                        "reference.training_sharpness")
    helps = {k: abs(v["sharpness_sharpened"] - ref) < abs(v["sharpness"] - ref)
             for k, v in rows.items()}
    n = sum(helps.values())
    return row(claim, "helps", {"helps": n, "samplers": len(helps), "training_sharpness": ref},
               REPRODUCED if 2 * n > len(helps) else NOT_REPRODUCED, rule)


# -- fragmentation --------------------------------------------------------------------------
def filaments(fragmentation: dict[str, Any] | None) -> Row:
    claim = "the latent cloud is fragmented: filaments around voids (zoomed PCA plots)"
    rule = ("fragmentation's overall verdict: fragmented (1-D filaments by local dimension, or "
            "clumps and voids finer than the bandwidth in the zoom windows against the data's "
            "own smoothed density, Holm over windows) = reproduced, not fragmented = not "
            "reproduced; low-dimensional and heavy-tailed are reported, not counted")
    if not fragmentation or "overall" not in fragmentation:
        return _missing(claim, "filaments and voids", "the fragmentation statistics")
    v = fragmentation["overall"]
    parts = fragmentation.get("parts", {})
    fil = parts.get("filamentary", {})
    tested = [w for rows in fragmentation.get("windows", {}).values() for w in rows
              if w.get("p") is not None]
    ours = {"overall": v, "verdicts": fragmentation.get("verdict"),
            "median_local_dimension": fil.get("data_median_local"),
            "local_dimension_upper_bound": fil.get("upper_bound"),
            "surrogate_median_local_dimension": fil.get("surrogate_median_local"),
            "smallest_window_p": min((w["p"] for w in tested), default=None),
            "windows_tested": len(tested),
            "family_wise_error": fragmentation.get("family_wise_error"),
            "knn_median_ratio": fragmentation.get("knn", {}).get("median_ratio")}
    verdict = {"fragmented": REPRODUCED, "not fragmented": NOT_REPRODUCED,
               "filamentary": REPRODUCED, "gaussian-like": NOT_REPRODUCED}.get(v, UNDECIDABLE)
    fwe = fragmentation.get("family_wise_error")
    unc = (f"; uncertainty: false-positive rate of the overall verdict <= {fwe:g} by "
           "construction, local dimension with its bootstrap upper bound" if fwe else "")
    return row(claim, "filaments and voids", ours, verdict,
               rule + unc + "; " + fragmentation.get("overall_rule", ""))


def voids_explain(scores: dict[str, Any] | None) -> Row:
    claim = "random z-points decode to nothing because they fall into voids (withdrawn in 2023)"
    rule = ("from the probes' placement and realism (void_or_miss): 'voids' = reproduced, "
            "'miss the region', 'fails on the data' or 'voids do not explain it' = not reproduced, "
            "'both' = differs")
    answer = (scores or {}).get("why_random_fail") or (scores or {}).get("void_or_miss")
    if not answer or "answer" not in answer:
        return _missing(claim, "voids (withdrawn)", "scores.json why_random_fail or void_or_miss")
    verdict = {"voids": REPRODUCED, "miss the region": NOT_REPRODUCED,
               "fails on the data": NOT_REPRODUCED, "voids do not explain it": NOT_REPRODUCED,
               "both": DIFFERS}.get(answer["answer"],
                                                                        UNDECIDABLE)
    return row(claim, "voids (withdrawn)", {"answer": answer["answer"]}, verdict,
               rule + "; " + str(answer.get("rule", "")))


# -- training -------------------------------------------------------------------------------
def losses(train: dict[str, Any] | None, history: list[dict[str, Any]] | None) -> Row:
    kind = (train or {}).get("kind", "?")
    target = study.LOSS_PER_IMAGE.get(kind)
    term = "loss" if kind == "vae" else "reconstruction"
    claim = f"{kind.upper()} loss per image after {study.EPOCHS} epochs (96x96)"
    rule = (f"the {term} per image at epoch {study.EPOCHS}: reproduced within 10% of the "
            f"study's, differs otherwise; not decidable unless the run has {study.INPUT_SIZE}x"
            f"{study.INPUT_SIZE} images, {study.EPOCHS} epochs and recon_sum 'pixels' (the "
            "study's units)")
    if not train or target is None:
        return _missing("loss per image after 24 epochs", dict(study.LOSS_PER_IMAGE),
                        "train.json with kind ae or vae")
    last = next((h for h in (history or []) if h.get("epoch") == study.EPOCHS), None)
    reasons = [r for r, bad in (
        (f"input_size {train.get('input_size')} != {study.INPUT_SIZE}",
         train.get("input_size") != study.INPUT_SIZE),
        (f"no epoch {study.EPOCHS} in the history", last is None),
        (f"recon_sum {train.get('recon_sum')!r} != 'pixels'",
         train.get("recon_sum", study.RECON_SUM) != study.RECON_SUM)) if bad]
    if reasons:
        return row(claim, target, {"epochs": train.get("epochs"),
                                   "input_size": train.get("input_size")},
                   UNDECIDABLE, rule + "; here: " + "; ".join(reasons))
    value = float(last.get(term, last.get("loss")))
    rel = (value - target) / target
    return row(claim, target, {term: value, "relative_difference": rel},
               REPRODUCED if abs(rel) <= 0.1 else DIFFERS, rule)


# -- the table ------------------------------------------------------------------------------
def findings(summary: dict[str, Any], scores: dict[str, Any] | None = None,
             train: dict[str, Any] | None = None, history: list[dict[str, Any]] | None = None,
             fragmentation: dict[str, Any] | None = None, meaning: dict[str, Any] | None = None,
             compare: dict[str, dict[str, Any]] | None = None, *,
             correlation: np.ndarray | None = None) -> list[Row]:
    """One row per claim of the study. scores: this run's scores.json; train: its train.json;
    compare: {"ae"|"vae": scores.json of another run of that kind} for the N(0, I) claims;
    correlation: the exact z_dim x z_dim matrix (stats array "correlation"), for what a
    5,000-row subsample of our latents would count. meaning is accepted for the report's
    signature; the study made no claim it could decide."""
    s = summary or {}
    kind = (train or {}).get("kind")
    by_kind = {**(compare or {}), **({kind: scores} if kind and scores else {})}
    return [
        gaussian_components(s), dominant(s), radius_peak(s), origin_border(s, fragmentation),
        correlated(s, correlation), pca_spectrum(s), uniform_b(s), artificial_outside(s),
        normal_faces("ae", by_kind.get("ae")), normal_faces("vae", by_kind.get("vae")),
        r_limit_quality(scores), sharpening(scores), filaments(fragmentation),
        voids_explain(scores), losses(train, history),
    ]


def _short(value: Any) -> str:
    """A compact text of a number or a small dict for the table."""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_short(v)}" for k, v in value.items()
                         if not isinstance(v, dict | list))
    return "—" if value is None else str(value)


def findings_markdown(rows: list[Row]) -> str:
    lines = ["| claim | study | ours | verdict | rule |", "|---|---|---|---|---|"]
    for r in rows:
        cells = [r["claim"], _short(r["study"]), _short(r["ours"]), f"**{r['verdict']}**",
                 r["rule"]]
        lines.append("| " + " | ".join(c.replace("|", "\\|").replace("\n", " ")
                                        for c in cells) + " |")
    return "\n".join(lines) + "\n"


def findings_html(rows: list[Row]) -> str:
    import html

    head = "".join(f"<th>{h}</th>" for h in ("claim", "study", "ours", "verdict", "rule"))
    body = "".join(
        "<tr class=\"verdict-{}\">{}</tr>".format(
            r["verdict"].replace(" ", "-"),
            "".join(f"<td>{html.escape(c)}</td>" for c in (
                r["claim"], _short(r["study"]), _short(r["ours"]), r["verdict"], r["rule"])))
        for r in rows)
    return f"<table class=\"findings\"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
