"""How each firmware squashes a camera frame for the gate, in numpy (the simulator's fakes use these
same functions), so the gate is scored on what the board feeds it.

- K210 (MaixPy, CanMV): ``image.resize`` shrinks by nearest neighbour, top-left aligned
  (``src = int(dst * w0 / w)``); the app box-averages first with ``mean_pooled`` (per RGB565 channel,
  integer means) so the shrink drops few pixels (docs/firmware.md, "`mode: gate`").
- OpenMV: ``img.copy(x_scale, y_scale, hint=image.AREA)``: area averaging (without the hint it would be
  nearest neighbour too).
"""

import numpy as np


def rgb565(rgb):
    """RGB888 -> the 5/6/5-bit channels (int64)."""
    px = np.asarray(rgb).astype(np.int64)
    return np.stack([px[..., 0] >> 3, px[..., 1] >> 2, px[..., 2] >> 3], -1)


def rgb888(q):
    """5/6/5-bit channels -> RGB888 as the firmware expands them."""
    q = np.asarray(q, np.int64)
    out = np.empty(q.shape, np.uint8)
    out[..., 0] = (q[..., 0] << 3) | (q[..., 0] >> 2)
    out[..., 1] = (q[..., 1] << 2) | (q[..., 1] >> 4)
    out[..., 2] = (q[..., 2] << 3) | (q[..., 2] >> 2)
    return out


def mean_pooled(rgb, x_div, y_div):
    """imlib_mean_pool on an RGB565 image: (h // y_div, w // x_div), each channel's integer block mean."""
    h0, w0 = rgb.shape[:2]
    w, h = w0 // x_div, h0 // y_div
    q = rgb565(rgb[:h * y_div, :w * x_div])
    return rgb888(q.reshape(h, y_div, w, x_div, 3).sum(axis=(1, 3)) // (x_div * y_div))


def nearest_shrink(rgb, w, h):
    """MaixPy/CanMV resize when shrinking: out[y][x] = in[int(y * h0 / h)][int(x * w0 / w)] (float32)."""
    h0, w0 = rgb.shape[:2]
    sx, sy = np.float32(w0) / np.float32(w), np.float32(h0) / np.float32(h)
    xs = (np.arange(w, dtype=np.float32) * sx).astype(np.int64)
    ys = (np.arange(h, dtype=np.float32) * sy).astype(np.int64)
    return np.ascontiguousarray(rgb[ys][:, xs])


def k210_gate_input(frame, w, h):
    """The gate input the K210 app makes from a camera frame (device/hal_k210.py _gate_image)."""
    fh, fw = frame.shape[:2]
    xd, yd = fw // w, fh // h
    if xd > 1 or yd > 1:
        frame = mean_pooled(frame, max(xd, 1), max(yd, 1))
    if frame.shape[:2] == (h, w):
        return frame
    return nearest_shrink(frame, w, h)


def openmv_gate_input(frame, w, h):
    """The gate input the OpenMV app makes: area resampling (``hint=image.AREA``)."""
    import cv2

    return cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA)
