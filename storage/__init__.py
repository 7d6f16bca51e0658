"""The zspace store: the one place that knows where every array and file lives.

Layout under a store root (a local path or any fsspec URL)::

    datasets/<name>/images        uint8 (N, H, W, 3) zarr array, chunked along N
    datasets/<name>/index.csv     one row per source file: file, split, status, row, factors
    runs/<run>/config.yaml, model.keras, checkpoints/, history.json
    runs/<run>/latents/z_mean     float32 (N, z_dim); z_log_var for a VAE
    runs/<run>/stats/             statistics arrays + summary.json
    runs/<run>/figures/, samples/, report.html

Arrays are written chunk by chunk through :class:`ChunkedWriter`, which leaves a completion
mark per chunk so that an interrupted stage resumes, and a content fingerprint once complete.
"""

from __future__ import annotations

from zspace.storage.store import (
    ChunkedWriter,
    Store,
    StoreError,
    array_fingerprint,
    is_complete,
    iter_row_blocks,
    open_array,
    read_rows,
)

__all__ = [
    "ChunkedWriter",
    "Store",
    "StoreError",
    "array_fingerprint",
    "is_complete",
    "iter_row_blocks",
    "open_array",
    "read_rows",
]

from zspace.storage.index import SPLITS, factor_table, read_index, split_rows, write_index  # noqa: E402

__all__ += ["SPLITS", "factor_table", "read_index", "split_rows", "write_index"]
