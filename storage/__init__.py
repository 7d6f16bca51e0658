"""The zspace store: the one place that knows where every array and file lives.

:mod:`zspace.storage.layout` names every path under a store root (a local path or any fsspec
URL); ``store.dataset(name)`` and ``store.run(name)`` hand out those paths. Nothing outside
this package builds a store path from strings.

Arrays are written chunk by chunk through :class:`ChunkedWriter`, which leaves a completion
mark per chunk so that an interrupted stage resumes, and a content fingerprint once complete.
"""

from __future__ import annotations

from zspace.storage.layout import DatasetLayout, RunLayout, StatsLayout, StoreError, array_meta
from zspace.storage.store import (
    ChunkedWriter,
    Store,
    array_fingerprint,
    is_complete,
    iter_row_blocks,
    open_array,
    read_rows,
)

__all__ = [
    "ChunkedWriter",
    "DatasetLayout",
    "RunLayout",
    "StatsLayout",
    "array_meta",
    "Store",
    "StoreError",
    "array_fingerprint",
    "is_complete",
    "iter_row_blocks",
    "open_array",
    "read_rows",
]

from zspace.storage.arrays import BLOCK_BYTES, read_array, read_blocks, row_ranges  # noqa: E402
from zspace.storage.index import (  # noqa: E402
    ATTRIBUTE_PREFIX,
    SPLITS,
    attribute_table,
    factor_table,
    read_index,
    split_rows,
    write_index,
)

__all__ += ["BLOCK_BYTES", "read_array", "read_blocks", "row_ranges"]
__all__ += ["ATTRIBUTE_PREFIX", "SPLITS", "attribute_table", "factor_table", "read_index",
            "split_rows", "write_index"]
