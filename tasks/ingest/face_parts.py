"""The parts of a synthetic face, each drawn by one small function with a :class:`Pen`.

Shapes are built in head-local coordinates (frame units, origin at the centre of the eye line,
y down); the pen maps them to the supersampled canvas. The order of the calls in
:func:`zspace.tasks.ingest.synthetic.draw_face` is the painting order (back to front), and every
expression here is the one the images were first drawn with, so the pixels stay bit-identical.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

# -- shape helpers ---------------------------------------------------------------------------
_T64 = np.linspace(0.0, 2 * math.pi, 64, endpoint=False)
_T24 = np.linspace(0.0, 2 * math.pi, 24, endpoint=False)


def ellipse(cx: float, cy: float, rx: float, ry: float, n: int = 24) -> np.ndarray:
    t = _T64 if n == 64 else _T24
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], axis=1)


def egg(rx: float, ry: float, taper: float, cy: float = 0.0, n: int = 64) -> np.ndarray:
    """A head oval that narrows towards the chin (taper > 0)."""
    t = _T64 if n == 64 else _T24
    st = np.sin(t)
    return np.stack([rx * np.cos(t) * (1.0 - taper * np.clip(st, 0, 1) ** 2), cy + ry * st], axis=1)


def arc(x0: float, x1: float, y: float, bend: float, n: int = 12) -> np.ndarray:
    """Points of a parabola from x0 to x1 at height y, `bend` higher in the middle."""
    t = np.linspace(-1.0, 1.0, n)
    return np.stack([(x0 + x1) / 2 + t * (x1 - x0) / 2, y - bend * (1 - t * t)], axis=1)


def band(top: np.ndarray, thickness: np.ndarray | float) -> np.ndarray:
    """A thick stroke along a polyline: the line and the line shifted down, as one polygon."""
    low = top.copy()
    low[:, 1] += thickness
    return np.concatenate([top, low[::-1]])


def col(rgb: np.ndarray) -> tuple[int, int, int, int]:
    r, g, b = (min(max(round(float(v)), 0), 255) for v in rgb)
    return r, g, b, 255


@dataclass
class Pen:
    """Fills head-local polygons and circles on the supersampled canvas."""

    draw: Any  # PIL ImageDraw.Draw
    to_frame: Callable[[np.ndarray], np.ndarray]
    px: int
    head_scale: float
    base_scale: float

    def poly(self, p: np.ndarray, rgb: np.ndarray) -> None:
        q = self.to_frame(p) * self.px
        self.draw.polygon(q.ravel().tolist(), fill=col(rgb))

    def circle(self, x: float, y: float, r: float, rgb: np.ndarray) -> None:
        (cx, cy) = self.to_frame(np.array([[x, y]]))[0] * self.px
        rp = r * self.head_scale * self.base_scale * self.px
        self.draw.ellipse((cx - rp, cy - rp, cx + rp, cy + rp), fill=col(rgb))


Factors = Mapping[str, float]


# -- back to front ---------------------------------------------------------------------------
def shoulders(pen: Pen, skin: np.ndarray, cloth: np.ndarray) -> None:
    """Shoulders and neckline."""
    sh = np.array([[0.0, 0.33], [0.2, 0.345], [0.32, 0.37], [0.42, 0.41], [0.5, 0.47], [0.56, 0.56],
                   [0.6, 0.7], [0.62, 1.1]])
    pen.poly(np.concatenate([sh, sh[::-1] * (-1, 1)]), cloth)
    pen.poly(np.array([[-0.12, 0.4], [0.12, 0.4], [0.0, 0.52]]), skin * 0.84)


def back_hair(pen: Pen, f: Factors, g: Factors, style: int, hair: np.ndarray) -> None:
    """The hair that falls behind the head: a bob's mass, long hair, or a halo of curls."""
    rx, ry, vol = g["rx"], g["ry"], g["vol"]
    hair_back = hair * 0.8
    if style == 2:      # bob: a rounded mass down to the jaw
        pen.poly(egg(rx + vol + 0.03, ry + vol * 0.6, -0.1, cy=-0.02), hair_back)
    elif style == 3:    # long: down over the shoulders
        w = rx + vol + 0.04
        t = np.linspace(math.pi, 2 * math.pi, 33)
        top = np.stack([w * np.cos(t), (ry + vol) * np.sin(t)], axis=1)
        body = np.array([[w + 0.03, 0.45], [w - 0.04, 0.62], [-w + 0.04, 0.62], [-w - 0.03, 0.45]])
        pen.poly(np.concatenate([top, body]), hair_back)
    elif style == 4:    # curly: a halo of curls behind the head
        for k, t in enumerate(np.linspace(math.pi * 0.95, math.pi * 2.05, 15)):
            r = 0.05 + 0.025 * f["hair_volume"] + 0.008 * ((k * 7) % 3)
            x = (rx + vol * 0.6) * math.cos(t)
            y = (ry + vol * 0.4) * math.sin(t) - 0.01
            pen.circle(x, y, r, hair_back)
        for side in (-1, 1):
            for k, y in enumerate((0.02, 0.09, 0.16)):
                pen.circle(side * (rx + 0.025 + 0.01 * k), y, 0.045 + 0.02 * f["hair_volume"],
                           hair_back)


