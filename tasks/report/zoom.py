"""Zoom series: every one of the N points of an axis pair, from the whole cloud down to small
squares, where the filaments and voids of "Autoencoders and latent space fragmentation" show.

One chunk-wise pass over the rows collects, per pair, the points inside each window; a window
that would hold too many keeps every step-th point (deterministically), so memory is bounded.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from zspace import study
from zspace.storage import row_ranges
from zspace.tasks.report.style import DATA_COLOR, ORIGIN_COLOR, new_figure

ZOOM_SIDES: tuple[float | None, ...] = study.ZOOM_SIDES  # None: the whole cloud
MAX_ZOOM_POINTS = 200_000  # per panel; beyond this every k-th point inside the window is drawn


class Window:
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
                progress: Callable[[int], None] | None = None) -> list[list[Window]]:
    """One chunk-wise pass over all N rows of arr: for each pair, the points in each window."""
    wins = [[Window(c, s, cap) for s in sides] for c in centres]
    cols = sorted({k for p in pairs for k in p})
    pos = {k: i for i, k in enumerate(cols)}
    for a, b in row_ranges(arr):  # whole chunks, ~8 MB a block
        block = np.asarray(arr[a:b])[:, cols]
        for p, ws in zip(pairs, wins, strict=True):
            xy = block[:, [pos[p[0]], pos[p[1]]]]
            for w in ws:
                w.add(xy)
        if progress:
            progress(b - a)
    return wins


def _panel(ax: Any, w: Window, next_side: float | None, origin: tuple[float, float],
           xl: str, yl: str) -> None:
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
    if next_side is not None:
        s = next_side
        ax.add_patch(Rectangle((cx - s / 2, cy - s / 2), s, s, fill=False, ec="tab:red", lw=1))
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    if x0 <= origin[0] <= x1 and y0 <= origin[1] <= y1:
        ax.scatter([origin[0]], [origin[1]], s=70, marker="*", color=ORIGIN_COLOR,
                   edgecolor="k", zorder=5)
    thin = f", every {w.step}th" if w.step > 1 else ""
    ax.set_title(f"{what}: {w.seen:,} points{thin}", fontsize=10)
    ax.set(xlabel=xl, ylabel=yl)


def zoom_figure(ws: list[Window], xl: str, yl: str, origin: tuple[float, float],
                title: str) -> Figure:
    """2 x 2 panels, whole cloud to the smallest square; a red square marks the next zoom."""
    fig = new_figure(11, 10.4)
    axes = fig.subplots(2, 2).flat
    for k, (ax, w) in enumerate(zip(axes, ws, strict=True)):
        _panel(ax, w, ws[k + 1].side if k + 1 < len(ws) else None, origin, xl, yl)
    fig.suptitle(title)
    return fig


def zoom_caption(ws: list[Window], n: int, what: str, origin: str) -> str:
    parts = []
    for w in ws:
        lab = "whole cloud" if w.side is None else f"side {w.side:g}"
        parts.append(f"{lab}: {w.seen:,} points" + (f" (every {w.step}th drawn)" if w.step > 1 else ""))
    return (f"Scatter of all {n:,} vectors in {what}, read chunk by chunk; from the whole cloud to "
            f"centred squares of side 5, 1 and 0.5 (the red square marks the next zoom). "
            f"{'; '.join(parts)}. Small translucent markers so that filaments and voids show; "
            f"yellow star: {origin} where it lies in view.")
