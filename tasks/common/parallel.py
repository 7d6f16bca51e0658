"""Ordered parallel map on dask: local worker processes, or an existing distributed scheduler.

Stages that must write their output in source order (ingest) but can compute in any order use
this. Locally it runs waves of tasks on dask's multiprocessing scheduler over one reused
process pool, with two waves in flight so the pool never drains between them; with a
scheduler address it keeps a sliding window of futures on the cluster.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
import types
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from itertools import islice
from typing import Any

import dask


def default_workers(dask_address: str | None = None) -> int:
    """Threads of the dask cluster at dask_address, else the cores this process may use."""
    if dask_address:
        from distributed import Client

        with Client(dask_address, set_as_default=False) as client:
            return max(1, sum(client.nthreads().values()))
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def ordered_map(
    fn: Callable[..., Any],
    args: Iterable[Sequence[Any]],
    *,
    dask_address: str | None = None,
    workers: int | None = None,
    wave: int | None = None,
    preload: Sequence[str] = (),
) -> Iterator[Any]:
    """Yield fn(*a) for each a in args, in order, computed in parallel.

    `preload` names light modules that every local worker needs (fn's own module): the fork
    server imports them once, so workers start in milliseconds instead of re-importing.
    """
    if dask_address:
        yield from _distributed_map(fn, args, dask_address)
        return
    n = workers or default_workers()
    if n == 1:
        for a in args:
            yield fn(*a)
        return
    wave = wave or 4 * n
    with _process_pool(n, preload) as pool, ThreadPoolExecutor(2) as th:

        def compute(batch: list[Sequence[Any]]) -> tuple[Any, ...]:
            tasks = [dask.delayed(fn, pure=False)(*a) for a in batch]
            return dask.compute(*tasks, scheduler="processes", pool=pool, chunksize=1)

        it = iter(args)
        pending: deque[Future[tuple[Any, ...]]] = deque()
        for _ in range(2):
            batch = list(islice(it, wave))
            if batch:
                pending.append(th.submit(compute, batch))
        while pending:
            results = pending.popleft().result()
            batch = list(islice(it, wave))
            if batch:
                pending.append(th.submit(compute, batch))
            yield from results


def _pause(seconds: float) -> None:
    time.sleep(seconds)


class _process_pool:
    """A forkserver process pool whose workers start clean.

    forkserver workers inherit no threads or locks from Prefect or TensorFlow. They would
    still re-run the caller's __main__ (a script, a notebook's stdin); a bare stand-in
    __main__ while the workers start keeps them from doing so.
    """

    def __init__(self, n: int, preload: Sequence[str] = ()):
        self.n = n
        self.preload = ["dask.local", __name__, *preload]

    def __enter__(self) -> ProcessPoolExecutor:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(self.preload)  # takes effect when the server first starts
        self.pool = ProcessPoolExecutor(max_workers=self.n, mp_context=ctx)
        main = sys.modules["__main__"]
        sys.modules["__main__"] = types.ModuleType("__main__")
        try:  # start every worker now, while __main__ is the stand-in
            for f in [self.pool.submit(_pause, 0.05) for _ in range(self.n)]:
                f.result()
        finally:
            sys.modules["__main__"] = main
        return self.pool

    def __exit__(self, *exc: object) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


def _distributed_map(
    fn: Callable[..., Any], args: Iterable[Sequence[Any]], address: str
) -> Iterator[Any]:
    from distributed import Client

    with Client(address, set_as_default=False) as client:
        n = max(1, sum(client.nthreads().values()))
        window = 4 * n
        it = iter(args)
        futures: deque[Any] = deque(client.submit(fn, *a, pure=False) for a in islice(it, window))
        while futures:
            fut = futures.popleft()
            result = fut.result()
            fut.release()
            for a in islice(it, 1):
                futures.append(client.submit(fn, *a, pure=False))
            yield result