def neck_ears_head(pen: Pen, f: Factors, g: Factors, skin: np.ndarray) -> None:
    """The neck, the ears and the head oval (narrower at the chin for a narrow face)."""
    rx, ry = g["rx"], g["ry"]
    taper = 0.16 + 0.06 * (1 - f["face_width"])
    neck_w = 0.52 * rx
    pen.poly(np.array([[-neck_w, 0.12], [neck_w, 0.12], [neck_w * 1.08, 0.62],
                       [-neck_w * 1.08, 0.62]]), skin * 0.8)
    for side in (-1, 1):
        ex = side * rx * 0.97
        pen.poly(ellipse(ex, 0.045, 0.03, 0.058), skin * 0.9)
        pen.poly(ellipse(ex + side * 0.006, 0.045, 0.014, 0.034), skin * 0.72)
    pen.poly(egg(rx, ry, taper), skin)


def _outer(g: Factors, extra: float, lo: float = 0.0) -> np.ndarray:
    """The skull's outline `extra` further out, left -> over the top -> right."""
    t = np.linspace(math.pi, 2 * math.pi, 33)
    return np.stack([(g["rx"] + extra) * np.cos(t), lo + (g["ry"] + extra) * np.sin(t)], axis=1)


def _hairline(g: Factors, style: int, hv: float) -> tuple[np.ndarray, np.ndarray]:
    """(cap, hairline) of the straight styles: very short, short, bob, long."""
    rx, vol = g["rx"], g["vol"]
    if style == 0:      # very short: a close crop with a high hairline
        return _outer(g, 0.008 + 0.01 * hv), np.array([
            [rx * 1.0, -0.02], [rx * 0.8, -0.11], [rx * 0.3, -0.15], [-rx * 0.3, -0.15],
            [-rx * 0.8, -0.11], [-rx * 1.0, -0.02]])
    if style == 1:      # short: volume on top, a side-swept fringe and sideburns
        return _outer(g, vol), np.array([
            [rx + vol * 0.5, 0.02], [rx * 0.92, 0.03], [rx * 0.86, -0.07], [rx * 0.5, -0.1],
            [0.0, -0.135], [-rx * 0.45, -0.15], [-rx * 0.85, -0.1], [-rx * 0.92, 0.03],
            [-rx - vol * 0.5, 0.02]])
    if style == 2:      # bob: straight fringe, side curtains to the jaw
        return _outer(g, vol + 0.015), np.array([
            [rx + vol + 0.03, 0.2], [rx * 0.82, 0.2], [rx * 0.78, -0.02], [rx * 0.6, -0.075],
            [0.0, -0.085], [-rx * 0.6, -0.075], [-rx * 0.78, -0.02], [-rx * 0.82, 0.2],
            [-rx - vol - 0.03, 0.2]])
    # long: centre parting, curtains past the ears
    return _outer(g, vol), np.array([
        [rx + vol + 0.02, 0.34], [rx * 0.88, 0.34], [rx * 0.86, 0.05], [rx * 0.7, -0.09],
        [rx * 0.25, -0.17], [0.0, -0.2], [-rx * 0.25, -0.17], [-rx * 0.7, -0.09],
        [-rx * 0.86, 0.05], [-rx * 0.88, 0.34], [-rx - vol - 0.02, 0.34]])


