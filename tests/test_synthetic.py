"""The synthetic faces: deterministic by seed, factors in range, and the factor table matches the
pixels (so the latent analysis can use it as ground truth)."""

from __future__ import annotations

import numpy as np
import pytest

from zspace.tasks.ingest.synthetic import (
    CATEGORICAL,
    FACTOR_NAMES,
    FACTOR_RANGES,
    HAIR_STYLES,
    background_rgb,
    draw_face,
    hair_rgb,
    landmarks,
    light_gain,
    sample_factors,
    skin_rgb,
    synthetic_face,
)

SIZE = 96
N = 200


@pytest.fixture(scope="module")
def faces() -> list[tuple[np.ndarray, dict[str, float]]]:
    return [synthetic_face(11, i, SIZE) for i in range(N)]


def _patch(img: np.ndarray, x: float, y: float, r: int = 1) -> np.ndarray:
    """Mean colour of a (2r+1)^2 patch around frame point (x, y)."""
    h, w = img.shape[:2]
    i = min(max(int(y * h), r), h - r - 1)
    j = min(max(int(x * w), r), w - r - 1)
    return img[i - r:i + r + 1, j - r:j + r + 1].reshape(-1, 3).astype(float).mean(0)


def _background(f: dict[str, float], size: int) -> np.ndarray:
    return np.stack([background_rgb(f, (k + 0.5) / size) for k in range(size)])[:, None, :]


@pytest.mark.parametrize("size", [32, 64, 96])
def test_dtype_and_shape(size: int) -> None:
    img, f = synthetic_face(0, 3, size)
    assert img.dtype == np.uint8 and img.shape == (size, size, 3)
    assert set(f) == set(FACTOR_NAMES)
    assert all(isinstance(v, float) for v in f.values())
    assert img.std() > 10  # not a flat image


def test_deterministic_by_seed_and_index() -> None:
    a, fa = synthetic_face(4, 17, 64)
    b, fb = synthetic_face(4, 17, 64)
    assert fa == fb and a.tobytes() == b.tobytes()
    c, fc = synthetic_face(5, 17, 64)
    assert fc != fa and c.tobytes() != a.tobytes()
    d, fd = synthetic_face(4, 18, 64)
    assert fd != fa and d.tobytes() != a.tobytes()


def test_image_is_a_function_of_the_factor_table() -> None:
    img, f = synthetic_face(2, 9, 64)
    # As the index CSV stores them: repr of each float, read back with float().
    from_csv = {k: float(repr(v)) for k, v in f.items()}
    assert draw_face(from_csv, 64).tobytes() == img.tobytes()
    with pytest.raises(ValueError, match="missing"):
        draw_face({k: v for k, v in f.items() if k != "skin_tone"}, 64)


def test_sample_factors_independent_of_call_order() -> None:
    forward = [sample_factors(3, i) for i in range(50)]
    backward = [sample_factors(3, i) for i in reversed(range(50))][::-1]
    assert forward == backward
    assert sample_factors(3, 1000) == sample_factors(3, 1000)
    with pytest.raises(ValueError):
        sample_factors(-1, 0)


def test_factors_in_range_and_each_varies(faces) -> None:
    table = {k: np.array([f[k] for _, f in faces]) for k in FACTOR_NAMES}
    for name, (lo, hi) in FACTOR_RANGES.items():
        v = table[name]
        assert v.min() >= lo and v.max() <= hi, name
        # Covers most of its range over 200 samples (uniform sampling).
        assert v.max() - v.min() > 0.8 * (hi - lo), name
    for name, labels in CATEGORICAL.items():
        v = table[name]
        assert np.all(v == np.round(v))
        assert set(v.astype(int)) == set(range(len(labels)))
    assert CATEGORICAL["hair_style"] == HAIR_STYLES


