"""Figure helpers every stage shares: PNG bytes from matplotlib, image mosaics, labelled rows
of images, and the per-stage figure manifest the report reads."""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from zspace.storage import Store

# Report section id -> heading, in report order. A figure manifest entry's "section" is one of
# these ids (lower case); the report files every figure by it.
SECTIONS = {
    "findings": "Findings",
    "overview": "Run overview",
    "components": "Number distributions and dominant components",
    "meaning": "What the components encode",
    "radius": "Radius",
    "correlations": "Correlations",
    "pca": "PCA",
    "fragmentation": "Filaments and voids",
    "artificial": "Artificial vectors",
    "projections": "Projections (t-SNE)",
    "generation": "Generation",
    "reconstruction": "Reconstruction: AE vs VAE",
    "other": "Other figures",
    "missing": "Missing",
}

def to_uint8(images: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(np.asarray(images, dtype=np.float32) * 255.0), 0, 255).astype(np.uint8)


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend (no display), imported only when a figure is drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


_plt = pyplot  # the earlier private name, still imported by some stages


def png_bytes(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    pyplot().close(fig)
    return buf.getvalue()


def mosaic(images: np.ndarray, cols: int, pad: int = 1) -> np.ndarray:
    """Images (n, h, w, c) -> one uint8 image, rows of `cols`, white gaps."""
    x = images if images.dtype == np.uint8 else to_uint8(images)
    n, h, w, c = x.shape
    rows = max(1, -(-n // cols))
    out = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, c), 255, np.uint8)
    for i, im in enumerate(x):
        r, k = divmod(i, cols)
        out[pad + r * (h + pad): pad + r * (h + pad) + h, pad + k * (w + pad): pad + k * (w + pad) + w] = im
    return out


def grid_figure(panels: list[tuple[str, np.ndarray]], title: str, cols: int) -> bytes:
    """Side-by-side mosaics, one per (label, images)."""
    plt = _plt()
    mos = [(label, mosaic(im, cols)) for label, im in panels]
    h, w = mos[0][1].shape[:2]
    fig, axes = plt.subplots(1, len(mos), figsize=(min(7.0, 0.9 * cols + 0.5) * len(mos),
                                                   min(7.0, 0.9 * cols + 0.5) * h / w + 0.8),
                             squeeze=False)
    for ax, (label, im) in zip(axes[0], mos, strict=True):
        ax.imshow(im, interpolation="nearest")
        ax.set_title(label, fontsize=10)
        ax.axis("off")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return png_bytes(fig)


def rows_figure(rows: list[tuple[str, np.ndarray]], title: str) -> bytes:
    """One labelled row of images per (label, images)."""
    plt = _plt()
    n_cols = max(len(im) for _, im in rows)
    fig, axes = plt.subplots(len(rows), 1, figsize=(0.9 * n_cols + 1.6, 0.95 * len(rows) + 0.8),
                             squeeze=False)
    for ax, (label, im) in zip(axes[:, 0], rows, strict=True):
        ax.imshow(mosaic(im, n_cols), interpolation="nearest")
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        for s in ax.spines.values():
            s.set_visible(False)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return png_bytes(fig)


def write_manifest(store: Store, run: str, stage: str, entries: list[dict[str, str]]) -> str:
    """runs/<run>/figures/<stage>.json: the figures the report embeds, in order."""
    bad = sorted({str(e.get("section")) for e in entries} - SECTIONS.keys())
    if bad:
        raise ValueError(f"figure manifest {stage}: unknown report section(s) {bad}; "
                         f"use one of {list(SECTIONS)}")
    rel = store.run(run).manifest(stage)
    store.write_json(rel, entries)
    return rel
