"""Every claim's rule with made-up inputs: matching -> reproduced, not matching -> differs or not
reproduced, missing -> not decidable; and the markdown / escaped HTML tables."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from zspace import study
from zspace.tasks.report.findings import findings, findings_html, findings_markdown
from zspace.tasks.report.findings_stats import VERDICTS, subsample_counts

Z = 64


def summary_like_study() -> dict:
    rng = np.random.default_rng(0)
    std = rng.uniform(0.6, 0.75, Z)
    hw = 2.3548 * std
    hw[[3, 7]] = 4.0
    ev = np.concatenate([[10.0], np.linspace(3.0, 2.0, 9), np.full(Z - 10, 1.0)])
    return {
        "n": 1000, "z_dim": Z, "mean": rng.normal(0, 0.1, Z).tolist(), "std": std.tolist(),
        "half_width": hw.tolist(), "dominant_components": [3, 7], "zero_variance_components": [],
        "shape": {"median_fwhm_over_gaussian": 1.0, "interval": [0.97, 1.03],
                  "median_half_width": float(np.median(hw)), "half_width_interval": None,
                  "components": Z - 2},
        "radius": {"peak": 8.3, "sqrt_z_dim": 8.0, "max": 16.0},
        "correlation_counts": {"0.1": 1400, "0.2": 150, "0.3": 40, "0.4": 20, "0.5": 3,
                               "0.6": 1},
        "correlated_pairs": [[3, 7, 0.8], [3, 10, -0.6], [20, 30, 0.55]],
        "pca_eigenvalues": ev.tolist(), "pca_explained_variance_ratio": (ev / ev.sum()).tolist(),
        "artificial_best_b": 1.5, "artificial_matching_b": [1.5],
        "artificial": {"1.5": {"fraction_inside": 0.1}},
    }


def scores_like_study(kind: str) -> dict:
    faces = 0.45 if kind == "vae" else 0.05
    per = {"normal": {"realism": faces, "sharpness": 0.001, "sharpness_sharpened": 0.004}}
    for r, v in ((0.5, 0.5), (1, 0.4), (2, 0.3), (5, 0.1), (8, 0.02)):
        per[f"uniform-r{r:g}"] = {"realism": v, "sharpness": 0.001, "sharpness_sharpened": 0.004}
    return {"scores": per, "reference": {"training_sharpness": 0.005},
            "void_or_miss": {"answer": "voids", "rule": "r"}}


FRAG = {"overall": "filamentary", "overall_rule": "x", "verdict": {},
        "origin": {"data_fraction_closer": 0.97, "mahalanobis": 30.0}}
TRAIN = {"kind": "ae", "input_size": 96, "epochs": 24, "recon_sum": "pixels"}
HISTORY = [{"epoch": e, "loss": 5000.0 - e, "reconstruction": 4900.0 - e} for e in range(1, 25)]


def by_claim(rows: list[dict], word: str) -> dict:
    (hit,) = [r for r in rows if word in r["claim"]]
    return hit


def test_matching_inputs_reproduce_every_claim():
    rows = findings(summary_like_study(), scores_like_study("ae"), TRAIN, HISTORY, FRAG,
                    compare={"vae": scores_like_study("vae")})
    json.dumps(rows)
    assert len(rows) == 15
    assert all(r["verdict"] in VERDICTS and r["rule"] for r in rows)
    assert [r["claim"] for r in rows if r["verdict"] != "reproduced"] == []
    corr = by_claim(rows, "correlated")["ours"]["counts"]
    assert "binomial_spread" not in corr["0.1"]  # not a sampling error (issue 19)
    assert corr["0.1"]["noise_pairs_expected"] < 1e-3


@pytest.mark.parametrize(("word", "change", "verdict"), [
    ("Gaussian", lambda s, *_: s["shape"].update(median_fwhm_over_gaussian=1.5,
                                                 interval=[1.4, 1.6]), "not reproduced"),
    ("Gaussian", lambda s, *_: s["shape"].update(median_half_width=3.53), "differs"),
    ("Gaussian", lambda s, *_: s["shape"].update(interval=[0.75, 1.1]), "not decidable"),
    ("dominant components (", lambda s, *_: s.update(dominant_components=[]), "not reproduced"),
    ("radius distribution", lambda s, *_: s["radius"].update(peak=12.0), "differs"),
    ("origin", lambda s, sc, f, *_: f["origin"].update(data_fraction_closer=0.3),
     "not reproduced"),
    ("correlated", lambda s, *_: s.update(correlated_pairs=[[1, 2, 0.3]])
     or s["correlation_counts"].update({"0.5": 0, "0.6": 0}), "not reproduced"),
    ("correlated", lambda s, *_: s.update(correlated_pairs=[[3, 7, 0.51]]), "not decidable"),
    ("correlated", lambda s, *_: s.update(dominant_components=[40]), "differs"),
    ("principal", lambda s, *_: s.update(pca_eigenvalues=[1.0] * Z), "differs"),
    ("uniform components", lambda s, *_: s.update(artificial_best_b=3.0), "differs"),
    ("land outside", lambda s, *_: s["artificial"]["1.5"].update(fraction_inside=0.9),
     "not reproduced"),
    ("AE: decoding z ~ N(0, I) gives no faces", lambda s, sc, *_: sc["scores"]["normal"].update(realism=0.5),
     "not reproduced"),
    ("r_limit", lambda s, sc, *_: sc["scores"]["uniform-r8"].update(realism=0.9)
     or sc["scores"]["uniform-r5"].update(realism=0.8), "not reproduced"),
    ("sharpening", lambda s, sc, *_: sc["reference"].update(training_sharpness=0.0),
     "not reproduced"),
    ("filaments", lambda s, sc, f, *_: f.update(overall="gaussian-like"), "not reproduced"),
    ("fall into voids", lambda s, sc, *_: sc["void_or_miss"].update(answer="miss the region"),
     "not reproduced"),
    ("fall into voids", lambda s, sc, *_: sc.update(why_random_fail={
        "answer": "voids do not explain it", "rule": "r"}), "not reproduced"),
    ("loss", lambda s, sc, f, h: h[23].update(reconstruction=6000.0), "differs"),
])
def test_not_matching_inputs(word, change, verdict):
    s, sc, f, h = summary_like_study(), scores_like_study("ae"), copy.deepcopy(FRAG), \
        copy.deepcopy(HISTORY)
    change(s, sc, f, h)
    assert by_claim(findings(s, sc, TRAIN, h, f), word)["verdict"] == verdict


def test_missing_inputs_are_not_decidable():
    rows = findings({})
    assert {r["verdict"] for r in rows} == {"not decidable"}
    assert all(r["rule"].startswith("needs") for r in rows if "principal" not in r["claim"])
    small = {**TRAIN, "input_size": 32}
    loss = by_claim(findings(summary_like_study(), train=small, history=HISTORY), "loss")
    assert loss["verdict"] == "not decidable" and "input_size 32" in loss["rule"]
    short = by_claim(findings(summary_like_study(), train=TRAIN, history=HISTORY[:5]), "loss")
    assert short["verdict"] == "not decidable" and "no epoch 24" in short["rule"]
    tiny = {**summary_like_study(), "pca_eigenvalues": [3.0, 1.0, 0.5]}
    assert by_claim(findings(tiny), "principal")["verdict"] == "not decidable"


def test_tables_render_and_escape():
    rows = findings(summary_like_study(), scores_like_study("ae"), TRAIN, HISTORY, FRAG)
    rows[0]["claim"] = "<script>x</script> | pipe"
    md = findings_markdown(rows)
    assert md.count("\n") == len(rows) + 2 and "\\|" in md
    page = findings_html(rows)
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert page.count("<tr") == len(rows) + 1


def _correlated_latents(n: int, z: int = 40, seed: int = 0) -> np.ndarray:
    """Gaussian rows with a spread of true correlations, from ~0 to ~0.8."""
    rng = np.random.default_rng(seed)
    mix = np.eye(z) + rng.normal(scale=0.15, size=(z, z)) * (rng.uniform(size=(z, z)) < 0.3)
    mix[:4, :4] += 0.8
    return rng.normal(size=(n, z)) @ mix


def test_subsample_counts_predict_what_a_5000_row_subsample_counts():
    x = _correlated_latents(100_000)
    exact = np.corrcoef(x, rowvar=False)
    pred = subsample_counts(exact)
    iu = np.triu_indices(exact.shape[0], 1)
    rng = np.random.default_rng(1)
    for _ in range(10):
        sub = np.corrcoef(x[rng.choice(len(x), study.CORRELATION_SUBSAMPLE, replace=False)],
                          rowvar=False)
        for t, p in pred.items():
            count = int(np.count_nonzero(np.abs(sub[iu]) > float(t)))
            assert abs(count - p["expected"]) <= 3 * max(p["sd"], 1.0), (t, count, p)
    # the exact count differs from the subsample's at low thresholds (noise pairs pass)
    exact_01 = int(np.count_nonzero(np.abs(exact[iu]) > 0.1))
    assert pred["0.1"]["expected"] > exact_01


def test_correlated_row_with_the_exact_matrix_judges_the_study_count():
    s = summary_like_study()
    corr = np.eye(Z)
    corr[3, 7] = corr[7, 3] = 0.8
    rows = findings(s, correlation=corr)
    counts = by_claim(rows, "correlated")["ours"]["counts"]
    assert counts["0.6"]["ours_subsample_expected"] == pytest.approx(1.0, abs=0.01)
    assert counts["0.6"]["study_within_3_sd"] is False  # study 8 vs ~1 +- 0
    assert by_claim(rows, "correlated")["ours"]["strongest_beyond_3_r_errors"] is True  # 0.8 vs 0.85
    assert "Fisher-z" in by_claim(rows, "correlated")["rule"]
    assert "ours_subsample_expected" not in by_claim(findings(s), "correlated")["ours"]["counts"]["0.6"]


def test_strongest_r_error_is_that_of_r_not_one_over_root_m():
    s = {**summary_like_study(), "correlated_pairs": [[3, 7, 0.85]]}
    ours = by_claim(findings(s), "correlated")["ours"]
    assert ours["subsample_r_error"] == pytest.approx((1 - 0.85**2) / np.sqrt(5000))
    assert ours["subsample_r_error"] == pytest.approx(0.0039, abs=1e-4)
    lo, hi = ours["strongest_interval"]  # over our n = 1000 rows
    assert lo < 0.85 < hi and hi - lo == pytest.approx(2 * 1.96 * (1 - 0.85**2) / np.sqrt(997),
                                                         rel=0.05)


def test_pair_count_spread_keeps_the_pairs_dependence():
    """Equicorrelated components (r = 0.1, one common factor): counts above 0.1 swing together.
    The predicted spread matches that of real 5,000-row subsamples; pairs treated as
    independent gave sqrt(sum p (1 - p)) ~ 14, several times too small."""
    z, r = 40, 0.1
    corr = np.full((z, z), r) + (1 - r) * np.eye(z)
    rng = np.random.default_rng(3)
    chol = np.linalg.cholesky(corr)
    iu = np.triu_indices(z, 1)
    counts = [np.count_nonzero(np.abs(np.corrcoef(rng.normal(size=(5000, z)) @ chol.T,
                                                  rowvar=False)[iu]) > 0.1)
              for _ in range(40)]
    pred = subsample_counts(corr, thresholds=["0.1"])["0.1"]
    real = float(np.std(counts, ddof=1))
    assert real > 40  # the dependence is strong here
    assert 0.6 * real < pred["sd"] < 1.6 * real
    assert pred["interval"][0] < np.median(counts) < pred["interval"][1]


def test_loss_needs_recon_sum_and_kl_factor_recorded():
    no_recon = {k: v for k, v in TRAIN.items() if k != "recon_sum"}
    loss = by_claim(findings(summary_like_study(), train=no_recon, history=HISTORY), "loss")
    assert loss["verdict"] == "not decidable" and "recon_sum not recorded" in loss["rule"]
    vae = {**TRAIN, "kind": "vae"}
    loss = by_claim(findings(summary_like_study(), train=vae, history=HISTORY), "loss")
    assert loss["verdict"] == "not decidable" and "kl_factor not recorded" in loss["rule"]
    ok = by_claim(findings(summary_like_study(), train={**vae, "kl_factor": 5.0},
                           history=HISTORY), "loss")
    assert ok["verdict"] in ("reproduced", "differs")


def test_every_statistics_row_carries_an_interval():
    s = summary_like_study()
    s["n"] = 5000
    s["radius"].update(peak_interval=[8.1, 8.5], mean=8.0, std=0.7)
    s["artificial"]["1.5"]["n"] = 2000
    s["origin"] = {"data_fraction_closer": 0.97, "n": 5000}
    s["pca_first_share_interval"] = [0.1, 0.2]
    rows = {r["claim"]: r for r in findings(s)}
    ours = {k[:20]: v["ours"] for k, v in rows.items()}
    assert ours["the radius distribut"]["peak_interval"] == [8.1, 8.5]
    assert ours["most components are "]["shape_interval"] is not None
    assert ours["the origin sits at t"]["interval"][0] < 0.97
    assert ours["artificial vectors o"]["interval"][1] > 0.1
    assert ours["uniform components i"]["b_radius_interval"] is not None
    assert ours["one dominant princip"]["explained_ratio_first_interval"] == [0.1, 0.2]
    # an interval across the threshold: not decidable, with the margin shown
    s["radius"].update(peak=8.7, peak_interval=[8.6, 8.9])  # bound 1.1 x 8 = 8.8
    r = by_claim(findings(s), "radius distribution")
    assert r["verdict"] == "not decidable" and r["ours"]["margin"] == pytest.approx(0.1)
