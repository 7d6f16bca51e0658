"""Does realism order samplers as a face detector does, on real faces? One JSON line.

Usage: python benchmarks/realism_lfw.py [--lfw PATH] [--store DIR] [--epochs 5] [--limit 10000]

LFW (13,233 grey 96 px JPEGs, `lfw96/` inside a tar given by --lfw; the default is
shared/data/lfw96.tar in the folder that holds the repository) is ingested at 96 px and 32 px into a store (default a folder under /tmp, kept, so a
rerun reuses every finished stage); the study's AE and VAE (presets celeba-ae, celeba-vae) are
trained at reduced epochs and limit on 96 px, the demo preset's AE and VAE on 32 px; each run is
encoded, analysed and put through the generate stage. Per run and probe set (held-out data
images, their reconstructions, uniform noise, every sampler): the run's realism and an
independent judge the project does not train, OpenCV's Haar frontal-face cascade (the share of
images with a detected face, 32 px images upsampled to 96 px first), and the Spearman rank
correlation of the two across the probe sets.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

import numpy as np

RUNS = (("celeba-ae", 96, "ae"), ("celeba-vae", 96, "vae"), ("demo", 32, "ae"), ("demo", 32, "vae"))


def lfw_folder(tar: Path, root: Path) -> Path:
    """The tar's lfw96/ folder, extracted once under root."""
    folder = root / "lfw96"
    if not (folder.is_dir() and any(folder.iterdir())):
        root.mkdir(parents=True, exist_ok=True)
        with tarfile.open(tar) as t:
            t.extractall(root, filter="data")
    return folder


def prepare(store: str, folder: Path, preset: str, size: int, kind: str, epochs: int,
            limit: int) -> str:
    """Ingest, train, encode and analyse one run (each stage skips finished work; a trained
    run is kept as it is)."""
    from zspace.storage import Store
    from zspace.tasks.analyze import analyze_latents
    from zspace.tasks.encode.stage import encode_run
    from zspace.tasks.ingest.params import IngestParams
    from zspace.tasks.ingest.stage import ingest
    from zspace.tasks.train.params import TrainParams
    from zspace.tasks.train.stage import train_run

    dataset = f"lfw-{size}px"
    ingest(IngestParams(source=str(folder), store=store, name=dataset, size=size, workers=1))
    run, st = f"{dataset}-{preset}-{kind}", Store(store)
    if not st.exists(st.run(run).model):
        train_run(TrainParams(store=store, dataset=dataset, run=run, preset=preset,
                              epochs=epochs, limit=limit, kind=kind), verbose=0)
    encode_run(store, run)
    analyze_latents(st.join(st.run(run).latents("z_mean")), st, st.run(run).stats.root,
                    workers=1, show_progress=False)
    return run


def face_detector() -> Any:
    """OpenCV's Haar frontal-face cascade: a judge the project does not train."""
    import cv2

    return cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")


def faces(images: np.ndarray, cascade: Any) -> np.ndarray:
    """Per image: does the cascade find a face (32 px images upsampled to 96 px first)?"""
    import cv2

    from zspace.tasks.common.figures import to_uint8

    u = images if images.dtype == np.uint8 else to_uint8(images)
    found = []
    for im in u:
        g = cv2.cvtColor(im, cv2.COLOR_RGB2GRAY)
        if g.shape[0] < 96:
            g = cv2.resize(g, (96, 96), interpolation=cv2.INTER_CUBIC)
        found.append(len(cascade.detectMultiScale(g, 1.1, 3, minSize=(24, 24))) > 0)
    return np.array(found)


