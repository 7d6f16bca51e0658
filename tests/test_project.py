"""Projections on tiny real runs: a real Prefect flow run, real openTSNE, coordinates in zarr."""

from __future__ import annotations

import numpy as np
import pytest
import zarr
from latent_runs import latent_store
from PIL import Image
from pydantic import ValidationError

from zspace.cli.main import main
from zspace.flows.project import project_flow
from zspace.storage import Store, StoreError
from zspace.tasks.common.sampling import sample_rows
from zspace.tasks.project.params import ProjectParams
from zspace.tasks.project.stage import TsneParams, project_latents

RUN = "tiny-vae"
FAST = {"n_iter": 60, "early_exaggeration_iter": 30, "n_jobs": 2}


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Store:
    return latent_store(tmp_path_factory.getbasetemp() / "latent-runs")


def coords(store: Store, config: str) -> tuple[np.ndarray, np.ndarray]:
    layout = store.run(RUN)
    return (zarr.open_array(store.join(layout.projection_coordinates(config)), mode="r")[...],
            zarr.open_array(store.join(layout.projection_rows(config)), mode="r")[...])


def test_flow_writes_coordinates_figures_and_manifest_and_reruns_as_a_no_op(store):
    n = store.open_array(store.run(RUN).latents()).shape[0]
    params = {"configs": ["study-20k", "pca-2", "pca-10"], **FAST}
    res = project_flow(ProjectParams(store=store.url, run=RUN, projection=params))
    assert set(res["projections"]) == {"study-20k", "pca-2", "pca-10"}
    for config, r in res["projections"].items():
        xy, rows = coords(store, config)
        assert r["n"] == n and not r["cached"]  # 20,000 asked for, capped at the cloud's size
        assert xy.shape == (n, 2) and xy.dtype == np.float32 and np.isfinite(xy).all()
        assert np.array_equal(rows, np.arange(n))
        assert xy.std(axis=0).min() > 0
    manifest = store.read_json(store.run(RUN).manifest("project"))
    assert [e["file"] for e in manifest] == ["tsne_study-20k.png", "tsne_pca-2.png", "tsne_pca-10.png"]
    for e in manifest:
        assert {"file", "title", "caption", "section"} <= set(e) and e["section"] == "projections"
        with Image.open(store.local_path(store.run(RUN).figure(e["file"]))) as im:
            im.verify()
            assert im.format == "PNG" and im.size[0] > 500 and im.size[1] > 300
    assert "perplexity 10" in manifest[0]["caption"] and "skin_tone" in manifest[0]["caption"]
    rec = store.read_json(store.run(RUN).projection_record("pca-10"))
    assert rec["plan"]["pca_components"] == 8  # 10 asked, z_dim is 8

    again = project_flow(ProjectParams(store=store.url, run=RUN, projection=params))
    assert all(r["cached"] for r in again["projections"].values())
    assert again["fingerprint"] == res["fingerprint"]


def test_sampling_caps_points_with_a_seed_and_keeps_other_projections(store):
    n = store.open_array(store.run(RUN).latents()).shape[0]
    res = project_latents(store.url, RUN, {"configs": ["default-80k"], "max_points": 100, **FAST},
                          show_progress=False)
    xy, rows = coords(store, "default-80k")
    assert res["projections"]["default-80k"]["n"] == 100 and xy.shape == (100, 2)
    assert np.array_equal(rows, sample_rows(n, 100, 0)) and len(np.unique(rows)) == 100
    assert rows.min() >= 0 and rows.max() < n and np.isfinite(xy).all()
    files = [e["file"] for e in store.read_json(store.run(RUN).manifest("project"))]
    assert "tsne_default-80k.png" in files and "tsne_study-20k.png" in files  # earlier ones stay
    assert not np.array_equal(sample_rows(n, 100, 1), rows)


def test_bad_parameters_and_missing_inputs_fail_clearly(store, capsys):
    with pytest.raises(ValidationError, match="unknown projection configs"):
        TsneParams(configs=["tsne-1m"])
    assert main(["project", "--store", store.url, "--run", "nope", "--configs", "pca-2"]) == 2
    assert "encode" in capsys.readouterr().err
    assert main(["project", "--store", store.url, "--run", RUN, "--configs", "study-20k",
                 "--n-iter", "60", "--early-exaggeration-iter", "30", "--n-jobs", "2"]) == 0
    assert "already done" in capsys.readouterr().out


def test_statistics_of_older_latents_are_refused(tmp_path, store):
    """Defect: project alone after a re-encode used the old statistics' PCA coordinates. Now a
    PCA configuration is refused (naming analyze), a plain one still runs on the new latents,
    and the manifest leaves out the projections of the old statistics. (The same store with
    current statistics projects pca-2 in the flow test above.)"""
    import shutil

    copy = Store(tmp_path / "copy")
    shutil.copytree(store.local_path(), copy.local_path())
    z = copy.open_array(copy.run(RUN).latents("z_mean"), mode="r+")
    z.attrs["fingerprint"] = "f" * 64  # as if the run had been encoded again since
    with pytest.raises(StoreError, match="statistics of older latents.*zspace analyze.*pca-2"):
        project_latents(copy.url, RUN, {"configs": ["pca-2"], **FAST}, show_progress=False)
    res = project_latents(copy.url, RUN, {"configs": ["study-20k"], "max_points": 100, **FAST},
                          show_progress=False)
    assert not res["projections"]["study-20k"]["cached"]  # new latents: computed again
    plan = copy.read_json(copy.run(RUN).projection_record("study-20k"))["plan"]
    assert plan["latents_fingerprint"] == "f" * 64
    files = [e["file"] for e in copy.read_json(copy.run(RUN).manifest("project"))]
    assert files == ["tsne_study-20k.png"]
