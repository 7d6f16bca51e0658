"""Images from the zarr store into Keras on any backend: chunk-aligned, shuffled, streamed.

`ImageStream` yields the batches of one epoch (a plain generator: no TensorFlow, no JAX);
`ImageStream.dataset()` serves them to `fit`: a `keras.utils.PyDataset` (`StreamBatches`) on
JAX, which takes the numpy batches as they are, and on TensorFlow a tf.data pipeline of the same
generator with an open batch dimension (a PyDataset there would fix the batch shape from two
peeked batches, so a smaller last batch would not fit the traced step).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(eq=False, repr=False)
class ImageStream:
    """Batches of uint8 images from chosen rows of a zarr array, read one chunk at a time.

    Each epoch visits the chunks in a new random order (seeded by seed and epoch), reads
    `prefetch_chunks` ahead in threads, and shuffles rows within a pool of about
    `shuffle_buffer` images: memory stays at a few chunks whatever the dataset size.

    multiple_of: how many devices share each batch (JAX DataParallel): the last, partial batch
    is cut to a multiple of it (at most multiple_of - 1 images skipped per epoch).
    """

    array: Any
    rows: np.ndarray
    batch_size: int
    shuffle: bool = True
    seed: int = 0
    shuffle_buffer: int = 4096
    prefetch_chunks: int = 8
    read_threads: int = 2
    multiple_of: int = 1

    def __post_init__(self) -> None:
        self.rows = np.asarray(self.rows, dtype=np.int64)
        self.chunk_rows = int(self.array.chunks[0])
        chunk_of = self.rows // self.chunk_rows
        self.chunks = np.unique(chunk_of)
        self.members = {int(c): self.rows[chunk_of == c] - c * self.chunk_rows for c in self.chunks}
        self.epoch = 0  # the next epoch `dataset()` serves (set when resuming)

    def __len__(self) -> int:
        full, rest = divmod(len(self.rows), self.batch_size)
        return full + (rest >= self.multiple_of)

    @property
    def image_shape(self) -> tuple[int, ...]:
        return tuple(int(s) for s in self.array.shape[1:])

    def _read(self, chunk: int) -> np.ndarray:
        local = self.members[chunk]
        start = chunk * self.chunk_rows
        block = self.array[start + int(local[0]) : start + int(local[-1]) + 1]
        return block[local - local[0]]

    def _blocks(self, order: list[int]) -> Iterator[np.ndarray]:
        """The chunks in this order, `prefetch_chunks` of them read ahead in threads."""
        with ThreadPoolExecutor(self.read_threads, thread_name_prefix="zspace-read") as ex:
            todo = iter(order)
            futures: deque[Future[np.ndarray]] = deque()
            for c in todo:
                futures.append(ex.submit(self._read, c))
                if len(futures) >= self.prefetch_chunks:
                    break
            while futures:
                block = futures.popleft().result()
                nxt = next(todo, None)
                if nxt is not None:
                    futures.append(ex.submit(self._read, nxt))
                yield block

    def epoch_batches(self, epoch: int) -> Iterator[np.ndarray]:
        """One epoch's batches; every row once, the same order for the same (seed, epoch)."""
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(self.chunks) if self.shuffle else self.chunks
        pool_target = max(self.batch_size, self.shuffle_buffer if self.shuffle else 0)
        pending: list[np.ndarray] = []
        n_pending = 0
        for block in self._blocks(order.tolist()):
            pending.append(block)
            n_pending += len(block)
            if n_pending < pool_target:
                continue
            pool = np.concatenate(pending)
            if self.shuffle:
                pool = pool[rng.permutation(len(pool))]
            full = len(pool) // self.batch_size * self.batch_size
            for i in range(0, full, self.batch_size):
                yield pool[i : i + self.batch_size]
            pending, n_pending = [pool[full:]], len(pool) - full
        if n_pending:
            pool = np.concatenate(pending)
            if self.shuffle:
                pool = pool[rng.permutation(len(pool))]
            for i in range(0, len(pool), self.batch_size):
                batch = pool[i : i + self.batch_size]
                batch = batch[: len(batch) // self.multiple_of * self.multiple_of]
                if len(batch):
                    yield batch

    def dataset(self) -> Any:
        """What `fit` reads, a new epoch of the stream per epoch (starting at `self.epoch`):
        on TensorFlow a tf.data pipeline with an open batch dimension (prefetching on its
        own), on any other backend a keras.utils.PyDataset with reader threads ahead."""
        import keras

        if keras.backend.backend() == "tensorflow":
            return self.tf_dataset()
        return StreamBatches(self, workers=2)

    def tf_dataset(self) -> Any:
        """A tf.data.Dataset of uint8 batches; every iteration is a new epoch."""
        import tensorflow as tf

        def generate() -> Iterator[np.ndarray]:
            epoch = self.epoch
            if self.shuffle:
                self.epoch += 1
            yield from self.epoch_batches(epoch)

        ds = tf.data.Dataset.from_generator(
            generate, output_signature=tf.TensorSpec((None, *self.image_shape), tf.uint8)
        )
        ds = ds.apply(tf.data.experimental.assert_cardinality(len(self))).prefetch(2)
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
        return ds.with_options(options)


def _py_dataset_base() -> type:
    import keras

    return keras.utils.PyDataset


class StreamBatches(_py_dataset_base()):  # type: ignore[misc]
    """Batch i of the current epoch, for Keras's PyDataset machinery on any backend.

    The stream is sequential (chunks are read in order, rows shuffled in a pool), while Keras
    asks for batches by index, from `workers` threads that run ahead of the model: a lock and a
    small buffer of batches produced before they were asked for keep the two in step.
    """

    def __init__(self, stream: ImageStream, workers: int = 1):
        super().__init__(workers=workers, use_multiprocessing=False, max_queue_size=8)
        self.stream = stream
        self._lock = threading.Lock()
        self._epoch = stream.epoch
        self._reset()

    def _reset(self) -> None:
        self._batches = self.stream.epoch_batches(self._epoch)
        self._next = 0
        self._ready: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.stream)

    def __getitem__(self, index: int) -> tuple[np.ndarray]:
        with self._lock:
            if index < self._next and index not in self._ready:
                self._reset()  # asked again (Keras peeks at two batches for their shape)
            while index not in self._ready:
                self._ready[self._next] = next(self._batches)
                self._next += 1
            return (self._ready.pop(index),)

    def on_epoch_begin(self) -> None:
        with self._lock:
            if self._next or self._ready:
                self._reset()

    def on_epoch_end(self) -> None:
        with self._lock:
            if self.stream.shuffle:
                self._epoch += 1
                self.stream.epoch = self._epoch
            self._reset()
