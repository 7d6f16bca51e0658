"""Training images/s streaming from the zarr store vs from memory, on a chosen Keras backend.

Same model, same process, same uint8 images: epochs alternate between the two sources (after
one warm-up epoch each) so that machine load drifts hit both alike; each figure is the median
over the rounds (all values are printed too). Optionally the encode throughput (the compiled
predict path) and, on a GPU, the share of the device's peak FLOP/s reached. Prints one JSON
line per backend; `--backend all` runs each backend in a process of its own (Keras picks its
backend once per process). Target: streaming_img_s >= 0.95 x in_memory_img_s.

    python benchmarks/train.py --backend tensorflow|jax|all [--preset celeba-vae] [--images 768]
        [--rounds 5] [--batch-size 64] [--mixed-precision float16|bfloat16] [--encode 4096]
        [--peak-tflops 989]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def forward_flops(cfg) -> float:
    """Multiply-adds x 2 of one image's forward pass through encoder and decoder (convs and
    dense layers; activations and the loss are negligible)."""
    size, c_in, flops = cfg.input_size, cfg.channels, 0.0
    for f, k, s in zip(cfg.filters, cfg.kernels, cfg.strides, strict=True):
        size //= s
        flops += 2.0 * size * size * k * k * c_in * f
        c_in = f
    flat = size * size * c_in
    flops += 2.0 * flat * cfg.z_dim * (2 if cfg.kind == "vae" else 1)
    side, first = cfg.bottleneck_size, cfg.decoder_filters[0]
    flops += 2.0 * cfg.z_dim * side * side * first
    size, c_in = side, first
    for f, k, s in zip(cfg.decoder_filters, reversed(cfg.kernels), reversed(cfg.strides), strict=True):
        flops += 2.0 * size * size * k * k * c_in * f  # per input position (transposed conv)
        size *= s
        c_in = f
    return flops + 2.0 * size * size * 9 * c_in * cfg.channels


def make_store(tmp: str, n: int, size: int):
    from samples import blob_images

    from zspace.storage import ChunkedWriter, Store
    from zspace.storage.store import chunk_rows_for

    store = Store(tmp)
    chunk_rows = chunk_rows_for((size, size, 3), np.uint8)  # what ingest uses
    images = blob_images(n, size)
    rel = store.dataset("bench").images
    writer = ChunkedWriter(store, rel, images.shape, chunk_rows, np.uint8, {"bench": 1})
    for i in range(writer.n_chunks):
        writer.write_chunk(i, images[i * chunk_rows : (i + 1) * chunk_rows])
    writer.finalize()
    return store.open_array(rel), chunk_rows


def time_epochs(model, args, stream, in_memory) -> dict[str, list[float]]:
    import keras

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            self.t1 = time.perf_counter()

    def epoch(source: str) -> float:
        timer = Timer()
        if source == "streaming":
            model.fit(stream.dataset(), epochs=1, verbose=0, shuffle=False, callbacks=[timer])
        else:
            model.fit(in_memory, batch_size=args.batch_size, epochs=1, verbose=0, shuffle=True,
                      callbacks=[timer])
        return args.images / (timer.t1 - timer.t0)

    epoch("streaming"), epoch("in_memory")  # warm-up: tracing, compilation, caches
    rates: dict[str, list[float]] = {"streaming": [], "in_memory": []}
    for r in range(args.rounds):
        for source in (("streaming", "in_memory") if r % 2 == 0 else ("in_memory", "streaming")):
            rates[source].append(epoch(source))
    return rates


def encode_rate(model, images: np.ndarray, n: int) -> float:
    x = np.resize(images, (n, *images.shape[1:]))
    model.encode(x[:512])  # compile
    t0 = time.perf_counter()
    model.encode(x, batch_size=256)
    return n / (time.perf_counter() - t0)


def run_one(args) -> dict:
    from zspace.models.backend import device_name, use_backend

    backend = use_backend(args.backend)
    import keras

    from zspace.models import build_model, load_preset
    from zspace.models.config import TrainConfig
    from zspace.tasks.train.stream import ImageStream

    model_cfg, train_cfg = load_preset(args.preset)
    precision = TrainConfig(mixed_precision=args.mixed_precision or False).precision_policy
    if precision:
        keras.mixed_precision.set_global_policy(precision)
    with tempfile.TemporaryDirectory(prefix="zspace-bench-train-") as tmp:
        arr, chunk_rows = make_store(tmp, args.images, model_cfg.input_size)
        stream = ImageStream(arr, np.arange(args.images), args.batch_size, shuffle=True,
                             shuffle_buffer=train_cfg.shuffle_buffer,
                             prefetch_chunks=train_cfg.prefetch_chunks,
                             read_threads=train_cfg.read_threads)
        in_memory = arr[:]  # the baseline: the whole array in RAM, same dtype
        keras.utils.set_random_seed(0)
        model = build_model(model_cfg)
        model.compile(optimizer=keras.optimizers.Adam(train_cfg.learning_rate))
        rates = time_epochs(model, args, stream, in_memory)
        encode = encode_rate(model, in_memory, args.encode) if args.encode else None
    streaming, memory = float(np.median(rates["streaming"])), float(np.median(rates["in_memory"]))
    train_flops = 3.0 * forward_flops(model_cfg)  # forward + backward ~ 3x forward
    device = device_name()
    out = {
        "benchmark": "train", "backend": backend, "device": device, "preset": args.preset,
        "input_size": model_cfg.input_size, "batch_size": args.batch_size,
        "images_per_epoch": args.images, "chunk_rows": chunk_rows, "rounds": args.rounds,
        "mixed_precision": precision or "float32",
        "streaming_img_s": round(streaming, 1), "in_memory_img_s": round(memory, 1),
        "ratio": round(streaming / memory, 3),
        "best_ratio": round(max(rates["streaming"]) / max(rates["in_memory"]), 3),
        "streaming_each": [round(v, 1) for v in rates["streaming"]],
        "in_memory_each": [round(v, 1) for v in rates["in_memory"]],
        "train_gflop_per_image": round(train_flops / 1e9, 3),
        "encode_img_s": round(encode, 1) if encode else None,
        "cpu_count": os.cpu_count(), "keras": keras.__version__,
    }
    if args.peak_tflops and device != "cpu":
        out["peak_share"] = round(train_flops * memory / (args.peak_tflops * 1e12), 4)
        out["peak_tflops"] = args.peak_tflops
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", default=None, help="tensorflow, jax or all")
    parser.add_argument("--images", type=int, default=768)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--preset", default="celeba-vae")
    parser.add_argument("--mixed-precision", default=None, choices=["float16", "bfloat16"])
    parser.add_argument("--encode", type=int, default=0, help="also time encoding N images")
    parser.add_argument("--peak-tflops", type=float, default=None,
                        help="the device's peak TFLOP/s for the dtype, for peak_share")
    args = parser.parse_args()
    if args.backend == "all":
        for name in ("tensorflow", "jax"):
            argv = [a if a != "all" else name for a in sys.argv[1:]]
            subprocess.run([sys.executable, __file__, *argv], check=True)
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    print(json.dumps(run_one(args)), flush=True)


if __name__ == "__main__":
    main()
