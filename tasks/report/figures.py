"""Figures of the latent statistics (SPEC.md §3-§5), drawn from what the analyze stage stored.

Nothing here recomputes a statistic: histograms, radius histograms, the correlation matrix,
the PCA spectrum and coordinates are read from the stats folder (see :mod:`zspace.tasks.analyze.stats`);
the latents themselves are only read for sampled scatter points and, chunk by chunk, for the
zoom series in original axes. Artificial points are regenerated with the stats module's own
:func:`~zspace.tasks.stats.artificial_vectors`, so they are the vectors the analysis used.

Every figure is a PNG (matplotlib Agg, 100 dpi, fixed size) under the output folder, listed in
the manifest ``stats.json`` there: ``[{"file", "title", "caption", "section", "width",
"height", "stats_fingerprint"}]``. The report embeds whatever the manifests list.

Two entry points: :func:`draw_figures` (any stats folder, e.g. ``zspace analyze --latents URL
--out DIR``) and :func:`draw_stats_figures` (``runs/<run>/stats`` -> ``runs/<run>/figures``).
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from typing import Any

import fsspec
import matplotlib
import numpy as np

matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from zspace.storage import Store, StoreError, open_array, read_rows  # noqa: E402
from zspace.tasks.analyze.stats import artificial_vectors  # noqa: E402

DPI = 100
MANIFEST = "stats.json"
ZOOM_SIDES: tuple[float | None, ...] = (None, 5.0, 1.0, 0.5)  # None: the whole cloud
PC_PAIRS = ((0, 1), (0, 17), (7, 34))  # the study's PC1-PC2, PC1-PC18, PC8-PC35 (0-based)
SCATTER_SIZES = (5000, 1000, 500)
ARTIFICIAL_B = (4.0, 1.5)
MAX_ZOOM_POINTS = 200_000  # per panel; beyond this every k-th point inside the window is drawn
DATA_COLOR, ART_COLORS, CHOSEN_COLOR, ORIGIN_COLOR = "tab:blue", ("#f4a3a3", "#d62728"), "orange", "yellow"


# -- reading -------------------------------------------------------------------------------
def _read_json(url: str) -> Any:
    import json

    try:
        with fsspec.open(url, "r") as f:
            return json.load(f)
    except FileNotFoundError as e:
        raise StoreError(f"{url} does not exist: run `zspace analyze` first") from e


def _blocks(arr: Any) -> list[tuple[int, int]]:
    """Row ranges of whole zarr chunks (a few of them per block, ~8 MB)."""
    n = int(arr.shape[0])
    row_bytes = max(1, int(np.prod(arr.shape[1:])) * arr.dtype.itemsize)
    step = int(arr.chunks[0]) * max(1, (8 << 20) // (int(arr.chunks[0]) * row_bytes))
    return [(a, min(n, a + step)) for a in range(0, n, step)]


class _Window:
    """Points of one axis pair inside one square, thinned to every step-th once too many."""

    def __init__(self, centre: tuple[float, float], side: float | None, cap: int):
        self.centre, self.side, self.cap = centre, side, cap
        self.parts: list[np.ndarray] = []
        self.kept = 0
        self.seen = 0  # points inside the window so far
        self.step = 1

    def add(self, xy: np.ndarray) -> None:
        if self.side is not None:
            h = self.side / 2
            inside = (np.abs(xy[:, 0] - self.centre[0]) <= h) & (np.abs(xy[:, 1] - self.centre[1]) <= h)
            xy = xy[inside]
        ordinal = self.seen + np.arange(len(xy))
        self.seen += len(xy)
        xy = xy[ordinal % self.step == 0]
        self.parts.append(xy.astype(np.float32))
        self.kept += len(xy)
        if self.kept > 2 * self.cap:  # kept[k] has ordinal k*step: every other one is k*2*step
            pts = np.concatenate(self.parts)[::2]
            self.parts, self.kept, self.step = [pts], len(pts), self.step * 2

    def points(self) -> np.ndarray:
        return np.concatenate(self.parts) if self.parts else np.empty((0, 2), np.float32)


def zoom_series(arr: Any, pairs: Sequence[tuple[int, int]], centres: Sequence[tuple[float, float]],
                sides: Sequence[float | None] = ZOOM_SIDES, cap: int = MAX_ZOOM_POINTS,
                progress: Callable[[int], None] | None = None) -> list[list[_Window]]:
    """One chunk-wise pass over all N rows of arr: for each pair, the points in each window."""
    wins = [[_Window(c, s, cap) for s in sides] for c in centres]
    cols = sorted({k for p in pairs for k in p})
    pos = {k: i for i, k in enumerate(cols)}
    for a, b in _blocks(arr):
        block = np.asarray(arr[a:b])[:, cols]
        for p, ws in zip(pairs, wins, strict=True):
            xy = block[:, [pos[p[0]], pos[p[1]]]]
            for w in ws:
                w.add(xy)
        if progress:
            progress(b - a)
    return wins


# -- drawing helpers -----------------------------------------------------------------------
def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def _fig(w: float, h: float) -> Figure:
    return Figure(figsize=(w, h), dpi=DPI, layout="constrained")


def _centres(edges: np.ndarray) -> np.ndarray:
    return (edges[:-1] + edges[1:]) / 2


def _occupied(counts: np.ndarray, pad: int = 2) -> slice:
    nz = np.flatnonzero(counts)
    if not len(nz):
        return slice(0, len(counts))
    return slice(max(0, nz[0] - pad), min(len(counts), nz[-1] + 1 + pad))


def top_pairs(corr: np.ndarray, k: int = 16) -> list[tuple[int, int, float]]:
    """The k most correlated pairs i<j by |r| (ties by i, j), from the stored correlation matrix."""
    i, j = np.triu_indices(len(corr), 1)
    r = corr[i, j]
    order = np.lexsort((j, i, -np.abs(r)))[:k]
    return [(int(i[o]), int(j[o]), float(r[o])) for o in order]


def pc_pairs(z_dim: int) -> list[tuple[int, int]]:
    """The study's PC pairs clipped to z_dim, without repeats or degenerate pairs."""
    out: list[tuple[int, int]] = []
    for a, b in PC_PAIRS:
        a, b = min(a, z_dim - 2), min(b, z_dim - 1)
        if a == b:
            a = b - 1
        if (a, b) not in out:
            out.append((a, b))
    return out


