"""What the latent components encode: known factors (synthetic faces) and CelebA attributes.

One call, `meaning_summary`, reads the latents and the factor/attribute columns block by block:
the pair statistics (Pearson / point-biserial r, binned mutual information, class means) are
exact on all N rows; the probes, single-component AUCs and DCI regressors use seeded samples of
the train split (fit) and the test split (score). Everything lands in one JSON-able dict for
runs/<run>/stats/meaning.json; `compare_meaning` (:mod:`.meaning_compare`) sets two runs (AE vs
VAE) side by side with a verdict and its rule, and `heatmap_png` draws a section's names x
components matrix.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from zspace.tasks.analyze.disentanglement import (
    DCI_DEFINITION,
    MI_RULE,
    MIG_DEFINITION,
    Blocks,
    DciFit,
    FactorStats,
    dci,
    factor_statistics,
    mig,
    prediction_test,
)
from zspace.tasks.analyze.meaning_null import ALPHA, ALPHA_MIG, accuracy, mig_tests, r2, score_se

TOP_K = 3
CARRIER_NMI = 0.1
PROBE_TRAIN_ROWS = 20_000
PROBE_TEST_ROWS = 10_000
DCI_TRAIN_ROWS = 5_000
DCI_BOOTSTRAP = 8
DCI_DETECT = 0.5
MIG_RULE = (f"detected: some factor's MIG gap lies above its null law, p < {ALPHA_MIG:g} / K "
            "(Bonferroni over the section's K names; the null is the MI of every component with "
            "shuffled labels: the exact permutation law for 0/1 factors, the G-test chi-square "
            "law otherwise, the gap by Monte Carlo): that factor lives in one component more "
            "than in any other")
CARRIER_RULE = (f"carriers: components whose MI exceeds the null law's 1 - {ALPHA:g} / (z_dim K) "
                f"quantile and whose normalised MI above the null level is >= {CARRIER_NMI}; "
                "detects: single components that carry the factor")
PROBE_RULE = (f"decodable: the probe's test predictions beat chance, one-sided p < {ALPHA:g} / K "
              "(Mann-Whitney of the decision scores for 0/1, chi-square of predicted vs true "
              "class for categories, Pearson for continuous factors); detects: the factor is "
              "linearly readable from z")
DCI_RULE = (f"detected (disentangled): at least one informative factor and D >= {DCI_DETECT}; "
            "D = C = 0 when no factor's predictions beat chance")
DEFINITIONS = {
    "mutual_information": MI_RULE,
    "mig": MIG_DEFINITION,
    "dci": DCI_DEFINITION,
    "probe": ("linear probe from z_mean (standardised with the train sample's mean and std): "
              "continuous factors -> ordinary least squares, score probe_r2 = R^2 on the test "
              "split; categorical factors and attributes -> logistic regression (L2, C=1), score "
              "probe_accuracy on the test split; fitted on a seeded sample of at most "
              f"{PROBE_TRAIN_ROWS} train rows, scored on at most {PROBE_TEST_ROWS} test rows "
              "(val when there is no test split); 'chance' is the majority-class rate; probe_se: "
              "bootstrap over test rows; probe_baseline: the same probe fitted on shuffled "
              "train labels; " + PROBE_RULE),
    "best_components": (f"the {TOP_K} components with the highest normalised MI (factors) or the "
                        f"highest |point-biserial r| (attributes); normalized_mi_above_null "
                        f"subtracts the null level (the mean MI with shuffled labels); "
                        + CARRIER_RULE),
    "mig_detected": MIG_RULE, "dci_detected": DCI_RULE,
    "auc": ("single-component AUC: the probability that the component is larger on a random image "
            "with the attribute than on one without (Mann-Whitney), on the test sample; "
            "0.5 = no information, below 0.5 = the component falls with the attribute"),
    "direction": ("attribute direction: mean z_mean of images with the attribute minus mean "
                  "z_mean of those without, exact on all rows"),
}


# -- the probe sample, collected during the first streamed pass ------------------------------
class _SampleCollector:
    """Wraps a blocks factory; the first full iteration also copies the chosen rows out."""

    def __init__(self, blocks: Blocks, rows: np.ndarray):
        self.blocks, self.rows = blocks, np.sort(rows)
        self.z: np.ndarray | None = None
        self.v: np.ndarray | None = None
        self._done = False

    def __call__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        collect = not self._done
        start, zs, vs = 0, [], []
        for z, v in self.blocks():
            z, v = np.asarray(z), np.asarray(v)
            v = v[:, None] if v.ndim == 1 else v
            if collect:
                lo, hi = np.searchsorted(self.rows, [start, start + len(z)])
                zs.append(np.asarray(z[self.rows[lo:hi] - start], np.float64))
                vs.append(np.asarray(v[self.rows[lo:hi] - start], np.float64))
            start += len(z)
            yield z, v
        if collect:
            self.z, self.v, self._done = np.concatenate(zs), np.concatenate(vs), True
            if len(self.z) != len(self.rows):
                raise ValueError(f"the latent blocks hold {start} rows but the splits name "
                                 f"rows up to {int(self.rows[-1])}")


def probe_rows(splits: Sequence[str] | np.ndarray, seed: int = 0,
               n_train: int = PROBE_TRAIN_ROWS, n_test: int = PROBE_TEST_ROWS
               ) -> tuple[np.ndarray, np.ndarray]:
    """Seeded samples of train rows and test rows (val rows if there is no test split)."""
    s = np.asarray(splits).astype(str)
    rng = np.random.default_rng(seed)
    train = np.flatnonzero(s == "train")
    test = np.flatnonzero(s == "test")
    if not len(test):
        test = np.flatnonzero(s == "val")
    if len(train) < 2 or len(test) < 2:
        raise ValueError(f"the probes need train and test (or val) rows; splits have "
                         f"{len(train)} train and {len(test)} test/val rows")
    pick = [np.sort(rng.choice(r, min(k, len(r)), replace=False))
            for r, k in ((train, n_train), (test, n_test))]
    return pick[0], pick[1]


# -- probes and single-component scores ------------------------------------------------------
def _finite(z: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keep = np.isfinite(y)
    return z[keep], y[keep]


def linear_probe(z_train: np.ndarray, y_train: np.ndarray, z_test: np.ndarray, y_test: np.ndarray,
                 categorical: bool, seed: int = 0) -> dict[str, float]:
    """probe_accuracy (logistic regression) or probe_r2 (least squares) on the test rows, with
    its bootstrap standard error over test rows, the one-sided p of 'better than chance'
    (disentanglement.prediction_test) and the same probe fitted on shuffled train labels."""
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    z_tr, y_tr = _finite(z_train, y_train)
    z_te, y_te = _finite(z_test, y_test)
    key = "probe_accuracy" if categorical else "probe_r2"
    if len(y_tr) < 2 or len(y_te) < 1:
        return {key: float("nan")}
    shuffled = np.random.default_rng([seed, 5]).permutation(y_tr)
    if not categorical:
        def fit(y: np.ndarray) -> Any:
            return make_pipeline(StandardScaler(), LinearRegression()).fit(z_tr, y)
        pred = fit(y_tr).predict(z_te)
        _, p = prediction_test(pred, y_te, "continuous")
        return {key: r2(y_te, pred), "probe_se": score_se(pred, y_te, r2, seed),
                "probe_p": p, "probe_baseline": float(fit(shuffled).score(z_te, y_te))}
    values, counts = np.unique(y_te, return_counts=True)
    chance = float(counts.max() / counts.sum())
    if len(np.unique(y_tr)) < 2:
        return {key: float(np.mean(y_te == y_tr[0])), "chance": chance, "probe_p": 1.0}

    def fit_c(y: np.ndarray) -> Any:
        return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000)).fit(z_tr, y)
    clf = fit_c(y_tr)
    pred = clf.predict(z_te)
    binary = len(clf.classes_) == 2
    scores = clf.decision_function(z_te) if binary else pred
    truth = (y_te == clf.classes_[-1]).astype(float) if binary else y_te
    _, p = prediction_test(scores, truth, "binary" if binary else "categorical")
    return {key: accuracy(y_te, pred), "chance": chance,
            "probe_se": score_se(pred, y_te, accuracy, seed), "probe_p": p,
            "probe_baseline": float(fit_c(shuffled).score(z_te, y_te))}


def single_component_auc(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """AUC of every component alone for a 0/1 label (Mann-Whitney U / (n1 n0), ties halved)."""
    from scipy.stats import rankdata

    z, y = _finite(np.asarray(z, np.float64), np.asarray(y, np.float64))
    pos = y > 0.5
    n1, n0 = int(pos.sum()), int((~pos).sum())
    if n1 == 0 or n0 == 0:
        return np.full(z.shape[1], np.nan)
    ranks = rankdata(z, axis=0)
    return (ranks[pos].sum(0) - n1 * (n1 + 1) / 2) / (n1 * n0)


# -- per-name entries ------------------------------------------------------------------------
def _r(x: float, nd: int = 4) -> float | None:
    return None if not np.isfinite(x) else round(float(x), nd)


def _component_entry(st: FactorStats, j: int, k: int, auc: np.ndarray | None,
                     level: float) -> dict[str, Any]:
    h = st.factor_entropy[k]
    e = {"component": int(j), "normalized_mi": _r(st.normalized_mi[j, k]),
         "normalized_mi_above_null": _r((st.mutual_information[j, k] - level) / h
                                        if h > 0 else float("nan")),
         "mi": _r(st.mutual_information[j, k]), "r": _r(st.correlation[j, k])}
    if auc is not None:
        e["auc"] = _r(auc[j])
    return e


def _carriers(st: FactorStats, k: int, tests: dict[str, Any]) -> list[int]:
    """Components whose MI exceeds the Bonferroni null threshold and whose normalised MI
    above the null level is at least CARRIER_NMI."""
    mi, h = st.mutual_information[:, k], st.factor_entropy[k]
    above = (mi - tests["null_level"][k]) / h if h > 0 else np.zeros_like(mi)
    return np.flatnonzero((mi > tests["carrier_threshold"][k]) & (above >= CARRIER_NMI)).tolist()


def _name_entry(st: FactorStats, k: int, binary: bool, sample: tuple[np.ndarray, ...],
                tests: dict[str, Any], seed: int) -> dict[str, Any]:
    """One factor's or attribute's numbers: probe, best components, carriers, direction."""
    z_tr, v_tr, z_te, v_te = sample
    cat = st.categorical[k]
    entry: dict[str, Any] = {"kind": "binary" if binary else ("categorical" if cat else "continuous")}
    entry.update({key: _r(val) for key, val in
                  linear_probe(z_tr, v_tr[:, k], z_te, v_te[:, k], cat, seed).items()})
    auc = single_component_auc(z_te, v_te[:, k]) if binary else None
    score = np.abs(st.correlation[:, k]) if binary else st.normalized_mi[:, k]
    order = np.argsort(-score, kind="stable")[:TOP_K]
    level = float(tests["null_level"][k])
    entry["best_components"] = [_component_entry(st, j, k, auc, level) for j in order]
    entry["carriers"] = _carriers(st, k, tests)
    h = st.factor_entropy[k]
    entry["factor_entropy"] = _r(h)
    entry["mi_null_level"] = _r(level / h if h > 0 else float("nan"))
    entry.update({"mig_gap": _r(tests["gap"][k]), "mig_gap_p": _r(tests["gap_p"][k], 5),
                  "mig_gap_se": _r(tests["gap_se"][k]),
                  "mig_gap_baseline": _r(tests["gap_baseline"][k]),
                  "mig_gap_significant": bool(tests["gap_significant"][k])})
    if binary and len(st.categories[k]) == 2:
        means = st.class_means[k]
        direction = means[1] - means[0]
        entry["positive_rate"] = _r(st.class_counts[k][1] / st.class_counts[k].sum())
        entry["direction"] = [round(float(x), 5) for x in direction]
        entry["direction_norm"] = _r(float(np.linalg.norm(direction)))
    return entry


def _subset(st: FactorStats, cols: list[int]) -> FactorStats:
    return FactorStats(
        n=st.n, correlation=st.correlation[:, cols], mutual_information=st.mutual_information[:, cols],
        factor_entropy=st.factor_entropy[cols], categorical=[st.categorical[k] for k in cols],
        categories={i: st.categories[k] for i, k in enumerate(cols) if k in st.categories},
        class_means={i: st.class_means[k] for i, k in enumerate(cols) if k in st.class_means},
        class_counts={i: st.class_counts[k] for i, k in enumerate(cols) if k in st.class_counts},
        n_bins=st.n_bins, joints=[st.joints[k] for k in cols])


def _section_dci(sub: FactorStats, sample: tuple[np.ndarray, ...], dci_method: str,
                 seed: int) -> tuple[dict[str, Any], int]:
    """DCI on a seeded random sample of the train rows with known values (not the first ones)."""
    z_tr, v_tr, z_te, v_te = sample
    keep_tr = np.flatnonzero(np.all(np.isfinite(v_tr), axis=1))
    keep_te = np.all(np.isfinite(v_te), axis=1)
    n_dci = min(DCI_TRAIN_ROWS, len(keep_tr))
    rows = np.sort(np.random.default_rng([seed, 3]).choice(keep_tr, n_dci, replace=False))
    d = dci(z_tr[rows], v_tr[rows], z_te[keep_te], v_te[keep_te], sub.categorical,
            DciFit(method=dci_method, seed=seed, bootstrap=DCI_BOOTSTRAP))
    d["detected"] = bool(d["informative_factors"] > 0 and d["disentanglement"] >= DCI_DETECT)
    return {k: (_r(v) if isinstance(v, float) else v) for k, v in d.items()
            if k not in ("importance", "per_component")}, n_dci


def _section(st: FactorStats, cols: list[int], names: Sequence[str], binary: bool,
             sample: tuple[np.ndarray, ...], dci_method: str, seed: int) -> dict[str, Any]:
    """'factors' or 'attributes': per-name entries, MIG, DCI and the matrices for the heatmap,
    each score with its null baseline, its test and its standard error."""
    sub = _subset(st, cols)
    z_tr, v_tr, z_te, v_te = sample
    v_tr, v_te = v_tr[:, cols], v_te[:, cols]
    mig_value, _ = mig(sub.mutual_information, sub.factor_entropy)
    tests = mig_tests(sub.joints, sub.factor_entropy, sub.mutual_information, st.n, seed)
    per_name = {name: _name_entry(sub, i, binary, (z_tr, v_tr, z_te, v_te), tests, seed)
                for i, name in enumerate(names)}
    for e in per_name.values():  # Bonferroni over the section's names
        e["decodable"] = bool((e.get("probe_p") if e.get("probe_p") is not None else 1.0)
                              < ALPHA / len(per_name))
    d, n_dci = _section_dci(sub, (z_tr, v_tr, z_te, v_te), dci_method, seed)
    return {
        "names": per_name, "mig": _r(mig_value), "mig_baseline": _r(tests["mig_baseline"]),
        "mig_minus_baseline": _r(mig_value - tests["mig_baseline"]),
        "mig_se": _r(tests["mig_se"]),
        "mig_detected": bool(np.any(tests["gap_significant"])),
        "carriers_detected": any(e["carriers"] for e in per_name.values()),
        "decodable": sum(e["decodable"] for e in per_name.values()),
        "rules": {"mig_detected": MIG_RULE, "carriers": CARRIER_RULE, "decodable": PROBE_RULE,
                  "dci": DCI_RULE},
        "dci": d, "dci_train_rows": n_dci,
        "matrix": {"rows": list(names),
                   "normalized_mi": np.round(sub.normalized_mi.T, 4).tolist(),
                   "correlation": np.round(sub.correlation.T, 4).tolist()},
    }


def _rounded(x: Any) -> Any:
    if isinstance(x, float):
        return _r(x)
    if isinstance(x, list):
        return [_rounded(v) for v in x]
    if isinstance(x, dict):
        return {k: _rounded(v) for k, v in x.items()}
    return x


def _checked_blocks(blocks: Blocks, n_cols: int) -> Blocks:
    def gen() -> Iterable[tuple[np.ndarray, np.ndarray]]:
        for z, v in blocks():
            v = np.asarray(v)
            v = v[:, None] if v.ndim == 1 else v
            if v.shape[1] != n_cols:
                raise ValueError(f"factor blocks have {v.shape[1]} columns but {n_cols} names "
                                 "(factor_names + attribute_names) were given")
            yield z, v
    return gen


def _dominant_entries(sections: dict[str, dict[str, Any]], components: Sequence[int]
                      ) -> dict[str, list[dict[str, Any]]]:
    """Per dominant component: the names it shares the most normalised MI with (any section)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for j in components:
        cand = []
        for sec_name, sec in sections.items():
            for name, row in zip(sec["matrix"]["rows"], sec["matrix"]["normalized_mi"], strict=True):
                cand.append({"section": sec_name, "name": name, "normalized_mi": row[j],
                             "r": sec["matrix"]["correlation"][sec["matrix"]["rows"].index(name)][j]})
        out[str(int(j))] = sorted(cand, key=lambda c: -c["normalized_mi"])[:TOP_K]
    return out


