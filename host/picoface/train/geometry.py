"""Camera frame -> net input geometry, shared with the device (``pfcore.geom.Fit``).

``make_fit(cam_w, cam_h, net_w, net_h, mode)`` returns ``pfcore.geom.Fit`` (the very code the
device runs). ``fit_affine(fit)`` turns its camera rectangle into the 2x3 affine matrix that
maps camera pixels to net pixels, so training crops, validation preprocessing and the device
agree exactly. ``LocalFit`` is the same contract, used only if ``pfcore.geom`` is unavailable.
"""

import numpy as np


class LocalFit:
    """Same contract as ``pfcore.geom.Fit`` (ARCHITECTURE §5), used only without pfcore."""

    def __init__(self, cam_w, cam_h, net_w, net_h, mode="stretch"):
        self.cam_w, self.cam_h, self.net_w, self.net_h, self.mode = cam_w, cam_h, net_w, net_h, mode
        self.net_size = (net_w, net_h)
        rect, content = (0, 0, cam_w, cam_h), (0, 0, net_w, net_h)
        wider = cam_w * net_h > cam_h * net_w
        rnd = lambda a, b: (2 * a + b) // (2 * b)  # noqa: E731
        if mode == "crop":
            if wider:
                w = rnd(cam_h * net_w, net_h)
                rect = ((cam_w - w) // 2, 0, w, cam_h)
            else:
                h = rnd(cam_w * net_h, net_w)
                rect = (0, (cam_h - h) // 2, cam_w, h)
        elif mode == "letterbox":
            if wider:
                h = max(1, rnd(cam_h * net_w, cam_w))
                content = (0, (net_h - h) // 2, net_w, h)
            else:
                w = max(1, rnd(cam_w * net_h, cam_h))
                content = ((net_w - w) // 2, 0, w, net_h)
        self._rect, self._content = rect, content

    def cam_rect(self):
        return self._rect

    def content_rect(self):
        return self._content

    def net_to_cam(self, box):
        rx, ry, rw, rh = self._rect
        cx0, cy0, cw, ch = self._content
        kx, ky = rw / float(cw), rh / float(ch)
        x1 = rx + ((box[0] - box[2] / 2.0) * self.net_w - cx0) * kx
        x2 = rx + ((box[0] + box[2] / 2.0) * self.net_w - cx0) * kx
        y1 = ry + ((box[1] - box[3] / 2.0) * self.net_h - cy0) * ky
        y2 = ry + ((box[1] + box[3] / 2.0) * self.net_h - cy0) * ky
        x1, x2 = min(max(x1, 0.0), self.cam_w), min(max(x2, 0.0), self.cam_w)
        y1, y2 = min(max(y1, 0.0), self.cam_h), min(max(y2, 0.0), self.cam_h)
        return [x1, y1, max(0.0, x2 - x1), max(0.0, y2 - y1)]


def make_fit(cam_w, cam_h, net_w, net_h, mode="stretch"):
    try:
        from pfcore.geom import Fit
    except ImportError:
        Fit = LocalFit
    return Fit(int(cam_w), int(cam_h), int(net_w), int(net_h), mode)


def fit_affine(fit, net_w, net_h):
    """2x3 matrix: camera pixel -> net pixel (cam_rect() drawn onto content_rect())."""
    rx, ry, rw, rh = [float(v) for v in fit.cam_rect()]
    if hasattr(fit, "content_rect"):
        cx, cy, cw, ch = [float(v) for v in fit.content_rect()]
    else:
        cx, cy, cw, ch = 0.0, 0.0, float(net_w), float(net_h)
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
