"""The generation stage's figures, one function each in FIGURES (file, title, caption, PNG).

Adding a figure: a function `(g: Generated) -> list[Figure]` appended to FIGURES; the stage
writes them and lists them in figures/generate.json (report section "generation")."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from zspace.tasks.common.figures import grid_figure, png_bytes, pyplot, rows_figure
from zspace.tasks.generate.params import SamplerParams
from zspace.tasks.generate.samplers import describe, r_limit_of
from zspace.tasks.generate.scoring import sharpen


@dataclass
class Generated:
    """What the figures draw from: decoded and sharpened images and the scores per sampler."""

    run: str
    params: SamplerParams
    names: list[str]
    decoded: dict[str, np.ndarray]
    sharp: dict[str, np.ndarray]
    scores: dict[str, dict[str, Any]]
    ref_sharpness: float
    jitter: float
    placement: dict[str, Any] = field(default_factory=dict)

    @property
    def uniform(self) -> list[str]:
        """The samplers drawn once per r_limit (the registry's per_r_limit entries)."""
        return [n for n in self.names if r_limit_of(n) is not None]

    @property
    def single(self) -> list[str]:
        """The samplers drawn once (N(0, I), the fitted Gaussian, any added one)."""
        return [n for n in self.names if r_limit_of(n) is None]


@dataclass
class Figure:
    file: str
    png: bytes
    title: str
    caption: str


def sampler_grids(g: Generated) -> list[Figure]:
    f, out = g.params.sharpen_factor, []
    for name in g.names:
        s = g.scores[name]
        png = grid_figure([("decoded", g.decoded[name]), (f"sharpened, factor {f:g}", g.sharp[name])],
                          f"{g.run}: decoded {name}", g.params.grid_cols)
        out.append(Figure(
            f"gen_{name}.png", png, f"Decoded: {name}",
            f"{g.params.n_images} images decoded from {describe(name, g.jitter)}, seed {g.params.seed}; "
            f"right: PIL ImageEnhance.Sharpness factor {f:g}. Realism {s['realism']:.2f} "
            f"(sharpened {s['realism_sharpened']:.2f}; 0-1, the model's reconstructions ~0.5); "
            f"Laplacian variance {s['sharpness']:.2e} (sharpened "
            f"{s['sharpness_sharpened']:.2e}); nearest z_mean {s['latent_nn']:.2f}; nearest "
            f"training image RMS {s['pixel_nn']:.3f} (a blurred average is near everything)."))
    return out


def uniform_overview(g: Generated) -> list[Figure]:
    k = min(g.params.grid_cols, g.params.n_images)
    png = rows_figure([(f"r_limit {g.scores[n]['r_limit']:g}", g.decoded[n][:k]) for n in g.uniform],
                      f"{g.run}: decoded uniform z by r_limit")
    return [Figure("gen_uniform_overview.png", png, "Decoded uniform z by r_limit",
                   f"The first {k} decoded images per r_limit (components uniform in [-r_limit, "
                   "r_limit]): quality falls with distance from the origin.")]


def sharpen_compare(g: Generated) -> list[Figure]:
    k, src = min(g.params.grid_cols, g.params.n_images), "gaussian-fit"
    rows = [("original", g.decoded[src][:k])] + [
        (f"factor {c:g}", sharpen(g.decoded[src][:k], c)) for c in g.params.compare_factors]
    return [Figure("gen_sharpen_compare.png", rows_figure(rows, f"{g.run}: sharpness factors"),
                   "Sharpening factors compared",
                   f"The first {k} images decoded from the fitted Gaussian, through PIL "
                   "ImageEnhance.Sharpness at factors "
                   f"{', '.join(f'{c:g}' for c in g.params.compare_factors)} (1 = unchanged, "
                   "0 = blurred).")]


PANELS = (("realism", "realism_sharpened", "realism (among the model's reconstructions)"),
          ("sharpness", "sharpness_sharpened", "variance of the Laplacian"),
          ("latent_nn", None, "distance to nearest training z_mean"),
          ("pixel_nn", "pixel_nn_sharpened", "RMS distance to nearest training image (secondary)"))


def _score_panel(ax: Any, g: Generated, key: str, key_s: str | None, label: str) -> None:
    r = [g.scores[n]["r_limit"] for n in g.uniform]
    ax.plot(r, [g.scores[n][key] for n in g.uniform], "o-", color="C0", label="uniform z")
    if key_s:
        ax.plot(r, [g.scores[n][key_s] for n in g.uniform], "s--", color="C0", alpha=0.6,
                label=f"uniform z, sharpened {g.params.sharpen_factor:g}")
    for i, other in enumerate(g.single):
        colour = f"C{i + 1}"
        ax.axhline(g.scores[other][key], color=colour, label=other)
        if key_s:
            ax.axhline(g.scores[other][key_s], color=colour, ls="--", alpha=0.6)
    if key == "sharpness":
        ax.axhline(g.ref_sharpness, color="k", ls=":", label="training images")
    ax.set_xscale("log")
    ax.set_xticks(r, [f"{x:g}" for x in r], minor=False)
    ax.set_xticks([], minor=True)
    ax.set_xlabel("r_limit")
    ax.set_ylabel(label, fontsize=8)
    ax.grid(alpha=0.3)


def scores_against_r_limit(g: Generated) -> list[Figure]:
    fig, axes = pyplot().subplots(1, len(PANELS), figsize=(5 * len(PANELS), 4.4))
    for ax, (key, key_s, label) in zip(axes, PANELS, strict=True):
        _score_panel(ax, g, key, key_s, label)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"{g.run}: decoded samples scored against r_limit")
    fig.tight_layout()
    return [Figure("gen_scores.png", png_bytes(fig), "Sample scores against r_limit",
                   f"Per sampler ({g.params.n_images} images each): realism (a conformal p-value "
                   "among the model's reconstructions of held-out images by the re-encoded "
                   "Mahalanobis distance, the re-encoding error and the contrast; ~0.5 = as "
                   "face-like as a reconstruction) and the variance of the Laplacian, each before "
                   f"(solid) and after (dashed) sharpening with factor {g.params.sharpen_factor:g}, the distance of z "
                   "to the nearest training z_mean, and, secondary, the RMS pixel distance to the "
                   "nearest training image (a blurred average face is close to everything). "
                   "Lines: N(0, I) and the fitted Gaussian; dotted: the training images.")]


