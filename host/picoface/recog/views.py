"""Training and validation views of the recognition faces (``picoface.recog.faces`` cache).

- ``aligned(...)``: 64x64 faces aligned by ``pfcore.align`` from the 5 landmarks, as the board
  aligns them, with the errors the board makes: a similarity jitter of the alignment (a landmark
  net is not YuNet), a face a few metres away (down to 14 px and back up), RGB565 rounding,
  nearest or bilinear warps, colour and light changes, mirror images (whose target is the
  teacher's embedding of the mirror image).
- ``landmark_crops(...)``: the square the board cuts around a detector box (``BOX_SCALE`` x its
  longer side), 64x64, with the box jittered as a detector's boxes differ from YuNet's; targets
  are the 5 points as fractions of the square.
Validation views use a fixed seed and no colour change, so epochs compare.

``centred(data, rows)``: the teacher's embeddings less their mean over ``rows`` (the training
faces), L2-normalised again. dlib's descriptors share a large common part (two strangers' cosine
is about 0.7), so a student that copies them raw spends its error on that part and ends with
every cosine near 1; the centred targets are the part that tells people apart.
"""

import numpy as np

from pfcore import align

SIZE = 64
BOX_SCALE = 1.25
MIRROR = (1, 0, 2, 4, 3)      # left/right swap of the 5 points after a mirror


def _mirror(crop, pts):
    w = crop.shape[1]
    p = pts[list(MIRROR)].copy()
    p[:, 0] = (w - 1) - p[:, 0]
    return crop[:, ::-1], p


def _jitter(m, rng, rot, scale, shift):
    """m (2x3) followed by a random similarity about the output's centre."""
    a = np.deg2rad(rng.uniform(-rot, rot))
    s = np.exp(rng.uniform(-scale, scale))
    c = SIZE / 2.0
    r = np.array([[s * np.cos(a), -s * np.sin(a)], [s * np.sin(a), s * np.cos(a)]])
    t = np.array([c, c]) - r @ np.array([c, c]) + rng.uniform(-shift, shift, 2) * SIZE
    return np.vstack([np.hstack([r, t[:, None]]), [0, 0, 1]]) @ np.vstack([m, [0, 0, 1]])


def _rgb565(img):
    out = img.copy()
    out[..., 0] &= 0xF8
    out[..., 1] &= 0xFC
    out[..., 2] &= 0xF8
    return out


def _photometric(img, rng):
    import cv2

    f = img.astype(np.float32)
    if rng.random() < 0.3:
        side = int(rng.integers(14, 40))
        small = cv2.resize(img, (side, side), interpolation=cv2.INTER_AREA)
        f = cv2.resize(small, (SIZE, SIZE), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    f = f * rng.uniform(0.7, 1.3) + rng.uniform(-25, 25)
    grey = f.mean(axis=2, keepdims=True)
    f = grey + (f - grey) * rng.uniform(0.6, 1.3)
    if rng.random() < 0.1:
        f = np.repeat(f.mean(axis=2, keepdims=True), 3, axis=2)
    if rng.random() < 0.2:
        f = f + rng.normal(0, 4, f.shape)
    out = np.clip(f, 0, 255).astype(np.uint8)
    return _rgb565(out) if rng.random() < 0.5 else out


def centred(data, rows):
    """A copy of the faces cache ``data`` with the teacher targets centred on the mean of ``rows``."""
    both = np.concatenate([data["teacher"][rows], data["teacher_flip"][rows]]).astype(np.float64)
    mean = both.mean(axis=0)
    out = dict(data)
    for k in ("teacher", "teacher_flip"):
        t = data[k].astype(np.float64) - mean
        out[k] = (t / np.maximum(np.linalg.norm(t, axis=1, keepdims=True), 1e-12)).astype(np.float32)
    return out


def aligned(data, idx, rng, train=True):
    """(faces (N, 64, 64, 3) uint8, teacher targets (N, 128)) for cache rows ``idx``."""
    import cv2

    out = np.zeros((len(idx), SIZE, SIZE, 3), np.uint8)
    tgt = np.zeros((len(idx), data["teacher"].shape[1]), np.float32)
    for j, i in enumerate(idx):
        crop, pts, t = data["crops"][i], data["points"][i], data["teacher"][i]
        if train and rng.random() < 0.5:
            crop, pts = _mirror(crop, pts)
            t = data["teacher_flip"][i]
        m = np.array(align.align_matrix([tuple(map(float, p)) for p in pts], SIZE), np.float64)
        if train:
            m = _jitter(m, rng, 6.0, 0.06, 0.04)[:2]
        flags = cv2.INTER_NEAREST if (train and rng.random() < 0.3) else cv2.INTER_LINEAR
        face = cv2.warpAffine(np.ascontiguousarray(crop), m, (SIZE, SIZE), flags=flags,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        out[j] = _photometric(face, rng) if train else face
        tgt[j] = t
    return out, tgt


def square(box, scale=BOX_SCALE):
    """(x0, y0, side) of the square the board cuts around a box [x, y, w, h]."""
    x, y, w, h = (float(v) for v in box)
    s = scale * max(w, h)
    return x + w / 2.0 - s / 2.0, y + h / 2.0 - s / 2.0, s


def landmark_crops(data, idx, rng, train=True):
    """(crops (N, 64, 64, 3) uint8, points (N, 5, 2) as fractions of the square)."""
    import cv2

    out = np.zeros((len(idx), SIZE, SIZE, 3), np.uint8)
    tgt = np.zeros((len(idx), 5, 2), np.float32)
    for j, i in enumerate(idx):
        crop, pts, box = data["crops"][i], data["points"][i], data["boxes"][i].astype(np.float64)
        if train and rng.random() < 0.5:
            crop, pts = _mirror(crop, pts)
            box = box.copy()
            box[0] = crop.shape[1] - box[0] - box[2]
        x, y, w, h = box
        s = rng.uniform(-0.12, 0.12, 2) if train else rng.uniform(-0.06, 0.06, 2)
        k = np.exp(rng.uniform(-0.15, 0.15, 2)) if train else np.exp(rng.uniform(-0.08, 0.08, 2))
        w2, h2 = w * k[0], h * k[1]
        bx = (x + w / 2.0 + s[0] * w - w2 / 2.0, y + h / 2.0 + s[1] * h - h2 / 2.0, w2, h2)
        x0, y0, side = square(bx)
        f = SIZE / side
        m = np.array([[f, 0, -f * x0], [0, f, -f * y0]], np.float64)
        flags = (cv2.INTER_NEAREST if rng.random() < 0.5 else cv2.INTER_AREA) if train else cv2.INTER_NEAREST
        img = cv2.warpAffine(np.ascontiguousarray(crop), m, (SIZE, SIZE), flags=flags,
                             borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        out[j] = _photometric(img, rng) if train else img
        tgt[j] = (pts - (x0, y0)) / side
    return out, tgt