def _entry(file: str, title: str, caption: str, section: str, fig: Figure, fp: str) -> dict[str, Any]:
    w, h = (int(round(v * DPI)) for v in fig.get_size_inches())
    return {"file": file, "title": title, "caption": caption, "section": section,
            "width": w, "height": h, "stats_fingerprint": fp}


# -- the figures ---------------------------------------------------------------------------
def draw_figures(
    stats_url: str,
    out_url: str,
    latents_url: str | None = None,
    *,
    sample: int = 5000,
    seed: int = 0,
    label: str = "",
    max_zoom_points: int = MAX_ZOOM_POINTS,
    show_progress: bool = False,
) -> list[dict[str, Any]]:
    """Draw every statistics figure of the stats folder at stats_url into out_url.

    latents_url defaults to the input the statistics were computed from (summary.json). Returns
    the manifest, which is also written to ``<out_url>/stats.json``.
    """
    stats_url = stats_url.rstrip("/")
    summary = _read_json(f"{stats_url}/summary.json")
    latents_url = latents_url or summary["input"]["url"]
    out = Store(out_url)
    fp = summary.get("fingerprint", "")
    n, z = int(summary["n"]), int(summary["z_dim"])
    tag = f" ({label})" if label else ""

    def arr(name: str) -> Any:
        return open_array(f"{stats_url}/{name}")

    manifest: list[dict[str, Any]] = []

    def save(fig: Figure, file: str, title: str, caption: str, section: str) -> None:
        out.write_bytes(file, _png(fig))
        manifest.append(_entry(file, title, caption, section, fig, fp))

    mean = np.asarray(summary["mean"])
    hw = np.asarray(summary["half_width"])
    dominant = list(summary["dominant_components"])

    # 1. number distributions of all components -------------------------------------------
    counts = np.asarray(arr("histogram_counts")[...])
    edges = np.asarray(arr("histogram_edges")[...])
    width = float(summary["histogram"]["bin_width"])
    sl = _occupied(counts.sum(0))
    x = _centres(edges)[sl]
    fig = _fig(10, 6)
    ax = fig.add_subplot()
    cmap = matplotlib.colormaps["viridis"]
    for k in range(z):
        ax.plot(x, counts[k, sl], lw=0.6, alpha=0.55, color=cmap(k / max(1, z - 1)))
    ax.set(title=f"Number distributions of all {z} components{tag}", xlabel="component value z_k",
           ylabel=f"vectors per bin (bin width {width:g})")
    ax.grid(alpha=0.3)
    save(fig, "components_overlay.png", "Number distributions of all components",
         f"Histogram of every one of the {z} latent components over all {n:,} vectors, bin width "
         f"{width:g}, one line per component (colour runs with the index). Most components are "
         "near-Gaussian around 0; the dominant ones stand out by their shift or width.", "components")

    # 2. the dominant components alone -----------------------------------------------------
    shown = dominant
    why = f"the dominant components ({summary['dominant_rule']})"
    if not shown:
        score = np.abs(mean - np.median(mean)) + np.abs(hw - np.median(hw))
        shown = [int(k) for k in np.argsort(-score)[:5]]
        why = ("no component passes the dominant rule; shown instead: the 5 with the largest "
               "|mean - median mean| + |half_width - median half_width|")
    fig = _fig(10, 6)
    ax = fig.add_subplot()
    typical = np.median(counts[:, sl], axis=0)
    ax.plot(x, typical, color="0.6", lw=2, ls="--", label="median of all components")
    for k in shown[:20]:
        ax.plot(x, counts[k, sl], lw=1.4, label=f"{k}: mu={mean[k]:+.2f}, hw={hw[k]:.2f}")
    ax.set(title=f"Dominant components{tag}", xlabel="component value z_k",
           ylabel=f"vectors per bin (bin width {width:g})")
    ax.legend(fontsize=8, ncols=2 if len(shown) > 10 else 1, title="index: mean, half-width")
    ax.grid(alpha=0.3)
    save(fig, "dominant_components.png", "Dominant components",
         f"Histograms (bin width {width:g}) of {why}"
         + (f"; the first 20 of {len(shown)}" if len(shown) > 20 else "")
         + ". Legend: index, mean mu, half-width hw (FWHM). Dashed grey: the bin-wise median "
         "over all components, for scale.", "components")

    # 3. radius at 0.5 and 0.05 ----------------------------------------------------------------
    rad = summary["radius"]
    sqrt_z = math.sqrt(z)
    for kind, bw in (("coarse", 0.5), ("fine", 0.05)):
        h = np.asarray(arr(f"radius_hist_{kind}")[...])
        e = np.asarray(arr(f"radius_edges_{kind}")[...])
        s = _occupied(h, pad=3)
        fig = _fig(9, 5.5)
        ax = fig.add_subplot()
        ax.stairs(h[s], e[s.start : s.stop + 1], fill=True, alpha=0.6, color=DATA_COLOR,
                  label=f"{n:,} vectors")
        ax.axvline(sqrt_z, color="k", ls="--", label=f"sqrt(z_dim) = {sqrt_z:.2f}")
        peak = rad["peak"] if kind == "fine" else rad["peak_coarse"]
        ax.axvline(peak, color="tab:red", ls=":", lw=2, label=f"peak = {peak:.2f}")
        ax.set(title=f"Radius ||z|| distribution, bin width {bw:g}{tag}", xlabel="radius ||z||",
               ylabel=f"vectors per bin (bin width {bw:g})")
        ax.legend()
        ax.grid(alpha=0.3)
        save(fig, f"radius_{kind}.png", f"Radius distribution (bin {bw:g})",
             f"Histogram of the L2 norm of all {n:,} latent vectors, bin width {bw:g} from 0. "
             f"Dashed: sqrt(z_dim) = {sqrt_z:.2f}, the expectation for independent unit Gaussians; "
             f"dotted: the peak ({rad['peak_rule']}). Mean {rad['mean']:.2f}, std {rad['std']:.2f}, "
             f"max {rad['max']:.2f}.", "radius")

    # 4. correlation heatmap -------------------------------------------------------------------
    corr = np.asarray(arr("correlation")[...])
    fig = _fig(9, 8)
    ax = fig.add_subplot()
    im = ax.imshow(corr, cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
    fig.colorbar(im, ax=ax, shrink=0.85, label="Pearson r")
    ax.set(title=f"Correlation matrix of the {z} components{tag}", xlabel="component j",
           ylabel="component i")
    save(fig, "correlation_heatmap.png", "Correlation matrix",
         f"Pearson correlation r_ij of all component pairs, exact on all {n:,} vectors "
         "(zero-variance components are shown as 0). The diagonal is 1.", "correlations")

    # 5. the most correlated pairs, with data, artificial points, a chosen point, the origin ----
    pairs = top_pairs(corr, 16)
    latents = open_array(latents_url)
    if tuple(latents.shape) != (n, z):
        raise StoreError(f"{latents_url} has shape {tuple(latents.shape)}, but the statistics in "
                         f"{stats_url} are of ({n}, {z}): redo `zspace analyze`")
    rng = np.random.default_rng(seed)
    m = min(sample, n)
    perm = rng.permutation(n)[:m]
    order = np.argsort(perm)
    pts = np.empty((m, z))
    pts[order] = read_rows(latents, perm[order])  # pts[k] is row perm[k]
    radii = np.linalg.norm(pts, axis=1)
    chosen = int(np.argmin(np.abs(radii - rad["peak"])))
    art_seed = int(summary.get("params", {}).get("seed", 0))
    ncols = min(4, len(pairs))
    nrows = math.ceil(len(pairs) / ncols)
    for size in sorted({min(s, m) for s in (sample, *SCATTER_SIZES) if s <= sample}, reverse=True):
        d = pts[:size]
        n_art = min(size, 1000)
        arts = [artificial_vectors(z, b, n_art, art_seed) for b in ARTIFICIAL_B]
        fig = _fig(3.6 * ncols, 3.4 * nrows + 0.6)
        axes = fig.subplots(nrows, ncols, squeeze=False)
        for ax, (i, j, r) in zip(axes.flat, pairs, strict=False):
            for b, a, c in zip(ARTIFICIAL_B, arts, ART_COLORS, strict=True):
                ax.scatter(a[:, i], a[:, j], s=3, color=c, alpha=0.6, marker="+" if b > 2 else ".",
                           label=f"uniform b={b:g}", rasterized=True)
            ax.scatter(d[:, i], d[:, j], s=2 if size > 1000 else 5, color=DATA_COLOR, alpha=0.4,
                       label="data", rasterized=True)
            ax.scatter([pts[chosen, i]], [pts[chosen, j]], s=60, color=CHOSEN_COLOR,
                       edgecolor="k", zorder=5, label="chosen data point")
            ax.scatter([0], [0], s=60, color=ORIGIN_COLOR, edgecolor="k", marker="*", zorder=6,
                       label="origin")
            ax.set_title(f"z{i} vs z{j}, r = {r:+.2f}", fontsize=9)
            ax.set_xlabel(f"z{i}", fontsize=8)
            ax.set_ylabel(f"z{j}", fontsize=8)
            ax.tick_params(labelsize=7)
        for ax in list(axes.flat)[len(pairs):]:
            ax.set_visible(False)
        fig.legend(handles=_pair_legend(), loc="outside lower center", ncols=5, fontsize=9)
        fig.suptitle(f"The {len(pairs)} most correlated component pairs, {size:,} data points{tag}")
        save(fig, f"correlated_pairs_{size}.png", f"Most correlated pairs, {size:,} points",
             f"Scatter of the {len(pairs)} component pairs with the largest |r| (from the stored "
             f"correlation matrix): {size:,} data vectors sampled at random (seed {seed}) in blue; "
             f"{n_art:,} artificial vectors uniform in [-b, b]^{z} for b = 4.0 (light red +) and "
             f"b = 1.5 (red), regenerated with artificial_vectors (seed {art_seed}); the data "
             f"point of the sample whose radius is closest to the radius peak (row {int(perm[chosen])}, "
             f"radius {radii[chosen]:.2f}) in orange; the origin as a yellow star.", "correlations")

    # 6. PCA spectrum ---------------------------------------------------------------------------
    ratio = np.asarray(arr("pca_explained_variance_ratio")[...])
    fig = _fig(9, 5.5)
    ax = fig.add_subplot()
    idx = np.arange(1, z + 1)
    pos = ratio > 0
    ax.semilogy(idx[pos], ratio[pos], "o-", ms=3, label="explained variance ratio")
    ax.set(title=f"PCA explained-variance spectrum{tag}", xlabel="principal component",
           ylabel="explained variance ratio (log scale)")
    ax2 = ax.twinx()
    ax2.plot(idx, np.cumsum(ratio), color="tab:orange", lw=1, label="cumulative")
    ax2.set_ylabel("cumulative ratio")
    ax2.set_ylim(0, 1.02)
    ax.grid(alpha=0.3, which="both")
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, loc="center right")
    save(fig, "pca_spectrum.png", "PCA explained-variance spectrum",
         f"Share of the total variance along each principal component of all {n:,} vectors "
         f"(eigenvalues of the exact covariance), log scale; orange: cumulative share. "
         f"PC1 explains {ratio[0]:.1%}; the first 10 together {ratio[:10].sum():.1%}.", "pca")

    # 7. zoom series: PC pairs on pca_coordinates, and the most correlated original pair ------
    comps = np.asarray(arr("pca_components")[...])
    origin_pc = -(mean @ comps.T)  # where z = 0 lies in PCA coordinates
    ppairs = pc_pairs(z)
    bar = None
    if show_progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=2 * n, desc="zoom series", unit="rows", unit_scale=True, leave=False)
    pca_arr = arr("pca_coordinates")
    wins = zoom_series(pca_arr, ppairs, [(0.0, 0.0)] * len(ppairs), cap=max_zoom_points,
                       progress=bar.update if bar else None)
    for (a, b), ws in zip(ppairs, wins, strict=True):
        save(_zoom_figure(ws, f"PC{a + 1}", f"PC{b + 1}", (origin_pc[a], origin_pc[b]),
                           f"PCA scatter PC{a + 1}-PC{b + 1}{tag}"),
             f"pca_zoom_pc{a + 1}_pc{b + 1}.png", f"PCA scatter PC{a + 1}-PC{b + 1}, zoom series",
             _zoom_caption(ws, n, f"PCA coordinates PC{a + 1} and PC{b + 1} (centred on the data "
                                  "mean)", "the origin z = 0"), "pca")
    i, j, r = pairs[0]
    centre = (float(mean[i]), float(mean[j]))
    wins = zoom_series(latents, [(i, j)], [centre], cap=max_zoom_points,
                       progress=bar.update if bar else None)
    if bar:
        bar.close()
    save(_zoom_figure(wins[0], f"z{i}", f"z{j}", (0.0, 0.0),
                       f"Original axes z{i}-z{j} (r = {r:+.2f}){tag}"),
         f"axes_zoom_z{i}_z{j}.png", f"Original axes z{i}-z{j}, zoom series",
         _zoom_caption(wins[0], n, f"original components z{i} and z{j} (the most correlated pair, "
                                   f"r = {r:+.2f}); squares centred on their means "
                                   f"({centre[0]:+.2f}, {centre[1]:+.2f})", "the origin"), "pca")

    # 8. artificial vectors: radius distributions and share inside the cloud -----------------
    bs = np.asarray(arr("artificial_b")[...])
    ah = np.asarray(arr("artificial_radius_hist")[...])
    ae = np.asarray(arr("artificial_radius_edges")[...])
    dh = np.asarray(arr("artificial_radius_data_hist")[...])
    inside = np.asarray(arr("artificial_fraction_inside")[...])
    fig = _fig(13, 5.5)
    ax, axr = fig.subplots(1, 2, width_ratios=[1.6, 1])
    ax.stairs(dh / max(1, dh.sum()), ae, fill=True, alpha=0.5, color=DATA_COLOR, label="data")
    show_b = [k for k, b in enumerate(bs) if b in (0.5, 1.0, 1.5, 2.0, 4.0)] or list(range(min(5, len(bs))))
    for k in show_b:
        ax.stairs(ah[k] / max(1, ah[k].sum()), ae, lw=1.3, label=f"uniform b={bs[k]:g}")
    occupied = _occupied(dh + ah[show_b].sum(0), pad=2)
    ax.set_xlim(ae[occupied.start], ae[min(occupied.stop, len(ae) - 1)])
    ax.set(title=f"Radius of artificial uniform vectors vs the data{tag}", xlabel="radius ||z||",
           ylabel="share per bin (bin width 0.5)")
    ax.axvline(sqrt_z, color="k", ls="--", lw=1, label=f"sqrt(z_dim) = {sqrt_z:.1f}")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    axr.plot(bs, inside, "o-")
    axr.axvspan(1.0, 2.0, color="tab:green", alpha=0.12, label="study: 1.0 <= b <= 2.0")
    axr.axvline(summary["artificial_best_b"], color="tab:red", ls=":",
                label=f"best radius match b = {summary['artificial_best_b']:g}")
    axr.set(title="Share inside the data cloud", xlabel="half-width b of the uniform cube",
            ylabel="fraction inside (Mahalanobis < p99)", ylim=(-0.02, 1.02))
    axr.legend(fontsize=8)
    axr.grid(alpha=0.3)
    n_art = int(summary.get("params", {}).get("n_artificial", 0))
    save(fig, "artificial_vectors.png", "Artificial uniform vectors",
         f"Left: radius histograms (bin 0.5, normalised) of {n_art:,} artificial vectors uniform in "
         f"[-b, b]^{z}, beside the data's. Right: the share of artificial vectors inside the data "
         f"cloud per b ({summary['mahalanobis']['rule']}). Best radius match b = "
         f"{summary['artificial_best_b']:g} ({summary['artificial_rule']}).", "artificial")

    out.write_json(MANIFEST, manifest)
    return manifest


