"""A camera scene of people coming and going, for ``picoface sim --mode recognise``: a folder of
320x240 frames (``frame_00000.png`` ...) made from face photos (LFW's kit, or any photos), each
photo in the middle of a grey frame as ``picoface.recog.pipeline.camera_frame`` places it, with a
few pixels of jitter and sensor noise per frame, and empty frames between visits.

``script``: a list of (label, [photo paths], frames); label None makes empty frames. The scene's
``scene.json`` lists each visit's first frame, label and photos, so a test can check the board's
events against it.
"""

import json
from pathlib import Path

import numpy as np

from picoface import atomic
from picoface.errors import PicofaceError


def _read(path):
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise PicofaceError("cannot read photo %s" % path, "pass JPEG/PNG photos")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def make(script, out_dir, seed=0, cam=(320, 240)):
    import cv2

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    n = 0
    visits = []
    for label, photos, frames in script:
        imgs = [_read(p) for p in photos]
        visits.append({"first": n, "frames": frames, "label": label, "photos": [Path(p).name for p in photos]})
        for k in range(frames):
            f = np.full((cam[1], cam[0], 3), 128, np.uint8)
            if imgs:
                im = imgs[(k * len(imgs)) // frames]
                h, w = im.shape[:2]
                if w > cam[0] or h > cam[1]:
                    s = min(cam[0] / float(w), cam[1] / float(h))
                    im = cv2.resize(im, (int(w * s), int(h * s)), interpolation=cv2.INTER_AREA)
                    h, w = im.shape[:2]
                dx, dy = rng.integers(-3, 4, 2)
                x = int(np.clip((cam[0] - w) // 2 + dx, 0, cam[0] - w))
                y = int(np.clip((cam[1] - h) // 2 + dy, 0, cam[1] - h))
                f[y:y + h, x:x + w] = im
            f = np.clip(f.astype(np.int16) + rng.integers(-3, 4, f.shape), 0, 255).astype(np.uint8)
            png = cv2.imencode(".png", cv2.cvtColor(f, cv2.COLOR_RGB2BGR))[1]
            atomic.write_bytes(out_dir / ("frame_%05d.png" % n), png.tobytes())
            n += 1
    atomic.write_text(out_dir / "scene.json", json.dumps({"frames": n, "visits": visits}, indent=2) + "\n")
    return visits
