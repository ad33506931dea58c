"""Camera frame -> net input geometry, shared with the device (``pfcore.geom.Fit``).

``make_fit(cam_w, cam_h, net_w, net_h, mode)`` returns ``pfcore.geom.Fit`` (the very code the
device runs). ``fit_affine(fit)`` turns its camera rectangle into the 2x3 affine matrix that
maps camera pixels to net pixels, so training crops, validation preprocessing and the device
agree exactly. ``LocalFit`` is the same contract, used only if ``pfcore.geom`` is unavailable.
"""

import numpy as np


class LocalFit:
    """Same contract as ``pfcore.geom.Fit`` (ARCHITECTURE §5)."""

    def __init__(self, cam_w, cam_h, net_w, net_h, mode="stretch"):
        self.cam_w, self.cam_h, self.net_w, self.net_h, self.mode = cam_w, cam_h, net_w, net_h, mode
        self.net_size = (net_w, net_h)
        if mode == "stretch":
            self._rect = (0, 0, cam_w, cam_h)
        else:
            net_aspect = float(net_w) / net_h
            cam_aspect = float(cam_w) / cam_h
            if (mode == "crop") == (cam_aspect > net_aspect):
                h = cam_h
                w = int(round(cam_h * net_aspect))
            else:
                w = cam_w
                h = int(round(cam_w / net_aspect))
            self._rect = ((cam_w - w) // 2, (cam_h - h) // 2, w, h)

    def cam_rect(self):
        return self._rect

    def net_to_cam(self, box):
        rx, ry, rw, rh = self._rect
        cx, cy, w, h = box[:4]
        bw, bh = w * rw, h * rh
        x0 = rx + cx * rw - bw / 2.0
        y0 = ry + cy * rh - bh / 2.0
        x1, y1 = x0 + bw, y0 + bh
        x0, y0 = max(0.0, x0), max(0.0, y0)
        x1, y1 = min(float(self.cam_w), x1), min(float(self.cam_h), y1)
        return [x0, y0, max(0.0, x1 - x0), max(0.0, y1 - y0)]


def make_fit(cam_w, cam_h, net_w, net_h, mode="stretch"):
    try:
        from pfcore.geom import Fit
    except ImportError:
        Fit = LocalFit
    return Fit(int(cam_w), int(cam_h), int(net_w), int(net_h), mode)


def fit_affine(fit, net_w, net_h):
    """2x3 matrix: camera pixel -> net pixel for the fit's camera rectangle."""
    rx, ry, rw, rh = [float(v) for v in fit.cam_rect()]
    sx, sy = net_w / rw, net_h / rh
    return np.array([[sx, 0.0, -rx * sx], [0.0, sy, -ry * sy]], np.float32)


def preprocess(rgb, net_w, net_h, mode="stretch"):
    """An image as the device would feed it to the net: (uint8 HxWx3 net input, fit)."""
    import cv2

    h, w = rgb.shape[:2]
    fit = make_fit(w, h, net_w, net_h, mode)
    M = fit_affine(fit, net_w, net_h)
    interp = cv2.INTER_AREA if M[0, 0] < 1 and M[1, 1] < 1 else cv2.INTER_LINEAR
    if mode == "stretch" or mode == "crop":
        rx, ry, rw, rh = [int(v) for v in fit.cam_rect()]
        x0, y0 = max(0, rx), max(0, ry)
        crop = rgb[y0:y0 + rh, x0:x0 + rw]
        if crop.shape[0] == rh and crop.shape[1] == rw:
            return cv2.resize(crop, (net_w, net_h), interpolation=interp), fit
    out = cv2.warpAffine(rgb, M, (net_w, net_h), flags=interp, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return out, fit
