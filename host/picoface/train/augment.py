"""Camera-like augmentation: one random "camera frame" per training sample.

A frame is a random crop (or zoom-out onto a grey canvas) with aspect jitter and flip, which is
then mapped to the net input by the device's own geometry (``pfcore.geom.Fit``, ``input.fit``) —
one affine warp. Occluders over part of some faces (``augment.occlude``, picoface.train.occlude)
and photometric jitter (brightness, contrast, saturation, grayscale, blur, noise) follow. Faces
that become smaller than ``augment.min_face`` net pixels, or mostly cut off, turn into ignore
regions (no objectness loss there), as do the datasets' own ignore boxes. With probability
``augment.mosaic`` a frame is instead a grid of 2..``mosaic_max`` x 2..``mosaic_max`` tiles, each
tile such a camera frame of another photo: many small faces per frame, as in crowd scenes.
Photos are drawn by per-source weight (``source_probabilities``).
"""

import math

import numpy as np

from picoface.train.geometry import fit_affine, make_fit
from picoface.train.occlude import occlude_faces


def _rows(b):
    """Box rows as float32 (N, C): [x, y, w, h] plus any extra columns (a class) kept as they are."""
    b = np.asarray(b, np.float32)
    return b.reshape(-1, b.shape[-1] if b.ndim == 2 else 4)


def _clip(b, w, h):
    b = _rows(b)
    if not len(b):
        return b
    x0 = np.clip(b[:, 0], 0, w)
    y0 = np.clip(b[:, 1], 0, h)
    x1 = np.clip(b[:, 0] + b[:, 2], 0, w)
    y1 = np.clip(b[:, 1] + b[:, 3], 0, h)
    out = np.concatenate([np.stack([x0, y0, x1 - x0, y1 - y0], 1), b[:, 4:]], 1)
    return out[(out[:, 2] > 1) & (out[:, 3] > 1)]


def _transform_boxes(b, M):
    """xywh boxes (extra columns kept) through an axis-aligned affine (scale + translate, maybe mirrored)."""
    b = _rows(b)
    if not len(b):
        return b
    x0 = b[:, 0] * M[0, 0] + M[0, 2]
    x1 = (b[:, 0] + b[:, 2]) * M[0, 0] + M[0, 2]
    y0 = b[:, 1] * M[1, 1] + M[1, 2]
    y1 = (b[:, 1] + b[:, 3]) * M[1, 1] + M[1, 2]
    xa, xb = np.minimum(x0, x1), np.maximum(x0, x1)
    ya, yb = np.minimum(y0, y1), np.maximum(y0, y1)
    return np.concatenate([np.stack([xa, ya, xb - xa, yb - ya], 1), b[:, 4:]], 1).astype(np.float32)


