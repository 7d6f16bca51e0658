"""Procedurally drawn synthetic faces: the embedded default dataset, with known generating factors.

Every image is a pure function of its factor table, and the factor table of image `index` is a
pure function of (seed, index), so chunks can be drawn in parallel, in any order, and resumed
bit-identically. The factors are continuous wherever that makes sense (hair style is the one
categorical factor), so the latent space has smooth directions to find, and the table is the
ground truth the latent analysis can be checked against.

Geometry is built in head-local coordinates (frame units, origin at the centre of the eye line,
y down), rotated/scaled/shifted as polygons and drawn with PIL at a supersampled resolution
(the parts are in :mod:`.face_parts`), then box-reduced (antialiasing), lit, composited over the
background and given fine grain.
"""

from __future__ import annotations

import colorsys
import hashlib
import math
from collections.abc import Mapping

import numpy as np
from PIL import Image, ImageDraw

from zspace.tasks.ingest import face_parts as parts

# name: (low, high). Ranges are in the factor's own units (frame fractions, degrees, or 0..1).
FACTOR_RANGES: dict[str, tuple[float, float]] = {
    "skin_tone": (0.0, 1.0),         # dark -> light
    "skin_hue": (-1.0, 1.0),         # olive/yellow -> rosy/red
    "hair_darkness": (0.0, 1.0),     # blond/ginger -> black
    "hair_redness": (0.0, 1.0),      # ash/golden -> auburn/ginger
    "hair_style": (0.0, 4.0),        # categorical, see HAIR_STYLES
    "hair_volume": (0.0, 1.0),       # how far the hair stands out from the skull
    "face_width": (0.0, 1.0),        # narrow -> wide face oval
    "eye_spacing": (0.0, 1.0),
    "eye_size": (0.0, 1.0),
    "eye_openness": (0.0, 1.0),      # nearly closed -> wide open
    "mouth_width": (0.0, 1.0),
    "mouth_smile": (-1.0, 1.0),      # frown -> smile (corner curvature)
    "mouth_openness": (0.0, 1.0),    # closed -> open with teeth
    "head_x": (-0.08, 0.08),         # eye-line centre offset from the frame centre, frame widths
    "head_y": (-0.08, 0.08),         # same, frame heights (y down)
    "head_scale": (0.85, 1.15),
    "head_rotation": (-20.0, 20.0),  # in-plane angle, degrees, counter-clockwise on screen
    "bg_hue": (0.0, 1.0),            # maps to hue 0..0.8 of the circle (no wrap-around)
    "bg_saturation": (0.0, 1.0),
    "bg_brightness": (0.0, 1.0),
    "bg_gradient": (-1.0, 1.0),      # vertical: darker top (-) .. brighter top (+)
    "light_direction": (-90.0, 90.0),  # where the light comes from: -90 left, 0 above, 90 right
    "light_strength": (0.0, 1.0),
    "clothes_hue": (0.0, 1.0),       # maps to hue 0..0.8 of the circle
}
FACTOR_NAMES: tuple[str, ...] = tuple(FACTOR_RANGES)
HAIR_STYLES: tuple[str, ...] = ("very_short", "short", "bob", "long", "curly")
CATEGORICAL: dict[str, tuple[str, ...]] = {"hair_style": HAIR_STYLES}

EYE_LINE_Y = 0.48      # frame y of the eye line for head_y = 0 (CelebA aligned crops: ~0.5)
HEAD_RY = 0.27         # skull half height (eye line to chin), head-local units
BASE_SCALE = 1.2       # head-local units -> frame units at head_scale 1 (face fills ~55%)
NOISE_SIGMA = 2.5      # fine grain, grey levels


# -- factors ---------------------------------------------------------------------------------
def sample_factors(seed: int, index: int) -> dict[str, float]:
    """The factors of image `index`, from its own random stream (independent of any other index)."""
    if seed < 0 or index < 0:
        raise ValueError(f"seed and index must be >= 0, got seed={seed}, index={index}")
    u = np.random.default_rng([int(seed), int(index), 0x5F4CE]).random(len(FACTOR_NAMES))
    out: dict[str, float] = {}
    for name, ui in zip(FACTOR_NAMES, u, strict=True):
        lo, hi = FACTOR_RANGES[name]
        if name in CATEGORICAL:
            out[name] = float(min(int(ui * len(CATEGORICAL[name])), len(CATEGORICAL[name]) - 1))
        else:
            # Rounded so the CSV index stays readable; still exactly reproducible.
            out[name] = round(float(lo + (hi - lo) * ui), 4)
    return out


def synthetic_face(seed: int, index: int, size: int) -> tuple[np.ndarray, dict[str, float]]:
    factors = sample_factors(seed, index)
    return draw_face(factors, size), factors