def front_hair(pen: Pen, f: Factors, g: Factors, style: int, hair: np.ndarray) -> None:
    """Hair in front: the cap over the skull, the fringe and the side pieces."""
    rx, ry, vol = g["rx"], g["ry"], g["vol"]
    if style == 4:      # curly: a cap of curls over the forehead
        curls(pen, f, g, hair)
        return
    cap, line = _hairline(g, style, f["hair_volume"])
    pen.poly(np.concatenate([cap, line]), hair)
    if style == 1:
        pen.poly(np.array([[-rx * 0.55, -0.2], [rx * 0.2, -0.2], [rx * 0.75, -0.09],
                           [rx * 0.1, -0.14]]), hair * 0.88)
    elif style == 3:
        pen.poly(np.array([[0.0, -ry - vol * 0.9], [0.006, -ry * 0.9], [0.0, -0.2],
                           [-0.006, -ry * 0.9]]), hair * 0.7)
    _sheen_and_strands(pen, g, style, hair)


def _sheen_and_strands(pen: Pen, g: Factors, style: int, hair: np.ndarray) -> None:
    """A sheen across the crown and a few strands, so the hair is not a flat blob."""
    rx, ry, vol = g["rx"], g["ry"], g["vol"]
    ts = np.linspace(math.pi * 1.12, math.pi * 1.45, 10)
    rs = 1.0 if style == 0 else 1.0 + vol / ry * 0.5
    arc_o = np.stack([rx * 0.9 * rs * np.cos(ts), ry * 0.93 * rs * np.sin(ts)], axis=1)
    arc_i = np.stack([rx * 0.72 * rs * np.cos(ts), ry * 0.8 * rs * np.sin(ts)], axis=1)
    pen.poly(np.concatenate([arc_o, arc_i[::-1]]), hair * 1.12 + 14)
    if style in (2, 3):
        y1 = 0.2 if style == 2 else 0.34
        for side in (-1, 1):
            for k, x0 in enumerate((0.9, 0.98, 1.06)):
                xs = side * (rx * x0 + vol * 0.4 * k)
                dx = side * (0.008 + 0.008 * k)
                pen.poly(np.array([[xs, -0.02], [xs + side * 0.004, -0.02],
                                   [xs + dx + side * 0.004, y1 - 0.01], [xs + dx, y1 - 0.01]]),
                         hair * 0.78)


def curls(pen: Pen, f: Factors, g: Factors, hair: np.ndarray) -> None:
    rx, ry, vol = g["rx"], g["ry"], g["vol"]
    hv = f["hair_volume"]
    t = np.linspace(math.pi, 2 * math.pi, 33)
    e = vol * 0.5
    cap = np.stack([(rx + e) * np.cos(t), (ry + e) * np.sin(t)], axis=1)
    line = np.array([[rx * 1.02, 0.02], [rx * 0.8, -0.1], [0.0, -0.14], [-rx * 0.8, -0.1],
                     [-rx * 1.02, 0.02]])
    pen.poly(np.concatenate([cap, line]), hair * 0.9)
    for k, tt in enumerate(np.linspace(math.pi * 1.03, math.pi * 1.97, 9)):
        r = 0.034 + 0.012 * hv + 0.005 * (k % 2)
        x = (rx * 0.82) * math.cos(tt)
        y = (ry * 0.58) * math.sin(tt) - 0.015
        pen.circle(x, y, r, hair * (0.95 + 0.1 * (k % 2)))