def score_run(store_url: str, run: str, n: int) -> dict[str, Any]:
    """The generate stage on the run, then realism and the detector per probe set."""
    from scipy.stats import spearmanr

    from zspace.storage import Store, read_rows, split_rows
    from zspace.tasks.common.figures import to_uint8
    from zspace.tasks.common.runs import load_run_model
    from zspace.tasks.generate.realism import ReencodeReference, reencode_realism
    from zspace.tasks.generate.stage import generate_samples

    st = Store(store_url)
    gen = generate_samples(store_url, run, {"n_images": n, "n_reference": 500},
                           show_progress=False)
    record = st.read_json(gen["scores_rel"])
    model, cascade = load_run_model(st, run), face_detector()
    dataset = st.read_run_record(run)["dataset"]
    images = st.open_array(st.dataset(dataset).images)
    rng = np.random.default_rng(0)

    def rows(split: str, k: int) -> np.ndarray:
        r = split_rows(st, dataset, split)
        return read_rows(images, np.sort(rng.choice(r, min(k, len(r)), replace=False))
                         ).astype(np.uint8)

    def encode(x: np.ndarray) -> np.ndarray:
        return model.encode(x if x.dtype == np.uint8 else to_uint8(x), 128)["z_mean"]

    def decode(z: np.ndarray) -> np.ndarray:
        return model.decode(np.asarray(z, np.float32), 128)

    def stat(name: str) -> np.ndarray:
        return np.asarray(st.open_array(st.run(run).stats.array(name))[...], np.float64)

    val, test = rows("val", 400), rows("test", n)
    ref = ReencodeReference.fit(val[: len(val) // 2], val[len(val) // 2:], encode, decode,
                                stat("mean"), stat("covariance"))
    probes = {"data": test, "reconstruction": decode(encode(test)),
              "noise": rng.uniform(0, 1, test.shape).astype(np.float32)}
    for name in record["scores"]:
        with np.load(io.BytesIO(st.read_bytes(st.run(run).sample(name)))) as f:
            probes[name], probes[f"{name} sharpened"] = f["images"], f["sharpened"]
    table = {}
    for name, x in probes.items():
        r = reencode_realism(x, encode, decode, ref)
        table[name] = {"realism": round(r["realism"], 3),
                       "realism_ci": [round(v, 3) for v in r["realism_ci"]],
                       "faces": round(float(faces(x, cascade).mean()), 3)}
        if name in record["scores"]:
            table[name]["stage_realism"] = round(record["scores"][name]["realism"], 3)

    def rho(keys: list[str]) -> float:
        return round(float(spearmanr([table[k]["realism"] for k in keys],
                                     [table[k]["faces"] for k in keys]).statistic), 3)

    unsharp = [k for k in table if not k.endswith("sharpened")]
    return {"table": table, **agreement(table), "spearman": rho(unsharp),
            "spearman_without_data": rho([k for k in unsharp if k != "data"]),
            "spearman_with_sharpened": rho(list(table)),
            "why_random_fail": record["why_random_fail"]["answer"],
            "void_or_miss": record["void_or_miss"]["answer"]}


def agreement(table: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The binary call of both judges per decoded probe set (samplers and reconstructions, not
    photos, noise or sharpened images): realism >= 0.25 against faces in >= half the images."""
    keys = [k for k in table if k not in ("data", "noise") and not k.endswith("sharpened")]
    same = [(table[k]["realism"] >= 0.25) == (table[k]["faces"] >= 0.5) for k in keys]
    return {"agreement": f"{sum(same)}/{len(same)}",
            "disagree": [k for k, ok in zip(keys, same, strict=True) if not ok]}


def main() -> None:
    ap = argparse.ArgumentParser()
    repo = Path(__file__).resolve().parents[1]
    ap.add_argument("--lfw", type=Path, default=repo.parent / "shared" / "data" / "lfw96.tar")
    ap.add_argument("--store", default="/tmp/zspace-bench-realism")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--limit", type=int, default=10000)
    ap.add_argument("--demo-epochs", type=int, default=15)
    ap.add_argument("--n-images", type=int, default=200)
    ap.add_argument("--runs", default="all", help="comma-separated run indices (0-3) or all")
    ap.add_argument("--prepare-only", action="store_true")
    args = ap.parse_args()
    os.makedirs(args.store, exist_ok=True)
    folder = lfw_folder(args.lfw, Path(args.store) / "source")
    which = range(len(RUNS)) if args.runs == "all" else [int(i) for i in args.runs.split(",")]
    out: dict[str, Any] = {"benchmark": "realism_lfw", "epochs": args.epochs,
                           "limit": args.limit, "demo_epochs": args.demo_epochs,
                           "machine": f"{platform.machine()}, {os.cpu_count()} cpus", "runs": {}}
    stdout = os.dup(1)
    os.dup2(2, 1)  # the stages' own output goes to stderr
    for i in which:
        preset, size, kind = RUNS[i]
        t = time.perf_counter()
        epochs = args.demo_epochs if preset == "demo" else args.epochs
        run = prepare(args.store, folder, preset, size, kind, epochs, args.limit)
        print(f"prepared {run} in {time.perf_counter() - t:.0f} s", file=sys.stderr, flush=True)
        if not args.prepare_only:
            t = time.perf_counter()
            out["runs"][run] = {**score_run(args.store, run, args.n_images),
                                "scoring_s": round(time.perf_counter() - t, 1)}
            print(json.dumps(out["runs"][run]), file=sys.stderr, flush=True)
    sys.stdout.flush()
    os.dup2(stdout, 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
