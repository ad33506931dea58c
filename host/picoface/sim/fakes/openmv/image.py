"""Fake OpenMV `image` module."""
import numpy as np

from picoface.sim.fakes import _common

RGB565 = _common.RGB565
GRAYSCALE = _common.GRAYSCALE
AREA = _common.AREA
BILINEAR = _common.BILINEAR
BICUBIC = _common.BICUBIC


def Image(w, h, format=RGB565):
    return _common.Image(np.zeros((int(h), int(w), 3), np.uint8), None, False)
