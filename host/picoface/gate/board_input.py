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
    """The gate input the K210 app makes from a camera frame (device/hal_k210.py _gate_image), as the
    KPU reads it: pix_to_ai() expands the RGB565 pixels with the firmware's tables (``k210_ai``), which
    differ from the bit replication of ``rgb888`` by up to one level, upwards on average."""
    fh, fw = frame.shape[:2]
    xd, yd = fw // w, fh // h
    if xd > 1 or yd > 1:
        frame = mean_pooled(frame, max(xd, 1), max(yd, 1))
    if frame.shape[:2] != (h, w):
        frame = nearest_shrink(frame, w, h)
    return k210_ai(frame)


def openmv_gate_input(frame, w, h):
    """The gate input the OpenMV app makes: area resampling (``hint=image.AREA``)."""
    import cv2

    return cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA)


# ---- K210 pixel conversions and resize (also the recognition nets' inputs, docs/firmware.md
# "`mode: recognise`"). MaixPy v0.5.0 - v0.6.3 and CanMV v1.0.x share them: get_pixel, set_pixel and
# pix_to_ai expand 5/6-bit channels with the tables of omv/img/rgb2rgb_tab.c (round(v * 255 / 31),
# round(v * 255 / 63)) and quantise 8-bit colours with round(v * 31 / 255), round(v * 63 / 255); the
# fakes keep RGB565 pixels as the bit-replicated 8-bit values rgb888() gives, so rgb565() recovers them.
K210_R5_TO_R8 = np.floor(np.arange(32) * 255.0 / 31 + 0.5).astype(np.int64)
K210_G6_TO_G8 = np.floor(np.arange(64) * 255.0 / 63 + 0.5).astype(np.int64)
K210_R8_TO_R5 = np.floor(np.arange(256) * 31.0 / 255 + 0.5).astype(np.int64)
K210_G8_TO_G6 = np.floor(np.arange(256) * 63.0 / 255 + 0.5).astype(np.int64)


def k210_expand(q):
    """5/6/5-bit channels -> RGB888 as K210 get_pixel and pix_to_ai give them (COLOR_RGB565_TO_R8 ...)."""
    q = np.asarray(q, np.int64)
    return np.stack([K210_R5_TO_R8[q[..., 0]], K210_G6_TO_G8[q[..., 1]], K210_R5_TO_R8[q[..., 2]]], -1).astype(np.uint8)


def k210_quantise(rgb):
    """RGB888 -> 5/6/5-bit channels as K210 set_pixel quantises a colour (COLOR_R8_G8_B8_TO_RGB565)."""
    px = np.clip(np.asarray(rgb, np.int64), 0, 255)
    return np.stack([K210_R8_TO_R5[px[..., 0]], K210_G8_TO_G6[px[..., 1]], K210_R8_TO_R5[px[..., 2]]], -1)


def k210_ai(rgb):
    """The planar-RGB888 values pix_to_ai() writes for an RGB565 image (HWC here)."""
    return k210_expand(rgb565(rgb))


def _k210_pack(r5, g6, b5):
    # MaixPy's COLOR_R5_G6_B5_TO_RGB565 (byte-swapped layout), including what an out-of-range channel
    # spills into its neighbours, stored as uint16_t; then COLOR_RGB565_TO_R5/G6/B5
    p = ((r5 << 3) | (g6 >> 3) | ((g6 & 0x7) << 13) | (b5 << 8)) & 0xFFFF
    return np.stack([(p >> 3) & 0x1F, ((p & 0x07) << 3) | (p >> 13), (p >> 8) & 0x1F], -1)


def k210_resize(rgb, w, h):
    """MaixPy/CanMV ``img.resize(w, h)`` of an RGB565 image: the same size copies; shrinking (w0 >= w
    or h0 > h) is nearest neighbour (``nearest_shrink``); growing is the firmware's own bilinear on the
    5/6/5-bit values: x_src = (x + 0.5) * w0 / w - 0.5 in float32, x1 = (uint16_t) x_src (0 for the
    first column, whose x_src is negative: the weights then extrapolate), nearest (x1, y1) where x1 + 1
    or y1 + 1 is outside the image, each channel cut to uint8_t (a negative result taken as 0: the
    RISC-V fcvt.wu.s saturates) and packed as the firmware packs it."""
    rgb = np.asarray(rgb)
    h0, w0 = rgb.shape[:2]
    if (w0, h0) == (w, h):
        return rgb.copy()
    if w0 >= w or h0 > h:
        return nearest_shrink(rgb, w, h)
    f = np.float32
    sx, sy = f(w0) / f(w), f(h0) / f(h)
    xs = (np.arange(w, dtype=f) + f(0.5)) * sx - f(0.5)
    ys = (np.arange(h, dtype=f) + f(0.5)) * sy - f(0.5)
    x1 = np.trunc(xs).astype(np.int64)
    y1 = np.trunc(ys).astype(np.int64)
    x2, y2 = x1 + 1, y1 + 1
    q = rgb565(rgb)
    X1, Y1 = np.meshgrid(x1, y1)
    X2, Y2 = np.minimum(X1 + 1, w0 - 1), np.minimum(Y1 + 1, h0 - 1)
    XS, YS = np.meshgrid(xs, ys)
    wx2 = (X1 + 1).astype(f) - XS        # (x2 - x_src)
    wx1 = XS - X1.astype(f)              # (x_src - x1)
    wy2 = (Y1 + 1).astype(f) - YS
    wy1 = YS - Y1.astype(f)
    chans = []
    for c in range(3):
        a, b = q[Y1, X1, c].astype(f), q[Y1, X2, c].astype(f)
        cc, d = q[Y2, X1, c].astype(f), q[Y2, X2, c].astype(f)
        t1 = wx2 * a + wx1 * b
        t2 = wx2 * cc + wx1 * d
        v = wy2 * t1 + wy1 * t2
        v = np.where(v < 0, f(0), np.trunc(v)).astype(np.int64) & 0xFF
        chans.append(v)
    out = _k210_pack(chans[0], chans[1], chans[2])
    edge = (x2[None, :] >= w0) | (y2[:, None] >= h0)
    out[edge] = q[Y1, X1][edge]
    return rgb888(out)