def _check(factors: Mapping[str, float]) -> dict[str, float]:
    missing = [n for n in FACTOR_NAMES if n not in factors]
    if missing:
        raise ValueError(f"synthetic face factors missing: {', '.join(missing)}")
    return {n: float(factors[n]) for n in FACTOR_NAMES}


# -- colours (public so tests and the analysis can relate factors to pixels) -----------------
_SKIN_DARK = np.array([88.0, 54.0, 38.0])
_SKIN_MID = np.array([196.0, 142.0, 108.0])
_SKIN_LIGHT = np.array([250.0, 218.0, 196.0])
_HAIR_ASH = np.array([214.0, 196.0, 150.0])
_HAIR_GINGER = np.array([196.0, 98.0, 40.0])
_HAIR_BLACK = np.array([24.0, 20.0, 19.0])
_HAIR_AUBURN = np.array([74.0, 30.0, 18.0])


def skin_rgb(factors: Mapping[str, float]) -> np.ndarray:
    """Unlit skin colour (float RGB 0..255)."""
    t, h = float(factors["skin_tone"]), float(factors["skin_hue"])
    base = _SKIN_DARK + (_SKIN_MID - _SKIN_DARK) * (t / 0.5) if t < 0.5 else \
        _SKIN_MID + (_SKIN_LIGHT - _SKIN_MID) * ((t - 0.5) / 0.5)
    shift = np.array([1.0 + 0.06 * h, 1.0 - 0.05 * h, 1.0 - 0.02 * h - 0.06 * max(-h, 0.0)])
    return np.clip(base * shift, 0, 255)


def hair_rgb(factors: Mapping[str, float]) -> np.ndarray:
    """Unlit hair colour (float RGB 0..255)."""
    d, r = float(factors["hair_darkness"]), float(factors["hair_redness"])
    light = _HAIR_ASH + (_HAIR_GINGER - _HAIR_ASH) * r
    dark = _HAIR_BLACK + (_HAIR_AUBURN - _HAIR_BLACK) * r  # redness shows even in dark hair
    return light + (dark - light) * d ** 0.8


def _hsv(h: float, s: float, v: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(h, s, v)) * 255.0


def background_rgb(factors: Mapping[str, float], y: np.ndarray | float = 0.5) -> np.ndarray:
    """Background colour at frame height y (0 top, 1 bottom; scalar or array): float RGB 0..255,
    shape y.shape + (3,)."""
    v = 0.15 + 0.8 * float(factors["bg_brightness"])
    base = _hsv(0.8 * float(factors["bg_hue"]), 0.55 * float(factors["bg_saturation"]), v)
    gain = 1.0 + 0.6 * float(factors["bg_gradient"]) * (0.5 - np.asarray(y, dtype=np.float64))
    return np.clip(base * gain[..., None], 0, 255)


def clothes_rgb(factors: Mapping[str, float]) -> np.ndarray:
    return _hsv(0.8 * float(factors["clothes_hue"]), 0.55, 0.6)


# -- geometry --------------------------------------------------------------------------------
def _geometry(f: Mapping[str, float]) -> dict[str, float]:
    """Head-local sizes derived from the factors (frame units at head_scale 1)."""
    ew = 0.033 + 0.022 * f["eye_size"]
    return {
        "rx": 0.162 + 0.06 * f["face_width"],
        "ry": HEAD_RY,
        "es": 0.074 + 0.036 * f["eye_spacing"],
        "ew": ew,
        "eh": ew * (0.18 + 0.42 * f["eye_openness"]),
        "mw": 0.045 + 0.05 * f["mouth_width"],
        "smile": 0.04 * f["mouth_smile"],
        "mo": 0.05 * f["mouth_openness"],
        "vol": 0.02 + 0.1 * f["hair_volume"],
        "mouth_y": 0.168,
    }


def _frame_transform(f: Mapping[str, float]):
    """Head-local (N,2) points -> frame units (0..1)."""
    s = f["head_scale"] * BASE_SCALE
    a = math.radians(f["head_rotation"])
    c, sn = math.cos(a) * s, math.sin(a) * s
    cx, cy = 0.5 + f["head_x"], EYE_LINE_Y + f["head_y"]
    # Counter-clockwise on screen with y down: x' = x cos + y sin, y' = -x sin + y cos.
    m = np.array([[c, -sn], [sn, c]])

    def to_frame(p: np.ndarray) -> np.ndarray:
        return p @ m + (cx, cy)

    return to_frame


