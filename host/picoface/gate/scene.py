"""A camera scene where people come and go, made from held-out photos, for measuring ``mode: gate``.

The scene alternates empty stretches (a background part of a photo, no face) and visits (a whole
photo with at least one face of ``min_face`` camera pixels), each a random number of frames long.
Every frame is what a fixed QVGA camera would see: the 4:3 view resized to 320x240, shifted by a
pixel or two and with sensor noise, so no two frames are the same. ``truth`` lists each visit as
(first frame, end frame, largest face height in camera pixels).
"""

import numpy as np

CAM_W, CAM_H = 320, 240


def _render(img, x0, y0, cw, ch, rng):
    import cv2

    dx, dy = rng.uniform(-2, 2, 2) * cw / CAM_W
    M = np.array([[CAM_W / cw, 0, -(x0 + dx) * CAM_W / cw], [0, CAM_H / ch, -(y0 + dy) * CAM_H / ch]], np.float32)
    out = cv2.warpAffine(img, M, (CAM_W, CAM_H), flags=cv2.INTER_AREA if cw > CAM_W else cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
    out += rng.normal(0, 3.0, out.shape)
    return np.clip(out, 0, 255).astype(np.uint8)


def _view(img):
    """The centred 4:3 view of a photo (x0, y0, w, h)."""
    H, W = img.shape[:2]
    if W / H > CAM_W / CAM_H:
        w = H * CAM_W / CAM_H
        return (W - w) / 2, 0.0, w, float(H)
    h = W * CAM_H / CAM_W
    return 0.0, (H - h) / 2, float(W), h


def make_scene(images, boxes, ignores, rng, visits=8, empty=(30, 60), visit=(20, 50), min_face=24.0):
    """(frames, truth): a list of 320x240 RGB frames and [(start, end, face_px), ...]."""
    from picoface.gate.crops import _negative
    from picoface.train.config import GateConfig

    g = GateConfig()
    people = []
    for i, b in enumerate(boxes):
        x0, y0, cw, ch = _view(images[i])
        b = np.asarray(b, np.float32).reshape(-1, 4)
        inside = b[(b[:, 0] >= x0) & (b[:, 1] >= y0) & (b[:, 0] + b[:, 2] <= x0 + cw) & (b[:, 1] + b[:, 3] <= y0 + ch)]
        if len(inside):
            px = float(inside[:, 3].max() * CAM_H / ch)
            if px >= min_face:
                people.append((i, px))
    if not people:
        raise ValueError("no photo with a face of %g camera px inside its 4:3 view" % min_face)
    frames, truth = [], []
    for _ in range(visits):
        for _ in range(50):
            j = int(rng.integers(len(images)))
            allb = np.concatenate([np.asarray(boxes[j], np.float32).reshape(-1, 4),
                                   np.asarray(ignores[j], np.float32).reshape(-1, 4)])
            rect = _negative(images[j], allb, g, rng)
            if rect is not None:
                break
        else:
            raise ValueError("no background without faces in %d photos" % len(images))
        for _ in range(int(rng.integers(empty[0], empty[1] + 1))):
            frames.append(_render(images[j], *rect, rng))
        i, px = people[int(rng.integers(len(people)))]
        start = len(frames)
        for _ in range(int(rng.integers(visit[0], visit[1] + 1))):
            frames.append(_render(images[i], *_view(images[i]), rng))
        truth.append((start, len(frames), round(px, 1)))
    for _ in range(int(rng.integers(empty[0], empty[1] + 1))):   # and the last one leaves
        frames.append(_render(images[j], *rect, rng))
    return frames, truth
