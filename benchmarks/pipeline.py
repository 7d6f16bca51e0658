"""Wall time of the demo pipeline, cold and fully cached, with per-stage times. One JSON line.

Usage: python benchmarks/pipeline.py [--preset demo]
Runs in a temporary store with a temporary Prefect home (an ephemeral server is started).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="demo")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="zspace-bench-pipeline-")
    os.environ.setdefault("PREFECT_HOME", os.path.join(tmp, "prefect-home"))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    from zspace.flows.pipeline import PipelineParams, pipeline_flow

    stdout = os.dup(1)
    os.dup2(2, 1)  # the stages' own output (training's child process too) goes to stderr
    try:
        store = os.path.join(tmp, "store")
        t = time.perf_counter()
        cold = pipeline_flow(PipelineParams(preset=args.preset, store=store))
        cold_s = time.perf_counter() - t
        t = time.perf_counter()
        cached = pipeline_flow(PipelineParams(preset=args.preset, store=store))
        cached_s = time.perf_counter() - t
        sys.stdout.flush()
        os.dup2(stdout, 1)
        print(json.dumps({
            "benchmark": "pipeline",
            "preset": args.preset,
            "cold_s": round(cold_s, 1),
            "cached_s": round(cached_s, 1),
            "all_cached": all(s == "Cached" for s in cached["stages"].values()),
            "stage_s": cold["stage_seconds"],
            "cached_stage_s": cached["stage_seconds"],
            "machine": f"{platform.machine()}, {os.cpu_count()} cpus",
        }))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