def brows(pen: Pen, f: Factors, g: Factors, skin: np.ndarray, hair: np.ndarray) -> None:
    """Eyebrows: thick arcs in a darkened hair colour."""
    brow = hair * 0.55 + skin * 0.2 if f["hair_darkness"] > 0.3 else hair * 0.45 + skin * 0.25
    es, ew, eh = g["es"], g["ew"], g["eh"]
    for side in (-1, 1):
        bx0, bx1 = side * (es - ew * 1.15), side * (es + ew * 1.2)
        by = -eh - 0.03 - 0.004 * (1 - f["eye_openness"])
        top = arc(min(bx0, bx1), max(bx0, bx1), by, 0.012, 10)
        thick = 0.013 * np.sin(np.linspace(0.3, 2.6, 10)[:: -side])
        pen.poly(band(top, thick), brow)


def eyes(pen: Pen, f: Factors, g: Factors, skin: np.ndarray) -> None:
    """Eyes: the white, iris, pupil, a highlight, and the upper lid line."""
    iris_col = np.array([70.0, 48.0, 34.0]) * (
        0.7 + 0.6 * f["hair_redness"] * (1 - f["hair_darkness"]))
    es, ew, eh = g["es"], g["ew"], g["eh"]
    for side in (-1, 1):
        x = side * es
        pen.poly(ellipse(x, 0.0, ew * 1.02, eh + 0.004), skin * 0.62)
        pen.poly(ellipse(x, 0.0, ew, eh), np.array([236.0, 232.0, 226.0]))
        ir = ew * 0.5
        pen.poly(ellipse(x, 0.0, ir, min(ir, eh * 0.98)), iris_col)
        pr = ir * 0.5
        pen.poly(ellipse(x, 0.0, pr, min(pr, eh * 0.8)), np.array([14.0, 12.0, 12.0]))
        lid = arc(x - ew * 1.05, x + ew * 1.05, -eh * 0.55, eh * 0.55, 12)
        pen.poly(band(lid - (0, 0.006), 0.008 * np.sin(np.linspace(0.2, 2.9, 12))), skin * 0.35)
        if eh > 0.008:
            pen.circle(x + ir * 0.35, -min(ir, eh) * 0.35, ir * 0.22,
                       np.array([250.0, 250.0, 250.0]))


def nose(pen: Pen, skin: np.ndarray) -> None:
    """Nose: a shadow along one side and the nostrils."""
    shade = skin * 0.74
    pen.poly(np.array([[0.012, 0.05], [0.02, 0.05], [0.03, 0.095], [0.02, 0.1]]), skin * 0.86)
    pen.poly(band(arc(-0.028, 0.028, 0.107, -0.006, 8), 0.006), skin * 0.84)
    for side in (-1, 1):
        pen.poly(ellipse(side * 0.014, 0.108, 0.009, 0.0045), shade * 0.85)


def mouth(pen: Pen, g: Factors, skin: np.ndarray) -> None:
    """Lips whose corners rise with the smile; an open mouth shows its inside and teeth."""
    mw, smile, mo, my = g["mw"], g["smile"], g["mo"], g["mouth_y"]
    t = np.linspace(-1.0, 1.0, 15)
    x = t * mw
    base = my - smile * t * t + smile * 0.35      # corners rise by `smile`, centre sinks a little
    bulge = np.sqrt(np.clip(1 - t * t, 0, 1))
    lip = skin * 0.62 + np.array([170.0, 45.0, 60.0]) * 0.32
    up_out = base - mo * 0.5 * bulge - 0.014 * bulge
    lo_out = base + mo * 0.5 * bulge + 0.019 * bulge
    pen.poly(np.concatenate([np.stack([x, up_out], 1), np.stack([x, lo_out], 1)[::-1]]), lip)
    if mo > 0.006:
        up_in, lo_in = base - mo * 0.5 * bulge, base + mo * 0.5 * bulge
        pen.poly(np.concatenate([np.stack([x, up_in], 1), np.stack([x, lo_in], 1)[::-1]]),
                 np.array([70.0, 22.0, 26.0]))
        teeth = up_in + np.minimum(mo * 0.35, 0.012) * bulge
        pen.poly(np.concatenate([np.stack([x * 0.8, up_in], 1),
                                 np.stack([x * 0.8, teeth], 1)[::-1]]),
                 np.array([236.0, 230.0, 220.0]))
    pen.poly(band(np.stack([x * 1.03, base - 0.003], 1), 0.006), skin * 0.3)
