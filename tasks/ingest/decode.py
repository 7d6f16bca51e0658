"""Image decoding for ingest, run in worker processes: only numpy and PIL, so workers start fast.

One contract: every source either yields a size x size x 3 uint8 image or a status string that
says why not; nothing raises out of a batch.
"""

from __future__ import annotations

import io
import math
import warnings
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


def is_unsafe_zip_name(name: str) -> bool:
    """Zip entries with absolute paths or '..' (zip-slip) are refused, never read."""
    p = PurePosixPath(name.replace("\\", "/"))
    return p.is_absolute() or ".." in p.parts or (len(name) > 1 and name[1] == ":")


def centre_square(w: int, h: int) -> tuple[int, int, int, int]:
    s = min(w, h)
    left, top = (w - s) // 2, (h - s) // 2
    return left, top, left + s, top + s


def to_rgb(im: Image.Image) -> Image.Image:
    """Grey, CMYK, palette, alpha and 16-bit images become 8-bit RGB (alpha over white)."""
    if im.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        a = np.asarray(im, dtype=np.float64)
        peak = 65535.0 if im.mode.startswith("I;16") or a.max() > 255 else 255.0
        a = np.clip(np.round(a * (255.0 / peak)), 0, 255).astype(np.uint8)
        return Image.fromarray(a, "L").convert("RGB")
    if im.mode == "F":
        a = np.asarray(im, dtype=np.float64)
        return Image.fromarray(np.clip(np.round(a), 0, 255).astype(np.uint8), "L").convert("RGB")
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = im.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(bg, rgba).convert("RGB")
    return im if im.mode == "RGB" else im.convert("RGB")


def load_image(
    data: bytes, size: int, crop: tuple[int, int, int, int] | None, max_pixels: int
) -> np.ndarray:
    """Decode, crop and resize one image; raises on anything unreadable."""
    if not data:
        raise ValueError("empty file")
    Image.MAX_IMAGE_PIXELS = max_pixels
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(io.BytesIO(data)) as im:
            w, h = im.size
            if w * h > max_pixels:
                raise ValueError(f"{w}x{h} pixels exceeds max_pixels={max_pixels}")
            if im.getexif().get(0x0112, 1) not in (0, 1):  # rotated by its EXIF orientation
                im.load()
                im = ImageOps.exif_transpose(im)
                w, h = im.size
            box = crop or centre_square(w, h)
            if box[2] > w or box[3] > h:
                raise ValueError(f"crop {box} is outside the {w}x{h} image")
            if im.format == "JPEG":
                # DCT scaling by 1/2, 1/4, 1/8, only as far as the crop stays >= size.
                sx, sy = size / (box[2] - box[0]), size / (box[3] - box[1])
                im.draft("RGB", (math.ceil(w * sx), math.ceil(h * sy)))
                fx, fy = im.size[0] / w, im.size[1] / h
                box = (box[0] * fx, box[1] * fy, box[2] * fx, box[3] * fy)
            im.load()
            rgb = to_rgb(im)
            out = rgb.resize((size, size), Image.Resampling.LANCZOS, box=box)
            return np.asarray(out, dtype=np.uint8)


@lru_cache(maxsize=4)
def _open_zip(path: str) -> zipfile.ZipFile:
    return zipfile.ZipFile(path)


def _read_source(kind: str, root: str, key: str) -> bytes:
    if kind == "zip":
        if is_unsafe_zip_name(key):
            raise ValueError("refused: unsafe path in zip (absolute or '..')")
        return _open_zip(root).read(key)
    path = Path(root) / key
    if not path.is_file():  # a FIFO would block, a broken or looping link cannot be read
        raise ValueError("not a regular file (a pipe, device, broken or looping link)")
    return path.read_bytes()


@dataclass(frozen=True)
class DecodeSpec:
    """What every worker needs to turn a source key into an image (sent once per chunk)."""

    kind: str  # "folder", "zip" or "synthetic"
    root: str  # the folder or zip ("" for synthetic faces)
    size: int
    crop: tuple[int, int, int, int] | None
    max_pixels: int
    seed: int  # synthetic faces: the factor tables' seed


def decode_batch(spec: DecodeSpec, keys: Sequence[str]
                 ) -> tuple[np.ndarray, list[str], list[dict[str, float]] | None]:
    """Decode a batch of sources: (images of the ok ones, status per source, factors)."""
    images: list[np.ndarray] = []
    status: list[str] = []
    factors: list[dict[str, float]] | None = None
    if spec.kind == "synthetic":
        from zspace.tasks.ingest.synthetic import synthetic_face

        factors = []
        for key in keys:
            img, f = synthetic_face(spec.seed, int(key.rsplit("/", 1)[1]), spec.size)
            images.append(img)
            factors.append(f)
            status.append("ok")
    else:
        for key in keys:
            try:
                images.append(load_image(_read_source(spec.kind, spec.root, key), spec.size,
                                         spec.crop, spec.max_pixels))
                status.append("ok")
            except (OSError, ValueError, SyntaxError, UnidentifiedImageError, zipfile.BadZipFile,
                    Image.DecompressionBombError, Image.DecompressionBombWarning, EOFError,
                    KeyError, MemoryError) as e:
                status.append(f"failed: {_reason(e)}")
    arr = np.stack(images) if images else np.zeros((0, spec.size, spec.size, 3), np.uint8)
    return arr, status, factors


def decode_to_chunk(url: str, chunk: int, chunk_rows: int, spec: DecodeSpec, keys: Sequence[str]
                    ) -> tuple[int, list[str], list[dict[str, float]] | None, str]:
    """Decode sources [chunk*chunk_rows, ...) and write them, in place, as chunk `chunk` of the
    staging array at url (failed sources leave zero rows). The worker compresses and writes,
    so the coordinating process stays idle and ingest scales with cores."""
    from zspace.storage.store import write_rows

    images, status, factors = decode_batch(spec, keys)
    if len(images) == len(keys):
        rows = images
    else:
        rows = np.zeros((len(keys), spec.size, spec.size, 3), np.uint8)
        rows[[i for i, st in enumerate(status) if st == "ok"]] = images
    return chunk, status, factors, write_rows(url, chunk * chunk_rows, rows)


def _reason(e: BaseException) -> str:
    if isinstance(e, UnidentifiedImageError):
        return "not an image (unidentified format)"
    if isinstance(e, Image.DecompressionBombError | Image.DecompressionBombWarning):
        return "too many pixels (decompression bomb)"
    msg = str(e).split("\n")[0] or type(e).__name__
    return f"{msg}"[:200]
