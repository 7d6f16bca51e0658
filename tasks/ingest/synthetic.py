"""Procedurally drawn synthetic faces: the embedded default dataset, with known generating factors.

Every image is a pure function of its factor table, and the factor table of image `index` is a
pure function of (seed, index), so chunks can be drawn in parallel, in any order, and resumed
bit-identically. The factors are continuous wherever that makes sense (hair style is the one
categorical factor), so the latent space has smooth directions to find, and the table is the
ground truth the latent analysis can be checked against.

Geometry is built in head-local coordinates (frame units, origin at the centre of the eye line,
y down), rotated/scaled/shifted as polygons and drawn with PIL at a supersampled resolution,
then box-reduced (antialiasing), lit, composited over the background and given fine grain.
"""

from __future__ import annotations

import colorsys
import hashlib
import math
from collections.abc import Mapping

import numpy as np
from PIL import Image, ImageDraw

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


# -- shape helpers ---------------------------------------------------------------------------
_T64 = np.linspace(0.0, 2 * math.pi, 64, endpoint=False)
_T24 = np.linspace(0.0, 2 * math.pi, 24, endpoint=False)


def _ellipse(cx: float, cy: float, rx: float, ry: float, n: int = 24) -> np.ndarray:
    t = _T64 if n == 64 else _T24
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], axis=1)


def _egg(rx: float, ry: float, taper: float, cy: float = 0.0, n: int = 64) -> np.ndarray:
    """A head oval that narrows towards the chin (taper > 0)."""
    t = _T64 if n == 64 else _T24
    st = np.sin(t)
    return np.stack([rx * np.cos(t) * (1.0 - taper * np.clip(st, 0, 1) ** 2), cy + ry * st], axis=1)


def _arc(x0: float, x1: float, y: float, bend: float, n: int = 12) -> np.ndarray:
    """Points of a parabola from x0 to x1 at height y, `bend` higher in the middle."""
    t = np.linspace(-1.0, 1.0, n)
    return np.stack([(x0 + x1) / 2 + t * (x1 - x0) / 2, y - bend * (1 - t * t)], axis=1)


def _band(top: np.ndarray, thickness: np.ndarray | float) -> np.ndarray:
    """A thick stroke along a polyline: the line and the line shifted down, as one polygon."""
    low = top.copy()
    low[:, 1] += thickness
    return np.concatenate([top, low[::-1]])


def _col(rgb: np.ndarray) -> tuple[int, int, int, int]:
    r, g, b = (min(max(round(float(v)), 0), 255) for v in rgb)
    return r, g, b, 255


