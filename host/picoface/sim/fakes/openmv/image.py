"""Fake OpenMV `image` module."""
import numpy as np

from picoface.sim.fakes import _common

RGB565 = _common.RGB565
GRAYSCALE = _common.GRAYSCALE
AREA = _common.AREA
BILINEAR = _common.BILINEAR
BICUBIC = _common.BICUBIC


def Image(arg, height=-1, pixformat=-1, *, buffer=None, copy_to_fb=False):
    """image.Image(w, h, pixformat): a new zeroed image on the GC heap (openmv/openmv@v4.5.5
    src/omv/modules/py_image.c:6716-6787 ``xalloc0``; v4.5.9 :6065-6194; v4.8.0 modules/py_image.c:
    6174-6305 ``image_alloc0``). The pixel format has no default; OSError as PY_ASSERT_TRUE_MSG raises.
    Only RGB565 images without a buffer are simulated."""
    if isinstance(arg, str):
        raise OSError("image files are not simulated")
    if isinstance(arg, bool) or not isinstance(arg, int):
        raise TypeError("can't convert %s to int" % type(arg).__name__)
    if arg <= 0:
        raise OSError("Image width must be > 0")
    if height <= 0:
        raise OSError("Image height must be > 0")
    if pixformat not in (RGB565, GRAYSCALE):
        raise OSError("Pixel format is not set or unsupported")
    if pixformat != RGB565 or buffer is not None or copy_to_fb:
        raise NotImplementedError("the simulator makes only RGB565 images without buffer= or copy_to_fb=")
    return _common.Image(np.zeros((int(height), int(arg), 3), np.uint8), None, False)
