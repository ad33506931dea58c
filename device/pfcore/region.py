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


def _row_scan(out, start, hw, grid_w, lim, cand):
    """Append to cand the i in [start, start + hw) with out[i] >= lim, for a contiguous plane
    of grid_w-wide rows: max() tests a row at C speed (a memoryview slice is a view, no copy)
    and only rows that can pass are read element by element."""
    for r in range(start, start + hw, grid_w):
        e = r + grid_w
        if not (max(out[r:e]) < lim):        # "not <": a NaN first in the row still scans it
            for i in range(r, e):
                if out[i] >= lim:
                    cand.append(i)


def anchor_pairs(anchors):
    """[[w, h], ...] from either pairs or a flat (w0, h0, w1, h1, ...) sequence."""
    if len(anchors) and not isinstance(anchors[0], (list, tuple)):
        return [(anchors[i], anchors[i + 1]) for i in range(0, len(anchors) - 1, 2)]
    return [(a[0], a[1]) for a in anchors]


class _Output:
    """One raw output and how to read it: layout strides, dequantisation, the objectness
    pre-filter, candidate cells and the box of a cell (decode and postprocess share it)."""

    def __init__(self, out, grid_w, grid_h, anchors, classes, layout, threshold, scale, zero_point, dtype):
        self.out = out
        self.grid_w = grid_w
        self.grid_h = grid_h
        self.anchors = anchor_pairs(anchors)
        self.norm = []              # anchors in units of the grid: (w / grid_w, h / grid_h)
        if grid_w > 0 and grid_h > 0:
            for an in self.anchors:
                self.norm.append((an[0] / grid_w, an[1] / grid_h))
        self.classes = classes
        self.threshold = threshold
        self.scale = scale
        self.zero_point = zero_point
        na = len(self.anchors)
        self.na = na
        ne = 5 + classes
        self.ne = ne
        hw = grid_w * grid_h
        self.hw = hw
        if layout == "NCHW":
            self.cs = 1
            self.es = hw
        elif layout == "NHWC":
            self.cs = na * ne
            self.es = 1
        else:
            raise ValueError("layout must be NCHW or NHWC, not %r" % (layout,))
        need = hw * na * ne
        self.need = need
        if len(out) < need:
            raise ValueError("output has %d values, expected %d (%dx%dx%d)" % (len(out), need, grid_w, grid_h, na * ne))
        self.table = None
        if isinstance(out, (bytes, bytearray)):
            self.table = _table(scale, zero_point, dtype != "uint8")
        self.quant = self.table is None and (scale != 1.0 or zero_point != 0)
        lim = _prefilter(threshold)
        if self.quant:
            # the same test in the quantised domain (conservative; the score is checked later)
            qlim = float("-inf")
            if scale > 0.0 and lim != qlim:
                qlim = lim / scale + zero_point
                qlim -= 1e-6 * (1.0 + abs(qlim))
            lim = qlim
        self.lim = lim
        self.passes = None
        if self.table is not None:
            passes = []
            for t in self.table:
                passes.append(t >= lim)
            self.passes = passes

    def cells(self, a):
        """Indices of anchor a's objectness entries that can reach the threshold, in cell order."""
        out = self.out
        cs = self.cs
        start = a * self.ne * self.es + 4 * self.es
        stop = start + self.hw * cs
        lim = self.lim
        cand = []
        # hot loop: every cell's objectness is read here, nothing else
        if self.passes is not None:
            passes = self.passes
            for i in range(start, stop, cs):
                if passes[out[i]]:
                    cand.append(i)
        elif cs == 1:
            _row_scan(out, start, self.hw, self.grid_w, lim, cand)
        else:
            for i in range(start, stop, cs):
                if out[i] >= lim:
                    cand.append(i)
        return cand

    def value(self, i):
        x = self.out[i]
        if self.table is not None:
            return self.table[x]
        if self.quant:
            return (float(x) - self.zero_point) * self.scale
        return float(x)      # numpy scalars on the host: compute in double like the board

    def score(self, a, i):
        """(score, class) of the cell whose objectness entry is out[i]."""
        score = sigmoid(self.value(i))
        best = 0
        classes = self.classes
        if classes > 1:
            es = self.es
            c0 = i + es             # entry 5, the first class
            m = self.value(c0)
            for k in range(1, classes):
                v = self.value(c0 + k * es)
                if v > m:
                    m = v
                    best = k
            s = 0.0
            for k in range(classes):
                s += exp(self.value(c0 + k * es) - m)
            score = score / s
        return score, best

    def box(self, a, i, score):
        """[cx, cy, w, h, score] of the cell whose objectness entry is out[i]."""
        es = self.es
        b = i - 4 * es                                  # entry 0 of the cell
        cell = (b - a * self.ne * es) // self.cs
        grid_w = self.grid_w
        row = cell // grid_w
        col = cell - row * grid_w
        tw = self.value(b + 2 * es)
        if tw > TW_MAX:
            tw = TW_MAX
        th = self.value(b + 3 * es)
        if th > TW_MAX:
            th = TW_MAX
        an = self.norm[a]
        return [(col + sigmoid(self.value(b))) / grid_w, (row + sigmoid(self.value(b + es))) / self.grid_h,
                exp(tw) * an[0], exp(th) * an[1], score]


