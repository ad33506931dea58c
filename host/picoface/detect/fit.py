"""Make the net input from a camera-sized RGB image exactly as pfcore.geom.Fit describes."""

import numpy as np

from pfcore.geom import Fit


# OpenMV's luma in integers (0.299 R + 0.587 G + 0.114 B in 128ths): what its `ml`/`tf` feed a
# 1-channel model from an RGB565 frame (openmv/openmv src/omv/imlib/imlib.h, COLOR_RGB888_TO_Y)
Y_WEIGHTS = (38, 75, 15)


def luminance(rgb):
    """uint8 HxWx3 RGB -> uint8 HxWx1 luminance: the input of grayscale nets (``input.grayscale``),
    in training, evaluation and the simulated board alike, computed as OpenMV computes it."""
    r, g, b = Y_WEIGHTS
    x = np.asarray(rgb, np.int32)
    return ((x[..., 0] * r + x[..., 1] * g + x[..., 2] * b) >> 7).astype(np.uint8)[..., None]


def fit_for(cam_w, cam_h, net_w, net_h, mode):
    return Fit(cam_w, cam_h, net_w, net_h, mode)


def fit_image(rgb, fit, pad=0, interpolation=None):
    """uint8 HxWx3 camera image -> net_h x net_w x 3: cut fit.cam_rect(), resize it to
    fit.content_rect() and pad the rest with `pad` (letterbox)."""
    import cv2

    h, w = rgb.shape[:2]
    if (w, h) != (fit.cam_w, fit.cam_h):
        raise ValueError("image is %dx%d, the fit expects %dx%d" % (w, h, fit.cam_w, fit.cam_h))
    x, y, rw, rh = fit.cam_rect()
    px, py, pw, ph = fit.content_rect()
    part = rgb[y:y + rh, x:x + rw]
    if (rw, rh) != (pw, ph):
        if interpolation is None:
            interpolation = cv2.INTER_AREA if pw < rw else cv2.INTER_LINEAR
        part = cv2.resize(part, (pw, ph), interpolation=interpolation)
    if (pw, ph) == (fit.net_w, fit.net_h):
        return np.ascontiguousarray(part)
    out = np.full((fit.net_h, fit.net_w) + rgb.shape[2:], pad, dtype=rgb.dtype)
    out[py:py + ph, px:px + pw] = part
    return out
