"""Our numbers beside the study's, one function per report section. The study's reference
numbers come from :mod:`zspace.study` (the blog series "Autoencoders and latent space
fragmentation" and "Variational Autoencoder with Tensorflow")."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from zspace import study
from zspace.tasks.report.html import esc, table

FINAL_KEYS = ("epoch", "loss", "val_loss", "reconstruction", "kl", "kl_share",
              "val_reconstruction", "val_kl", "images_per_s")
TRAIN_KEYS = ("dataset", "preset", "kind", "backend", "recon_sum", "epochs", "z_dim",
              "input_size", "n_train", "n_val", "model_fingerprint")


def final_loss(history: list[dict[str, Any]] | None, train: dict[str, Any] | None) -> dict[str, Any]:
    """The last epoch's losses (history.json), else the training record's."""
    last = history[-1] if history else {}
    return {k: last.get(k, (train or {}).get(k)) for k in FINAL_KEYS}


def _per_value(loss: float | None, train: dict[str, Any]) -> float | None:
    """A per-image loss as nats per pixel value, whatever the reconstruction convention:
    "pixels" sums the channel mean over H x W, "values" sums over H x W x 3."""
    size = train.get("input_size")
    if not size or loss is None:
        return None
    values = size * size * (1 if train.get("recon_sum", "values") == "pixels" else 3)
    return loss / values


def training_tables(info: dict[str, dict[str, Any]]) -> str:
    """Training records and final losses of each run, and the study's losses per image and
    per pixel value (so runs at other image sizes compare)."""
    runs = list(info)

    def cell(x: str, k: str) -> Any:
        v = info[x]["train"].get(k)
        return str(v)[:16] if k.endswith("fingerprint") and v else v

    rows = [[k, *[cell(x, k) for x in runs]] for k in TRAIN_KEYS]
    frows = [[k, *[info[x]["final"].get(k) for x in runs]]
             for k in ("epoch", "loss", "val_loss", "reconstruction", "kl", "kl_share",
                       "images_per_s")]
    frows.append(["loss per pixel value", *[_per_value(info[x]["final"].get("loss"),
                                                       info[x]["train"]) for x in runs]])
    size = study.INPUT_SIZE
    ref = table([f"study ({study.EPOCHS} epochs, {size}x{size}, channel-mean BCE summed over "
                 "pixels)", "loss per image", "per pixel value"],
                [[kind.upper(), loss, study.loss_per_value(loss)]
                 for kind, loss in study.LOSS_PER_IMAGE.items()])
    return "".join([
        "<h3>Training</h3>", table(["", *runs], rows),
        "<h3>Final losses (history.json, last epoch)</h3>", table(["", *runs], frows), ref,
        f'<p class="note">The study\'s losses are per image: Keras binary_crossentropy (the '
        f"mean over the 3 channels) summed over {size}x{size} pixels, plus {study.KL_FACT:g} x KL "
        "for the VAE. A run with recon_sum = pixels is in those units; the per-pixel-value row "
        "divides each run's loss by the values its convention sums, so runs at other image "
        "sizes or conventions compare.</p>"])


def components_table(sm: dict[str, Any]) -> str:
    """Dominant components, ours and the study's; medians over all components (np.median:
    the mean of the two middle values for an even z_dim)."""
    mean, hw, std = sm["mean"], sm["half_width"], sm["std"]
    dom = sm["dominant_components"]
    ours = table(["index", "mean mu", "half-width hw", "std"],
                 [[k, mean[k], hw[k], std[k]] for k in dom]) if dom else "<p>none</p>"
    ref = table(["index", "mu", "hw"],
                [[c.index, c.mu, c.half_width] for c in study.DOMINANT_COMPONENTS])
    med_mu, med_hw = float(np.median(mean)), float(np.median(hw))
    return (f"<p>{sm['n']:,} vectors, {sm['z_dim']} components; histograms with bin width "
            f"{sm['histogram']['bin_width']:g}. Median over components: mean {med_mu:+.3f}, "
            f"half-width {med_hw:.3f}. {len(dom)} dominant components ({esc(sm['dominant_rule'])}).</p>"
            f'<div class="cols"><div><h3>Ours: dominant components</h3>{ours}</div>'
            f"<div><h3>Study (reference AE, z_dim {study.Z_DIM})</h3>{ref}"
            '<p class="note">Indices depend on the trained model; only the pattern carries over.</p>'
            "</div></div>")


def radius_rows(sm: dict[str, Any]) -> list[list[Any]]:
    """[quantity, ours, study]: the peak over sqrt(z_dim) on both sides, each with its own z_dim."""
    r = sm["radius"]
    sqrt_z = math.sqrt(sm["z_dim"])
    ref_sqrt_z = math.sqrt(study.Z_DIM)
    return [["peak", r["peak"], study.RADIUS_PEAK],
            ["sqrt(z_dim)", sqrt_z, ref_sqrt_z],
            ["peak / sqrt(z_dim)", r["peak"] / sqrt_z, study.RADIUS_PEAK / ref_sqrt_z],
            ["mean", r["mean"], None], ["std", r["std"], None], ["min", r["min"], None],
            ["max", r["max"], study.RADIUS_MAX]]


def radius_table(sm: dict[str, Any]) -> str:
    return (table(["radius ||z||", f"ours (z_dim {sm['z_dim']})", f"study (z_dim {study.Z_DIM})"],
                  radius_rows(sm))
            + f'<p class="note">{esc(sm["radius"]["peak_rule"])}. Study: no points beyond '
            f"R ~ {study.RADIUS_MAX:g}.</p>")


def _pairs_table(sm: dict[str, Any], pairs: list[list[Any]], dom: set[int]) -> str:
    shown = pairs[:100]
    head = (f"<h3>Correlated pairs (|r| &gt; {sm['corr_threshold']:g})"
            + (f", strongest 100 of {len(pairs)}" if len(pairs) > 100 else "") + "</h3>")
    if not shown:
        return head + "<p>none</p>"
    return head + table(["i", "j", "r", "dominant"],
                        [[i, j, v, " & ".join(str(k) for k in (i, j) if k in dom) or ""]
                         for i, j, v in shown])


def correlations_table(sm: dict[str, Any]) -> str:
    """Pair counts per threshold and the headline numbers beside the study's subsample."""
    rows = [[f"> {t}", c, study.CORRELATION_COUNTS.get(t)]
            for t, c in sm["correlation_counts"].items()]
    pairs = sm["correlated_pairs"]
    strongest = max((abs(p[2]) for p in pairs), default=None)
    dom = set(sm["dominant_components"])
    sub = f"{study.CORRELATION_SUBSAMPLE:,}"
    headline = [[f"pairs with |r| > {sm['corr_threshold']:g}", len(pairs),
                 study.PAIRS_ABOVE_THRESHOLD if sm["corr_threshold"] == study.CORR_THRESHOLD
                 else None],
                ["strongest |r|", strongest, study.STRONGEST_R],
                ["pairs among dominant components",
                 sum(1 for i, j, _ in pairs if i in dom and j in dom), None]]
    out = [f"<p>Pearson correlations exact on all {sm['n']:,} vectors (the study: a {sub}-vector "
           "subsample, because of RAM).</p>",
           '<div class="cols"><div><h3>Pairs i&lt;j with |r| above</h3>',
           table(["|r|", f"ours (N = {sm['n']:,})", f"study ({sub})"], rows),
           "</div><div><h3>Headline</h3>", table(["", "ours", "study"], headline), "</div></div>",
           _pairs_table(sm, pairs, dom)]
    sl = sm.get("slice")
    if sl:
        out.append(f"<h3>Slice</h3><p>{sl['count']:,} vectors ({sl['fraction']:.2%}) have every "
                   f"component except z{sl['axes'][0]} and z{sl['axes'][1]} ({esc(sl['axes_rule'])}) "
                   f"below {sl['threshold']:g} in absolute value.</p>")
    return "".join(out)