def _pair_legend() -> list[Line2D]:
    def mk(color: str, marker: str, label: str, size: float = 6, edge: str = "none") -> Line2D:
        return Line2D([], [], ls="none", marker=marker, color=color, ms=size, label=label,
                      mec=color if edge == "none" else edge, mew=2 if marker == "+" else 1)

    return [mk(DATA_COLOR, "o", "data"),
            *[mk(c, "+" if b > 2 else "o", f"uniform b={b:g}") for b, c in zip(ARTIFICIAL_B, ART_COLORS, strict=True)],
            mk(CHOSEN_COLOR, "o", "chosen data point", 9, "k"), mk(ORIGIN_COLOR, "*", "origin", 12, "k")]


def _zoom_figure(ws: list[_Window], xl: str, yl: str, origin: tuple[float, float],
                 title: str) -> Figure:
    fig = _fig(11, 10.4)
    axes = fig.subplots(2, 2).flat
    for k, (ax, w) in enumerate(zip(axes, ws, strict=True)):
        p = w.points()
        alpha = float(np.clip(30000 / max(1, len(p)), 0.15, 0.9))
        ax.plot(p[:, 0], p[:, 1], ".", ms=2 if len(p) > 20000 else 3, alpha=alpha,
                color=DATA_COLOR, rasterized=True, mec="none")
        cx, cy = w.centre
        if w.side is not None:
            h = w.side / 2
            ax.set_xlim(cx - h, cx + h)
            ax.set_ylim(cy - h, cy + h)
            what = f"square of side {w.side:g}"
        else:
            what = "whole cloud"
        ax.set_aspect("equal", adjustable="datalim" if w.side is None else "box")
        if k + 1 < len(ws) and ws[k + 1].side is not None:
            s = ws[k + 1].side
            ax.add_patch(Rectangle((cx - s / 2, cy - s / 2), s, s, fill=False, ec="tab:red", lw=1))
        x0, x1 = ax.get_xlim()
        y0, y1 = ax.get_ylim()
        if x0 <= origin[0] <= x1 and y0 <= origin[1] <= y1:
            ax.scatter([origin[0]], [origin[1]], s=70, marker="*", color=ORIGIN_COLOR,
                       edgecolor="k", zorder=5)
        thin = f", every {w.step}th" if w.step > 1 else ""
        ax.set_title(f"{what}: {w.seen:,} points{thin}", fontsize=10)
        ax.set(xlabel=xl, ylabel=yl)
    fig.suptitle(title)
    return fig