def decode(out, grid_w, grid_h, anchors, classes=1, layout="NCHW", threshold=0.5,
           scale=1.0, zero_point=0, dtype=None, with_class=False):
    """Boxes [cx, cy, w, h, score] (+ class index when with_class) above threshold.

    out: flat indexable of numbers (list, array('f'), a memoryview such as memoryview(fmap) of
    MaixPy's kpu_fmap: read in place, no copy), or bytes/bytearray of quantised values (int8
    unless dtype="uint8"), dequantised as (q - zero_point) * scale. Every cell's objectness is
    read (NCHW: a row at a time with max() first); the other entries only for cells whose
    objectness can reach the threshold.
    """
    o = _Output(out, grid_w, grid_h, anchors, classes, layout, threshold, scale, zero_point, dtype)
    res = []
    if o.need == 0:
        return res
    for a in range(o.na):
        for i in o.cells(a):
            sc = o.score(a, i)
            if not (sc[0] > threshold):
                continue
            box = o.box(a, i, sc[0])
            if with_class:
                box.append(sc[1])
            res.append(box)
    return res


def postprocess(out, spec, fit, threshold=0.5, nms_threshold=0.3, max_out=0):
    """decode -> camera pixels (fit.map) -> NMS: the whole per-frame path.

    spec: the model contract's "output" dict (grid_w, grid_h, anchors, classes, layout,
    dtype, scale, zero_point). Returns [[x, y, w, h, score], ...] in camera pixels,
    best first: exactly nms(fit.map(decode(..., with_class=classes > 1)), nms_threshold,
    max_out). With more than one class each face is [x, y, w, h, score, class]: the class
    index whose softmax gave the score (the first of equal ones); NMS ignores the class (one
    face, one box), the kept box keeps its own.
    With max_out > 0 only the boxes NMS looks at are decoded: the candidates are ranked by
    score (for one class the objectness alone gives it) and taken best first until max_out
    are kept, so a crowd costs one score per candidate, not a box.
    picoface.detect.region.postprocess is the numpy twin.
    """
    from pfcore import nms
    o = _Output(out, spec["grid_w"], spec["grid_h"], spec["anchors"], spec.get("classes", 1),
                spec.get("layout", "NCHW"), threshold, spec.get("scale", 1.0), spec.get("zero_point", 0),
                spec.get("dtype"))
    g = nms.Greedy(nms_threshold, max_out)
    if o.need == 0:
        return g.keep
    multi = o.classes > 1
    ranked = []                 # (-score, decode order, score, anchor, objectness index, class)
    for a in range(o.na):
        for i in o.cells(a):
            sc = o.score(a, i)
            if sc[0] > threshold:
                ranked.append((-sc[0], len(ranked), sc[0], a, i, sc[1]))
    # best first, equal scores in decode order (nms.order's rule); no key function: MicroPython
    # calls it at every comparison
    ranked.sort()
    for r in ranked:
        b = fit.net_to_cam(o.box(r[3], r[4], r[2]))
        if b[2] > 0.0 and b[3] > 0.0:       # fit.map drops boxes clipped to nothing
            b.append(r[2])
            if multi:
                b.append(r[5])
            g.offer(b)
            if g.full():
                break
    return g.keep
