"""Generation stage: `zspace generate --store S --run R [--compare R2]`.

Decodes N(0, I), uniform-per-r_limit and fitted-Gaussian latent vectors, sharpens and scores
them (:mod:`zspace.tasks.generate.stage`); with --compare, also compares the reconstructions of R and
R2 on the test split (:mod:`zspace.tasks.generate.reconstruct`). Returns a small dict.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.artifacts import create_table_artifact

from zspace.cli.stage import Stage
from zspace.storage import Store
from zspace.tasks.common.artifacts import artifact_key
from zspace.tasks.generate.artifacts import closing_lines, reconstruction_table, scores_table
from zspace.tasks.generate.params import GenerateParams
from zspace.tasks.generate.reconstruct_task import compare_reconstructions_task


def _key(prefix: str, run: str) -> str:
    return artifact_key(f"{prefix}-{run}")


@task(name="generate-samples")
def generate_samples_task(store: str, run: str, params: dict[str, Any]) -> dict[str, Any]:
    from zspace.tasks.generate.stage import generate_samples

    return generate_samples(store, run, params)


@task(name="latent-traversals")
def traversals_task(store: str, run: str) -> dict[str, Any]:
    from zspace.tasks.generate.stage import write_traversals

    return write_traversals(store, run)


@flow(name="generate", log_prints=True)
def generate_flow(params: GenerateParams) -> dict[str, Any]:
    """Decoded samples and their scores for one run; reconstruction comparison with `compare`."""
    store, run = params.store, params.run
    result = generate_samples_task(store, run, params.generation.model_dump(mode="json"))
    result["traversals"] = traversals_task(store, run)
    scores = Store(store).read_json(result["scores_rel"])["scores"]
    create_table_artifact(table=scores_table(scores), key=_key("generate", run),
                          description=f"Decoded-sample scores of {run}")
    if params.compare:
        rec = compare_reconstructions_task(store, [run, *params.compare])
        result["reconstruction"] = rec
        create_table_artifact(
            table=reconstruction_table(rec), key=_key("reconstruction", run),
            description=f"Reconstruction MSE/PSNR on the test split of {rec['dataset']}")
    return result


def _complete(store: Store, p: GenerateParams) -> bool:
    layout = store.run(p.run)
    return store.exists(layout.manifest("generate")) and store.exists(layout.manifest("traversals"))


STAGE = Stage(
    name="generate",
    help="decode artificial latent vectors; --compare: reconstruction quality of two runs",
    params=GenerateParams,
    flow=generate_flow,
    complete=_complete,
    upstream=("train", "analyze"),
    artifacts=("generate-{run}", "reconstruction-{run}"),
    closing=closing_lines,
    from_pipeline=lambda ctx, run: {"store": ctx.store, "run": run,
                                    "generation": ctx.settings["generation"]},
)