# -- drawing ---------------------------------------------------------------------------------
def draw_face(factors: Mapping[str, float], size: int) -> np.ndarray:
    """The face for a factor table, as uint8 (size, size, 3) RGB."""
    if size < 8:
        raise ValueError(f"size must be at least 8 pixels, got {size}")
    f = _check(factors)
    g = _geometry(f)
    ss = 4 if size <= 48 else 3
    px = size * ss
    to_frame = _frame_transform(f)
    canvas = Image.new("RGBA", (px, px), (0, 0, 0, 0))
    draw = ImageDraw.Draw(canvas)

    def poly(p: np.ndarray, rgb: np.ndarray) -> None:
        q = to_frame(p) * px
        draw.polygon(q.ravel().tolist(), fill=_col(rgb))

    def circle(x: float, y: float, r: float, rgb: np.ndarray) -> None:
        (cx, cy), rp = to_frame(np.array([[x, y]]))[0] * px, r * f["head_scale"] * BASE_SCALE * px
        draw.ellipse((cx - rp, cy - rp, cx + rp, cy + rp), fill=_col(rgb))

    skin, hair, cloth = skin_rgb(f), hair_rgb(f), clothes_rgb(f)
    rx, ry, vol = g["rx"], g["ry"], g["vol"]
    style = int(round(f["hair_style"]))
    taper = 0.16 + 0.06 * (1 - f["face_width"])

    # Shoulders and neckline, then the hair that falls behind the head, then the neck.
    sh = np.array([[0.0, 0.33], [0.2, 0.345], [0.32, 0.37], [0.42, 0.41], [0.5, 0.47], [0.56, 0.56],
                   [0.6, 0.7], [0.62, 1.1]])
    poly(np.concatenate([sh, sh[::-1] * (-1, 1)]), cloth)
    poly(np.array([[-0.12, 0.4], [0.12, 0.4], [0.0, 0.52]]), skin * 0.84)
    hair_back = hair * 0.8
    if style == 2:      # bob: a rounded mass down to the jaw
        poly(_egg(rx + vol + 0.03, ry + vol * 0.6, -0.1, cy=-0.02), hair_back)
    elif style == 3:    # long: down over the shoulders
        w = rx + vol + 0.04
        t = np.linspace(math.pi, 2 * math.pi, 33)
        top = np.stack([w * np.cos(t), (ry + vol) * np.sin(t)], axis=1)
        body = np.array([[w + 0.03, 0.45], [w - 0.04, 0.62], [-w + 0.04, 0.62], [-w - 0.03, 0.45]])
        poly(np.concatenate([top, body]), hair_back)
    elif style == 4:    # curly: a halo of curls behind the head
        for k, t in enumerate(np.linspace(math.pi * 0.95, math.pi * 2.05, 15)):
            r = 0.05 + 0.025 * f["hair_volume"] + 0.008 * ((k * 7) % 3)
            x = (rx + vol * 0.6) * math.cos(t)
            y = (ry + vol * 0.4) * math.sin(t) - 0.01
            circle(x, y, r, hair_back)
        for side in (-1, 1):
            for k, y in enumerate((0.02, 0.09, 0.16)):
                circle(side * (rx + 0.025 + 0.01 * k), y, 0.045 + 0.02 * f["hair_volume"], hair_back)
    neck_w = 0.52 * rx
    poly(np.array([[-neck_w, 0.12], [neck_w, 0.12], [neck_w * 1.08, 0.62], [-neck_w * 1.08, 0.62]]),
         skin * 0.8)

    # Ears, head.
    for side in (-1, 1):
        ex = side * rx * 0.97
        poly(_ellipse(ex, 0.045, 0.03, 0.058), skin * 0.9)
        poly(_ellipse(ex + side * 0.006, 0.045, 0.014, 0.034), skin * 0.72)
    poly(_egg(rx, ry, taper), skin)

    # Hair in front: the cap over the skull, the fringe and the side pieces.
    _front_hair(poly, circle, f, g, style, hair)

    # Eyebrows: thick arcs in a darkened hair colour.
    brow = hair * 0.55 + skin * 0.2 if f["hair_darkness"] > 0.3 else hair * 0.45 + skin * 0.25
    es, ew, eh = g["es"], g["ew"], g["eh"]
    for side in (-1, 1):
        bx0, bx1 = side * (es - ew * 1.15), side * (es + ew * 1.2)
        by = -eh - 0.03 - 0.004 * (1 - f["eye_openness"])
        top = _arc(min(bx0, bx1), max(bx0, bx1), by, 0.012, 10)
        thick = 0.013 * np.sin(np.linspace(0.3, 2.6, 10)[:: -side])
        poly(_band(top, thick), brow)

    # Eyes: the white, iris, pupil, a highlight, and the upper lid line.
    iris_col = np.array([70.0, 48.0, 34.0]) * (0.7 + 0.6 * f["hair_redness"] * (1 - f["hair_darkness"]))
    for side in (-1, 1):
        x = side * es
        poly(_ellipse(x, 0.0, ew * 1.02, eh + 0.004), skin * 0.62)
        poly(_ellipse(x, 0.0, ew, eh), np.array([236.0, 232.0, 226.0]))
        ir = ew * 0.5
        poly(_ellipse(x, 0.0, ir, min(ir, eh * 0.98)), iris_col)
        pr = ir * 0.5
        poly(_ellipse(x, 0.0, pr, min(pr, eh * 0.8)), np.array([14.0, 12.0, 12.0]))
        lid = _arc(x - ew * 1.05, x + ew * 1.05, -eh * 0.55, eh * 0.55, 12)
        poly(_band(lid - (0, 0.006), 0.008 * np.sin(np.linspace(0.2, 2.9, 12))), skin * 0.35)
        if eh > 0.008:
            circle(x + ir * 0.35, -min(ir, eh) * 0.35, ir * 0.22, np.array([250.0, 250.0, 250.0]))

    # Nose: a shadow along one side and the nostrils.
    nose = skin * 0.74
    poly(np.array([[0.012, 0.05], [0.02, 0.05], [0.03, 0.095], [0.02, 0.1]]), skin * 0.86)
    poly(_band(_arc(-0.028, 0.028, 0.107, -0.006, 8), 0.006), skin * 0.84)
    for side in (-1, 1):
        poly(_ellipse(side * 0.014, 0.108, 0.009, 0.0045), nose * 0.85)

    _mouth(poly, f, g, skin)

    small = canvas.reduce(ss)
    rgba = np.asarray(small, dtype=np.float32)
    alpha = rgba[..., 3:] / 255.0
    grid = (np.arange(size, dtype=np.float32) + 0.5) / size
    gain = light_gain(f, grid[None, :], grid[:, None])[..., None]
    figure = rgba[..., :3] * gain
    background = background_rgb(f, grid)[:, None, :].astype(np.float32)
    out = figure * alpha + background * (1.0 - alpha)
    out += _grain(f, size)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _front_hair(poly, circle, f, g, style: int, hair: np.ndarray) -> None:
    rx, ry, vol = g["rx"], g["ry"], g["vol"]
    hv = f["hair_volume"]
    t = np.linspace(math.pi, 2 * math.pi, 33)  # left -> over the top -> right

    def outer(extra: float, lo: float = 0.0) -> np.ndarray:
        return np.stack([(rx + extra) * np.cos(t), lo + (ry + extra) * np.sin(t)], axis=1)

    if style == 0:      # very short: a close crop with a high hairline
        cap = outer(0.008 + 0.01 * hv)
        line = np.array([[rx * 1.0, -0.02], [rx * 0.8, -0.11], [rx * 0.3, -0.15], [-rx * 0.3, -0.15],
                         [-rx * 0.8, -0.11], [-rx * 1.0, -0.02]])
        poly(np.concatenate([cap, line]), hair)
    elif style == 1:    # short: volume on top, a side-swept fringe and sideburns
        cap = outer(vol)
        line = np.array([[rx + vol * 0.5, 0.02], [rx * 0.92, 0.03], [rx * 0.86, -0.07],
                         [rx * 0.5, -0.1], [0.0, -0.135], [-rx * 0.45, -0.15], [-rx * 0.85, -0.1],
                         [-rx * 0.92, 0.03], [-rx - vol * 0.5, 0.02]])
        poly(np.concatenate([cap, line]), hair)
        poly(np.array([[-rx * 0.55, -0.2], [rx * 0.2, -0.2], [rx * 0.75, -0.09],
                       [rx * 0.1, -0.14]]), hair * 0.88)
    elif style == 2:    # bob: straight fringe, side curtains to the jaw
        cap = outer(vol + 0.015)
        line = np.array([[rx + vol + 0.03, 0.2], [rx * 0.82, 0.2], [rx * 0.78, -0.02],
                         [rx * 0.6, -0.075], [0.0, -0.085], [-rx * 0.6, -0.075], [-rx * 0.78, -0.02],
                         [-rx * 0.82, 0.2], [-rx - vol - 0.03, 0.2]])
        poly(np.concatenate([cap, line]), hair)
    elif style == 3:    # long: centre parting, curtains past the ears
        cap = outer(vol)
        line = np.array([[rx + vol + 0.02, 0.34], [rx * 0.88, 0.34], [rx * 0.86, 0.05],
                         [rx * 0.7, -0.09], [rx * 0.25, -0.17], [0.0, -0.2], [-rx * 0.25, -0.17],
                         [-rx * 0.7, -0.09], [-rx * 0.86, 0.05], [-rx * 0.88, 0.34],
                         [-rx - vol - 0.02, 0.34]])
        poly(np.concatenate([cap, line]), hair)
        poly(np.array([[0.0, -ry - vol * 0.9], [0.006, -ry * 0.9], [0.0, -0.2], [-0.006, -ry * 0.9]]),
             hair * 0.7)
    else:               # curly: a cap of curls over the forehead
        _curls(poly, circle, f, g, hair)
        return
    # A sheen across the crown and a few strands, so the hair is not a flat blob.
    ts = np.linspace(math.pi * 1.12, math.pi * 1.45, 10)
    rs = 1.0 if style == 0 else 1.0 + vol / ry * 0.5
    arc_o = np.stack([rx * 0.9 * rs * np.cos(ts), ry * 0.93 * rs * np.sin(ts)], axis=1)
    arc_i = np.stack([rx * 0.72 * rs * np.cos(ts), ry * 0.8 * rs * np.sin(ts)], axis=1)
    poly(np.concatenate([arc_o, arc_i[::-1]]), hair * 1.12 + 14)
    if style in (2, 3):
        y1 = 0.2 if style == 2 else 0.34
        for side in (-1, 1):
            for k, x0 in enumerate((0.9, 0.98, 1.06)):
                xs = side * (rx * x0 + vol * 0.4 * k)
                dx = side * (0.008 + 0.008 * k)
                poly(np.array([[xs, -0.02], [xs + side * 0.004, -0.02], [xs + dx + side * 0.004, y1 - 0.01],
                               [xs + dx, y1 - 0.01]]), hair * 0.78)


