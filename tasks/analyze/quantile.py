"""The exact quantile of values that are only ever seen one block at a time (the Mahalanobis
distances of all N rows): memory is one block plus a bounded gather."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np


def exact_quantile(
    read_blocks: Callable[[], Iterable[np.ndarray]], n: int, q: float, max_gather: int = 1 << 20
) -> float:
    """np.quantile(values, q) (linear interpolation) of n values that are only ever seen one
    block at a time: narrow a value range by histogram until the wanted order statistics
    fit in memory, then sort those few. Memory: one block plus max_gather values."""
    if n == 0:
        raise ValueError("quantile of no values")
    h = (n - 1) * q
    k = int(np.floor(h))
    lo_v = _kth_value(read_blocks, n, k, max_gather)
    if k + 1 >= n or h == k:
        return lo_v
    hi_v = _kth_value(read_blocks, n, k + 1, max_gather)
    return float(lo_v + (h - k) * (hi_v - lo_v))


def _kth_value(read_blocks: Callable[[], Iterable[np.ndarray]], n: int, k: int, max_gather: int) -> float:
    lo, hi = -np.inf, np.inf
    below = 0  # values < lo (all of them rank below k)
    n_bins = 4096
    while True:
        # values in [lo, hi]; gather them if few enough
        inside = sum(int(np.count_nonzero((b >= lo) & (b <= hi))) for b in read_blocks())
        if inside <= max_gather:
            vals = np.concatenate([b[(b >= lo) & (b <= hi)] for b in read_blocks()] or [np.empty(0)])
            vals.sort()
            return float(vals[k - below])
        if np.isinf(lo) or np.isinf(hi):
            lo = min(float(b.min()) for b in read_blocks() if len(b))
            hi = max(float(b.max()) for b in read_blocks() if len(b))
            continue
        if lo == hi:
            return float(lo)
        scale = n_bins / (hi - lo)

        def idx_of(b: np.ndarray, lo: float = lo, scale: float = scale) -> np.ndarray:
            if not np.isfinite(scale):  # lo and hi are (nearly) adjacent floats
                return np.where(b > lo, n_bins - 1, 0)
            return np.minimum(np.floor((b - lo) * scale).astype(np.intp), n_bins - 1)

        counts = np.zeros(n_bins, dtype=np.int64)
        for b in read_blocks():
            v = b[(b >= lo) & (b <= hi)]
            counts += np.bincount(idx_of(v), minlength=n_bins)
        cum = np.cumsum(counts)
        target = int(np.searchsorted(cum, k - below, side="right"))
        new_lo, new_hi = np.inf, -np.inf
        for b in read_blocks():  # idx_of is monotone in the value: bin target is an interval
            v = b[(b >= lo) & (b <= hi)]
            v = v[idx_of(v) == target]
            if len(v):
                new_lo, new_hi = min(new_lo, float(v.min())), max(new_hi, float(v.max()))
        below += int(cum[target - 1]) if target > 0 else 0
        lo, hi = new_lo, new_hi

