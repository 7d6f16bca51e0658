"""The statistics figures, one draw function per figure, and the registry the report reads.

Each entry of :data:`FIGURES` is a :class:`StatsFigure` ``(id, section, title, draw)``: ``draw``
takes the :class:`FigureContext` (the summary, the stored arrays, the latents, the sampling
settings) and returns the :class:`Drawn` files of that figure, usually one (a figure drawn per
sample size or per axis pair returns several). ``section`` is a report section id from
:data:`zspace.tasks.common.figures.SECTIONS`. To add a figure, write ``draw_x(ctx) -> list[Drawn]``
and append ``StatsFigure("x", "<section>", "<title>", draw_x)`` to :data:`FIGURES`; the manifest,
the report and the freshness check pick it up.

Nothing here recomputes a statistic: histograms, radius histograms, the correlation matrix, the
PCA spectrum and coordinates are read from the stats folder; the latents are only read for
sampled scatter points and, chunk by chunk, for the zoom series in original axes. Artificial
points are regenerated with :func:`~zspace.tasks.analyze.artificial_vectors`, so they
are the vectors the analysis used.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from zspace import study
from zspace.storage import StatsLayout, Store, read_rows
from zspace.tasks.analyze import artificial_vectors
from zspace.tasks.report.style import ART_COLORS, CHOSEN_COLOR, DATA_COLOR, ORIGIN_COLOR, new_figure
from zspace.tasks.report.zoom import zoom_caption, zoom_figure, zoom_series

PC_PAIRS = study.PC_PAIRS  # PC1-PC2, PC1-PC18, PC8-PC35 (0-based)
SCATTER_SIZES = study.SCATTER_SIZES
ARTIFICIAL_B = study.ARTIFICIAL_B_SHOWN  # b of the scatter plots' artificial points
SHOWN_B = (0.5, 1.0, 1.5, 2.0, 4.0)  # b whose radius histograms the artificial figure draws


@dataclass(frozen=True)
class Drawn:
    """One figure file: its name, the matplotlib figure, its caption (and title, when the
    registry entry draws several files)."""

    file: str
    fig: Figure
    caption: str
    title: str | None = None


@dataclass(frozen=True)
class StatsFigure:
    """A registry entry: id, report section id, title, and the function that draws it."""

    id: str
    section: str
    title: str
    draw: Callable[[FigureContext], list[Drawn]]


@dataclass(frozen=True)
class PointSample:
    """Data vectors sampled at random (seed), and the one whose radius is nearest the peak."""

    rows: np.ndarray  # pts[k] is row rows[k] of the latents
    pts: np.ndarray
    radii: np.ndarray
    chosen: int


@dataclass
class FigureContext:
    """What the draw functions read: summary, stored arrays, latents, sampling settings."""

    stats: Store
    layout: StatsLayout
    summary: dict[str, Any]
    latents: Any  # the (N, z) zarr array the statistics were computed from
    sample: int = 5000
    seed: int = 0
    label: str = ""
    max_zoom_points: int = 200_000
    progress: Callable[[int], None] | None = None

    @property
    def n(self) -> int:
        return int(self.summary["n"])

    @property
    def z(self) -> int:
        return int(self.summary["z_dim"])

    @property
    def tag(self) -> str:
        return f" ({self.label})" if self.label else ""

    def array(self, name: str) -> np.ndarray:
        return np.asarray(self.open(name)[...])

    def open(self, name: str) -> Any:
        return self.stats.open_array(self.layout.array(name))

    @cached_property
    def hist(self) -> tuple[np.ndarray, np.ndarray, slice]:
        """Component histograms, bin centres and the occupied range of bins."""
        counts = self.array("histogram_counts")
        sl = occupied(counts.sum(0))
        return counts, centres(self.array("histogram_edges"))[sl], sl

    @cached_property
    def pairs(self) -> list[tuple[int, int, float]]:
        return top_pairs(self.array("correlation"), study.SCATTER_PAIRS)

    @cached_property
    def points(self) -> PointSample:
        rng = np.random.default_rng(self.seed)
        m = min(self.sample, self.n)
        perm = rng.permutation(self.n)[:m]
        order = np.argsort(perm)
        pts = np.empty((m, self.z))
        pts[order] = read_rows(self.latents, perm[order])
        radii = np.linalg.norm(pts, axis=1)
        chosen = int(np.argmin(np.abs(radii - self.summary["radius"]["peak"])))
        return PointSample(perm, pts, radii, chosen)


# -- helpers -------------------------------------------------------------------------------
def centres(edges: np.ndarray) -> np.ndarray:
    return (edges[:-1] + edges[1:]) / 2


def occupied(counts: np.ndarray, pad: int = 2) -> slice:
    """The bins from the first to the last non-empty one, with pad bins either side."""
    nz = np.flatnonzero(counts)
    if not len(nz):
        return slice(0, len(counts))
    return slice(max(0, nz[0] - pad), min(len(counts), nz[-1] + 1 + pad))


def top_pairs(corr: np.ndarray, k: int = study.SCATTER_PAIRS) -> list[tuple[int, int, float]]:
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


# -- components ------------------------------------------------------------------------------
def draw_components_overlay(ctx: FigureContext) -> list[Drawn]:
    counts, x, sl = ctx.hist
    width = float(ctx.summary["histogram"]["bin_width"])
    fig = new_figure(10, 6)
    ax = fig.add_subplot()
    cmap = matplotlib.colormaps["viridis"]
    for k in range(ctx.z):
        ax.plot(x, counts[k, sl], lw=0.6, alpha=0.55, color=cmap(k / max(1, ctx.z - 1)))
    ax.set(title=f"Number distributions of all {ctx.z} components{ctx.tag}",
           xlabel="component value z_k", ylabel=f"vectors per bin (bin width {width:g})")
    ax.grid(alpha=0.3)
    return [Drawn("components_overlay.png", fig,
                  f"Histogram of every one of the {ctx.z} latent components over all {ctx.n:,} "
                  f"vectors, bin width {width:g}, one line per component (colour runs with the "
                  "index). Most components are near-Gaussian around 0; the dominant ones stand "
                  "out by their shift or width.")]


def _shown_components(sm: dict[str, Any]) -> tuple[list[int], str]:
    """The dominant components, or the 5 most unusual ones when none passes the rule."""
    if sm["dominant_components"]:
        return list(sm["dominant_components"]), f"the dominant components ({sm['dominant_rule']})"
    mean, hw = np.asarray(sm["mean"]), np.asarray(sm["half_width"])
    score = np.abs(mean - np.median(mean)) + np.abs(hw - np.median(hw))
    return ([int(k) for k in np.argsort(-score)[:5]],
            "no component passes the dominant rule; shown instead: the 5 with the largest "
            "|mean - median mean| + |half_width - median half_width|")


def draw_dominant_components(ctx: FigureContext) -> list[Drawn]:
    counts, x, sl = ctx.hist
    mean, hw = ctx.summary["mean"], ctx.summary["half_width"]
    width = float(ctx.summary["histogram"]["bin_width"])
    shown, why = _shown_components(ctx.summary)
    fig = new_figure(10, 6)
    ax = fig.add_subplot()
    ax.plot(x, np.median(counts[:, sl], axis=0), color="0.6", lw=2, ls="--",
            label="median of all components")
    for k in shown[:20]:
        ax.plot(x, counts[k, sl], lw=1.4, label=f"{k}: mu={mean[k]:+.2f}, hw={hw[k]:.2f}")
    ax.set(title=f"Dominant components{ctx.tag}", xlabel="component value z_k",
           ylabel=f"vectors per bin (bin width {width:g})")
    ax.legend(fontsize=8, ncols=2 if len(shown) > 10 else 1, title="index: mean, half-width")
    ax.grid(alpha=0.3)
    return [Drawn("dominant_components.png", fig,
                  f"Histograms (bin width {width:g}) of {why}"
                  + (f"; the first 20 of {len(shown)}" if len(shown) > 20 else "")
                  + ". Legend: index, mean mu, half-width hw (FWHM). Dashed grey: the bin-wise "
                  "median over all components, for scale.")]


# -- radius ----------------------------------------------------------------------------------
def _radius_figure(ctx: FigureContext, kind: str, bw: float) -> Drawn:
    rad = ctx.summary["radius"]
    sqrt_z = math.sqrt(ctx.z)
    h, e = ctx.array(f"radius_hist_{kind}"), ctx.array(f"radius_edges_{kind}")
    s = occupied(h, pad=3)
    fig = new_figure(9, 5.5)
    ax = fig.add_subplot()
    ax.stairs(h[s], e[s.start : s.stop + 1], fill=True, alpha=0.6, color=DATA_COLOR,
              label=f"{ctx.n:,} vectors")
    ax.axvline(sqrt_z, color="k", ls="--", label=f"sqrt(z_dim) = {sqrt_z:.2f}")
    peak = rad["peak"] if kind == "fine" else rad["peak_coarse"]
    ax.axvline(peak, color="tab:red", ls=":", lw=2, label=f"peak = {peak:.2f}")
    ax.set(title=f"Radius ||z|| distribution, bin width {bw:g}{ctx.tag}", xlabel="radius ||z||",
           ylabel=f"vectors per bin (bin width {bw:g})")
    ax.legend()
    ax.grid(alpha=0.3)
    return Drawn(f"radius_{kind}.png", fig,
                 f"Histogram of the L2 norm of all {ctx.n:,} latent vectors, bin width {bw:g} "
                 f"from 0. Dashed: sqrt(z_dim) = {sqrt_z:.2f}, the expectation for independent "
                 f"unit Gaussians; dotted: the peak ({rad['peak_rule']}). Mean {rad['mean']:.2f}, "
                 f"std {rad['std']:.2f}, max {rad['max']:.2f}.",
                 f"Radius distribution (bin {bw:g})")


def draw_radius(ctx: FigureContext) -> list[Drawn]:
    coarse, fine = study.RADIUS_BIN_WIDTHS
    return [_radius_figure(ctx, "coarse", coarse), _radius_figure(ctx, "fine", fine)]


# -- correlations ----------------------------------------------------------------------------
def draw_correlation_heatmap(ctx: FigureContext) -> list[Drawn]:
    fig = new_figure(9, 8)
    ax = fig.add_subplot()
    im = ax.imshow(ctx.array("correlation"), cmap="RdBu_r", vmin=-1, vmax=1,
                   interpolation="nearest")
    fig.colorbar(im, ax=ax, shrink=0.85, label="Pearson r")
    ax.set(title=f"Correlation matrix of the {ctx.z} components{ctx.tag}", xlabel="component j",
           ylabel="component i")
    return [Drawn("correlation_heatmap.png", fig,
                  f"Pearson correlation r_ij of all component pairs, exact on all {ctx.n:,} "
                  "vectors (zero-variance components are shown as 0). The diagonal is 1.")]


def _pair_legend() -> list[Line2D]:
    def mk(color: str, marker: str, label: str, size: float = 6, edge: str = "none") -> Line2D:
        return Line2D([], [], ls="none", marker=marker, color=color, ms=size, label=label,
                      mec=color if edge == "none" else edge, mew=2 if marker == "+" else 1)

    return [mk(DATA_COLOR, "o", "data"),
            *[mk(c, "+" if b > 2 else "o", f"uniform b={b:g}")
              for b, c in zip(ARTIFICIAL_B, ART_COLORS, strict=True)],
            mk(CHOSEN_COLOR, "o", "chosen data point", 9, "k"),
            mk(ORIGIN_COLOR, "*", "origin", 12, "k")]


def _pair_panel(ax: Any, i: int, j: int, r: float, d: np.ndarray, arts: list[np.ndarray],
                chosen: np.ndarray) -> None:
    for b, a, c in zip(ARTIFICIAL_B, arts, ART_COLORS, strict=True):
        ax.scatter(a[:, i], a[:, j], s=3, color=c, alpha=0.6, marker="+" if b > 2 else ".",
                   label=f"uniform b={b:g}", rasterized=True)
    ax.scatter(d[:, i], d[:, j], s=2 if len(d) > 1000 else 5, color=DATA_COLOR, alpha=0.4,
               label="data", rasterized=True)
    ax.scatter([chosen[i]], [chosen[j]], s=60, color=CHOSEN_COLOR, edgecolor="k", zorder=5,
               label="chosen data point")
    ax.scatter([0], [0], s=60, color=ORIGIN_COLOR, edgecolor="k", marker="*", zorder=6,
               label="origin")
    ax.set_title(f"z{i} vs z{j}, r = {r:+.2f}", fontsize=9)
    ax.set_xlabel(f"z{i}", fontsize=8)
    ax.set_ylabel(f"z{j}", fontsize=8)
    ax.tick_params(labelsize=7)


def _pairs_figure(ctx: FigureContext, size: int) -> Drawn:
    pairs, p = ctx.pairs, ctx.points
    art_seed = int(ctx.summary.get("params", {}).get("seed", 0))
    n_art = min(size, 1000)
    arts = [artificial_vectors(ctx.z, b, n_art, art_seed) for b in ARTIFICIAL_B]
    ncols = min(4, len(pairs))
    nrows = math.ceil(len(pairs) / ncols)
    fig = new_figure(3.6 * ncols, 3.4 * nrows + 0.6)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax, (i, j, r) in zip(axes.flat, pairs, strict=False):
        _pair_panel(ax, i, j, r, p.pts[:size], arts, p.pts[p.chosen])
    for ax in list(axes.flat)[len(pairs):]:
        ax.set_visible(False)
    fig.legend(handles=_pair_legend(), loc="outside lower center", ncols=5, fontsize=9)
    fig.suptitle(f"The {len(pairs)} most correlated component pairs, {size:,} data points{ctx.tag}")
    (b_hi, b_lo), z = ARTIFICIAL_B, ctx.z
    return Drawn(
        f"correlated_pairs_{size}.png", fig,
        f"Scatter of the {len(pairs)} component pairs with the largest |r| (from the stored "
        f"correlation matrix): {size:,} data vectors sampled at random (seed {ctx.seed}) in blue; "
        f"{n_art:,} artificial vectors uniform in [-b, b]^{z} for b = {b_hi:.1f} (light red +) "
        f"and b = {b_lo:.1f} (red), regenerated with artificial_vectors (seed {art_seed}); the "
        f"data point of the sample whose radius is closest to the radius peak (row "
        f"{int(p.rows[p.chosen])}, radius {p.radii[p.chosen]:.2f}) in orange; the origin as a "
        "yellow star.", f"Most correlated pairs, {size:,} points")


def draw_correlated_pairs(ctx: FigureContext) -> list[Drawn]:
    """One scatter grid per sample size (the sample, and the study's sizes not above it)."""
    m = min(ctx.sample, ctx.n)
    sizes = sorted({min(s, m) for s in (ctx.sample, *SCATTER_SIZES) if s <= ctx.sample},
                   reverse=True)
    return [_pairs_figure(ctx, size) for size in sizes]


# -- PCA -------------------------------------------------------------------------------------
def draw_pca_spectrum(ctx: FigureContext) -> list[Drawn]:
    ratio = ctx.array("pca_explained_variance_ratio")
    fig = new_figure(9, 5.5)
    ax = fig.add_subplot()
    idx = np.arange(1, ctx.z + 1)
    pos = ratio > 0
    ax.semilogy(idx[pos], ratio[pos], "o-", ms=3, label="explained variance ratio")
    ax.set(title=f"PCA explained-variance spectrum{ctx.tag}", xlabel="principal component",
           ylabel="explained variance ratio (log scale)")
    ax2 = ax.twinx()
    ax2.plot(idx, np.cumsum(ratio), color="tab:orange", lw=1, label="cumulative")
    ax2.set_ylabel("cumulative ratio")
    ax2.set_ylim(0, 1.02)
    ax.grid(alpha=0.3, which="both")
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, loc="center right")
    return [Drawn("pca_spectrum.png", fig,
                  f"Share of the total variance along each principal component of all {ctx.n:,} "
                  "vectors (eigenvalues of the exact covariance), log scale; orange: cumulative "
                  f"share. PC1 explains {ratio[0]:.1%}; the first 10 together "
                  f"{ratio[:10].sum():.1%}.")]


