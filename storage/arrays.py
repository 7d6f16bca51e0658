"""Reading stored arrays whole or in row blocks: the one reader every stage uses."""

from __future__ import annotations

from typing import Any

import numpy as np

from zspace.storage.store import Store


def read_array(store: Store, rel: str, dtype: Any = np.float64) -> np.ndarray:
    """A small stored array (statistics: mean, covariance, PCA axes) read whole as `dtype`."""
    return np.asarray(store.open_array(rel)[...], dtype=dtype)
