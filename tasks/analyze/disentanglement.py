"""How latent components relate to known factors: exact streamed statistics and the standard
disentanglement scores (MIG, DCI), each with its definition as text for the report.

The pair statistics (Pearson correlation, binned mutual information, class-conditional means)
are exact on all N rows and read them block by block in two passes over an iterator of
(z_block, factors_block): pass 1 gathers moments and ranges, pass 2 the joint histograms on
bins fixed by pass 1. Memory is a few blocks plus z_dim x n_factors x bins^2 counts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from zspace.tasks.analyze.moments import Moments

Blocks = Callable[[], Iterable[tuple[np.ndarray, np.ndarray]]]

N_BINS = 20
MAX_CATEGORIES = 20  # a factor with at most this many distinct integer values is categorical

MI_RULE = (f"mutual information I(z_j; v_k) in nats from the joint histogram of all N rows: "
           f"z_j in {N_BINS} equal-width bins over its range, v_k by category when it takes at most "
           f"{MAX_CATEGORIES} integer values, else {N_BINS} equal-width bins; normalised MI = "
           f"I / H(v_k) (H of the binned factor), 1 = the component determines the factor; "
           f"an independent pair still shows about (bins_z - 1)(bins_v - 1) / 2N nats "
           f"(mi_null_level, normalised)")
MIG_DEFINITION = (
    "MIG (Chen et al., 2018, 'Isolating Sources of Disentanglement in VAEs'): for each factor "
    "v_k, the gap between the largest and the second-largest mutual information with any single "
    "latent component, divided by the factor's entropy: (I(z_a; v_k) - I(z_b; v_k)) / H(v_k); "
    "averaged over factors. 1: each factor lives in exactly one component; 0: none, or spread "
    "evenly over several. " + MI_RULE + ".")
DCI_DEFINITION = (
    "DCI (Eastwood and Williams, 2018, 'A Framework for the Quantitative Evaluation of "
    "Disentangled Representations'): an importance matrix R (components x factors) from one "
    "regressor per factor trained to predict the factor from z. Disentanglement: per component "
    "i, 1 - H_K(R_i. / sum_k R_ik) (entropy with log base K = number of factors), averaged with "
    "weights sum_k R_ik / sum R. Completeness: per factor k, 1 - H_D(R_.k / sum_i R_ik) "
    "(log base D = z_dim), averaged over factors with the weights below. Informativeness: "
    "chance-corrected test score, 0 = chance: R^2 (continuous), 2 AUC - 1 (0/1), adjusted "
    "balanced accuracy (more classes). Here R comes from Lasso (continuous factors) or L1 "
    "logistic-regression (categorical) |coefficients| on standardised z (alpha 0.01, fitted on "
    "a seeded random sample of train rows, scored on test rows), or random-forest importances; "
    "each factor's column of R is scaled to sum 1 and then weighted by its informativeness, "
    "and a factor whose test predictions are not better than chance (one-sided test, "
    "Bonferroni over factors at 0.01) weighs 0: no informative factor gives D = C = 0. "
    "Baseline: the same estimator on shuffled train labels; uncertainty: the standard error "
    "over refits on bootstrap resamples of the train rows.")


# -- binning ---------------------------------------------------------------------------------
def bin_index(values: np.ndarray, lo: float, hi: float, n_bins: int) -> np.ndarray:
    """Equal-width bin of each value on [lo, hi]; the top edge belongs to the last bin."""
    if hi <= lo:
        return np.zeros(np.shape(values), dtype=np.int64)
    idx = np.floor((np.asarray(values, dtype=np.float64) - lo) / (hi - lo) * n_bins)
    return np.clip(idx, 0, n_bins - 1).astype(np.int64)


def entropy(counts: np.ndarray, axis: int = -1) -> np.ndarray:
    """Shannon entropy in nats of histograms along `axis`."""
    c = np.asarray(counts, dtype=np.float64)
    total = c.sum(axis=axis, keepdims=True)
    p = np.divide(c, total, out=np.zeros_like(c), where=total > 0)
    return -np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0), axis=axis)


def mutual_information(joint: np.ndarray) -> np.ndarray:
    """I(a; b) in nats from joint counts (..., bins_a, bins_b): H(a) + H(b) - H(a, b)."""
    j = np.asarray(joint, dtype=np.float64)
    flat = j.reshape(*j.shape[:-2], -1)
    mi = entropy(j.sum(-1)) + entropy(j.sum(-2)) - entropy(flat)
    return np.maximum(mi, 0.0)


# -- the two streamed passes -----------------------------------------------------------------
@dataclass
class _PairMoments:
    """Pass 1: the :class:`Moments` of the components and factors side by side (their shifted
    sums and cross products give a stable streamed Pearson correlation, their ranges the bins),
    and which factors hold few integer values (those are counted by category)."""

    moments: Moments | None = None
    integer: Any = True
    values: list[set[float]] = field(default_factory=list)

    def add(self, z: np.ndarray, v: np.ndarray) -> None:
        zv = np.concatenate([z, v], axis=1)
        if self.moments is None:
            self.moments = Moments.empty(zv.mean(0))
            self.values = [set() for _ in range(v.shape[1])]
        self.moments.update(zv)
        self.integer = self.integer & np.all(v == np.round(v), axis=0)
        for k, s in enumerate(self.values):
            if self.integer[k] and len(s) <= MAX_CATEGORIES:
                s.update(np.unique(v[:, k]).tolist())

    @property
    def n(self) -> int:
        return self.moments.n if self.moments is not None else 0

    @property
    def z_dim(self) -> int:
        return len(self.moments.shift) - len(self.values)

    def ranges(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(z_min, z_max, v_min, v_max)."""
        m, d = self.moments, self.z_dim
        return m.min[:d], m.max[:d], m.min[d:], m.max[d:]

    def correlation(self) -> np.ndarray:
        """Pearson r (z_dim x n_factors); 0 where a side has no variance."""
        m, d = self.moments, self.z_dim
        n, s, sq = m.n, m.s, np.diag(m.gram)
        cov = m.gram[:d, d:] - np.outer(s[:d], s[d:]) / n
        var_z = sq[:d] - s[:d] ** 2 / n
        var_v = sq[d:] - s[d:] ** 2 / n
        den = np.sqrt(np.outer(np.maximum(var_z, 0.0), np.maximum(var_v, 0.0)))
        return np.divide(cov, den, out=np.zeros_like(cov), where=den > 1e-12 * n)