def probe_placement(g: Generated) -> list[Figure]:
    if not g.placement:
        return []
    fig, ax = pyplot().subplots(figsize=(max(6, 0.7 * len(g.names) + 2), 4))
    x = np.arange(len(g.names))
    parts = (("on_data", "on the data", "C2"), ("in_void", "in a void (inside the region)", "C1"),
             ("outside_region", "outside the data's region", "C3"))
    bottom = np.zeros(len(g.names))
    for key, label, colour in parts:
        v = np.array([g.scores[n]["placement"][key] for n in g.names])
        ax.bar(x, v, bottom=bottom, color=colour, label=label)
        bottom += v
    ax.plot(x, [g.scores[n]["realism"] for n in g.names], "ko-", label="realism")
    ax.set_xticks(x, g.names, rotation=45, ha="right", fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=7)
    ax.set_title(f"{g.run}: where the probe z-points lie, and how data-like they decode")
    fig.tight_layout()
    return [Figure("gen_placement.png", png_bytes(fig), "Voids or outside the data?",
                   f"Why random z-points fail: {g.placement['answer']}. Rule: {g.placement['rule']}.")]


FIGURES: list[Callable[[Generated], list[Figure]]] = [
    sampler_grids, uniform_overview, sharpen_compare, scores_against_r_limit, probe_placement]
