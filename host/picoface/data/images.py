"""Read images as RGB uint8 and read image sizes cheaply from file headers."""

import struct
from pathlib import Path

import numpy as np

from picoface.errors import PicofaceError

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".pgm", ".ppm")


def read_image(path):
    """The image at ``path`` as an RGB uint8 HxWx3 array (grayscale is expanded, alpha dropped).

    Pixels are the stored ones (EXIF orientation is ignored, as annotations refer to them).
    """
    import cv2

    path = Path(path)
    if not path.is_file():
        raise PicofaceError(
            "image not found: %s" % path,
            "put the dataset's images there (some sets, e.g. FDDB, ship annotations only)",
        )
    data = np.fromfile(str(path), dtype=np.uint8)
    img = None
    if data.size:
        img = cv2.imdecode(data, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if img is None:
        raise PicofaceError("cannot decode image %s (empty, truncated or not an image)" % path,
                            "replace the file or drop it from the annotations")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def _jpeg_size(f):
    f.seek(2)
    while True:
        b = f.read(1)
        while b and b != b"\xff":
            b = f.read(1)
        while b == b"\xff":
            b = f.read(1)
        if not b:
            return None
        marker = b[0]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            continue
        if marker == 0xD9:
            return None
        seg = f.read(2)
        if len(seg) < 2:
            return None
        (n,) = struct.unpack(">H", seg)
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            body = f.read(5)
            if len(body) < 5:
                return None
            h, w = struct.unpack(">HH", body[1:5])
            return w, h
        f.seek(n - 2, 1)


def image_size(path):
    """(width, height) of an image file from its header (JPEG, PNG) or by decoding it.

    Returns None when the file is missing or not a readable image.
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(26)
            if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
                return struct.unpack(">II", head[16:24])
            if head[:2] == b"\xff\xd8":
                size = _jpeg_size(f)
                if size:
                    return size
    except OSError:
        return None
    try:
        img = read_image(path)
    except PicofaceError:
        return None
    return img.shape[1], img.shape[0]
