"""Training images/s of the celeba-vae model streaming from the zarr store vs from memory.

Same model, same process, same uint8 images: epochs alternate between the two sources (after
one warm-up epoch each) so that machine load drifts hit both alike; each figure is the median
over the rounds (a shared machine makes single epochs noisy; all values are printed too).
Prints one JSON line.
Target: streaming_img_s >= 0.95 x in_memory_img_s.

    python benchmarks/train.py [--images 768] [--rounds 5] [--batch-size 64] [--mixed-precision]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=768)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--preset", default="celeba-vae")
    parser.add_argument("--mixed-precision", action="store_true")
    args = parser.parse_args()

    import keras
    import tensorflow as tf

    from zspace.models import build_model, load_preset
    from zspace.storage import ChunkedWriter, Store
    from zspace.storage.store import chunk_rows_for
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'tests'))
    from samples import blob_images

    from zspace.tasks.train.stage import ImageStream

    model_cfg, train_cfg = load_preset(args.preset)
    size = model_cfg.input_size
    if args.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")

    with tempfile.TemporaryDirectory(prefix="zspace-bench-train-") as tmp:
        store = Store(tmp)
        chunk_rows = chunk_rows_for((size, size, 3), np.uint8)  # what ingest uses
        images = blob_images(args.images, size)
        writer = ChunkedWriter(
            store, Store.images_rel("bench"), images.shape, chunk_rows, np.uint8, {"bench": 1}
        )
        for i in range(writer.n_chunks):
            writer.write_chunk(i, images[i * chunk_rows : (i + 1) * chunk_rows])
        writer.finalize()
        arr = store.open_array(Store.images_rel("bench"))
        stream = ImageStream(
            arr, np.arange(args.images), args.batch_size, shuffle=True,
            shuffle_buffer=train_cfg.shuffle_buffer, prefetch_chunks=train_cfg.prefetch_chunks,
            read_threads=train_cfg.read_threads,
        )
        streamed = stream.dataset()
        in_memory = arr[:]  # the baseline: the whole array in RAM, same dtype

        keras.utils.set_random_seed(0)
        model = build_model(model_cfg)
        model.compile(optimizer=keras.optimizers.Adam(train_cfg.learning_rate))

        class Timer(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                self.t0 = time.perf_counter()

            def on_train_batch_end(self, batch, logs=None):
                self.t1 = time.perf_counter()

        def epoch(source: str) -> float:
            timer = Timer()
            if source == "streaming":
                model.fit(streamed, epochs=1, verbose=0, shuffle=False, callbacks=[timer])
            else:
                model.fit(
                    in_memory, batch_size=args.batch_size, epochs=1, verbose=0, shuffle=True,
                    callbacks=[timer],
                )
            return args.images / (timer.t1 - timer.t0)

        epoch("streaming"), epoch("in_memory")  # warm-up: tracing, caches
        rates: dict[str, list[float]] = {"streaming": [], "in_memory": []}
        for r in range(args.rounds):
            for source in (("streaming", "in_memory") if r % 2 == 0 else ("in_memory", "streaming")):
                rates[source].append(epoch(source))

    gpus = tf.config.list_physical_devices("GPU")
    streaming, memory = float(np.median(rates["streaming"])), float(np.median(rates["in_memory"]))
    print(
        json.dumps(
            {
                "benchmark": "train",
                "preset": args.preset,
                "input_size": size,
                "batch_size": args.batch_size,
                "images_per_epoch": args.images,
                "chunk_rows": chunk_rows,
                "rounds": args.rounds,
                "mixed_precision": args.mixed_precision,
                "streaming_img_s": round(streaming, 1),
                "in_memory_img_s": round(memory, 1),
                "ratio": round(streaming / memory, 3),
                "best_ratio": round(max(rates["streaming"]) / max(rates["in_memory"]), 3),
                "streaming_each": [round(v, 1) for v in rates["streaming"]],
                "in_memory_each": [round(v, 1) for v in rates["in_memory"]],
                "device": tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU")
                if gpus else "cpu",
                "cpu_count": os.cpu_count(),
                "tensorflow": tf.__version__,
            }
        )
    )


if __name__ == "__main__":
    main()
