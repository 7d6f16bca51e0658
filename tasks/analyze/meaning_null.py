"""Null levels, tests and standard errors for the meaning statistics: what the binned mutual
information, MIG and the probes show when the latents carry no information about a factor.

The MI of an independent pair is not 0 (the plug-in estimate is biased up by about
df / 2N nats), so every MI-based rule is read against its null distribution given the same
margins: for 0/1 factors the exact permutation null (tables with the observed margins drawn
from the multivariate hypergeometric law, i.e. shuffled labels), for other factors the G-test's
chi-square law with df = (non-empty z bins - 1)(non-empty factor bins - 1). A scaled
chi-square a * chi2(b) / 2N fitted to it by moments gives the null level (its mean), the carrier
threshold and, by Monte Carlo, the null law of the MIG gap.
"""

from __future__ import annotations

from typing import Any

import numpy as np

ALPHA = 0.02        # family-wise level of each meaning rule (measured below 5% on the null)
ALPHA_MIG = 0.01    # the MIG gap test measured about 3x its nominal level, so it runs at 0.01
NULL_SIMS = 1000    # permutation tables per component (0/1 factors)
GAP_SIMS = 4000     # Monte Carlo draws of the null MIG gap
Z_DECIDE = 2.576    # two-sided 99%: a comparison decides only beyond this many standard errors


def _binary_null(joint: np.ndarray, rng: np.random.Generator, sims: int) -> np.ndarray:
    """(sims, z_dim) plug-in MI (nats) of tables with the observed margins, labels shuffled."""
    from zspace.tasks.analyze.disentanglement import mutual_information

    z_m = joint.sum(2).astype(np.int64)          # (z_dim, bins_z)
    n_pos = int(joint[0, :, 1].sum())
    out = np.empty((sims, len(z_m)))
    for j, colors in enumerate(z_m):
        pos = rng.multivariate_hypergeometric(colors, n_pos, size=sims)
        out[:, j] = mutual_information(np.stack([colors - pos, pos], axis=-1))
    return out


def permutation_null(joint: np.ndarray, seed: int = 0, sims: int = NULL_SIMS) -> np.ndarray | None:
    """(sims, z_dim) MI with shuffled labels for a 0/1 factor; None for other factors."""
    joint = np.asarray(joint)
    if joint.shape[2] != 2 or joint[0].sum() == 0:
        return None
    return _binary_null(joint, np.random.default_rng([seed, 17]), sims)


def null_law(joint: np.ndarray, perm: np.ndarray | None = None) -> tuple[float, float]:
    """(a, b) of the null law a * chi2(b) / 2N of one factor's MI with any component: moments
    of the permutation null (0/1 factors) or the G-test's chi-square law."""
    joint = np.asarray(joint)
    n = float(joint[0].sum())
    if perm is not None:
        g = 2 * n * perm
        mean, var = float(g.mean()), float(g.var())
        if mean > 0 and var > 0:
            return var / (2 * mean), 2 * mean**2 / var
    bins_z = np.count_nonzero(joint.sum(2), axis=1)
    bins_v = np.count_nonzero(joint[0].sum(0))
    return 1.0, float(max(np.median((bins_z - 1) * (bins_v - 1)), 1))


def null_mean(law: tuple[float, float], n: int) -> float:
    return law[0] * law[1] / (2.0 * n)


def carrier_threshold(law: tuple[float, float], n: int, tests: int,
                      alpha: float = ALPHA) -> float:
    """MI (nats) an independent pair exceeds with probability alpha / tests (Bonferroni over
    every component x factor pair of the section)."""
    from scipy.stats import chi2

    return law[0] * float(chi2.isf(alpha / max(tests, 1), law[1])) / (2.0 * n)