def _curls(poly, circle, f, g, hair: np.ndarray) -> None:
    rx, ry, vol = g["rx"], g["ry"], g["vol"]
    hv = f["hair_volume"]
    t = np.linspace(math.pi, 2 * math.pi, 33)
    e = vol * 0.5
    cap = np.stack([(rx + e) * np.cos(t), (ry + e) * np.sin(t)], axis=1)
    line = np.array([[rx * 1.02, 0.02], [rx * 0.8, -0.1], [0.0, -0.14], [-rx * 0.8, -0.1],
                     [-rx * 1.02, 0.02]])
    poly(np.concatenate([cap, line]), hair * 0.9)
    for k, tt in enumerate(np.linspace(math.pi * 1.03, math.pi * 1.97, 9)):
        r = 0.034 + 0.012 * hv + 0.005 * (k % 2)
        x = (rx * 0.82) * math.cos(tt)
        y = (ry * 0.58) * math.sin(tt) - 0.015
        circle(x, y, r, hair * (0.95 + 0.1 * (k % 2)))


def _mouth(poly, f, g, skin: np.ndarray) -> None:
    mw, smile, mo, my = g["mw"], g["smile"], g["mo"], g["mouth_y"]
    t = np.linspace(-1.0, 1.0, 15)
    x = t * mw
    base = my - smile * t * t + smile * 0.35      # corners rise by `smile`, centre sinks a little
    bulge = np.sqrt(np.clip(1 - t * t, 0, 1))
    lip = skin * 0.62 + np.array([170.0, 45.0, 60.0]) * 0.32
    up_out = base - mo * 0.5 * bulge - 0.014 * bulge
    lo_out = base + mo * 0.5 * bulge + 0.019 * bulge
    poly(np.concatenate([np.stack([x, up_out], 1), np.stack([x, lo_out], 1)[::-1]]), lip)
    if mo > 0.006:
        up_in, lo_in = base - mo * 0.5 * bulge, base + mo * 0.5 * bulge
        poly(np.concatenate([np.stack([x, up_in], 1), np.stack([x, lo_in], 1)[::-1]]),
             np.array([70.0, 22.0, 26.0]))
        teeth = up_in + np.minimum(mo * 0.35, 0.012) * bulge
        poly(np.concatenate([np.stack([x * 0.8, up_in], 1), np.stack([x * 0.8, teeth], 1)[::-1]]),
             np.array([236.0, 230.0, 220.0]))
    poly(_band(np.stack([x * 1.03, base - 0.003], 1), 0.006), skin * 0.3)


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
