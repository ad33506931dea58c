"""pfcore.align: the 5-point similarity fit and the pure-Python warp the board uses, against
known transforms, numpy least squares, cv2.warpAffine and real MicroPython."""

import json
import math

import numpy as np
import pytest

from pfcore import align
import test_micropython as mprun

VECTORS = mprun.ROOT / "tests" / "vectors" / "align_vectors.py"


def _apply(m, pts):
    return [align.apply(m, x, y) for x, y in pts]


def test_template_is_arcface_scaled():
    t = align.template(112)
    assert t[0] == pytest.approx((38.2946, 51.6963))
    t64 = align.template(64)
    # Canaan's K210 demo truncates the same scaled template to these integers
    assert [(int(x), int(y)) for x, y in t64] == [(21, 29), (42, 29), (32, 40), (23, 52), (40, 52)]


@pytest.mark.parametrize("scale,angle,tx,ty", [(1.7, 23.0, -12.5, 40.25), (0.4, -170.0, 3.0, 0.0), (1.0, 0.0, 0, 0)])
def test_similarity_recovers_a_known_transform(scale, angle, tx, ty):
    rng = np.random.default_rng(1)
    src = [tuple(p) for p in rng.uniform(0, 200, (5, 2)).tolist()]
    c, s = scale * math.cos(math.radians(angle)), scale * math.sin(math.radians(angle))
    known = [[c, -s, tx], [s, c, ty]]
    m = align.similarity(src, _apply(known, src))
    assert all(isinstance(v, float) for r in m for v in r)
    assert np.allclose(m, known, atol=1e-9)


def test_similarity_is_the_least_squares_fit_and_never_reflects():
    rng = np.random.default_rng(2)
    src = rng.uniform(0, 100, (5, 2))
    dst = rng.uniform(0, 100, (5, 2))
    # linear least squares over (a, b, tx, ty) with x' = a x - b y + tx, y' = b x + a y + ty
    rows, rhs = [], []
    for (x, y), (u, v) in zip(src, dst):
        rows += [[x, -y, 1, 0], [y, x, 0, 1]]
        rhs += [u, v]
    a, b, tx, ty = np.linalg.lstsq(np.array(rows), np.array(rhs), rcond=None)[0]
    m = align.similarity(src.tolist(), dst.tolist())
    assert np.allclose(m, [[a, -b, tx], [b, a, ty]], atol=1e-9)
    # mirrored points: the best similarity still has a positive determinant (a rotation, not a flip)
    mirrored = [(-x, y) for x, y in src.tolist()]
    m = align.similarity(src.tolist(), mirrored)
    assert m[0][0] * m[1][1] - m[0][1] * m[1][0] > 0
    with pytest.raises(ValueError):
        align.similarity([(1, 1)] * 5, dst.tolist())


def test_align_matrix_maps_landmarks_onto_the_template():
    tpl = align.template(64)
    known = [[0.6, 0.2, 7.0], [-0.2, 0.6, 3.0]]
    lm = _apply(align.invert(known), tpl)          # landmarks that the known transform aligns exactly
    m = align.align_matrix(lm, 64)
    assert np.allclose(_apply(m, lm), tpl, atol=1e-9)
    with pytest.raises(ValueError):
        align.align_matrix(lm[:4], 64)


def _test_image(w=160, h=160):
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([(xx * 1.5 + yy) % 256, (yy * 2.0) % 256, 128 + 100 * np.sin(xx / 9.0) * np.cos(yy / 7.0)], -1)
    rng = np.random.default_rng(0)
    for _ in range(12):  # hard edges too
        x, y = rng.integers(0, w - 20), rng.integers(0, h - 20)
        img[y:y + 20, x:x + 20] = rng.integers(0, 256, 3)
    return np.clip(img, 0, 255).astype(np.uint8)


def _pf_warp(img, m, size, mode="bilinear"):
    h, w, c = img.shape
    out = align.warp(img.tobytes(), w, h, c, m, size, size, mode)
    return np.frombuffer(bytes(out), np.uint8).reshape(size, size, c)


@pytest.mark.parametrize("size", [64, 112])
def test_pfcore_warp_matches_cv2_within_one_grey_level(size):
    import cv2

    img = _test_image()
    lm = [(58.3, 70.1), (101.2, 67.4), (80.6, 93.0), (63.0, 111.9), (99.8, 110.2)]
    m = align.align_matrix(lm, size)
    ref = cv2.warpAffine(img, np.array(m), (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    got = _pf_warp(img, m, size)
    d = np.abs(got.astype(int) - ref.astype(int))
    assert d.max() <= 1, d.max()
    assert got.std() > 20  # a real picture came out, not a blank
    near = _pf_warp(img, m, size, "nearest")
    refn = cv2.warpAffine(img, np.array(m), (size, size), flags=cv2.INTER_NEAREST)
    assert (near == refn).all()


def test_pfcore_warp_outside_the_source_is_black_like_cv2():
    import cv2

    img = _test_image(50, 40)
    m = [[1.5, 0.3, -20.0], [-0.3, 1.5, 10.0]]
    ref = cv2.warpAffine(img, np.array(m), (90, 90), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    got = _pf_warp(img, m, 90)
    inv = np.array(align.invert(m))
    yy, xx = np.mgrid[0:90, 0:90]
    sx = inv[0, 0] * xx + inv[0, 1] * yy + inv[0, 2]
    sy = inv[1, 0] * xx + inv[1, 1] * yy + inv[1, 2]
    outside = (sx < -1) | (sy < -1) | (sx >= 50) | (sy >= 40)
    inside = (sx >= 0) & (sy >= 0) & (sx <= 48.99) & (sy <= 38.99)
    assert outside.any() and inside.any()
    assert (got[outside] == 0).all() and (ref[outside] == 0).all()
    assert np.abs(got.astype(int) - ref.astype(int)).max() <= 1  # also along the border


def _records(stdout):
    lines = stdout.strip().splitlines()
    assert lines and lines[-1] == "done", stdout[-500:]
    return {r["case"]: r["out"] for r in map(json.loads, lines[:-1])}


@pytest.mark.micropython
def test_align_runs_under_micropython_with_the_cpython_results(node):
    cp = mprun.run_cpython(VECTORS)
    assert cp.returncode == 0, cp.stderr
    mp = mprun.run_micropython(node, VECTORS)
    assert mp.returncode == 0, mp.stderr
    cpr, mpr = _records(cp.stdout), _records(mp.stdout)
    assert np.allclose(mpr["matrix"], cpr["matrix"], rtol=1e-6, atol=1e-6)
    assert np.allclose(cpr["matrix"], align.align_matrix(
        [(30.5, 41.25), (61.0, 38.5), (47.75, 58.0), (35.0, 76.5), (60.25, 74.0)], 64))
    for mode in ("bilinear", "nearest"):
        a, b = np.array(cpr["warp/" + mode]), np.array(mpr["warp/" + mode])
        assert len(a) == 20 * 15 * 3 and a.std() > 10
        assert np.abs(a - b).max() <= 1
