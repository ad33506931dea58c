"""Fake MaixPy/CanMV `image` module: Image objects with an RGB565 buffer and an AI buffer."""
import numpy as np

from picoface.sim.fakes import _k210


def Image(path=None, copy_to_fb=False, size=(320, 240)):
    if path is not None:
        raise OSError("image files are not simulated")
    w, h = int(size[0]), int(size[1])
    return _k210.K210Image(np.zeros((h, w, 3), np.uint8), None)
