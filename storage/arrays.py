"""Reading stored arrays whole or in row blocks: the one reader every stage uses.

:func:`row_ranges` is the one rule for cutting an (N, ...) array into row blocks, and
:func:`read_blocks` reads them in order. (:func:`~zspace.storage.store.iter_row_blocks` reads
chosen sorted rows instead, one chunk at a time.) The block boundaries decide the order in
which streamed sums add up, so a caller keeps its block size to keep its results bit for bit.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from zspace.storage.store import Store

BLOCK_BYTES = 8 << 20  # bytes of one block of rows: a few chunks, small beside memory


def read_array(store: Store, rel: str, dtype: Any = np.float64) -> np.ndarray:
    """A small stored array (statistics: mean, covariance, PCA axes) read whole as `dtype`."""
    return np.asarray(store.open_array(rel)[...], dtype=dtype)


def row_ranges(arr: Any, *, block_bytes: int = BLOCK_BYTES, block_rows: int | None = None,
               itemsize: int | None = None) -> list[tuple[int, int]]:
    """[start, stop) row ranges covering arr (zarr or numpy): block_rows rows each when given,
    else the whole number of chunks nearest to block_bytes (at least one chunk; a numpy array's
    chunk is one row), counting `itemsize` bytes per value (default: the stored dtype's)."""
    n = int(arr.shape[0])
    if block_rows is None:
        chunk = int(arr.chunks[0]) if getattr(arr, "chunks", None) else 1
        size = itemsize or np.dtype(arr.dtype).itemsize
        row_bytes = max(1, int(np.prod(arr.shape[1:], dtype=np.int64)) * size)
        block_rows = chunk * max(1, round(block_bytes / (chunk * row_bytes)))
    return [(s, min(s + block_rows, n)) for s in range(0, n, block_rows)]


def read_blocks(arr: Any, *, block_bytes: int = BLOCK_BYTES, block_rows: int | None = None,
                itemsize: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """(start, arr[start:stop]) for every range of :func:`row_ranges`, in row order."""
    for start, stop in row_ranges(arr, block_bytes=block_bytes, block_rows=block_rows,
                                  itemsize=itemsize):
        yield start, np.asarray(arr[start:stop])
