"""Greedy non-maximum suppression on [x, y, w, h, score] boxes (top-left form).

Boxes are taken best score first (ties keep their input order); a box is dropped when its
IoU with an already kept box is > iou_threshold. max_out > 0 stops after that many boxes.
Items after the score (a class index) are ignored and kept: the kept boxes are the very
lists given, so NMS is class-agnostic and each kept box keeps its class.
picoface.detect.region.nms (numpy) reproduces this exactly.
"""


def iou(a, b):
    x1 = a[0] if a[0] > b[0] else b[0]
    y1 = a[1] if a[1] > b[1] else b[1]
    x2 = a[0] + a[2]
    bx2 = b[0] + b[2]
    if bx2 < x2:
        x2 = bx2
    y2 = a[1] + a[3]
    by2 = b[1] + b[3]
    if by2 < y2:
        y2 = by2
    if x2 <= x1 or y2 <= y1:
        return 0.0
    inter = (x2 - x1) * (y2 - y1)
    union = a[2] * a[3] + b[2] * b[3] - inter
    if union <= 0.0:
        return 0.0
    return inter / union


def order(dets):
    """Indices of dets by score, best first; equal scores keep input order (stable)."""
    # MicroPython's sort is not stable: the index makes each entry unique. No key function:
    # MicroPython calls it at every comparison (a new tuple each time)
    ranked = []
    for i in range(len(dets)):
        ranked.append((-dets[i][4], i))
    ranked.sort()
    idx = []
    for r in ranked:
        idx.append(r[1])
    return idx


class Greedy:
    """The NMS below one box at a time: offer() boxes best first (nms.order); keep holds what
    nms() returns for them, full() says max_out boxes are kept (later ones can only be dropped)."""

    def __init__(self, iou_threshold, max_out=0):
        self.iou_threshold = iou_threshold
        self.max_out = max_out
        self.keep = []
        self.kb = []          # kept boxes as (x1, y1, x2, y2, area): IoU inlined, calls are slow on MicroPython

    def full(self):
        return self.max_out > 0 and len(self.keep) >= self.max_out

    def offer(self, d):
        """Keep d unless it overlaps a kept box by IoU > iou_threshold or max_out are kept."""
        if self.full():
            return False
        x1 = d[0]
        y1 = d[1]
        x2 = x1 + d[2]
        y2 = y1 + d[3]
        area = d[2] * d[3]
        t = self.iou_threshold
        for k in self.kb:
            ix1 = k[0] if k[0] > x1 else x1
            iy1 = k[1] if k[1] > y1 else y1
            ix2 = k[2] if k[2] < x2 else x2
            iy2 = k[3] if k[3] < y2 else y2
            if ix2 <= ix1 or iy2 <= iy1:
                continue
            inter = (ix2 - ix1) * (iy2 - iy1)
            union = k[4] + area - inter
            if union > 0.0 and inter / union > t:
                return False
        self.keep.append(d)
        self.kb.append((x1, y1, x2, y2, area))
        return True


def nms(dets, iou_threshold, max_out=0):
    g = Greedy(iou_threshold, max_out)
    for i in order(dets):
        g.offer(dets[i])
        if g.full():
            break
    return g.keep
