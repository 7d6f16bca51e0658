"""Statistics figures drawn from real statistics of a small latent array with known correlations."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from zspace.storage import ChunkedWriter, RunLayout, Store, read_rows
from zspace.tasks.analyze import analyze_latents
from zspace.tasks.report.drawing import draw_figures, draw_stats_figures
from zspace.tasks.report.figures import pc_pairs, top_pairs
from zspace.tasks.report.zoom import zoom_series

N, Z = 2500, 12
PARAMS = {"n_artificial": 300, "artificial_b": (0.5, 1.0, 1.5, 2.0, 4.0)}
SIZES = {  # file -> (width, height) in pixels at 100 dpi
    "components_overlay.png": (1000, 600),
    "dominant_components.png": (1000, 600),
    "radius_coarse.png": (900, 550),
    "radius_fine.png": (900, 550),
    "correlation_heatmap.png": (900, 800),
    "correlated_pairs_1200.png": (1440, 1420),
    "correlated_pairs_1000.png": (1440, 1420),
    "correlated_pairs_500.png": (1440, 1420),
    "pca_spectrum.png": (900, 550),
    "pca_zoom_pc1_pc2.png": (1100, 1040),
    "pca_zoom_pc1_pc12.png": (1100, 1040),
    "pca_zoom_pc8_pc12.png": (1100, 1040),
    "axes_zoom_z0_z1.png": (1100, 1040),  # the most correlated pair
    "artificial_vectors.png": (1300, 550),
}


def make_latents(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, Z))
    x[:, 1] = 0.9 * x[:, 0] + np.sqrt(1 - 0.81) * x[:, 1]  # r = 0.9, the strongest
    x[:, 3] = -0.6 * x[:, 2] + 0.8 * x[:, 3]  # r = -0.6
    x[:, 5] += 3.0  # a shifted (dominant) component
    return x.astype(np.float32)


def write_latents(store: Store, rel: str, x: np.ndarray, chunk_rows: int = 300) -> str:
    w = ChunkedWriter(store, rel, x.shape, chunk_rows, "float32", {"test": rel})
    for i in range(w.n_chunks):
        w.write_chunk(i, x[i * chunk_rows : (i + 1) * chunk_rows])
    w.finalize()
    return store.join(rel)


@pytest.fixture(scope="module")
def run_store(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("figs") / "store")
    x = make_latents()
    url = write_latents(store, store.run("r1").latents(), x)
    analyze_latents(url, store, store.run("r1").stats.root, PARAMS, show_progress=False)
    return store, x


def check_png(path, size: tuple[int, int]) -> None:
    with Image.open(path) as im:
        im.verify()
    with Image.open(path) as im:
        assert im.format == "PNG" and im.size == size, (path, im.size)


def test_every_figure_is_a_png_of_the_expected_size(run_store):
    store, _ = run_store
    manifest = draw_stats_figures(store.url, "r1", sample=1200, seed=3)
    fig_dir = store.local_path(RunLayout("r1").figures)
    assert [e["file"] for e in manifest] == list(SIZES)
    assert store.read_json(RunLayout("r1").manifest("stats")) == manifest
    fp = store.read_json(RunLayout("r1").stats.summary)["fingerprint"]
    for e in manifest:
        assert e["title"] and e["caption"] and e["section"] in {
            "components", "radius", "correlations", "pca", "artificial"}
        assert (e["width"], e["height"]) == SIZES[e["file"]] and e["stats_fingerprint"] == fp
        check_png(fig_dir / e["file"], SIZES[e["file"]])
    # captions carry the parameters
    by = {e["file"]: e for e in manifest}
    assert "1,200 data vectors" in by["correlated_pairs_1200.png"]["caption"]
    assert "b = 4.0" in by["correlated_pairs_500.png"]["caption"]
    assert "bin width 0.05" in by["radius_fine.png"]["caption"]
    assert f"{N:,} points" in by["pca_zoom_pc1_pc2.png"]["caption"]


def test_stats_folder_form(tmp_path):
    """`zspace analyze --latents URL --out DIR`: figures from that folder, latents from its summary."""
    x = make_latents(1)[:900, :6]
    url = write_latents(Store(tmp_path / "src"), "z", x, 200)
    out = tmp_path / "out"
    analyze_latents(url, Store(out), "", PARAMS, show_progress=False)
    manifest = draw_figures(str(out), str(out / "figures"), sample=700)
    files = [e["file"] for e in manifest]
    assert "correlated_pairs_700.png" in files and "correlated_pairs_5000.png" not in files
    assert "pca_zoom_pc5_pc6.png" in files  # PC pairs clipped to z_dim 6
    for e in manifest:
        check_png(out / "figures" / e["file"], (e["width"], e["height"]))


def test_helpers_against_numpy(run_store):
    store, x = run_store
    arr = store.open_array(store.run("r1").latents())
    rows = np.array([0, 5, 299, 300, 301, 1777, N - 1])
    np.testing.assert_array_equal(read_rows(arr, rows), x[rows].astype(np.float64))

    corr = np.corrcoef(x.astype(np.float64), rowvar=False)
    pairs = top_pairs(corr, 16)
    iu = np.triu_indices(Z, 1)
    expect = sorted(zip(iu[0], iu[1], corr[iu], strict=True), key=lambda p: -abs(p[2]))[:16]
    assert [(i, j) for i, j, _ in pairs] == [(i, j) for i, j, _ in expect]
    assert [(i, j) for i, j, _ in pairs[:2]] == [(0, 1), (2, 3)]
    np.testing.assert_allclose([r for *_, r in pairs], [r for *_, r in expect])

    assert pc_pairs(256) == [(0, 1), (0, 17), (7, 34)]
    assert pc_pairs(12) == [(0, 1), (0, 11), (7, 11)]

    # zoom windows: exactly the points inside each square, chunk by chunk
    centre = (0.2, -0.1)
    wins = zoom_series(arr, [(0, 1), (2, 3)], [centre, (0.0, 0.0)], sides=(None, 2.0, 0.5))
    for (i, j), ws, c in zip([(0, 1), (2, 3)], wins, [centre, (0.0, 0.0)], strict=True):
        assert ws[0].seen == N and ws[0].step == 1
        for w, side in zip(ws[1:], (2.0, 0.5), strict=True):
            keep = (np.abs(x[:, i] - c[0]) <= side / 2) & (np.abs(x[:, j] - c[1]) <= side / 2)
            np.testing.assert_array_equal(w.points(), x[keep][:, [i, j]])
            assert w.seen == keep.sum()
    # thinning past the cap keeps every step-th point inside the window, deterministically
    (thin,) = zoom_series(arr, [(0, 1)], [(0.0, 0.0)], sides=(None,), cap=200)
    assert thin[0].step > 1 and thin[0].seen == N
    np.testing.assert_array_equal(thin[0].points(), x[:: thin[0].step][:, [0, 1]])


def test_registry_shape_and_a_new_figure(run_store, tmp_path):
    """Every registered figure names a report section id; a figure added to a registry is drawn
    into the manifest with its section, title and the statistics fingerprint."""
    from zspace.tasks.common.figures import SECTIONS
    from zspace.tasks.report.drawing import figure_context, render
    from zspace.tasks.report.figures import FIGURES, Drawn, StatsFigure
    from zspace.tasks.report.style import new_figure

    ids = [f.id for f in FIGURES]
    assert len(ids) == len(set(ids)) and all(f.section in SECTIONS for f in FIGURES)
    assert all(f.section == f.section.lower() and f.title for f in FIGURES)

    store, x = run_store

    def draw_first_component(ctx):
        fig = new_figure(4, 3)
        fig.add_subplot().plot(ctx.array("histogram_counts")[0])
        return [Drawn("first.png", fig, f"component 0 of {ctx.n:,}")]

    extra = StatsFigure("first", "components", "First component", draw_first_component)
    ctx = figure_context(store, store.run("r1").stats, sample=200)
    (entry, png), = list(render(ctx, [extra]))
    assert entry["file"] == "first.png" and entry["title"] == "First component"
    assert entry["section"] == "components" and entry["caption"] == f"component 0 of {N:,}"
    assert (entry["width"], entry["height"]) == (400, 300) and png.startswith(b"\x89PNG")
    assert entry["stats_fingerprint"] == store.read_json(RunLayout("r1").stats.summary)["fingerprint"]
