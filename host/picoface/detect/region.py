"""numpy twin of pfcore.region.decode + pfcore.geom.Fit.map + pfcore.nms.nms.

Same boxes, same order, same scores (to float rounding) as the device core, which stays the
reference: every formula here follows device/pfcore/region.py, geom.py and nms.py step by
step. Arrays are float64 (N, 5) (N, 6 with the class index); postprocess returns float32
(N, 5) detections in camera pixels, the host's detection format, and (N, 6) with the class
index (as a float) in the last column for a model of more than one class, like
pfcore.region.postprocess's [x, y, w, h, score, class].
"""

import numpy as np

from pfcore.region import TW_MAX, anchor_pairs


def _sigmoid(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _as_array(out, scale, zero_point, dtype):
    """Flat float64 values, dequantised exactly like pfcore.region.decode does."""
    if isinstance(out, (bytes, bytearray, memoryview)):
        q = np.frombuffer(bytes(out), dtype=np.uint8 if dtype == "uint8" else np.int8)
        return (q.astype(np.float64) - zero_point) * scale
    a = np.asarray(out).reshape(-1).astype(np.float64)
    if scale != 1.0 or zero_point != 0:
        a = (a - zero_point) * scale
    return a


def decode(out, grid_w, grid_h, anchors, classes=1, layout="NCHW", threshold=0.5,
           scale=1.0, zero_point=0, dtype=None, with_class=False):
    """pfcore.region.decode, vectorised: float64 array (N, 5) [cx, cy, w, h, score]
    (N, 6 with the class index when with_class), ordered by anchor, row, column."""
    pairs = anchor_pairs(anchors)
    na = len(pairs)
    ne = 5 + classes
    hw = grid_w * grid_h
    a = _as_array(out, scale, zero_point, dtype)
    need = hw * na * ne
    if a.size < need:
        raise ValueError("output has %d values, expected %d (%dx%dx%d)" % (a.size, need, grid_w, grid_h, na * ne))
    if need == 0:
        return np.zeros((0, 6 if with_class else 5))
    a = a[:need]
    if layout == "NCHW":
        t = a.reshape(na, ne, hw)
    elif layout == "NHWC":
        t = a.reshape(hw, na, ne).transpose(1, 2, 0)
    else:
        raise ValueError("layout must be NCHW or NHWC, not %r" % (layout,))
    score = _sigmoid(t[:, 4, :])
    cls_idx = np.zeros((na, hw), dtype=np.int64)
    if classes > 1:
        c = t[:, 5:, :]
        cls_idx = np.argmax(c, axis=1)
        m = np.take_along_axis(c, cls_idx[:, None, :], axis=1)
        s = np.zeros((na, hw))
        for k in range(classes):          # same summation order as the device
            s = s + np.exp(c[:, k, :] - m[:, 0, :])
        score = score / s
    keep = score > threshold
    ai, cell = np.nonzero(keep)           # row-major: anchor, then cell (= row, col)
    if ai.size == 0:
        return np.zeros((0, 6 if with_class else 5))
    v = t[ai, :, cell]                    # (N, ne)
    row = cell // grid_w
    col = cell - row * grid_w
    aw = np.array([p[0] for p in pairs], dtype=np.float64) / grid_w
    ah = np.array([p[1] for p in pairs], dtype=np.float64) / grid_h
    tw = np.where(v[:, 2] > TW_MAX, TW_MAX, v[:, 2])
    th = np.where(v[:, 3] > TW_MAX, TW_MAX, v[:, 3])
    cols = [(col + _sigmoid(v[:, 0])) / grid_w, (row + _sigmoid(v[:, 1])) / grid_h,
            np.exp(tw) * aw[ai], np.exp(th) * ah[ai], score[ai, cell]]
    if with_class:
        cols.append(cls_idx[ai, cell].astype(np.float64))
    return np.stack(cols, axis=1)


def to_camera(dets, fit):
    """pfcore.geom.Fit.map, vectorised: normalised centre boxes -> camera-pixel [x, y, w, h,
    score, ...], clipped, boxes without area dropped; the columns after the score (a class
    index) are kept. fit is a pfcore.geom.Fit."""
    d = np.asarray(dets, dtype=np.float64)
    if d.ndim != 2:
        d = d.reshape(-1, 5)
    hw = d[:, 2] * 0.5
    hh = d[:, 3] * 0.5
    x1 = np.clip(fit.bx + (d[:, 0] - hw) * fit.ax, 0.0, float(fit.cam_w))
    x2 = np.clip(fit.bx + (d[:, 0] + hw) * fit.ax, 0.0, float(fit.cam_w))
    y1 = np.clip(fit.by + (d[:, 1] - hh) * fit.ay, 0.0, float(fit.cam_h))
    y2 = np.clip(fit.by + (d[:, 1] + hh) * fit.ay, 0.0, float(fit.cam_h))
    w = x2 - x1
    h = y2 - y1
    ok = (w > 0.0) & (h > 0.0)
    return np.stack([x1, y1, w, h] + [d[:, k] for k in range(4, d.shape[1])], axis=1)[ok]


def order(dets):
    """Indices by score, best first; ties keep input order (like pfcore.nms.order)."""
    d = np.asarray(dets, dtype=np.float64)
    if not len(d):
        return np.zeros(0, dtype=np.int64)
    return np.argsort(-d[:, 4], kind="stable")


def nms(dets, iou_threshold, max_out=0):
    """pfcore.nms.nms on an (N, >=5) array: greedy, best first, drop IoU > threshold."""
    d = np.asarray(dets, dtype=np.float64)
    if not len(d):
        return d.reshape(0, d.shape[1] if d.ndim == 2 else 5)
    d = d[order(d)]
    x1 = d[:, 0]
    y1 = d[:, 1]
    x2 = d[:, 0] + d[:, 2]
    y2 = d[:, 1] + d[:, 3]
    area = d[:, 2] * d[:, 3]
    alive = np.ones(len(d), dtype=bool)
    keep = []
    for i in range(len(d)):
        if not alive[i]:
            continue
        keep.append(i)
        if max_out and len(keep) >= max_out:
            break
        j = np.arange(i + 1, len(d))
        j = j[alive[j]]
        if not j.size:
            continue
        ix1 = np.maximum(x1[i], x1[j])
        iy1 = np.maximum(y1[i], y1[j])
        ix2 = np.minimum(x2[i], x2[j])
        iy2 = np.minimum(y2[i], y2[j])
        ok = (ix2 > ix1) & (iy2 > iy1)
        inter = np.where(ok, (ix2 - ix1) * (iy2 - iy1), 0.0)
        union = area[i] + area[j] - inter
        with np.errstate(divide="ignore", invalid="ignore"):
            iou = np.where(ok & (union > 0.0), inter / np.where(union > 0.0, union, 1.0), 0.0)
        alive[j[iou > iou_threshold]] = False
    return d[keep]


def postprocess(out, spec, fit, threshold=0.5, nms_threshold=0.3, max_out=0, with_class=None):
    """pfcore.region.postprocess: decode -> camera pixels -> NMS; float32 (N, 5) detections,
    (N, 6) with the class index last when spec["classes"] > 1 (NMS ignores the class).
    with_class True / False forces the class column on (index 0 for one class) / off.

    spec: the model contract's "output" dict; fit: a pfcore.geom.Fit."""
    classes = spec.get("classes", 1)
    if with_class is None:
        with_class = classes > 1
    d = decode(out, spec["grid_w"], spec["grid_h"], spec["anchors"], classes,
               spec.get("layout", "NCHW"), threshold, spec.get("scale", 1.0),
               spec.get("zero_point", 0), spec.get("dtype"), with_class=with_class)
    return nms(to_camera(d, fit), nms_threshold, max_out).astype(np.float32)
