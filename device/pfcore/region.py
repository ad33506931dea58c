"""YOLOv2 region decode: raw network output -> boxes normalised to the net input.

Layout (docs/ARCHITECTURE.md section 3): A anchors x (5 + C) entries tx, ty, tw, th, obj, cls...
NCHW flat index (a*(5+C)+e)*H*W + row*W + col; NHWC (row*W+col)*A*(5+C) + a*(5+C)+e.
x = (col + sig(tx)) / W, y = (row + sig(ty)) / H, w = exp(tw) * aw / W, h = exp(th) * ah / H,
score = sig(obj) * max softmax(cls) (C = 1 -> 1). tw/th are clamped to TW_MAX before exp.
A box is kept when score > threshold (strictly, as the firmware C region layers do). Output order: anchor, then row, then column.
picoface.detect.region (numpy) reproduces this function exactly; change both together.
"""

from math import exp

TW_MAX = 16.0          # exp(16) grid cells is already absurd; keeps garbage outputs finite
_TABLES = {}


def sigmoid(x):
    e = exp(-x if x >= 0 else x)
    if x >= 0:
        return 1.0 / (1.0 + e)
    return e / (1.0 + e)


def _prefilter(threshold):
    # score <= sig(obj): skip a cell when obj is safely below logit(threshold)
    if threshold <= 0.0 or threshold >= 1.0:
        return float("-inf")
    from math import log
    return log(threshold / (1.0 - threshold)) - 1e-6


def _table(scale, zero_point, signed):
    key = (scale, zero_point, signed)
    t = _TABLES.get(key)
    if t is None:
        t = []
        for v in range(256):
            if signed and v > 127:
                v -= 256
            t.append((v - zero_point) * scale)
        if len(_TABLES) > 8:
            _TABLES.clear()
        _TABLES[key] = t
    return t


def anchor_pairs(anchors):
    """[[w, h], ...] from either pairs or a flat (w0, h0, w1, h1, ...) sequence."""
    if len(anchors) and not isinstance(anchors[0], (list, tuple)):
        return [(anchors[i], anchors[i + 1]) for i in range(0, len(anchors) - 1, 2)]
    return [(a[0], a[1]) for a in anchors]


def decode(out, grid_w, grid_h, anchors, classes=1, layout="NCHW", threshold=0.5,
           scale=1.0, zero_point=0, dtype=None, with_class=False):
    """Boxes [cx, cy, w, h, score] (+ class index when with_class) above threshold.

    out: flat indexable of numbers, or bytes/bytearray of quantised values (int8 unless
    dtype="uint8"), dequantised as (q - zero_point) * scale.
    """
    anchors = anchor_pairs(anchors)
    na = len(anchors)
    ne = 5 + classes
    hw = grid_w * grid_h
    if layout == "NCHW":
        cs = 1
        es = hw
    elif layout == "NHWC":
        cs = na * ne
        es = 1
    else:
        raise ValueError("layout must be NCHW or NHWC, not %r" % (layout,))
    need = hw * na * ne
    if len(out) < need:
        raise ValueError("output has %d values, expected %d (%dx%dx%d)" % (len(out), need, grid_w, grid_h, na * ne))
    if need == 0:
        return []
    table = None
    if isinstance(out, (bytes, bytearray)):
        table = _table(scale, zero_point, dtype != "uint8")
    quant = table is None and (scale != 1.0 or zero_point != 0)
    lim = _prefilter(threshold)
    if quant:
        # the same test in the quantised domain (conservative; the score is checked below)
        qlim = float("-inf")
        if scale > 0.0 and lim != qlim:
            qlim = lim / scale + zero_point
            qlim -= 1e-6 * (1.0 + abs(qlim))
    if table is not None:
        passes = []
        for t in table:
            passes.append(t >= lim)
    res = []
    for a in range(na):
        aw = anchors[a][0] / grid_w
        ah = anchors[a][1] / grid_h
        base = a * ne * es
        start = base + 4 * es
        # hot loop: find the cells whose objectness can reach the threshold
        cand = []
        if table is not None:
            for i in range(start, start + hw * cs, cs):
                if passes[out[i]]:
                    cand.append(i)
        elif quant:
            for i in range(start, start + hw * cs, cs):
                if out[i] >= qlim:
                    cand.append(i)
        else:
            for i in range(start, start + hw * cs, cs):
                if out[i] >= lim:
                    cand.append(i)
        for i in cand:
            cell = (i - start) // cs
            i = base + cell * cs
            # no comprehensions here: they would turn these locals into slow closure cells
            v = []
            for k in range(ne):
                x = out[i + k * es]
                if table is not None:
                    x = table[x]
                elif quant:
                    x = (float(x) - zero_point) * scale
                else:
                    x = float(x)      # numpy scalars on the host: compute in double like here
                v.append(x)
            score = sigmoid(v[4])
            best = 0
            if classes > 1:
                m = v[5]
                for k in range(1, classes):
                    if v[5 + k] > m:
                        m = v[5 + k]
                        best = k
                s = 0.0
                for k in range(classes):
                    s += exp(v[5 + k] - m)
                score = score / s
            if not (score > threshold):
                continue
            row = cell // grid_w
            col = cell - row * grid_w
            tw = v[2]
            if tw > TW_MAX:
                tw = TW_MAX
            th = v[3]
            if th > TW_MAX:
                th = TW_MAX
            box = [(col + sigmoid(v[0])) / grid_w, (row + sigmoid(v[1])) / grid_h,
                   exp(tw) * aw, exp(th) * ah, score]
            if with_class:
                box.append(best)
            res.append(box)
    return res


def postprocess(out, spec, fit, threshold=0.5, nms_threshold=0.3, max_out=0):
    """decode -> camera pixels (fit.map) -> NMS: the whole per-frame path.

    spec: the model contract's "output" dict (grid_w, grid_h, anchors, classes, layout,
    dtype, scale, zero_point). Returns [[x, y, w, h, score], ...] in camera pixels,
    best first. picoface.detect.region.postprocess is the numpy twin.
    """
    from pfcore.nms import nms
    dets = decode(out, spec["grid_w"], spec["grid_h"], spec["anchors"], spec.get("classes", 1),
                  spec.get("layout", "NCHW"), threshold, spec.get("scale", 1.0),
                  spec.get("zero_point", 0), spec.get("dtype"))
    return nms(fit.map(dets), nms_threshold, max_out)
