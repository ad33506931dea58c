"""Frames for the gate, made from face datasets with the TinyFace compiler's random padding.

A positive is a frame-shaped crop (``aspect`` = the camera's w / h) around one face, the face's
side a log-uniform share ``face_min..face_max`` of the crop height (far to filling the frame) at a
random place inside it; a negative is a random frame-shaped crop that no face or ignore region
overlaps by more than a tenth of its area (a sliver of a face at the edge is still no face). Both are
squashed to the net input, as the board squashes its camera frame (``fit: stretch``).
"""

import numpy as np

MAX_TRIES = 30


def _warp(img, x0, y0, cw, ch, w, h):
    import cv2

    M = np.array([[w / cw, 0, -x0 * w / cw], [0, h / ch, -y0 * h / ch]], np.float32)
    shrink = cw > w or ch > h
    return cv2.warpAffine(img, M, (w, h), flags=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def _overlap(x0, y0, cw, ch, boxes):
    """Largest share of a box's area inside the crop."""
    if not len(boxes):
        return 0.0
    b = np.asarray(boxes, np.float32).reshape(-1, 4)
    ix = np.clip(np.minimum(b[:, 0] + b[:, 2], x0 + cw) - np.maximum(b[:, 0], x0), 0, None)
    iy = np.clip(np.minimum(b[:, 1] + b[:, 3], y0 + ch) - np.maximum(b[:, 1], y0), 0, None)
    return float((ix * iy / np.maximum(b[:, 2] * b[:, 3], 1e-6)).max())


def _positive(img, box, g, rng, train):
    H, W = img.shape[:2]
    x, y, bw, bh = [float(v) for v in box]
    side = max(bw, bh)
    lo, hi = np.log(g.face_min), np.log(g.face_max)
    frac = float(np.exp(rng.uniform(lo, hi))) if train else float(np.exp((lo + hi) / 2 + rng.uniform(-1, 1) * (hi - lo) / 2))
    ch = side / frac
    ch = max(min(ch, 1.15 * H, 1.15 * W / g.aspect), side * 1.05)   # mostly inside the photo
    cw = ch * g.aspect
    # the face anywhere inside the crop
    x0 = x - rng.uniform(0, max(0.0, cw - bw))
    y0 = y - rng.uniform(0, max(0.0, ch - bh))
    return x0, y0, cw, ch


def _negative(img, allb, g, rng):
    H, W = img.shape[:2]
    top = min(H, W / g.aspect)
    if top < 24:
        return None
    for _ in range(MAX_TRIES):
        ch = rng.uniform(0.25, 1.0) * top
        cw = ch * g.aspect
        x0, y0 = rng.uniform(0, max(1e-3, W - cw)), rng.uniform(0, max(1e-3, H - ch))
        if _overlap(x0, y0, cw, ch, allb) < 0.1:
            return x0, y0, cw, ch
    return None


def _photometric(crop, rng):
    f = crop.astype(np.float32)
    f = (f - 128.0) * rng.uniform(0.6, 1.4) + 128.0 + rng.uniform(-40, 40)
    if rng.random() < 0.15:
        f = np.repeat(f.mean(axis=2, keepdims=True), f.shape[2], axis=2)
    if rng.random() < 0.3:
        f = f + rng.normal(0, rng.uniform(2, 8), f.shape)
    return np.clip(f, 0, 255).astype(np.uint8)


def frame_crops(images, boxes, ignores, n, w, h, rng, gate, channels=3, train=True, sizes=False):
    """n frames (n, h, w, channels) uint8 and labels (n,) float32, alternately face / no face.
    ``gate``: a GateConfig (aspect, face_min, face_max, min_face). ``sizes``: also return each
    frame's face side / frame height (0 for no face)."""
    import cv2

    pos_idx = [i for i, b in enumerate(boxes) if len(b) and (np.asarray(b)[:, 2:].min(axis=1) >= gate.min_face).any()]
    if not pos_idx:
        raise ValueError("no face of at least %g px in %d images" % (gate.min_face, len(images)))
    xs, ys, fr = [], [], []
    k = 0
    while len(xs) < n:
        pos = k % 2 == 0
        k += 1
        if k > 20 * n + 100:
            raise ValueError("could not cut %d gate crops (no background outside the faces?)" % n)
        if pos:
            i = pos_idx[int(rng.integers(len(pos_idx)))]
            b = np.asarray(boxes[i], np.float32).reshape(-1, 4)
            b = b[b[:, 2:].min(axis=1) >= gate.min_face]
            box = b[int(rng.integers(len(b)))]
            rect = _positive(images[i], box, gate, rng, train)
        else:
            i = int(rng.integers(len(images)))
            allb = np.concatenate([np.asarray(boxes[i], np.float32).reshape(-1, 4),
                                   np.asarray(ignores[i], np.float32).reshape(-1, 4)])
            rect = _negative(images[i], allb, gate, rng)
            if rect is None:
                continue
        crop = _warp(images[i], *rect, w, h)
        if train:
            if rng.random() < 0.5:
                crop = crop[:, ::-1]
            crop = _photometric(crop, rng)
        if channels == 1:
            crop = cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_RGB2GRAY)[..., None]
        xs.append(np.ascontiguousarray(crop))
        ys.append(1.0 if pos else 0.0)
        fr.append(float(max(box[2], box[3]) / rect[3]) if pos else 0.0)
    x, y = np.stack(xs).astype(np.uint8), np.array(ys, np.float32)
    return (x, y, np.array(fr, np.float32)) if sizes else (x, y)