def landmarks(factors: Mapping[str, float]) -> dict[str, tuple[float, float]]:
    """Frame coordinates (x, y in 0..1) of points whose colour the factors determine:
    'face_centre' (bare skin between the eyes, unshaded by the light), 'hair' (the top of
    the head, hair in every style), 'eye_left'/'eye_right', 'mouth', 'head' (eye-line centre)."""
    f = _check(factors)
    g = _geometry(f)
    pts = {
        "head": (0.0, 0.0),
        "face_centre": (0.0, 0.03),
        "hair": (0.05, -0.2),
        "eye_left": (-g["es"], 0.0),
        "eye_right": (g["es"], 0.0),
        "mouth": (0.0, g["mouth_y"]),
    }
    to_frame = _frame_transform(f)
    out = to_frame(np.array(list(pts.values())))
    return {k: (float(x), float(y)) for k, (x, y) in zip(pts, out, strict=True)}


def light_gain(factors: Mapping[str, float], x: np.ndarray | float, y: np.ndarray | float):
    """Multiplicative shading of the figure at frame coordinates (x, y): a directional gradient
    across the head (light_direction, light_strength) times a fixed roundness falloff."""
    f = _check(factors)
    g = _geometry(f)
    s = f["head_scale"] * BASE_SCALE
    cx, cy = 0.5 + f["head_x"], EYE_LINE_Y + f["head_y"]
    dx, dy = (np.asarray(x) - cx) / (g["rx"] * s), (np.asarray(y) - cy) / (g["ry"] * s)
    a = math.radians(f["light_direction"])
    lx, ly = math.sin(a), -math.cos(a)  # unit vector towards the light (y down)
    directional = np.clip(1.0 + 0.42 * f["light_strength"] * (dx * lx + dy * ly), 0.45, 1.5)
    roundness = 1.0 - 0.13 * np.clip(dx * dx + dy * dy - 0.15, 0.0, 1.4)
    return directional * roundness


# -- drawing ---------------------------------------------------------------------------------
def draw_face(factors: Mapping[str, float], size: int) -> np.ndarray:
    """The face for a factor table, as uint8 (size, size, 3) RGB: the parts painted back to
    front on a supersampled canvas, box-reduced, lit and composited over the background."""
    if size < 8:
        raise ValueError(f"size must be at least 8 pixels, got {size}")
    f = _check(factors)
    g = _geometry(f)
    ss = 4 if size <= 48 else 3
    px = size * ss
    canvas = Image.new("RGBA", (px, px), (0, 0, 0, 0))
    pen = parts.Pen(ImageDraw.Draw(canvas), _frame_transform(f), px, f["head_scale"], BASE_SCALE)
    skin, hair = skin_rgb(f), hair_rgb(f)
    style = int(round(f["hair_style"]))
    parts.shoulders(pen, skin, clothes_rgb(f))
    parts.back_hair(pen, f, g, style, hair)
    parts.neck_ears_head(pen, f, g, skin)
    parts.front_hair(pen, f, g, style, hair)
    parts.brows(pen, f, g, skin, hair)
    parts.eyes(pen, f, g, skin)
    parts.nose(pen, skin)
    parts.mouth(pen, g, skin)
    return _composite(f, canvas.reduce(ss), size)


def _composite(f: Mapping[str, float], small: Image.Image, size: int) -> np.ndarray:
    """Light the figure, lay it over the background gradient and add the fine grain."""
    rgba = np.asarray(small, dtype=np.float32)
    alpha = rgba[..., 3:] / 255.0
    grid = (np.arange(size, dtype=np.float32) + 0.5) / size
    gain = light_gain(f, grid[None, :], grid[:, None])[..., None]
    figure = rgba[..., :3] * gain
    background = background_rgb(f, grid)[:, None, :].astype(np.float32)
    out = figure * alpha + background * (1.0 - alpha)
    out += _grain(f, size)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


_GRAIN_BANKS: dict[int, np.ndarray] = {}


def _grain(f: Mapping[str, float], size: int) -> np.ndarray:
    """Fine noise: a window of a fixed noise bank at an offset hashed from the factor values, so
    the image stays a pure function of its factors (and drawing stays fast)."""
    bank = _GRAIN_BANKS.get(size)
    if bank is None:
        rng = np.random.default_rng(20240611 + size)
        n = 3 * size
        bank = rng.standard_normal((n, n, 1), dtype=np.float32) * NOISE_SIGMA + \
            rng.standard_normal((n, n, 3), dtype=np.float32) * (NOISE_SIGMA * 0.5)
        _GRAIN_BANKS[size] = bank
    key = np.array([f[n] for n in FACTOR_NAMES], dtype=np.float64).tobytes()
    h = int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little")
    i, j = h % (2 * size), (h >> 20) % (2 * size)
    return bank[i:i + size, j:j + size]
