"""The study's claims, each reproduced or refuted with a number and the rule that decided it.

One row per claim of "Autoencoders and latent space fragmentation" and "Variational Autoencoder
with Tensorflow": {"claim", "study", "ours", "verdict", "rule"}; verdict is one of VERDICTS.
Inputs are what the stages wrote: summary.json (analyze), scores.json (generate), train.json and
the history (train), the fragmentation dict; a missing input gives "not decidable" with the
reason, never a guess.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from zspace import study
from zspace.tasks.generate.realism import FAIL_REALISM
from zspace.tasks.report.findings_stats import (
    DIFFERS,
    NOT_REPRODUCED,
    REPRODUCED,
    UNDECIDABLE,
    Row,
    _missing,
    artificial_outside,
    correlated,
    dominant,
    gaussian_components,
    origin_border,
    pca_spectrum,
    radius_peak,
    row,
    uniform_b,
)


# -- generation (scores.json) ---------------------------------------------------------------
def per_sampler(scores: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """scores.json's per-sampler scores, from the whole record or the scores dict itself."""
    if not scores:
        return {}
    inner = scores.get("scores", scores)
    return {k: v for k, v in inner.items() if isinstance(v, dict)}


def _interval(v: dict[str, Any], key: str = "realism") -> list[float]:
    """A sampler's 95% bootstrap interval of `key` over images, or the point value twice."""
    ci = v.get(f"{key}_ci")
    return [float(ci[0]), float(ci[1])] if ci else [float(v[key])] * 2


def normal_faces(kind: str, scores: dict[str, Any] | None) -> Row:
    faces = kind == "vae"
    claim = (f"{kind.upper()}: decoding z ~ N(0, I) gives " + ("faces" if faces else "no faces"))
    rule = (f"realism of the 'normal' sampler (the model's reconstructions ~0.5, noise ~0): "
            f"faces when the 95% bootstrap interval over images lies at or above "
            f"{FAIL_REALISM:g}, no faces when it lies below, not decidable when it holds "
            f"{FAIL_REALISM:g} (the point value when scores.json has no interval); reproduced "
            "when that matches the study")
    v = per_sampler(scores).get("normal", {})
    if v.get("realism") is None:
        return _missing(claim, "faces" if faces else "no faces",
                        f"scores.json of a {kind} run with the 'normal' sampler's realism")
    lo, hi = _interval(v)
    verdict = (UNDECIDABLE if lo < FAIL_REALISM <= hi else
               REPRODUCED if (lo >= FAIL_REALISM) == faces else NOT_REPRODUCED)
    return row(claim, "faces" if faces else "no faces",
               {"realism": v["realism"], "realism_ci": [lo, hi]}, verdict, rule)


def r_limit_quality(scores: dict[str, Any] | None) -> Row:
    from scipy.stats import spearmanr

    claim = "decoded quality falls as r_limit grows (uniform z in [-r, r])"
    rule = ("Spearman correlation of r_limit and realism over the uniform-r samplers: "
            "reproduced when <= -0.5 and the smallest r_limit's 95% bootstrap interval of "
            "realism lies above the largest one's; not decidable when those two overlap, when "
            "every r_limit's interval overlaps every other's, or when realism is the same at "
            "every r_limit (no ranking); not reproduced otherwise; needs >= 3 r_limits")
    pts = sorted((float(k.removeprefix("uniform-r")), v)
                 for k, v in per_sampler(scores).items()
                 if k.startswith("uniform-r") and v.get("realism") is not None)
    if len(pts) < 3:
        return _missing(claim, "worse with r_limit", "realism of >= 3 uniform-r samplers")
    values = [v["realism"] for _, v in pts]
    ours: dict[str, Any] = {"realism_ci_by_r_limit": {f"{r:g}": _interval(v) for r, v in pts},
                            "realism_by_r_limit": {f"{r:g}": v["realism"] for r, v in pts}}
    if len(set(values)) == 1:
        return row(claim, "worse with r_limit", {**ours, "spearman": None}, UNDECIDABLE,
                   f"{rule}; here realism is {values[0]:.3g} at every r_limit, so the Spearman "
                   "correlation is undefined")
    rho = float(spearmanr([r for r, _ in pts], values).statistic)
    ours["spearman"] = rho
    cis = [_interval(v) for _, v in pts]
    if max(c[0] for c in cis) <= min(c[1] for c in cis):
        return row(claim, "worse with r_limit", ours, UNDECIDABLE,
                   f"{rule}; here the realism intervals of all r_limits overlap")
    if rho > -0.5:
        return row(claim, "worse with r_limit", ours, NOT_REPRODUCED, rule)
    apart = _interval(pts[0][1])[0] > _interval(pts[-1][1])[1]
    return row(claim, "worse with r_limit", ours, REPRODUCED if apart else UNDECIDABLE, rule)


