"""Camera frame -> net input geometry, shared with the device (``pfcore.geom.Fit``).

``make_fit(cam_w, cam_h, net_w, net_h, mode)`` returns ``pfcore.geom.Fit`` (the very code the
device runs). ``fit_affine(fit)`` turns its camera rectangle into the 2x3 affine matrix that
maps camera pixels to net pixels, so training crops, validation preprocessing and the device
agree exactly.
"""

import numpy as np
from pfcore.geom import Fit


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
    import cv2

    h, w = rgb.shape[:2]
    fit = make_fit(w, h, net_w, net_h, mode)
    try:
        from picoface.detect.fit import fit_image  # the evaluators' and simulator's own preprocessing
    except ImportError:
        fit_image = None
    if fit_image is not None and hasattr(fit, "content_rect"):
        return fit_image(rgb, fit), fit
    M = fit_affine(fit, net_w, net_h)
    interp = cv2.INTER_AREA if M[0, 0] < 1 and M[1, 1] < 1 else cv2.INTER_LINEAR
    if mode in ("stretch", "crop"):
        rx, ry, rw, rh = [int(v) for v in fit.cam_rect()]
        x0, y0 = max(0, rx), max(0, ry)
        crop = rgb[y0:y0 + rh, x0:x0 + rw]
        if crop.shape[0] == rh and crop.shape[1] == rw:
            return cv2.resize(crop, (net_w, net_h), interpolation=interp), fit
    Mc = M.astype(np.float64)
    Mc[:, 2] += 0.5 * (Mc[:, 0] + Mc[:, 1]) - 0.5   # pixel-centre convention of warpAffine
    out = cv2.warpAffine(rgb, Mc.astype(np.float32), (net_w, net_h), flags=interp,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return out, fit
