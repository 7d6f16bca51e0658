"""Benchmark: every verdict rule's false-positive rate and power over seeded draws.

Discovers every ``zspace.tasks.calibration.*_rules`` module (pkgutil: a new area's module joins
without an edit here), runs its ``calibrate(n_draws, n, z_dim, seed)`` at benchmark size (the
module's ``BENCHMARK = {"n": ..., "z_dim": ...}`` when it has one, else N_DEFAULT x Z_DEFAULT),
and writes

- ``CALIBRATION.md`` at the repository root: the table rule x dataset with the rate, its exact
  binomial 95% interval, the target and ok / retired;
- ``zspace/calibration.json``: the rows, shipped with the package for the report to read.

Rows of areas not run this time are kept from the previous calibration.json, so one area can be
re-run alone. Prints one JSON line: per area, rows, rows ok, retired rules and seconds.

    python benchmarks/calibration.py [--areas stats,realism] [--draws 100] [--seed 0]
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import pkgutil
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MARKDOWN = ROOT / "CALIBRATION.md"
ROWS = ROOT / "zspace" / "calibration.json"
N_DEFAULT, Z_DEFAULT = 4000, 128


def areas() -> dict[str, str]:
    """area -> module name, for every ``*_rules`` module of zspace.tasks.calibration."""
    import zspace.tasks.calibration as pkg

    return {m.name.removesuffix("_rules"): f"{pkg.__name__}.{m.name}"
            for m in pkgutil.iter_modules(pkg.__path__) if m.name.endswith("_rules")}


def run_area(module: str, area: str, draws: int, seed: int) -> tuple[list[dict], float]:
    mod = importlib.import_module(module)
    size = {"n": N_DEFAULT, "z_dim": Z_DEFAULT, **getattr(mod, "BENCHMARK", {})}
    t0 = time.perf_counter()
    rows = mod.calibrate(n_draws=draws, n=size["n"], z_dim=size["z_dim"], seed=seed)
    for r in rows:
        r.setdefault("area", area)
        r.setdefault("n", size["n"])
        r.setdefault("z_dim", size["z_dim"])
    return rows, time.perf_counter() - t0


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "# Calibration of the verdict rules",
        "",
        "Each rule run over seeded draws of data without its effect (`null`: the rate is the "
        "false-positive rate, target <= 5%) and with the effect planted at the stated strength "
        "(`planted`: the rate is the power, target >= 90%). Interval: exact binomial 95% "
        "(Clopper-Pearson). Written by `benchmarks/calibration.py`; the same rows ship as "
        "`zspace/calibration.json`.",
        "",
        "| area | rule | dataset | kind | strength | n x z | hits / draws | rate | 95% interval "
        "| target | ok | status |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: (r["area"], r["rule"], r["kind"] != "null", r["dataset"])):
        status = r["status"] + (f" ({r['reason']})" if r.get("reason") else "")
        lines.append(
            f"| {r['area']} | {r['rule']} | {r['dataset']} | {r['kind']} | {r['strength']} | "
            f"{r.get('n', '')} x {r.get('z_dim', '')} | {r['hits']} / {r['draws']} | "
            f"{r['rate']:.2f} | [{r['low']:.2f}, {r['high']:.2f}] | {r['target']} | "
            f"{'ok' if r['ok'] else 'FAILS'} | {status} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--areas", default="", help="comma-separated areas (default: all)")
    ap.add_argument("--draws", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    found = areas()
    chosen = [a for a in args.areas.split(",") if a] or sorted(found)
    unknown = sorted(set(chosen) - set(found))
    if unknown:
        raise SystemExit(f"no calibration module for {unknown}; found {sorted(found)}")
    old = json.loads(ROWS.read_text()) if ROWS.exists() else []
    rows = [r for r in old if r.get("area") not in chosen]
    report: dict[str, Any] = {"benchmark": "calibration", "draws": args.draws, "areas": {}}
    for area in chosen:
        got, seconds = run_area(found[area], area, args.draws, args.seed)
        rows += got
        report["areas"][area] = {
            "rows": len(got), "ok": sum(r["ok"] for r in got),
            "retired": sorted({r["rule"] for r in got if r["status"] == "retired"}),
            "failing": sorted({f"{r['rule']}/{r['dataset']}" for r in got
                               if not r["ok"] and r["status"] == "active"}),
            "seconds": round(seconds, 1)}
    ROWS.write_text(json.dumps(rows, indent=1) + "\n")
    MARKDOWN.write_text(markdown(rows))
    print(json.dumps(report))
    return report


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
