"""Occluders painted over part of a face: the faces a portrait set rarely shows.

Faces that a WIDER-trained detector finds and picoface's K210 model misses are mostly partly
covered: sunglasses, helmets, caps, scarves, a hand or another head in front (docs/TRAINING.md).
The training sets are portraits and mask photos, so only the mouth is ever covered. With
probability ``augment.occlude`` per face (faces at least ``MIN_SIDE`` net pixels), one occluder
is drawn on the frame:

- a band across the eyes (glasses): dark, 15-30 % of the face high;
- a block over one side of the face (cap from the top, scarf from the bottom, a hand or a
  head from the left or right): 20-45 % of the face, filled with a flat colour or with a patch
  of the same frame (texture that belongs to the scene).

At most half the face is covered and the face stays a face (its box and label are unchanged).
"""

import numpy as np

MIN_SIDE = 6.0   # net pixels: smaller faces are left alone (an occluder would be a pixel or two)


def _fill(img, x0, y0, x1, y1, rng, dark):
    h, w = y1 - y0, x1 - x0
    H, W = img.shape[:2]
    if not dark and rng.random() < 0.5 and W > w and H > h:   # a patch of this frame
        sx, sy = int(rng.integers(0, W - w + 1)), int(rng.integers(0, H - h + 1))
        img[y0:y1, x0:x1] = img[sy:sy + h, sx:sx + w].copy()
        return
    top = 60 if dark else 256
    g = rng.integers(0, top)
    c = np.clip(g + rng.integers(-20, 21, img.shape[2]), 0, 255) if img.ndim == 3 else g
    img[y0:y1, x0:x1] = np.asarray(c, np.uint8)


def occlude_faces(img, boxes, rng, p):
    """Paint occluders over faces of ``img`` (uint8 HxWxC, changed in place); ``boxes`` (N, 4)
    x, y, w, h in its pixels. Draws from ``rng`` only when ``p`` > 0. Returns how many faces."""
    if p <= 0 or not len(boxes):
        return 0
    H, W = img.shape[:2]
    done = 0
    for x, y, w, h in np.asarray(boxes, np.float64):
        if rng.random() >= p or min(w, h) < MIN_SIDE:
            continue
        if rng.random() < 0.35:   # glasses: a band across the eyes
            bx0, bx1 = x + w * rng.uniform(0.0, 0.12), x + w * rng.uniform(0.88, 1.0)
            by0 = y + h * rng.uniform(0.25, 0.38)
            by1 = by0 + h * rng.uniform(0.15, 0.3)
            dark = True
        else:                     # a block from one side
            f = rng.uniform(0.2, 0.45)
            side = int(rng.integers(0, 4))
            bx0, by0, bx1, by1 = x, y, x + w, y + h
            if side == 0:
                by1 = y + h * f          # cap, helmet
            elif side == 1:
                by0 = y + h * (1 - f)    # scarf, collar
            elif side == 2:
                bx1 = x + w * f          # hand, another head
            else:
                bx0 = x + w * (1 - f)
            dark = False
        ix0, iy0 = int(round(max(bx0, 0))), int(round(max(by0, 0)))
        ix1, iy1 = int(round(min(bx1, W))), int(round(min(by1, H)))
        if ix1 <= ix0 or iy1 <= iy0:
            continue
        _fill(img, ix0, iy0, ix1, iy1, rng, dark)
        done += 1
    return done