def draw_pca_zoom(ctx: FigureContext) -> list[Drawn]:
    """Zoom series of the study's PC pairs, on the stored PCA coordinates."""
    mean = np.asarray(ctx.summary["mean"])
    origin_pc = -(mean @ ctx.array("pca_components").T)  # where z = 0 lies in PCA coordinates
    ppairs = pc_pairs(ctx.z)
    wins = zoom_series(ctx.open("pca_coordinates"), ppairs, [(0.0, 0.0)] * len(ppairs),
                       cap=ctx.max_zoom_points, progress=ctx.progress)
    out = []
    for (a, b), ws in zip(ppairs, wins, strict=True):
        pa, pb = f"PC{a + 1}", f"PC{b + 1}"
        fig = zoom_figure(ws, pa, pb, (origin_pc[a], origin_pc[b]),
                          f"PCA scatter {pa}-{pb}{ctx.tag}")
        caption = zoom_caption(ws, ctx.n, f"PCA coordinates {pa} and {pb} (centred on the data "
                                          "mean)", "the origin z = 0")
        out.append(Drawn(f"pca_zoom_pc{a + 1}_pc{b + 1}.png", fig, caption,
                         f"PCA scatter {pa}-{pb}, zoom series"))
    return out


def draw_axes_zoom(ctx: FigureContext) -> list[Drawn]:
    """Zoom series of the most correlated pair in original axes, centred on their means."""
    i, j, r = ctx.pairs[0]
    mean = ctx.summary["mean"]
    centre = (float(mean[i]), float(mean[j]))
    (ws,) = zoom_series(ctx.latents, [(i, j)], [centre], cap=ctx.max_zoom_points,
                        progress=ctx.progress)
    fig = zoom_figure(ws, f"z{i}", f"z{j}", (0.0, 0.0),
                      f"Original axes z{i}-z{j} (r = {r:+.2f}){ctx.tag}")
    caption = zoom_caption(ws, ctx.n, f"original components z{i} and z{j} (the most correlated "
                                      f"pair, r = {r:+.2f}); squares centred on their means "
                                      f"({centre[0]:+.2f}, {centre[1]:+.2f})", "the origin")
    return [Drawn(f"axes_zoom_z{i}_z{j}.png", fig, caption, f"Original axes z{i}-z{j}, zoom series")]


