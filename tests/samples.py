"""Photo-like sample JPEGs (CelebA-sized) for tests, benchmarks and trying the tool out.

Not flat noise: smooth colour fields, a lit ellipse, edges and grain, so JPEG decoding and
resizing cost what they cost on real photographs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter


def photo_like(rng: np.random.Generator, width: int = 178, height: int = 218) -> Image.Image:
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.zeros((height, width, 3), np.float32)
    for c in range(3):  # low-frequency colour field
        fx, fy, ph = rng.uniform(0.005, 0.03, 2).tolist() + [rng.uniform(0, 6.28)]
        img[..., c] = 110 + 60 * np.sin(fx * xx + ph) * np.cos(fy * yy) + rng.uniform(-30, 30)
    pil = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(pil)
    cx, cy = width / 2 + rng.normal(0, 6), height / 2 + rng.normal(0, 8)
    rx, ry = width * rng.uniform(0.25, 0.32), height * rng.uniform(0.28, 0.36)
    tone = tuple(int(v) for v in rng.uniform([150, 100, 80], [240, 200, 170]))
    draw.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=tone)
    for _ in range(12):  # edges and features
        x0, y0 = rng.uniform(0, width), rng.uniform(0, height)
        x1, y1 = x0 + rng.normal(0, 20), y0 + rng.normal(0, 20)
        col = tuple(int(v) for v in rng.integers(0, 255, 3))
        draw.line([x0, y0, x1, y1], fill=col, width=int(rng.integers(1, 5)))
    pil = pil.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 1.5)))
    arr = np.asarray(pil).astype(np.float32) + rng.normal(0, 6, (height, width, 3))
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def write_sample_jpegs(folder: str | Path, n: int, seed: int = 0, quality: int = 90,
                       width: int = 178, height: int = 218) -> list[Path]:
    """n JPEGs named 000001.jpg ... like CelebA's img_align_celeba/."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(1, n + 1):
        p = folder / f"{i:06d}.jpg"
        photo_like(rng, width, height).save(p, quality=quality)
        paths.append(p)
    return paths


def blob_images(n: int, size: int, seed: int = 0) -> np.ndarray:
    """Structured random images: a coloured background with three soft Gaussian blobs; cheap to
    make in memory for training tests and benchmarks."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    out = np.empty((n, size, size, 3), np.uint8)
    for i in range(n):
        img = np.ones((size, size, 3)) * rng.uniform(0, 1, 3)
        for _ in range(3):
            cy, cx = rng.uniform(0.2, 0.8, 2)
            s = rng.uniform(0.1, 0.25)
            w = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s))[..., None]
            img = img * (1 - w) + w * rng.uniform(0, 1, 3)
        out[i] = np.clip(img * 255, 0, 255).astype(np.uint8)
    return out