def _zoom_caption(ws: list[_Window], n: int, what: str, origin: str) -> str:
    parts = []
    for w in ws:
        lab = "whole cloud" if w.side is None else f"side {w.side:g}"
        parts.append(f"{lab}: {w.seen:,} points" + (f" (every {w.step}th drawn)" if w.step > 1 else ""))
    return (f"Scatter of all {n:,} vectors in {what}, read chunk by chunk; from the whole cloud to "
            f"centred squares of side 5, 1 and 0.5 (the red square marks the next zoom). "
            f"{'; '.join(parts)}. Small translucent markers so that filaments and voids show; "
            f"yellow star: {origin} where it lies in view.")


def draw_stats_figures(store_url: str, run: str, *, sample: int = 5000, seed: int = 0,
                       show_progress: bool = False) -> list[dict[str, Any]]:
    """Figures of runs/<run>/stats into runs/<run>/figures (manifest figures/stats.json)."""
    store = Store(store_url)
    stats_rel = Store.stats_rel(run)
    if not store.exists(f"{stats_rel}/complete.json"):  # summary.json alone may be stale
        raise StoreError(f"{store.join(stats_rel)} holds no complete statistics: run "
                         f"`zspace analyze --store {store_url} --run {run}` first")
    latents_rel = Store.latents_rel(run)
    latents = store.join(latents_rel) if store.exists(f"{latents_rel}/zarr.json") else None
    return draw_figures(store.join(stats_rel), store.join(f"{Store.run_rel(run)}/figures"), latents,
                        sample=sample, seed=seed, label=run, show_progress=show_progress)
