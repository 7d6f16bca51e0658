"""How the statistics figures look: one DPI, fixed sizes, the colours the study used (data
blue, artificial points red, the chosen point orange, the origin yellow)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402

DPI = 100  # as tasks.common.figures.png_bytes saves
DATA_COLOR, ART_COLORS = "tab:blue", ("#f4a3a3", "#d62728")
CHOSEN_COLOR, ORIGIN_COLOR = "orange", "yellow"


def new_figure(w: float, h: float) -> Figure:
    """A figure of w x h inches at DPI, with constrained layout (no pyplot state)."""
    return Figure(figsize=(w, h), dpi=DPI, layout="constrained")


def size_px(fig: Figure) -> tuple[int, int]:
    w, h = (int(round(v * DPI)) for v in fig.get_size_inches())
    return w, h