def pca_table(sm: dict[str, Any]) -> str:
    ratio = sm["pca_explained_variance_ratio"]
    k = min(study.PCA_FLAT_AFTER, len(ratio))
    cum = np.cumsum(ratio[:k])
    rows = [[f"PC{i + 1}", ratio[i], float(cum[i])] for i in range(k)]
    dominant = {1: "one"}.get(study.PCA_DOMINANT_COMPONENTS, str(study.PCA_DOMINANT_COMPONENTS))
    return (f"<p>Study: {dominant} dominant component, the spectrum flat "
            f"after ~{study.PCA_FLAT_AFTER}.</p>"
            + table(["component", "explained variance ratio", "cumulative"], rows))


def artificial_table(sm: dict[str, Any]) -> str:
    best = sm["artificial_best_b"]
    lo, hi = study.B_RANGE
    rows, hl = [], set()
    for k, (b, row) in enumerate(sm["artificial"].items()):
        if float(b) == best:
            hl.add(k)
        rows.append([b, row["radius_mean"], row.get("radius_expected"), row["wasserstein"],
                     row["fraction_inside"]])
    return (f"<p>Each component uniform in [-b, b]. Best radius match: <b>b = {best:g}</b> "
            f"({esc(sm['artificial_rule'])}); mean radius within one std of the data's: b in "
            f"{esc(sm['artificial_matching_b'])}. Study: {lo:g} &lt;= b &lt;= {hi:g}.</p>"
            + table(["b", "mean radius", "expected b*sqrt(z/3)", "W1 to data radii",
                     "fraction inside the data cloud"], rows, hl)
            + f'<p class="note">{esc(sm["mahalanobis"]["rule"])}. Data radius mean '
            f"{sm['radius']['mean']:.2f}.</p>")
