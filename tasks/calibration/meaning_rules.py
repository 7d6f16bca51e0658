"""Calibration of the meaning rules (carriers, MIG, DCI, probes, the AE-vs-VAE comparison) on
seeded draws: latents independent of the attributes (null) and attributes each carried by one
component at d' = STRENGTH (planted). What each rule detects:

- carriers: a component that carries an attribute (planted: every attribute's carriers
  include the planted component; null: any carrier at all);
- mig: some attribute lives in one component more than in any other (its MIG gap is above the
  permutation null);
- dci: the code is disentangled (an informative attribute and D >= 0.5);
- probe: the attributes are linearly decodable (planted: all of them; null: any);
- compare-disentangled: run a is more disentangled than run b (planted: the planted code vs
  the same code with the carriers rotated 45 degrees in pairs; nulls: two
  independent null runs, and two draws of the same planted code);
- compare-linear: run a is more linear (planted: the planted code vs a null run; null: two
  null runs).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from zspace.tasks.analyze import compare_meaning, meaning_summary
from zspace.tasks.calibration import nulls

BENCHMARK = {"n": 2000, "z_dim": 32}  # benchmarks/calibration.py: ~7 min on one core
STRENGTH = 1.5     # d' of the shift an attribute gives its carrier
POSITIVE = 0.3     # share of images with each attribute
N_ATTR = 5
TEST_SHARE = 0.3


def _summary(lab: nulls.Labelled) -> dict[str, Any]:
    n = len(lab.z)
    cut = int(n * (1 - TEST_SHARE))
    splits = np.array(["train"] * cut + ["test"] * (n - cut))
    names = [f"a{k}" for k in range(lab.attributes.shape[1])]
    z, v = lab.z, lab.attributes.astype(np.float64)
    return meaning_summary(lambda: iter([(z, v)]), [], splits, names)["attributes"]


def _rotated(lab: nulls.Labelled) -> nulls.Labelled:
    """The planted code with carriers rotated 45 degrees in pairs (first with second, third with
    fourth, ...): the same information, each component now shared by two attributes."""
    z = lab.z.astype(np.float64).copy()
    c = np.sqrt(0.5)
    for a, b in zip(lab.carrier[0::2], lab.carrier[1::2], strict=False):
        z[:, a], z[:, b] = c * (z[:, a] + z[:, b]), c * (z[:, b] - z[:, a])
    return nulls.Labelled(z.astype(np.float32), lab.attributes, lab.carrier)


def _hits(rng: np.random.Generator, n: int, z_dim: int) -> dict[tuple[str, str], bool]:
    """One draw: every rule on every data set, True where it detects."""
    null = nulls.independent_attributes(rng, n, z_dim, N_ATTR, POSITIVE)
    null2 = nulls.independent_attributes(rng, n, z_dim, N_ATTR, POSITIVE)
    carried = nulls.carried_attributes(rng, n, z_dim, N_ATTR, POSITIVE, STRENGTH)
    carried2 = nulls.carried_attributes(rng, n, z_dim, N_ATTR, POSITIVE, STRENGTH)
    s_null, s_null2, s_car, s_car2 = (_summary(x) for x in (null, null2, carried, carried2))
    s_rot = _summary(_rotated(carried))
    names = list(s_car["names"])
    right = all(int(c) in s_car["names"][k]["carriers"]
                for k, c in zip(names, carried.carrier, strict=True))
    out: dict[tuple[str, str], bool] = {}
    for ds, s in (("independent_attributes", s_null), ("carried_attributes", s_car)):
        planted = ds == "carried_attributes"
        out[("carriers", ds)] = right if planted else bool(s["carriers_detected"])
        out[("mig", ds)] = bool(s["mig_detected"])
        out[("dci", ds)] = bool(s["dci"]["detected"])
        out[("probe", ds)] = s["decodable"] == len(names) if planted else s["decodable"] > 0
    sec = "attributes"
    pair = ("a", "b")
    c_null = compare_meaning({sec: s_null}, {sec: s_null2}, pair)[sec]
    c_same = compare_meaning({sec: s_car}, {sec: s_car2}, pair)[sec]
    c_rot = compare_meaning({sec: s_car}, {sec: s_rot}, pair)[sec]
    c_lin = compare_meaning({sec: s_car}, {sec: s_null}, pair)[sec]
    out[("compare-disentangled", "independent_attributes")] = c_null["more_disentangled"] is not None
    out[("compare-disentangled", "carried_attributes (two draws)")] = \
        c_same["more_disentangled"] is not None
    out[("compare-disentangled", "carried_attributes vs rotated")] = c_rot["more_disentangled"] == "a"
    out[("compare-linear", "independent_attributes")] = c_null["more_linear"] is not None
    out[("compare-linear", "carried_attributes vs independent")] = c_lin["more_linear"] == "a"
    return out


def calibrate(n_draws: int, n: int, z_dim: int, seed: int = 0) -> list[dict]:
    """One row per (rule, data set) over n_draws seeded draws (see the calibration protocol)."""
    counts: dict[tuple[str, str], int] = {}
    for hits in nulls.draws(lambda rng: _hits(rng, n, z_dim), n_draws, seed):
        for key, hit in hits.items():
            counts[key] = counts.get(key, 0) + int(hit)
    rows = []
    for (rule, ds), h in counts.items():
        planted = ds.startswith("carried_attributes") and ds != "carried_attributes (two draws)"
        rate, low, high = nulls.rate_interval(h, n_draws)
        rows.append({
            "rule": rule, "dataset": ds, "kind": "planted" if planted else "null",
            "strength": (f"d'={STRENGTH} per carrier, {N_ATTR} attributes, {POSITIVE:g} positive"
                         if ds.startswith("carried") else
                         f"{N_ATTR} independent attributes, {POSITIVE:g} positive"),
            "draws": n_draws, "hits": h, "rate": rate, "low": low, "high": high,
            "target": "power>=0.90" if planted else "fpr<=0.05",
            "ok": rate >= 0.90 if planted else rate <= 0.05, "status": "active"})
    return rows