def sharpening(scores: dict[str, Any] | None) -> Row:
    claim = f"sharpening (PIL Sharpness, factor {study.SHARPEN_FACTOR:g}) helps"
    rule = ("per sampler: helps when the sharpened images' Laplacian variance (mean over images) "
            "is closer to the training images' than the unsharpened; reproduced when it helps "
            "for most samplers. Shown, not used: the change of realism on sharpening with its "
            "paired 95% bootstrap interval over images; realism is anchored on the model's "
            "reconstructions, so sharpened images, like photos, read as atypical there")
    ref = (scores or {}).get("reference", {}).get("training_sharpness")
    per = per_sampler(scores)
    rows = {k: v for k, v in per.items()
            if v.get("sharpness") is not None and v.get("sharpness_sharpened") is not None}
    if ref is None or not rows:
        return _missing(claim, "helps", "scores.json sharpness, sharpness_sharpened and "
                                        "reference.training_sharpness")
    helps = {k: abs(v["sharpness_sharpened"] - ref) < abs(v["sharpness"] - ref)
             for k, v in rows.items()}
    n = sum(helps.values())
    gain = {k: v["realism_sharpening_gain_ci"] for k, v in per.items()
            if v.get("realism_sharpening_gain_ci") is not None}
    return row(claim, "helps", {"helps": n, "samplers": len(helps), "training_sharpness": ref,
                                "realism_gain_ci": gain},
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
            "median_local_dimension_interval": fil.get("data_median_local_interval"),
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
    rule = ("from the probes' placement and realism (why_random_fail, else placement alone: "
            "void_or_miss): 'voids' = reproduced; 'miss the region', 'fails on the data', 'voids "
            "do not explain it', 'on the data' or 'no sampler fails' = not reproduced; 'both' = "
            "differs; a sampler counts as failing only when its realism's 95% bootstrap "
            "interval over images lies below the threshold")
    answer = (scores or {}).get("why_random_fail") or (scores or {}).get("void_or_miss")
    if not answer or "answer" not in answer:
        return _missing(claim, "voids (withdrawn)", "scores.json why_random_fail or void_or_miss")
    verdict = {"voids": REPRODUCED, "miss the region": NOT_REPRODUCED,
               "fails on the data": NOT_REPRODUCED, "voids do not explain it": NOT_REPRODUCED,
               "on the data": NOT_REPRODUCED, "no sampler fails": NOT_REPRODUCED,
               "both": DIFFERS}.get(answer["answer"], UNDECIDABLE)
    samplers = answer.get("samplers") if isinstance(answer.get("samplers"), dict) else {}
    ours = {"answer": answer["answer"], "uncertain": answer.get("uncertain_samplers", []),
            "failing": {k: v.get("realism_ci") for k, v in samplers.items() if v.get("fails")}}
    return row(claim, "voids (withdrawn)", ours, verdict,
               rule + "; " + str(answer.get("rule", "")))


# -- training -------------------------------------------------------------------------------
MODEL_RECON_SUM = "values"  # models.config's default: a record without recon_sum is in these


def _loss_reasons(train: dict[str, Any], last: dict[str, Any] | None) -> list[str]:
    """Why a run's loss cannot be compared with the study's (empty when it can)."""
    recon = train.get("recon_sum")
    kl = train.get("kl_factor")
    return [r for r, bad in (
        (f"input_size {train.get('input_size')} != {study.INPUT_SIZE}",
         train.get("input_size") != study.INPUT_SIZE),
        (f"no epoch {study.EPOCHS} in the history", last is None),
        (f"recon_sum not recorded (the model's default is {MODEL_RECON_SUM!r}, not "
         f"{study.RECON_SUM!r})", recon is None),
        (f"recon_sum {recon!r} != {study.RECON_SUM!r}", recon not in (None, study.RECON_SUM)),
        ("kl_factor not recorded in train.json (the VAE's loss weighs KL by it)",
         train.get("kind") == "vae" and kl is None),
        (f"kl_factor {kl!r} != the study's {study.KL_FACT:g}",
         train.get("kind") == "vae" and kl is not None and float(kl) != study.KL_FACT),
    ) if bad]


def losses(train: dict[str, Any] | None, history: list[dict[str, Any]] | None) -> Row:
    kind = (train or {}).get("kind", "?")
    target = study.LOSS_PER_IMAGE.get(kind)
    term = "loss" if kind == "vae" else "reconstruction"
    claim = f"{kind.upper()} loss per image after {study.EPOCHS} epochs (96x96)"
    rule = (f"the {term} per image at epoch {study.EPOCHS}: reproduced within 10% of the "
            f"study's, differs otherwise; not decidable unless the run has {study.INPUT_SIZE}x"
            f"{study.INPUT_SIZE} images, {study.EPOCHS} epochs, recon_sum 'pixels' recorded (the "
            f"study's units) and, for the VAE, kl_factor {study.KL_FACT:g} recorded; uncertainty: "
            "the final loss per validation image with its 95% interval over the images")
    if not train or target is None:
        return _missing("loss per image after 24 epochs", dict(study.LOSS_PER_IMAGE),
                        "train.json with kind ae or vae")
    last = next((h for h in (history or []) if h.get("epoch") == study.EPOCHS), None)
    reasons = _loss_reasons(train, last)
    val = train.get("val_loss_per_image") or {}  # the final loss per validation image
    per_image = {"val_loss_per_image": val.get("mean"),
                 "val_loss_interval": val.get("interval")} if val else {}
    if reasons:
        return row(claim, target, {"epochs": train.get("epochs"),
                                   "input_size": train.get("input_size"),
                                   "recon_sum": train.get("recon_sum"),
                                   "kl_factor": train.get("kl_factor"), **per_image},
                   UNDECIDABLE, rule + "; here: " + "; ".join(reasons))
    value = float(last.get(term, last.get("loss")))
    rel = (value - target) / target
    return row(claim, target, {term: value, "relative_difference": rel, **per_image},
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
    from zspace.tasks.report.calibration import annotate

    rest = {"normal_faces_ae": normal_faces("ae", by_kind.get("ae")),
            "normal_faces_vae": normal_faces("vae", by_kind.get("vae")),
            "r_limit_quality": r_limit_quality(scores), "sharpening": sharpening(scores),
            "filaments": filaments(fragmentation), "voids_explain": voids_explain(scores),
            "losses": losses(train, history)}
    return annotate([
        gaussian_components(s), dominant(s), radius_peak(s), origin_border(s, fragmentation),
        correlated(s, correlation), pca_spectrum(s), uniform_b(s), artificial_outside(s),
        *({"id": rule_id, **r} for rule_id, r in rest.items()),
    ])


def _short(value: Any) -> str:
    """A compact text of a number, an interval or a small dict for the table."""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list) and len(value) == 2 and all(
            isinstance(v, int | float) for v in value):
        return f"[{_short(float(value[0]))}, {_short(float(value[1]))}]"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_short(v)}" for k, v in value.items()
                         if not isinstance(v, dict) and (not isinstance(v, list)
                                                         or _short(v).startswith("[")))
    return "—" if value is None else str(value)


def _verdict_text(r: Row) -> str:
    """The verdict and, for a calibrated rule, its measured false-positive rate and power."""
    from zspace.tasks.report.calibration import text

    return f"{r['verdict']} ({text(r.get('calibration'))})"


def findings_markdown(rows: list[Row]) -> str:
    lines = ["| claim | study | ours | verdict | rule |", "|---|---|---|---|---|"]
    for r in rows:
        cells = [r["claim"], _short(r["study"]), _short(r["ours"]),
                 f"**{r['verdict']}**" + _verdict_text(r)[len(r["verdict"]):], r["rule"]]
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
                r["claim"], _short(r["study"]), _short(r["ours"]), _verdict_text(r),
                r["rule"])))
        for r in rows)
    return f"<table class=\"findings\"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