# -- artificial vectors ----------------------------------------------------------------------
def _radius_panel(ctx: FigureContext, ax: Any, bs: np.ndarray) -> None:
    ah, ae = ctx.array("artificial_radius_hist"), ctx.array("artificial_radius_edges")
    dh = ctx.array("artificial_radius_data_hist")
    ax.stairs(dh / max(1, dh.sum()), ae, fill=True, alpha=0.5, color=DATA_COLOR, label="data")
    show_b = [k for k, b in enumerate(bs) if b in SHOWN_B] or list(range(min(5, len(bs))))
    for k in show_b:
        ax.stairs(ah[k] / max(1, ah[k].sum()), ae, lw=1.3, label=f"uniform b={bs[k]:g}")
    used = occupied(dh + ah[show_b].sum(0), pad=2)
    ax.set_xlim(ae[used.start], ae[min(used.stop, len(ae) - 1)])
    ax.set(title=f"Radius of artificial uniform vectors vs the data{ctx.tag}",
           xlabel="radius ||z||", ylabel="share per bin (bin width 0.5)")
    sqrt_z = math.sqrt(ctx.z)
    ax.axvline(sqrt_z, color="k", ls="--", lw=1, label=f"sqrt(z_dim) = {sqrt_z:.1f}")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)


def draw_artificial_vectors(ctx: FigureContext) -> list[Drawn]:
    sm = ctx.summary
    bs = ctx.array("artificial_b")
    fig = new_figure(13, 5.5)
    ax, axr = fig.subplots(1, 2, width_ratios=[1.6, 1])
    _radius_panel(ctx, ax, bs)
    axr.plot(bs, ctx.array("artificial_fraction_inside"), "o-")
    lo, hi = study.B_RANGE
    axr.axvspan(lo, hi, color="tab:green", alpha=0.12, label=f"study: {lo} <= b <= {hi}")
    axr.axvline(sm["artificial_best_b"], color="tab:red", ls=":",
                label=f"best radius match b = {sm['artificial_best_b']:g}")
    axr.set(title="Share inside the data cloud", xlabel="half-width b of the uniform cube",
            ylabel="fraction inside (Mahalanobis < p99)", ylim=(-0.02, 1.02))
    axr.legend(fontsize=8)
    axr.grid(alpha=0.3)
    n_art = int(sm.get("params", {}).get("n_artificial", 0))
    return [Drawn("artificial_vectors.png", fig,
                  f"Left: radius histograms (bin 0.5, normalised) of {n_art:,} artificial vectors "
                  f"uniform in [-b, b]^{ctx.z}, beside the data's. Right: the share of artificial "
                  f"vectors inside the data cloud per b ({sm['mahalanobis']['rule']}). Best radius "
                  f"match b = {sm['artificial_best_b']:g} ({sm['artificial_rule']}).")]


FIGURES: list[StatsFigure] = [
    StatsFigure("components_overlay", "components", "Number distributions of all components",
                draw_components_overlay),
    StatsFigure("dominant_components", "components", "Dominant components",
                draw_dominant_components),
    StatsFigure("radius", "radius", "Radius distribution", draw_radius),
    StatsFigure("correlation_heatmap", "correlations", "Correlation matrix",
                draw_correlation_heatmap),
    StatsFigure("correlated_pairs", "correlations", "Most correlated pairs",
                draw_correlated_pairs),
    StatsFigure("pca_spectrum", "pca", "PCA explained-variance spectrum", draw_pca_spectrum),
    StatsFigure("pca_zoom", "pca", "PCA scatter, zoom series", draw_pca_zoom),
    StatsFigure("axes_zoom", "pca", "Original axes, zoom series", draw_axes_zoom),
    StatsFigure("artificial_vectors", "artificial", "Artificial uniform vectors",
                draw_artificial_vectors),
]