def meaning_summary(blocks: Blocks, factor_names: Sequence[str], splits: Sequence[str] | np.ndarray,
                    attribute_names: Sequence[str] = (), *,
                    dominant_components: Sequence[int] = (), seed: int = 0,
                    dci_method: str = "lasso") -> dict[str, Any]:
    """All numbers for meaning.json. blocks() yields (z_block, values_block) in row order, with
    the columns of values_block = factor_names then attribute_names (0/1, NaN = unknown);
    splits: the split ('train'/'val'/'test') of every row. Rows with an unknown value are left
    out of every statistic."""
    names = [*factor_names, *attribute_names]
    if not names:
        raise ValueError("meaning_summary needs at least one factor or attribute name")
    train_rows, test_rows = probe_rows(splits, seed)
    collector = _SampleCollector(_checked_blocks(blocks, len(names)),
                                 np.concatenate([train_rows, test_rows]))
    st = factor_statistics(collector)
    z_s, v_s = collector.z, collector.v
    is_train = np.isin(np.sort(np.concatenate([train_rows, test_rows])), train_rows)
    sample = (z_s[is_train], v_s[is_train], z_s[~is_train], v_s[~is_train])
    n_f = len(factor_names)
    for k, a in enumerate(attribute_names, n_f):
        if not (st.categorical[k] and set(st.categories[k].tolist()) <= {0.0, 1.0}):
            raise ValueError(f"attribute {a!r} must hold 0/1 values (NaN for unknown)")
    sections: dict[str, dict[str, Any]] = {}
    if n_f:
        sections["factors"] = _section(st, list(range(n_f)), factor_names, False, sample,
                                       dci_method, seed)
    if attribute_names:
        sections["attributes"] = _section(st, list(range(n_f, len(names))), attribute_names, True,
                                          sample, dci_method, seed)
    z_dim = int(st.correlation.shape[0])
    bad = [int(j) for j in dominant_components if not 0 <= int(j) < z_dim]
    if bad:
        raise ValueError(f"dominant components {bad} are outside 0..{z_dim - 1}")
    return _rounded({
        "n": st.n, "z_dim": z_dim, "probe_train_rows": int(is_train.sum()),
        "probe_test_rows": int((~is_train).sum()), "seed": seed, **sections,
        "dominant_components": _dominant_entries(sections, dominant_components),
        "definitions": DEFINITIONS,
    })


