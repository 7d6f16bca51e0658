"""The latents a pass streams (opened, checked and fingerprinted) and the parts of a pass run
side by side with dask.

A pass is split into a few contiguous runs of blocks (whole zarr chunks, ~8 MB each:
:func:`zspace.storage.row_ranges`); each run is one dask task that loops over its blocks with
plain numpy, on local threads or an existing distributed scheduler. Memory is one block plus
the accumulators per worker thread.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from typing import Any

import fsspec
import numpy as np
import zarr

from zspace.storage import StoreError, is_complete, open_array


def open_latents(url: str) -> zarr.Array:
    """The input array, checked: 2-D, real, at least 2 rows and 2 components, complete."""
    arr = open_array(url)
    if arr.ndim != 2:
        raise StoreError(f"{url}: latents must be a 2-D (N, z_dim) array, this one has shape {arr.shape}")
    if np.dtype(arr.dtype).kind not in "fiu":
        raise StoreError(f"{url}: latents must be real numbers, not {arr.dtype}")
    if arr.shape[0] < 2 or arr.shape[1] < 2:
        raise StoreError(f"{url}: need at least 2 vectors of at least 2 components, shape is {arr.shape}")
    if arr.attrs.get("complete") is False:
        raise StoreError(f"{url} is not complete (an interrupted encode? rerun it to resume)")
    return arr


def input_fingerprint(url: str) -> str:
    """The content fingerprint zspace recorded; for a foreign array, one of its file listing
    (names, sizes, modification times), so a changed array is noticed without reading it."""
    arr = open_array(url)
    if is_complete(arr) and arr.attrs.get("fingerprint"):
        return f"content:{arr.attrs['fingerprint']}"
    fs, root = fsspec.core.url_to_fs(url)
    files = fs.find(root, detail=True)
    h = hashlib.sha256(json.dumps([list(arr.shape), str(arr.dtype)]).encode())
    for path in sorted(files):
        info = files[path]
        stamp = info.get("mtime") or info.get("LastModified") or info.get("ETag") or ""
        h.update(f"{path[len(root):]}|{info.get('size')}|{stamp}\n".encode())
    return f"listing:{h.hexdigest()}"


def split_parts(blocks: Sequence[Any], n_parts: int) -> list[list[Any]]:
    """Blocks cut into at most n_parts contiguous runs (in order: sums add up the same way)."""
    n_parts = max(1, min(n_parts, len(blocks)))
    bounds = np.linspace(0, len(blocks), n_parts + 1).round().astype(int)
    return [list(blocks[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]


def run_parts(
    fn: Callable[..., Any], args: Sequence[tuple], dask_address: str | None, workers: int | None,
    finished: Callable[[int], None] | None = None,
) -> list[Any]:
    """Run fn(*a) for each a as dask tasks: local threads, or an existing distributed cluster.
    On a cluster, `finished(i)` is called as part i comes back (the parts' own progress calls
    run on the workers, where no bar is); results keep the order of `args`."""
    import dask
    import dask.threaded

    tasks = [dask.delayed(fn, pure=False)(*a) for a in args]
    if dask_address:
        from distributed import Client, as_completed

        with Client(dask_address, set_as_default=False) as client:
            futures = client.compute(tasks)
            index = {f.key: i for i, f in enumerate(futures)}
            for f in as_completed(futures, loop=client.loop):
                if finished:
                    finished(index[f.key])
            return list(client.gather(futures))
    from threadpoolctl import threadpool_limits

    # one BLAS thread per dask thread: parts run side by side instead of fighting for cores
    with threadpool_limits(1, user_api="blas"):
        # the callable, not "threads": naming a scheduler makes dask import distributed (~0.15 s)
        return list(dask.compute(*tasks, scheduler=dask.threaded.get, num_workers=workers))


class RowsBar:
    """A thread-safe tqdm over rows (both passes), or nothing."""

    def __init__(self, total: int, desc: str, enabled: bool):
        self.bar = None
        if enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc=desc, unit="rows", unit_scale=True, leave=False)

    def update(self, k: int) -> None:
        if self.bar is not None:
            self.bar.update(k)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
