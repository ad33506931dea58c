"""A tiny synthetic face dataset (cartoon faces on noise) in the shared JSONL layout.

Used by the tests and for smoke-testing a config without the real data:
``make_dataset(folder, n=16, size=(96, 72))`` writes ``images/*.jpg`` + ``annotations.jsonl``.
"""

import json
from pathlib import Path

import numpy as np


def _face(img, x, y, w, h, rng):
    import cv2

    skin = tuple(int(v) for v in rng.integers(120, 235, 3))
    cx, cy = x + w // 2, y + h // 2
    cv2.ellipse(img, (cx, cy), (max(1, w // 2), max(1, h // 2)), 0, 0, 360, skin, -1)
    eye = max(1, w // 10)
    cv2.circle(img, (x + w // 3, y + h * 2 // 5), eye, (20, 20, 20), -1)
    cv2.circle(img, (x + 2 * w // 3, y + h * 2 // 5), eye, (20, 20, 20), -1)
    cv2.line(img, (x + w // 3, y + h * 3 // 4), (x + 2 * w // 3, y + h * 3 // 4), (90, 30, 30), max(1, w // 16))


def make_dataset(folder, n=16, size=(96, 72), seed=0, max_faces=2, ignore_every=4):
    """Write n images with 1..max_faces faces each; every ``ignore_every``-th image gets an ignore box."""
    import cv2

    folder = Path(folder)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    W, H = size
    lines = []
    for i in range(n):
        img = rng.integers(0, 90, (H, W, 3), dtype=np.uint8)
        boxes = []
        for _ in range(int(rng.integers(1, max_faces + 1))):
            s = int(rng.integers(min(W, H) // 4, min(W, H) // 2))
            fw, fh = s, int(s * 1.2)
            x = int(rng.integers(0, W - fw))
            y = int(rng.integers(0, H - fh))
            if any(not (x + fw < b[0] or b[0] + b[2] < x or y + fh < b[1] or b[1] + b[3] < y) for b in boxes):
                continue
            _face(img, x, y, fw, fh, rng)
            boxes.append([float(x), float(y), float(fw), float(fh)])
        ignore = [[0.0, 0.0, 6.0, 6.0]] if ignore_every and i % ignore_every == 0 else []
        name = "images/syn_%03d.jpg" % i
        cv2.imwrite(str(folder / name), cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
        lines.append(json.dumps({"image": name, "width": W, "height": H, "boxes": boxes, "ignore": ignore}))
    (folder / "annotations.jsonl").write_text("\n".join(lines) + "\n")
    return folder