# -- figure ----------------------------------------------------------------------------------
MAX_HEATMAP_COMPONENTS = 48

def heatmap_components(section: dict[str, Any], dominant_components: Sequence[int] = ()) -> list[int]:
    """The columns worth showing: every name's best components plus the dominant ones."""
    chosen = {int(j) for j in dominant_components}
    for entry in section["names"].values():
        chosen.update(int(c["component"]) for c in entry["best_components"])
    return sorted(chosen)[:MAX_HEATMAP_COMPONENTS]


def heatmap_png(section: dict[str, Any], title: str, components: Sequence[int] | None = None,
                value: str = "normalized_mi") -> bytes:
    """Names x components heatmap of a meaning.json section ('normalized_mi' or 'correlation')."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from zspace.tasks.common.figures import png_bytes

    if value not in ("normalized_mi", "correlation"):
        raise ValueError(f"heatmap value must be 'normalized_mi' or 'correlation', not {value!r}")
    cols = list(components) if components is not None else heatmap_components(section)
    rows = section["matrix"]["rows"]
    m = np.array(section["matrix"][value], dtype=np.float64)[:, cols]
    fig, ax = plt.subplots(figsize=(max(4.0, 0.32 * len(cols) + 2.5), 0.28 * len(rows) + 1.6))
    cmap, lim = ("viridis", (0.0, max(0.05, float(np.nanmax(m))))) if value == "normalized_mi" \
        else ("RdBu_r", (-1.0, 1.0))
    im = ax.imshow(m, aspect="auto", cmap=cmap, vmin=lim[0], vmax=lim[1], interpolation="nearest")
    ax.set_xticks(range(len(cols)), [str(c) for c in cols], rotation=90, fontsize=7)
    ax.set_yticks(range(len(rows)), rows, fontsize=7)
    ax.set_xlabel("latent component")
    fig.colorbar(im, ax=ax, label=value.replace("_", " "))
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return png_bytes(fig)


# -- wiring to the store ---------------------------------------------------------------------
def run_meaning_inputs(store: Any, run: str, dataset: str
                       ) -> tuple[Blocks, list[str], np.ndarray, list[str]]:
    """(blocks, factor_names, splits, attribute_names) for a run's z_mean and its dataset's
    index: synthetic generating factors and/or CelebA attribute columns, row for row."""
    from zspace.storage import attribute_table, factor_table, read_blocks, read_index

    rel = store.run(run).latents("z_mean")
    store.require(rel, f"encode run {run!r} first")
    latents = store.open_array(rel)
    idx = read_index(store, dataset)
    ok = idx["row"] >= 0
    splits = idx["split"][ok][np.argsort(idx["row"][ok])]
    factors, attributes = factor_table(store, dataset), attribute_table(store, dataset)
    if len(splits) != latents.shape[0]:
        raise ValueError(f"run {run!r} has {latents.shape[0]} latent rows but dataset {dataset!r} "
                         f"has {len(splits)} images: encode the run again")
    if not factors and not attributes:
        raise ValueError(f"dataset {dataset!r} has neither generating factors nor attributes: "
                         "ingest synthetic faces, or CelebA with list_attr_celeba.txt")
    values = np.column_stack([*factors.values(), *attributes.values()])

    def blocks() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for start, z in read_blocks(latents, block_rows=int(latents.chunks[0])):
            yield z, values[start:start + len(z)]
    return blocks, list(factors), splits, list(attributes)


def meaning_for_run(store: Any, run: str, dataset: str, dominant_components: Sequence[int] = (),
                    seed: int = 0, dci_method: str = "lasso") -> dict[str, Any]:
    """meaning_summary for a stored run, written to runs/<run>/stats/meaning.json."""
    blocks, factor_names, splits, attribute_names = run_meaning_inputs(store, run, dataset)
    out = meaning_summary(blocks, factor_names, splits, attribute_names,
                          dominant_components=dominant_components, seed=seed, dci_method=dci_method)
    store.write_json(store.run(run).stats.meaning, out)
    return out