class Augmenter:
    """One random camera frame per call: (net-size uint8 RGB, boxes, ignore) in net pixels."""

    def __init__(self, cfg, train=True, size=None):
        self.a = cfg.augment
        self.net_w, self.net_h = size or (cfg.input.w, cfg.input.h)
        self.fit_mode = cfg.input.fit
        self.train = train

    def frame(self, img, boxes, ignore, rng, size=None, view=None):
        """``size`` (w, h): make a frame of that size instead of the net input (mosaic tiles).
        ``view`` (x, y, w, h): render only that window of the frame (boxes in window pixels)."""
        import cv2

        a = self.a
        H, W = img.shape[:2]
        net_w, net_h = size or (self.net_w, self.net_h)
        vx, vy, vw, vh = view or (0, 0, net_w, net_h)
        net_aspect = float(net_w) / net_h
        if self.train:
            aspect = net_aspect * math.exp(rng.uniform(-a.aspect_jitter, a.aspect_jitter))
            if rng.random() < a.zoom_out:
                # camera frame larger than the photo: faces get small (WIDER-like scenes)
                z = rng.uniform(1.0, a.zoom_out_max)
                ch = max(H, W / aspect) * z
            else:
                u = rng.uniform(a.crop_min, a.crop_max)
                ch = min(H, W / aspect) * u
            cw = ch * aspect
            cx0 = rng.uniform(min(0.0, W - cw), max(0.0, W - cw))
            cy0 = rng.uniform(min(0.0, H - ch), max(0.0, H - ch))
            cam_w, cam_h = max(2, int(round(cw))), max(2, int(round(ch)))
            cx0, cy0 = int(round(cx0)), int(round(cy0))
            flip = rng.random() < a.flip
        else:
            cam_w, cam_h, cx0, cy0, flip = W, H, 0, 0, False
        # the crop is the "camera frame"; the device geometry maps it to the net input
        fit = make_fit(cam_w, cam_h, net_w, net_h, self.fit_mode)
        M = fit_affine(fit, net_w, net_h).astype(np.float64)
        M[:, 2] -= M[:, :2] @ np.array([cx0, cy0], np.float64)
        if flip:
            M[0, :] = -M[0, :]
            M[0, 2] += net_w
        M[:, 2] -= (vx, vy)
        interp = cv2.INTER_AREA if abs(M[0, 0]) < 0.7 else cv2.INTER_LINEAR
        border = (0, 0, 0)
        if self.train and self.fit_mode != "letterbox":
            g = int(rng.integers(0, 256))
            border = (g, g, g)
        # M maps continuous coordinates (pixel edges, like cv2.resize and the boxes);
        # warpAffine maps pixel centres: shift by half a pixel on both sides
        Mc = M.copy()
        Mc[:, 2] += 0.5 * (M[:, 0] + M[:, 1]) - 0.5
        out = cv2.warpAffine(img, Mc.astype(np.float32), (vw, vh), flags=interp,
                             borderMode=cv2.BORDER_CONSTANT, borderValue=border)
        b = _transform_boxes(boxes, M)
        ig = _transform_boxes(ignore, M)
        b, ig = cut_boxes(b, ig, vw, vh, a.min_face)
        if self.train:
            occlude_faces(out, b[:, :4], rng, a.occlude)
            out = self.photometric(out, rng)
        return out, b, ig

    def photometric(self, img, rng):
        """Colour jitter on uint8 with OpenCV (a LUT for contrast+brightness): cheap on 2 cores."""
        import cv2

        a = self.a
        x = img
        if rng.random() < a.grayscale:
            g = cv2.cvtColor(x, cv2.COLOR_RGB2GRAY)
            x = cv2.cvtColor(g, cv2.COLOR_GRAY2RGB)
        elif a.saturation > 0:
            s = 1.0 + rng.uniform(-a.saturation, a.saturation)
            g = cv2.cvtColor(cv2.cvtColor(x, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
            x = cv2.addWeighted(x, s, g, 1.0 - s, 0.0)
        c = 1.0 + rng.uniform(-a.contrast, a.contrast) if a.contrast > 0 else 1.0
        b = 255.0 * rng.uniform(-a.brightness, a.brightness) * 0.5 if a.brightness > 0 else 0.0
        if c != 1.0 or b != 0.0:
            m = float(np.mean(cv2.mean(x)[:3]))
            lut = np.clip((np.arange(256, dtype=np.float32) - m) * c + m + b, 0, 255).astype(np.uint8)
            x = cv2.LUT(x, lut)
        if rng.random() < a.blur:
            k = 3 if rng.random() < 0.7 else 5
            x = cv2.GaussianBlur(x, (k, k), 0)
        if rng.random() < a.noise:
            n = rng.normal(0, rng.uniform(2, 10), x.shape).astype(np.float32)
            x = np.clip(x.astype(np.float32) + n, 0, 255).astype(np.uint8)
        return x


def cut_boxes(boxes, ignore, w, h, min_face):
    """Boxes and ignore regions clipped to a w x h frame. Faces mostly cut off by the frame,
    or too small to learn, become ignore regions. Extra box columns (a class) stay with their face."""
    boxes = _rows(boxes)
    keep, extra_ig = [], []
    for box in boxes:
        x0, y0 = max(box[0], 0), max(box[1], 0)
        x1, y1 = min(box[0] + box[2], w), min(box[1] + box[3], h)
        if x1 - x0 <= 1 or y1 - y0 <= 1:
            continue
        frac = (x1 - x0) * (y1 - y0) / max(box[2] * box[3], 1e-6)
        clipped = np.array([x0, y0, x1 - x0, y1 - y0], np.float32)
        if frac < 0.6 or min(clipped[2], clipped[3]) < min_face:
            extra_ig.append(clipped)
        else:
            keep.append(np.concatenate([clipped, box[4:]]))
    b = np.array(keep, np.float32).reshape(-1, boxes.shape[1])
    return b, np.concatenate([_clip(ignore, w, h), np.array(extra_ig, np.float32).reshape(-1, 4)])


def mosaic_frame(aug, cache, p, first, rng, view=None):
    """A frame tiled with photos: image ``first`` and others drawn with probabilities ``p``.
    ``view`` (x, y, w, h): render only that window of it (tiles outside it are skipped)."""
    a = aug.a
    vx, vy, vw, vh = view or (0, 0, aug.net_w, aug.net_h)
    cols = int(rng.integers(2, a.mosaic_max + 1))
    rows = int(np.clip(cols + rng.integers(-1, 2), 2, a.mosaic_max))
    xs = np.linspace(0, aug.net_w, cols + 1).astype(int)
    ys = np.linspace(0, aug.net_h, rows + 1).astype(int)
    canvas = np.zeros((vh, vw, cache.images[first].shape[2]), np.uint8)
    cols_b = _rows(cache.boxes[first]).shape[1]      # 4, or 5 with a class column
    boxes, ignore = [np.zeros((0, cols_b), np.float32)], [np.zeros((0, 4), np.float32)]
    for r in range(rows):
        for c in range(cols):
            i = first if r == c == 0 else int(rng.choice(len(cache), p=p))
            trng = np.random.default_rng(int(rng.integers(1 << 62)))  # a tile's draws: same with any view
            x0, x1 = max(xs[c], vx), min(xs[c + 1], vx + vw)
            y0, y1 = max(ys[r], vy), min(ys[r + 1], vy + vh)
            if x1 <= x0 or y1 <= y0:
                continue
            tile, b, ig = aug.frame(cache.images[i], cache.boxes[i], cache.ignore[i], trng,
                                    size=(int(xs[c + 1] - xs[c]), int(ys[r + 1] - ys[r])),
                                    view=(int(x0 - xs[c]), int(y0 - ys[r]), int(x1 - x0), int(y1 - y0)))
            canvas[y0 - vy:y1 - vy, x0 - vx:x1 - vx] = tile
            off = np.array([x0 - vx, y0 - vy, 0, 0], np.float32)
            boxes.append(np.concatenate([b[:, :4] + off, b[:, 4:]], 1))
            ignore.append(ig + off)
    return canvas, np.concatenate(boxes), np.concatenate(ignore)


def make_frame(aug, cache, p, i, rng, view=None):
    """One training frame for image ``i``: a mosaic (probability augment.mosaic) or a camera frame;
    with ``view`` only that window of it."""
    if aug.a.mosaic > 0 and rng.random() < aug.a.mosaic:
        return mosaic_frame(aug, cache, p, i, rng, view)
    return aug.frame(cache.images[i], cache.boxes[i], cache.ignore[i], rng, view=view)


def source_probabilities(cfg, cache):
    """Per-image sampling probability from the per-source weights (a weight is per image)."""
    w = np.array([cfg.data.weights.get(s, 1.0) for s in cache.sources], np.float64)
    return w / w.sum()


def augmented_box_sizes(cfg, cache, n=3000, seed=0):
    """Face sizes (net pixels) as the training augmentation produces them (for anchors)."""
    aug = Augmenter(cfg, train=True)
    p = source_probabilities(cfg, cache)
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        i = int(rng.choice(len(cache), p=p))
        _, b, _ = make_frame(aug, cache, p, i, rng)
        if len(b):
            out.append(b[:, 2:4])
    return np.concatenate(out) if out else np.zeros((0, 2), np.float32)
