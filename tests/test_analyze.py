"""The analyze stage as a real Prefect flow run and through the `zspace` CLI."""

from __future__ import annotations

import json

import numpy as np
import zarr
from prefect import get_client

from zspace.cli.main import main
from zspace.flows.analyze import analyze_flow
from zspace.storage import ChunkedWriter, RunLayout, Store
from zspace.tasks.analyze import AnalyzeParams

PARAMS = {"n_artificial": 200, "artificial_b": (1.0, 2.0, 4.0)}


def latents(n: int = 1500, z: int = 8, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, z))
    x[:, 2] = 0.9 * x[:, 1] + 0.45 * x[:, 2]
    x[:, 4] = -0.7 * x[:, 3] + 0.7 * x[:, 4]
    return x.astype(np.float32)


def pair_counts(x: np.ndarray) -> dict[str, int]:
    c = np.corrcoef(x.astype(np.float64), rowvar=False)
    a = np.abs(c[np.triu_indices(x.shape[1], 1)])
    return {f"{t:g}": int((a > t).sum()) for t in np.arange(1, 10) / 10}


def test_flow_run_on_a_run_folder(tmp_path):
    store = Store(tmp_path / "store")
    x = latents()
    w = ChunkedWriter(store, store.run("r1").latents("z_mean"), x.shape, 200, "float32", {"t": 1})
    for i in range(w.n_chunks):
        w.write_chunk(i, x[i * 200 : (i + 1) * 200])
    w.finalize()

    state = analyze_flow(AnalyzeParams(store=store.url, run="r1", analysis=PARAMS),
                         return_state=True)
    assert state.is_completed()
    res = state.result()
    assert res["stats_url"] == store.join(RunLayout("r1").stats.root) and not res["cached"]
    assert json.loads(json.dumps(res)) == res  # small and JSON-able
    summary = store.read_json(RunLayout("r1").stats.summary)
    assert summary["correlation_counts"] == pair_counts(x)
    assert summary["fingerprint"] == res["fingerprint"]
    for key in ("n", "z_dim", "mean", "std", "half_width", "dominant_components", "radius",
                "correlation_counts", "correlated_pairs", "pca_explained_variance_ratio", "artificial"):
        assert key in summary
    assert {"mean", "std", "peak"} <= set(summary["radius"])

    with get_client(sync_client=True) as client:
        art = client.read_artifacts()
    md = [a for a in art if a.key == "analyze-r1"]
    assert md and "Latent statistics: r1" in md[0].data and "| 0.5 |" in md[0].data

    again = analyze_flow(AnalyzeParams(store=store.url, run="r1", analysis=PARAMS))
    assert again["cached"] and again["fingerprint"] == res["fingerprint"]


def test_cli_on_any_zarr_array(tmp_path, capsys):
    x = latents(n=1200, z=6, seed=2)
    url = str(tmp_path / "foreign.zarr")
    arr = zarr.create_array(store=url, shape=x.shape, chunks=(100, 3), dtype="float32")
    arr[:] = x  # a plain array: no zspace attributes, chunked along both axes
    out = tmp_path / "out"
    rc = main(["analyze", "--latents", url, "--out", str(out), "--corr-threshold", "0.3",
               "--slice-axes", "0", "3", "--slice-threshold", "1.5", "--n-artificial", "100"])
    assert rc == 0
    assert "statistics of 1,200 x 6" in capsys.readouterr().out
    s = json.loads((out / "summary.json").read_text())
    assert s["correlation_counts"] == pair_counts(x)
    c = np.corrcoef(x.astype(np.float64), rowvar=False)
    want = sorted(([i, j] for i in range(6) for j in range(i + 1, 6) if abs(c[i, j]) > 0.3),
                  key=lambda p: -abs(c[p[0], p[1]]))
    assert [p[:2] for p in s["correlated_pairs"]] == want
    assert s["slice"]["axes"] == [0, 3] and s["input"]["fingerprint"].startswith("listing:")
    keep = (np.abs(np.delete(x, [0, 3], axis=1)) < 1.5).all(axis=1)
    assert s["slice"]["count"] == int(keep.sum())


def test_cli_errors_are_clear(tmp_path, capsys):
    rc = main(["analyze", "--store", str(tmp_path), "--run", "nothing"])
    assert rc == 2 and "zspace encode" in capsys.readouterr().err
    rc = main(["analyze", "--latents", str(tmp_path / "x.zarr")])
    assert rc == 2 and "--latents and --out" in capsys.readouterr().err
