"""Generation stage: `zspace generate --store S --run R [--compare R2]` (SPEC.md §5).

Decodes N(0, I), uniform-per-r_limit and fitted-Gaussian latent vectors, sharpens and scores
them (:mod:`zspace.tasks.generate.stage`); with --compare, also compares the reconstructions of R and
R2 on the test split (:mod:`zspace.tasks.generate.reconstruct`). Returns a small dict.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_table_artifact

from zspace.tasks.common.progress import artifact_key


def _params(params: dict[str, Any] | None) -> dict[str, Any]:
    from zspace.tasks.generate.stage import GenerateParams

    return json.loads(GenerateParams(**(params or {})).model_dump_json())


def _key(prefix: str, run: str) -> str:
    return artifact_key(f"{prefix}-{run}")


@task(name="generate-samples")
def generate_samples_task(store: str, run: str, params: dict[str, Any]) -> dict[str, Any]:
    from zspace.tasks.generate.stage import generate_samples

    return generate_samples(store, run, params)


@task(name="compare-reconstructions")
def compare_reconstructions_task(store: str, runs: list[str], n_show: int = 8) -> dict[str, Any]:
    from zspace.tasks.generate.reconstruct import compare_reconstructions

    return compare_reconstructions(store, runs, n_show)


@flow(name="generate", log_prints=True)
def generate_flow(store: str, run: str, params: dict[str, Any] | None = None,
                  compare: list[str] | None = None) -> dict[str, Any]:
    """Decoded samples and their scores for one run; reconstruction comparison with `compare`."""
    from zspace.storage import Store

    result = generate_samples_task(store, run, _params(params))
    scores = Store(store).read_json(result["scores_rel"])["scores"]
    rows = [{"sampler": k, **{m: round(v, 5) if isinstance(v, float) else v for m, v in s.items()
                              if m in ("r_limit", "pixel_nn", "pixel_nn_sharpened", "latent_nn",
                                       "sharpness", "sharpness_sharpened")}}
            for k, s in scores.items()]
    create_table_artifact(table=rows, key=_key("generate", run),
                          description=f"Decoded-sample scores of {run}")
    if compare:
        rec = compare_reconstructions_task(store, [run, *compare])
        result["reconstruction"] = rec
        create_table_artifact(
            table=[{"run": r, **m} for r, m in rec["runs"].items()], key=_key("reconstruction", run),
            description=f"Reconstruction MSE/PSNR on the test split of {rec['dataset']}")
    return result


def register_cli(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "generate",
        help="decode artificial latent vectors; --compare: reconstruction quality of two runs",
        description="Decoded grids from z ~ N(0, I), uniform z per r_limit and a Gaussian fitted "
        "to the data's mean and covariance; sharpened with PIL; scored by distance to the "
        "nearest training image / z_mean and sharpness. Writes runs/<run>/samples/ and figures.",
    )
    p.add_argument("--store", required=True, help="store root (local path or fsspec URL)")
    p.add_argument("--run", required=True, help="run name under the store")
    p.add_argument("--compare", nargs="+", metavar="RUN", default=None,
                   help="also compare test-split reconstructions with these runs (same dataset)")
    p.add_argument("--n-images", type=int, default=28, help="images per sampler (28)")
    p.add_argument("--r-limits", type=float, nargs="+", default=None,
                   help="uniform half-widths (0.5 1 1.5 2 2.5 3 3.5 5 8)")
    p.add_argument("--sharpen-factor", type=float, default=7.0, help="PIL sharpness factor (7)")
    p.add_argument("--n-reference", type=int, default=2000,
                   help="training images for the nearest-image distance (2000)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cli)


def _cli(args: argparse.Namespace) -> int:
    params: dict[str, Any] = {"n_images": args.n_images, "sharpen_factor": args.sharpen_factor,
                              "n_reference": args.n_reference, "seed": args.seed}
    if args.r_limits:
        params["r_limits"] = args.r_limits
    params = _params(params)  # fail before starting a flow run
    res = generate_flow(store=args.store, run=args.run, params=params, compare=args.compare)
    print(f"{len(res['samplers'])} samplers decoded{' (already done)' if res['cached'] else ''}; "
          f"scores in {res['scores_rel']}, figures listed in {res['manifest']}")
    if "reconstruction" in res:
        for r, m in res["reconstruction"]["runs"].items():
            print(f"{r} ({m['kind']}): MSE {m['mse']:.5f}, PSNR {m['psnr']:.2f} dB on {m['n']:,} test images")
    return 0