def gap_null(law: tuple[float, float], n: int, z_dim: int, entropy: float,
             seed: int = 0, sims: int = GAP_SIMS, perm: np.ndarray | None = None) -> np.ndarray:
    """Null law of one factor's MIG gap (top-two MI difference over H): from the permutation
    tables when there are some, else Monte Carlo from the chi-square law."""
    rng = np.random.default_rng([seed, 23])
    mi = perm if perm is not None else \
        law[0] * rng.chisquare(law[1], size=(sims, z_dim)) / (2.0 * n)
    top2 = -np.sort(-mi, axis=1)[:, :2]
    return (top2[:, 0] - top2[:, 1]) / entropy if entropy > 0 else np.zeros(sims)


def mi_variance(joint: np.ndarray, law: tuple[float, float]) -> np.ndarray:
    """Sampling variance of each component's plug-in MI (z_dim,): the delta-method term
    (sum p log^2(p / p_a p_b) - I^2) / N plus the null law's own variance."""
    j = np.asarray(joint, dtype=np.float64)
    n = j[0].sum()
    p = j / n
    pa, pb = p.sum(2, keepdims=True), p.sum(1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        lr = np.where(p > 0, np.log(p / (pa * pb)), 0.0)
    i = (p * lr).sum((1, 2))
    delta = np.maximum((p * lr**2).sum((1, 2)) - i**2, 0.0) / n
    return delta + 2 * law[0] ** 2 * law[1] / (2.0 * n) ** 2


def mig_tests(joints: list[np.ndarray], entropy: np.ndarray, mi: np.ndarray, n: int,
              seed: int = 0, alpha: float = ALPHA, alpha_mig: float = ALPHA_MIG) -> dict[str, Any]:
    """Per factor: null level, carriers' threshold, the MIG gap's p-value and standard error;
    and MIG's baseline (the mean null gap) and its standard error."""
    z_dim, k = mi.shape
    perms = [permutation_null(j, seed) for j in joints]
    laws = [null_law(j, q) for j, q in zip(joints, perms, strict=True)]
    gaps, p, base, se, level, thresh = [], [], [], [], [], []
    for f, (law, h) in enumerate(zip(laws, entropy, strict=True)):
        order = np.argsort(-mi[:, f])
        gap = (mi[order[0], f] - mi[order[1], f]) / h if h > 0 else 0.0
        null = gap_null(law, n, z_dim, float(h), seed, perm=perms[f])
        var = mi_variance(joints[f], law)
        gaps.append(gap)
        p.append(float((1 + np.sum(null >= gap)) / (1 + len(null))))
        base.append(float(null.mean()))
        se.append(float(np.sqrt(var[order[0]] + var[order[1]]) / h) if h > 0 else 0.0)
        level.append(null_mean(law, n))
        thresh.append(carrier_threshold(law, n, z_dim * k, alpha))
    p_arr = np.array(p)
    return {"gap": np.array(gaps), "gap_p": p_arr, "gap_significant": p_arr < alpha_mig / k,
            "gap_se": np.array(se), "gap_baseline": np.array(base),
            "null_level": np.array(level), "carrier_threshold": np.array(thresh),
            "mig_baseline": float(np.mean(base)),
            "mig_se": float(np.sqrt(np.sum(np.square(se))) / k)}


def accuracy(truth: np.ndarray, pred: np.ndarray) -> float:
    return float(np.mean(truth == pred))


def r2(truth: np.ndarray, pred: np.ndarray) -> float:
    ss = float(np.sum((truth - truth.mean()) ** 2))
    return 1.0 - float(np.sum((truth - pred) ** 2)) / ss if ss > 0 else 0.0


def score_se(pred: np.ndarray, truth: np.ndarray, score: Any, seed: int = 0,
             boots: int = 200) -> float:
    """Bootstrap standard error over test rows of a score (accuracy, r2) of fixed predictions."""
    rng = np.random.default_rng([seed, 41])
    idx = rng.integers(0, len(truth), (boots, len(truth)))
    return float(np.std([score(truth[i], pred[i]) for i in idx], ddof=1))


def decided(diff: float, se: float, labels: tuple[str, str]) -> str | None:
    """The label that is higher when |diff| exceeds Z_DECIDE standard errors, else None."""
    if not np.isfinite(diff) or not np.isfinite(se) or abs(diff) <= Z_DECIDE * se:
        return None
    return labels[0] if diff > 0 else labels[1]
