"""Camera frame -> net input geometry, shared with the device (``pfcore.geom.Fit``).

``make_fit(cam_w, cam_h, net_w, net_h, mode)`` returns ``pfcore.geom.Fit`` (the very code the
device runs). ``fit_affine(fit)`` turns its camera rectangle into the 2x3 affine matrix that
maps camera pixels to net pixels, so training crops, validation preprocessing and the device
agree exactly.
"""

import numpy as np
from pfcore.geom import Fit

from picoface.detect.fit import fit_image


def make_fit(cam_w, cam_h, net_w, net_h, mode="stretch"):
    return Fit(int(cam_w), int(cam_h), int(net_w), int(net_h), mode)


def fit_affine(fit, net_w, net_h):
    """2x3 matrix: camera pixel -> net pixel (cam_rect() drawn onto content_rect())."""
    rx, ry, rw, rh = [float(v) for v in fit.cam_rect()]
    cx, cy, cw, ch = [float(v) for v in fit.content_rect()]
    sx, sy = cw / rw, ch / rh
    return np.array([[sx, 0.0, cx - rx * sx], [0.0, sy, cy - ry * sy]], np.float32)


def preprocess(rgb, net_w, net_h, mode="stretch"):
    """An image as the device would feed it to the net: (uint8 HxWx3 net input, fit)."""
    h, w = rgb.shape[:2]
    fit = make_fit(w, h, net_w, net_h, mode)
    return fit_image(rgb, fit), fit