def _clean(z: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """float64 blocks without rows whose factors are missing (NaN: e.g. no attribute row)."""
    z, v = np.asarray(z, dtype=np.float64), np.asarray(v, dtype=np.float64)
    if v.ndim == 1:
        v = v[:, None]
    if z.ndim != 2 or len(z) != len(v):
        raise ValueError(f"blocks must be (rows, z_dim) and (rows, n_factors), got {z.shape}, {v.shape}")
    keep = np.all(np.isfinite(v), axis=1)
    return z[keep], v[keep]


def _factor_bins(m: _PairMoments, n_bins: int) -> list[np.ndarray]:
    """Per factor: the sorted category values (categorical) or the n_bins + 1 edges."""
    out = []
    _, _, v_min, v_max = m.ranges()
    for k, vals in enumerate(m.values):
        if m.integer[k] and len(vals) <= MAX_CATEGORIES:
            out.append(np.array(sorted(vals)))
        else:
            out.append(np.linspace(v_min[k], v_max[k], n_bins + 1))
    return out


def _factor_codes(v: np.ndarray, bins: np.ndarray, categorical: bool) -> np.ndarray:
    if categorical:
        return np.searchsorted(bins, v)
    return bin_index(v, bins[0], bins[-1], len(bins) - 1)


def _z_codes(z: np.ndarray, m: _PairMoments, n_bins: int) -> np.ndarray:
    """Flat (component, bin) code of every entry: component j's bins are j*n_bins .. +n_bins-1."""
    z_min, z_max, _, _ = m.ranges()
    span = np.where(z_max > z_min, z_max - z_min, 1.0)
    b = np.clip(np.floor((z - z_min) / span * n_bins), 0, n_bins - 1).astype(np.int64)
    return b + np.arange(z.shape[1])[None, :] * n_bins


def _joint_pass(blocks: Blocks, m: _PairMoments, bins: list[np.ndarray], categorical: list[bool],
                n_bins: int) -> tuple[list[np.ndarray], dict[int, np.ndarray]]:
    """Pass 2: joint (component bin, factor bin) counts per factor, and per-category z sums."""
    z_dim = m.z_dim
    joint = [np.zeros((z_dim, n_bins, len(b) if c else n_bins), np.int64)
             for b, c in zip(bins, categorical, strict=True)]
    sums = {k: np.zeros((len(bins[k]), z_dim)) for k in range(len(bins)) if categorical[k]}
    for z, v in blocks():
        z, v = _clean(z, v)
        zb = _z_codes(z, m, n_bins)
        for k, (b, c) in enumerate(zip(bins, categorical, strict=True)):
            codes = _factor_codes(v[:, k], b, c)
            width = joint[k].shape[2]
            flat = (zb * width + codes[:, None]).ravel()
            joint[k] += np.bincount(flat, minlength=joint[k].size).reshape(joint[k].shape)
            if c:
                for i in range(len(b)):
                    sums[k][i] += z[codes == i].sum(axis=0)
    return joint, sums


@dataclass
class FactorStats:
    """Exact all-N statistics of every (component, factor) pair."""

    n: int
    correlation: np.ndarray        # (z_dim, K) Pearson r (point-biserial for 0/1 factors)
    mutual_information: np.ndarray  # (z_dim, K) nats
    factor_entropy: np.ndarray     # (K,) nats of the binned factor
    categorical: list[bool]
    categories: dict[int, np.ndarray]   # factor -> category values (categorical factors)
    class_means: dict[int, np.ndarray]  # factor -> (n_categories, z_dim) mean z per category
    class_counts: dict[int, np.ndarray]  # factor -> (n_categories,) rows per category
    n_bins: int = N_BINS
    joints: list[np.ndarray] = field(default_factory=list)  # per factor (z_dim, bins, bins_v)

    @property
    def normalized_mi(self) -> np.ndarray:
        h = self.factor_entropy[None, :]
        return np.divide(self.mutual_information, h, out=np.zeros_like(self.mutual_information),
                         where=h > 0)


def factor_statistics(blocks: Blocks, n_bins: int = N_BINS) -> FactorStats:
    """Two passes over blocks() -> (z_block, factors_block): exact correlation, binned MI and
    per-category mean z on all rows with finite factors."""
    m = _PairMoments()
    for z, v in blocks():
        z, v = _clean(z, v)
        if len(z):
            m.add(z, v)
    if m.n < 2:
        raise ValueError(f"factor statistics need at least 2 rows with known factors, got {m.n}")
    bins = _factor_bins(m, n_bins)
    categorical = [bool(m.integer[k] and len(m.values[k]) <= MAX_CATEGORIES) for k in range(len(bins))]
    joint, sums = _joint_pass(blocks, m, bins, categorical, n_bins)
    counts = {k: j[0].sum(axis=0) for k, j in enumerate(joint) if categorical[k]}
    return FactorStats(
        n=m.n, correlation=m.correlation(),
        mutual_information=np.stack([mutual_information(j) for j in joint], axis=1),
        factor_entropy=np.array([entropy(j[0].sum(0)) for j in joint]),
        categorical=categorical,
        categories={k: bins[k] for k in sums},
        class_means={k: sums[k] / np.maximum(counts[k], 1)[:, None] for k in sums},
        class_counts=counts, n_bins=n_bins, joints=joint,
    )


# -- scores ----------------------------------------------------------------------------------
def mig(mi: np.ndarray, factor_entropy: np.ndarray) -> tuple[float, np.ndarray]:
    """(MIG, per-factor gaps) from an MI matrix (z_dim x K) and the factors' entropies."""
    mi = np.asarray(mi, dtype=np.float64)
    if mi.shape[0] < 2:
        raise ValueError("MIG needs at least 2 latent components")
    top2 = -np.sort(-mi, axis=0)[:2]
    h = np.asarray(factor_entropy, dtype=np.float64)
    gaps = np.divide(top2[0] - top2[1], h, out=np.zeros_like(h), where=h > 0)
    return float(gaps.mean()), gaps


def dci_scores(importance: np.ndarray) -> dict[str, Any]:
    """Disentanglement and completeness from an importance matrix R (z_dim x K), R >= 0."""
    r = np.abs(np.asarray(importance, dtype=np.float64))
    d, k = r.shape
    total = r.sum()
    if total <= 0:
        return {"disentanglement": 0.0, "completeness": 0.0,
                "per_component": [0.0] * d, "per_factor": [0.0] * k}
    per_comp = 1.0 - entropy(r, axis=1) / np.log(k) if k > 1 else np.ones(d)
    per_factor = 1.0 - entropy(r, axis=0) / np.log(d)
    weights = r.sum(1) / total
    return {"disentanglement": float(np.sum(weights * per_comp)),
            "completeness": float(np.mean(per_factor)),
            "per_component": per_comp.tolist(), "per_factor": per_factor.tolist()}


DCI_METHODS = ("lasso", "random_forest")
LASSO_ALPHA = 0.01
DCI_ALPHA = 0.01


def _standardize(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mu, sd = train.mean(0), train.std(0)
    sd = np.where(sd > 0, sd, 1.0)
    return (train - mu) / sd, (test - mu) / sd


def l1_logistic(c: float, n_classes: int, seed: int = 0) -> Any:
    """L1 logistic regression on every scikit-learn version: before 1.8 `l1_ratio=1.0` alone
    is silently L2, so the penalty is named there; from 1.8 on `penalty` is deprecated. Both
    solvers shuffle the data, so the seed makes a rerun give the same importances."""
    from sklearn import __version__
    from sklearn.linear_model import LogisticRegression

    solver = "liblinear" if n_classes == 2 else "saga"
    major, minor = (int(x) for x in __version__.split(".")[:2])
    if (major, minor) >= (1, 8):
        return LogisticRegression(l1_ratio=1.0, C=c, solver=solver, max_iter=2000,
                                  random_state=seed)
    return LogisticRegression(penalty="l1", C=c, solver=solver, max_iter=2000, random_state=seed)


def prediction_test(pred: np.ndarray, truth: np.ndarray, kind: str) -> tuple[float, float]:
    """(chance-corrected informativeness, one-sided p) of test-set predictions that did not
    see the test rows: binary -> 2 AUC - 1 and Mann-Whitney of the scores by class;
    categorical -> adjusted balanced accuracy and the chi-square test of predicted vs true
    class; continuous -> R^2 and Pearson's test of prediction vs truth. 0 = chance."""
    from scipy.stats import chi2_contingency, mannwhitneyu, pearsonr
    from sklearn.metrics import balanced_accuracy_score, r2_score

    if kind == "binary":
        pos = truth > 0.5
        if pos.all() or not pos.any() or np.ptp(pred) == 0:
            return 0.0, 1.0
        u = mannwhitneyu(pred[pos], pred[~pos], alternative="greater")
        return float(2 * u.statistic / (pos.sum() * (~pos).sum()) - 1), float(u.pvalue)
    if kind == "categorical":
        score = float(balanced_accuracy_score(truth, pred, adjusted=True))
        _, ti = np.unique(truth, return_inverse=True)
        _, pi = np.unique(pred, return_inverse=True)
        table = np.zeros((ti.max() + 1, pi.max() + 1))
        np.add.at(table, (ti, pi), 1)
        if min(table.shape) < 2:
            return score, 1.0
        return score, float(chi2_contingency(table)[1])
    if np.ptp(pred) == 0 or np.ptp(truth) == 0:
        return float(r2_score(truth, pred)), 1.0
    return float(r2_score(truth, pred)), float(pearsonr(pred, truth, alternative="greater").pvalue)


def _fit_one(z_tr: np.ndarray, v_tr: np.ndarray, z_te: np.ndarray, v_te: np.ndarray,
             categorical: bool, method: str, seed: int) -> tuple[np.ndarray, float, float]:
    """(importance per component, chance-corrected test informativeness, its p) of one factor."""
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
    from sklearn.linear_model import Lasso

    if categorical:
        classes = np.unique(v_tr)
        if len(classes) < 2:
            return np.zeros(z_tr.shape[1]), 0.0, 1.0
        kind = "binary" if len(classes) == 2 else "categorical"
        if method == "lasso":  # the same L1 strength as the Lasso: C = 1 / (alpha n)
            clf = l1_logistic(1.0 / (LASSO_ALPHA * len(v_tr)), len(classes), seed).fit(z_tr, v_tr)
            imp = np.abs(clf.coef_).sum(0)
            pred = clf.decision_function(z_te) if kind == "binary" else clf.predict(z_te)
        else:
            clf = RandomForestClassifier(n_estimators=50, max_depth=8, random_state=seed,
                                         n_jobs=1).fit(z_tr, v_tr)
            imp = clf.feature_importances_
            pred = clf.predict_proba(z_te)[:, 1] if kind == "binary" else clf.predict(z_te)
        truth = (v_te == classes[1]).astype(float) if kind == "binary" else v_te
        return (imp, *prediction_test(pred, truth, kind))
    sd = v_tr.std() or 1.0
    t_tr, t_te = (v_tr - v_tr.mean()) / sd, (v_te - v_tr.mean()) / sd
    if method == "lasso":
        reg = Lasso(alpha=LASSO_ALPHA, max_iter=5000).fit(z_tr, t_tr)
        imp = np.abs(reg.coef_)
    else:
        reg = RandomForestRegressor(n_estimators=50, max_depth=8, random_state=seed,
                                    n_jobs=1).fit(z_tr, t_tr)
        imp = reg.feature_importances_
    return (imp, *prediction_test(reg.predict(z_te), t_te, "continuous"))


def weighted_dci(importance: np.ndarray, informativeness: np.ndarray,
                 informative: np.ndarray) -> dict[str, Any]:
    """D and C from column-normalised importances weighted by each factor's informativeness
    above chance; factors whose predictions are not significantly better than chance weigh 0,
    so a code with no information scores D = C = 0 instead of whatever sparsity L1 leaves."""
    r = np.asarray(importance, dtype=np.float64)
    col = r.sum(0, keepdims=True)
    r = np.divide(r, col, out=np.zeros_like(r), where=col > 0)
    w = np.where(informative, np.clip(informativeness, 0.0, None), 0.0)
    if not np.any(w > 0):
        return {"disentanglement": 0.0, "completeness": 0.0, "informative_factors": 0}
    s = dci_scores(r * w[None, :])
    per_factor = np.asarray(s["per_factor"])
    return {"disentanglement": s["disentanglement"],
            "completeness": float(np.average(per_factor, weights=w)),
            "informative_factors": int(np.sum(w > 0))}


def _dci_once(z_tr: np.ndarray, v_tr: np.ndarray, z_te: np.ndarray, v_te: np.ndarray,
              categorical: Sequence[bool], fit: DciFit) -> dict[str, Any]:
    fits = [_fit_one(z_tr, v_tr[:, k], z_te, v_te[:, k], bool(c), fit.method, fit.seed)
            for k, c in enumerate(categorical)]
    importance = np.stack([f[0] for f in fits], axis=1)
    info = np.array([f[1] for f in fits])
    p = np.array([f[2] for f in fits])
    informative = p < fit.alpha / max(len(p), 1)  # Bonferroni over factors
    out = weighted_dci(importance, info, informative)
    out.update({"informativeness": float(np.mean(info)), "per_factor_informativeness":
                info.tolist(), "per_factor_p": p.tolist(), "informative": informative.tolist(),
                "importance": importance.tolist()})
    return out


@dataclass(frozen=True)
class DciFit:
    """How DCI's regressors are fitted and judged: the estimator (DCI_METHODS), its seed, the
    refits on bootstrap resamples of the train rows (0: none) and the level of the test that
    a factor's predictions beat chance."""

    method: str = "lasso"
    seed: int = 0
    bootstrap: int = 0
    alpha: float = DCI_ALPHA


def dci(z_train: np.ndarray, v_train: np.ndarray, z_test: np.ndarray, v_test: np.ndarray,
        categorical: Sequence[bool], fit: DciFit = DciFit()) -> dict[str, Any]:
    """DCI from one regressor per factor on a train sample, scored on a test sample (see
    DCI_DEFINITION), with the same estimator on seeded shuffled train labels as the baseline
    and, with fit.bootstrap > 0, the standard error of D and C over refits on resampled train
    rows."""
    if fit.method not in DCI_METHODS:
        raise ValueError(f"DCI method must be one of {DCI_METHODS}, not {fit.method!r}")
    z_tr, z_te = _standardize(np.asarray(z_train, np.float64), np.asarray(z_test, np.float64))
    v_tr, v_te = np.asarray(v_train, np.float64), np.asarray(v_test, np.float64)
    out = _dci_once(z_tr, v_tr, z_te, v_te, categorical, fit)
    rng = np.random.default_rng([fit.seed, 31])
    base = _dci_once(z_tr, v_tr[rng.permutation(len(v_tr))], z_te, v_te, categorical, fit)
    out["baseline"] = {k: base[k] for k in ("disentanglement", "completeness",
                                            "informativeness")}
    for k in ("disentanglement", "completeness", "informativeness"):
        out[f"{k}_minus_baseline"] = out[k] - base[k]
    if fit.bootstrap:
        reps = []
        for _ in range(fit.bootstrap):
            i = rng.integers(0, len(z_tr), len(z_tr))
            reps.append(_dci_once(z_tr[i], v_tr[i], z_te, v_te, categorical, fit))
        for k in ("disentanglement", "completeness", "informativeness"):
            out[f"{k}_se"] = float(np.std([r[k] for r in reps], ddof=1))
    out["method"] = fit.method
    return out