def test_every_factor_changes_the_image() -> None:
    base = sample_factors(8, 1)
    base.update(head_x=0.0, head_y=0.0, head_scale=1.0, head_rotation=0.0, hair_style=1.0,
                light_strength=0.5, mouth_openness=0.3)
    for name, (lo, hi) in FACTOR_RANGES.items():
        a, b = dict(base), dict(base)
        a[name], b[name] = (lo, hi) if name not in CATEGORICAL else (1.0, 3.0)
        d = draw_face(a, SIZE).astype(float) - draw_face(b, SIZE).astype(float)
        # Means over 4x4 blocks average the grain out (to ~1 level); a real change stands out.
        blocks = np.abs(d.reshape(SIZE // 4, 4, SIZE // 4, 4, 3).mean((1, 3))).max(-1)
        assert (blocks > 8).sum() >= 2, name


def test_background_factor_predicts_corners(faces) -> None:
    for img, f in faces:
        y = 1.5 / SIZE  # centre of the top 3-pixel rows
        for corner in (img[:3, :3], img[:3, -3:]):
            got = corner.reshape(-1, 3).astype(float).mean(0)
            assert np.abs(got - background_rgb(f, y)).max() < 8, f


def _colour_at(faces, landmark: str, colour) -> tuple[np.ndarray, list[np.ndarray]]:
    """Per face: |pixels at a landmark - the factors' lit colour|, and the patch itself."""
    errs, patches = [], []
    for img, f in faces:
        x, y = landmarks(f)[landmark]
        got = _patch(img, x, y)
        errs.append(np.abs(got - colour(f) * light_gain(f, x, y)).max())
        patches.append(got)
    return np.array(errs), patches


def test_skin_tone_predicts_face_centre(faces) -> None:
    errs, patches = _colour_at(faces, "face_centre", skin_rgb)
    assert np.max(errs) < 10
    tone = [f["skin_tone"] for _, f in faces]
    assert np.corrcoef(tone, [p.mean() for p in patches])[0, 1] > 0.8


def test_hair_colour_predicts_top_of_head(faces) -> None:
    errs, patches = _colour_at(faces, "hair", hair_rgb)
    assert np.median(errs) < 5 and np.max(errs) < 20  # curls are drawn in +-5% shades
    dark = [f["hair_darkness"] for _, f in faces]
    assert np.corrcoef(dark, [p.mean() for p in patches])[0, 1] < -0.8


def test_head_x_predicts_figure_centroid(faces) -> None:
    cx, hx = [], []
    for img, f in faces:
        fg = np.abs(img.astype(float) - _background(f, SIZE)).max(-1) > 20
        fg[int(SIZE * 0.62):] = False  # the head, not the neck and shoulders the frame cuts off
        cx.append(np.nonzero(fg)[1].mean() / SIZE)
        hx.append(f["head_x"])
    assert np.corrcoef(cx, hx)[0, 1] > 0.9


@pytest.mark.parametrize("axis", ["head_x", "head_y"])
def test_head_position_shifts_the_figure(axis: str) -> None:
    """Moving the head by k pixels moves the drawn figure by k pixels (background kept flat)."""
    f = sample_factors(6, 2)
    f.update(head_x=0.0, head_y=0.0, head_rotation=0.0, bg_gradient=0.0)
    k = 5
    moved = dict(f, **{axis: k / SIZE})
    a = draw_face(f, SIZE).astype(int)
    b = draw_face(moved, SIZE).astype(int)
    if axis == "head_x":
        a, b = a[:, :-k], b[:, k:]
    else:
        a, b = a[:-k], b[k:]
    d = np.abs(a - b).max(-1)
    assert np.mean(d > 30) < 0.003
    unmoved = np.abs(draw_face(f, SIZE).astype(int) - draw_face(moved, SIZE).astype(int)).max(-1)
    assert np.mean(unmoved > 30) > 0.05


def test_head_scale_grows_the_figure() -> None:
    f = sample_factors(6, 4)
    f.update(head_x=0.0, head_y=0.0, bg_gradient=0.0)
    areas = []
    for s in (0.85, 1.0, 1.15):
        img = draw_face(dict(f, head_scale=s), SIZE).astype(float)
        areas.append((np.abs(img - _background(f, SIZE)).max(-1) > 20).mean())
    assert areas[0] < areas[1] < areas[2]
