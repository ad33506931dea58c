"""Calibration and verification images for the kmodel compile: uint8 RGB (N, H, W, 3) at the
net input size, from a folder, one image file, a .npy or an array."""

from pathlib import Path

import numpy as np

from picoface.errors import PicofaceError

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".webp")
MAX_CALIB = 64


def _image_files(p):
    if not p.exists():
        raise PicofaceError("calibration images %s not found" % p, "pass a folder of images")
    files = sorted(f for f in p.rglob("*") if f.suffix.lower() in IMAGE_EXTS) if p.is_dir() else [p]
    if not files:
        raise PicofaceError("no images in %s" % p, "pass a folder of .jpg/.png images")
    return files


def is_config(p):
    """A training config given as the calibration source (.yaml)."""
    return p.suffix in (".yaml", ".yml")


def _config_images(p, size, limit):
    """The training photos of a training config (never the ones its data.holdout keeps for
    validation), as the device frames them, at ``size``."""
    from picoface.export.shipping import calibration_images
    from picoface.train.config import load_config

    cfg = load_config(p, ["input.w=%d" % size[0], "input.h=%d" % size[1], "input.grayscale=false"])
    return np.stack(calibration_images(cfg, limit))


def image_count(src):
    """How many images ``src`` (as for ``load_images``) holds, without decoding them."""
    if isinstance(src, np.ndarray):
        return int(len(src))
    p = Path(src)
    if is_config(p):
        return MAX_CALIB
    if p.suffix == ".npy":
        return int(np.load(p, mmap_mode="r").shape[0])
    return len(_image_files(p))


def load_images(src, size, limit=MAX_CALIB):
    """uint8 (N, H, W, 3) RGB images resized (stretch) to ``size`` = (w, h).

    ``src``: a folder of images, one image file, a .npy (N,H,W,3) uint8, an array, or a training
    config (.yaml: ``limit`` of its training photos, never its held-out validation photos)."""
    w, h = size
    if isinstance(src, np.ndarray):
        arr = src
    else:
        p = Path(src)
        if is_config(p):
            arr = _config_images(p, size, limit)
        elif p.suffix == ".npy":
            arr = np.load(p)
        else:
            import cv2

            files = _image_files(p)
            step = max(1, len(files) // limit)
            imgs = []
            for f in files[::step][:limit]:
                bgr = cv2.imread(str(f), cv2.IMREAD_COLOR)
                if bgr is None:
                    raise PicofaceError("cannot read image %s" % f, "remove or fix it")
                imgs.append(cv2.resize(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), (w, h), interpolation=cv2.INTER_AREA))
            arr = np.stack(imgs)
    arr = np.asarray(arr)
    if arr.dtype != np.uint8 or arr.ndim != 4 or arr.shape[3] != 3:
        raise PicofaceError("calibration images must be uint8 (N, H, W, 3), got %s %s" % (arr.dtype, arr.shape),
                            "pass RGB images")
    if arr.shape[1:3] != (h, w):
        import cv2

        arr = np.stack([cv2.resize(a, (w, h), interpolation=cv2.INTER_AREA) for a in arr])
    return np.ascontiguousarray(arr[:limit])
