"""The statistics at every scale and at the edges: radii ~0.01 (a one-epoch model) and ~100,
constant components, too few rows or components; the radius peak against a dense reference."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_figures import write_latents

from zspace.storage import StatsLayout, Store, StoreError
from zspace.tasks.analyze import analyze_latents, radius_peak, silverman_bandwidth, uniform_edges
from zspace.tasks.report.drawing import draw_figures
from zspace.tasks.report.findings import findings, findings_markdown

SMALL = {"n_artificial": 200, "artificial_b": (0.5, 1.0, 2.0)}


def strict_json(text: str) -> dict:
    def bad(token: str):
        raise AssertionError(f"non-standard JSON constant {token}")

    return json.loads(text, parse_constant=bad)


def write(store: Store, rel: str, x: np.ndarray, chunk: int = 100) -> str:
    return write_latents(store, rel, x, chunk_rows=chunk)


def dense_peak(r: np.ndarray, bandwidth: float) -> float:
    """Reference: a Gaussian KDE of the raw radii, reflected at 0, argmax on a fine grid."""
    grid = np.linspace(0.0, r.max() * 1.02, 8001)
    d = (np.exp(-0.5 * ((grid[:, None] - r) / bandwidth) ** 2)
         + np.exp(-0.5 * ((grid[:, None] + r) / bandwidth) ** 2)).sum(axis=1)
    return float(grid[np.argmax(d)])


def fine(n: int, width: float = 0.05) -> np.ndarray:
    return np.arange(n + 1) * width


# -- radius_peak ---------------------------------------------------------------------------
def test_peak_has_no_edge_bias_and_no_index_error():
    # zero padding gave 0.175 for both (issue 17); the peak sits where the mass is
    assert radius_peak(np.array([100, 0, 0, 0, 0, 1]), fine(6)) == pytest.approx(0.025)
    assert radius_peak(np.array([0, 0, 0, 0, 1, 100]), fine(6)) == pytest.approx(0.275)
    for n_bins in (1, 2, 3, 5):  # any length, with the 11-bin smoothing of old
        counts = np.zeros(n_bins, dtype=int)
        counts[-1] = 7
        assert radius_peak(counts, fine(n_bins)) == pytest.approx(0.05 * n_bins - 0.025)
    assert radius_peak(np.zeros(3, dtype=int), fine(3)) is None
    assert radius_peak(np.zeros(0, dtype=int), fine(0)) is None


def test_half_normal_peaks_at_zero():
    """Exact expected counts of a half-normal (no sampling noise): the peak is the first bin
    at any bin width and bandwidth, where zero padding moved it half a box inwards."""
    from scipy.stats import halfnorm

    for width in (0.001, 0.05, 0.2):
        edges = uniform_edges(0.0, width, 5.0)
        counts = 1e6 * np.diff(halfnorm.cdf(edges))
        for bw in (silverman_bandwidth(counts, edges), 0.5):
            assert radius_peak(counts, edges, bw) == pytest.approx(width / 2)


@pytest.mark.parametrize("case", ["short", "one-sided", "bimodal", "tiny", "huge"])
def test_peak_matches_a_dense_kernel_density(case):
    rng = np.random.default_rng(1)
    r = {"short": rng.uniform(0.0, 0.14, 300),
         "one-sided": np.abs(rng.normal(0, 2.0, 3000)),
         "bimodal": np.concatenate([rng.normal(3, 0.3, 2000), rng.normal(6, 0.3, 1000)]),
         "tiny": np.sqrt((rng.normal(0, 0.002, (3000, 16)) ** 2).sum(1)),
         "huge": np.sqrt((rng.normal(0, 25.0, (3000, 16)) ** 2).sum(1))}[case]
    edges = uniform_edges(0.0, r.max() / 8192, r.max())
    counts = np.histogram(r, edges)[0]
    bw = silverman_bandwidth(counts, edges)
    # Silverman's rule as stated, on the binned values
    spread = min(r.std(ddof=1), np.subtract(*np.quantile(r, [0.75, 0.25])) / 1.34)
    assert bw == pytest.approx(0.9 * spread * len(r) ** -0.2, rel=0.02)
    ref = dense_peak(r, bw)
    assert radius_peak(counts, edges) == pytest.approx(ref, abs=max(0.05 * bw, 3 * edges[1]))


# -- the whole analysis at every scale ---------------------------------------------------------
def latents(scale: float, seed: int = 0, n: int = 600, z: int = 6) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, z)) * scale
    x[:, 1] = 0.8 * x[:, 0] + 0.6 * x[:, 1]
    x[:, 2] = 0.5 * scale  # a constant component
    return x.astype(np.float32)


@pytest.mark.parametrize("scale", [0.004, 40.0])  # radii ~0.01 and ~100
def test_every_scale_gives_standard_json_and_findings(tmp_path, scale):
    store = Store(tmp_path / "s")
    x = latents(scale)
    url = write(store, "z", x)
    analyze_latents(url, store, "out", SMALL, workers=1, show_progress=False)
    s = strict_json(store.read_text(StatsLayout("out").summary))
    r = np.sqrt((x.astype(np.float64) ** 2).sum(1))
    rad = s["radius"]
    assert r.min() <= rad["peak"] <= r.max()
    lo, hi = rad["peak_interval"]
    assert lo <= hi and r.min() <= lo and hi <= r.max()
    assert rad["peak"] == pytest.approx(dense_peak(r, rad["peak_bandwidth"]),
                                        abs=0.1 * rad["peak_bandwidth"] + r.max() / 2000)
    assert s["zero_variance_components"] == [2] and s["fwhm_over_gaussian"][2] is None
    # Gaussian components read as Gaussian whatever the scale (the 0.25 bin read 2.3 at 0.05)
    assert 0.8 <= s["shape"]["median_fwhm_over_gaussian"] <= 1.2
    assert s["dominant_components"] == []
    rows = findings(s)
    json.dumps(rows, allow_nan=False)
    assert findings_markdown(rows)
    assert {r["verdict"] for r in rows if "Gaussian" in r["claim"]} <= {"reproduced", "differs",
                                                                         "not decidable"}
    manifest = draw_figures(store.join("out"), str(tmp_path / "figs"), sample=300)
    assert manifest and all(e["file"].endswith(".png") for e in manifest)


def test_all_components_constant(tmp_path):
    store = Store(tmp_path / "s")
    x = np.tile(np.array([[0.01, -0.02, 0.0]], dtype=np.float32), (50, 1))
    url = write(store, "z", x, 20)
    analyze_latents(url, store, "out", SMALL, workers=1, show_progress=False)
    s = strict_json(store.read_text(StatsLayout("out").summary))
    assert s["zero_variance_components"] == [0, 1, 2]
    assert s["radius"]["peak"] == pytest.approx(np.sqrt(0.01**2 + 0.02**2), rel=1e-3)
    json.dumps(findings(s), allow_nan=False)


@pytest.mark.parametrize("shape", [(1, 8), (40, 1)])
def test_one_row_or_one_component_is_refused_clearly(tmp_path, shape):
    store = Store(tmp_path / "s")
    url = write(store, "z", np.zeros(shape, dtype=np.float32), 10)
    with pytest.raises(StoreError, match="at least 2 vectors of at least 2 components"):
        analyze_latents(url, store, "out", SMALL, workers=1, show_progress=False)


def test_pca_spectrum_with_null_eigenvalues_writes_no_infinity():
    ev = [4.0, 1.0] + [0.0] * 30
    rows = findings({"z_dim": 32, "pca_eigenvalues": ev,
                     "pca_explained_variance_ratio": [0.8, 0.2] + [0.0] * 30})
    json.dumps(rows, allow_nan=False)


def test_one_huge_component_does_not_widen_the_others_shape(tmp_path):
    """A component with a range of ~4000 made the common 0.25 grid ~1 wide for every component
    (derived.histogram_grid), so the others read far from Gaussian; each component's shape is
    now read on its own grid (bin std/4)."""
    store = Store(tmp_path / "s")
    rng = np.random.default_rng(4)
    x = rng.normal(size=(3000, 8)) * 0.7
    x[:, 7] *= 1000.0
    url = write(store, "z", x.astype(np.float32), 500)
    analyze_latents(url, store, "out", SMALL, workers=1, show_progress=False)
    s = strict_json(store.read_text(StatsLayout("out").summary))
    assert s["histogram"]["bin_width"] > 0.25  # the study grid still widens (study units)
    assert all(0.8 <= v <= 1.2 for v in s["fwhm_over_gaussian"][:7])
    assert s["dominant_components"] == [7]
