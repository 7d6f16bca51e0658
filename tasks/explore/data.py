"""What the explorer holds in memory for one run: z_mean, the 2-D maps, the colourings, the
principal axes, a nearest-neighbour index and the decoder, read once through the store layout."""

from __future__ import annotations

import contextlib
import io
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from zspace.storage import (
    Store,
    StoreError,
    attribute_table,
    factor_table,
    is_complete,
    read_array,
)
from zspace.tasks.common.figures import mosaic, to_uint8
from zspace.tasks.common.runs import current_latents, current_stats_record, load_run_model

N_NEIGHBOURS = 8
SLIDER_STD = 3.0  # sliders span +-3 standard deviations along their axis
MAX_PCS = 8  # principal-component sliders shown


class ExploreError(ValueError):
    """Bad input from the page (an index out of range, an unknown colouring): HTTP 422."""


@dataclass
class LatentMap:
    """A 2-D map: coordinates (n, 2) of the latent rows `rows` (n,)."""

    name: str
    label: str
    coordinates: np.ndarray
    rows: np.ndarray

    def binary(self) -> bytes:
        """float32 x,y pairs then int32 rows, little-endian: one fetch, one ArrayBuffer."""
        xy = np.ascontiguousarray(self.coordinates, dtype="<f4").tobytes()
        return xy + np.ascontiguousarray(self.rows, dtype="<i4").tobytes()


@dataclass
class RunData:
    """One run, loaded: everything the page asks for is answered from here."""

    run: str
    dataset: str
    z_mean: np.ndarray
    images: Any  # the dataset's zarr images array, read row by row on demand
    mean: np.ndarray
    std: np.ndarray
    pca_components: np.ndarray
    pca_eigenvalues: np.ndarray
    dominant_components: list[int]
    maps: dict[str, LatentMap]
    colourings: dict[str, np.ndarray]
    model: Any
    neighbours: Any
    decode_ms: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def n(self) -> int:
        return int(self.z_mean.shape[0])

    def row(self, index: int) -> int:
        if not 0 <= int(index) < self.n:
            raise ExploreError(f"index {index} is out of range: run {self.run!r} has "
                               f"{self.n} encoded images (0..{self.n - 1})")
        return int(index)

    def decode(self, z: np.ndarray) -> np.ndarray:
        """uint8 images (k, H, W, C) from latent vectors (k, z_dim); one model call at a time."""
        with self.lock:
            return to_uint8(self.model.decode(np.asarray(z, np.float32), 256))


def _float_table(table: dict[str, np.ndarray], n: int, prefix: str) -> dict[str, np.ndarray]:
    out = {}
    for name, values in sorted(table.items()):
        try:
            v = np.asarray(values, dtype=np.float32)
        except (TypeError, ValueError):
            continue  # a text column cannot colour a map
        if len(v) == n and np.isfinite(v).any():
            out[f"{prefix}:{name}"] = v
    return out


def colourings(store: Store, dataset: str, z: np.ndarray, dominant: list[int]
               ) -> dict[str, np.ndarray]:
    """Per-row values to colour the map by: radius, dominant components, factors, attributes."""
    out = {"radius": np.linalg.norm(z, axis=1).astype(np.float32)}
    for j in dominant:
        out[f"component:{j}"] = z[:, j].astype(np.float32)
    for reader, prefix in ((factor_table, "factor"), (attribute_table, "attribute")):
        # a dataset without an index or without such columns: nothing to add
        with contextlib.suppress(StoreError, FileNotFoundError, KeyError, ValueError):
            out.update(_float_table(reader(store, dataset), len(z), prefix))
    return out


def _complete(store: Store, rel: str) -> bool:
    return store.has_array(rel) and is_complete(store.open_array(rel))


def latent_maps(store: Store, run: str, n: int) -> dict[str, LatentMap]:
    """Every finished t-SNE projection of the run, then PCA PC1-PC2 of all rows."""
    from zspace.tasks.project.stage import CONFIGS

    layout = store.run(run)
    maps: dict[str, LatentMap] = {}
    for config in CONFIGS:
        coords_rel, rows_rel = layout.projection_coordinates(config), layout.projection_rows(config)
        if not (store.exists(layout.projection_record(config)) and _complete(store, coords_rel)
                and _complete(store, rows_rel)):
            continue
        rows = np.asarray(store.open_array(rows_rel)[:], np.int64)
        if len(rows) and (rows.min() < 0 or rows.max() >= n):
            continue  # a projection of other latents: not this run's rows
        maps[config] = LatentMap(config, f"t-SNE {config} ({len(rows):,} points)",
                                 np.asarray(store.open_array(coords_rel)[:], np.float32), rows)
    pca = store.open_array(layout.stats.array("pca_coordinates"))
    maps["pca"] = LatentMap("pca", f"PCA PC1-PC2 ({n:,} points)",
                            np.asarray(pca[:, :2], np.float32), np.arange(n, dtype=np.int64))
    return maps


def _nearest_index(z: np.ndarray) -> Any:
    from sklearn.neighbors import NearestNeighbors

    return NearestNeighbors(n_neighbors=min(N_NEIGHBOURS + 1, len(z))).fit(z)


def load_run(store: Store, run: str) -> RunData:
    """Read a trained, encoded and analyzed run; a StoreError naming the missing stage else."""
    record = store.read_run_record(run, required=("dataset",))
    latents = current_latents(store, run)
    current_stats_record(store, run, latents)
    z = np.asarray(latents[:], np.float32)
    dataset = str(record["dataset"])
    images = store.open_array(store.dataset(dataset).images)
    if images.shape[0] != len(z):
        raise StoreError(f"{store.join(store.run(run).latents('z_mean'))} has {len(z)} rows but "
                         f"{store.join(store.dataset(dataset).images)} has {images.shape[0]}: "
                         f"rerun `zspace encode --store {store.url} --run {run}`")
    stats = store.run(run).stats
    summary = store.read_json(stats.summary)
    dominant = [int(j) for j in summary.get("dominant_components", [])]
    data = RunData(
        run=run, dataset=dataset, z_mean=z, images=images,
        mean=read_array(store, stats.array("mean")), std=read_array(store, stats.array("std")),
        pca_components=read_array(store, stats.array("pca_components")),
        pca_eigenvalues=read_array(store, stats.array("pca_eigenvalues")),
        dominant_components=dominant, maps=latent_maps(store, run, len(z)),
        colourings=colourings(store, dataset, z, dominant),
        model=load_run_model(store, run), neighbours=_nearest_index(z))
    data.decode_ms = decode_latency_ms(data)
    return data


def decode_latency_ms(data: RunData, repeats: int = 7) -> float:
    """Median wall time of one single-vector decode (after a warm-up call)."""
    data.decode(data.mean[None])
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        data.decode(data.mean[None])
        times.append((time.perf_counter() - t0) * 1000.0)
    return float(np.median(times))


def png(image: np.ndarray) -> bytes:
    """uint8 (H, W, C) -> PNG bytes."""
    from PIL import Image

    buf = io.BytesIO()
    arr = image[..., 0] if image.shape[-1] == 1 else image
    Image.fromarray(np.ascontiguousarray(arr)).save(buf, format="PNG")
    return buf.getvalue()


def strip_png(images: np.ndarray) -> bytes:
    """Images (k, H, W, C) uint8 -> one PNG, side by side."""
    return png(mosaic(images, cols=len(images)))
