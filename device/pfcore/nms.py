"""Greedy non-maximum suppression on [x, y, w, h, score] boxes (top-left form).

Boxes are taken best score first (ties keep their input order); a box is dropped when its
IoU with an already kept box is > iou_threshold. max_out > 0 stops after that many boxes.
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
    idx = list(range(len(dets)))
    # MicroPython's sort is not stable: make the key unique with the index
    idx.sort(key=lambda i: (-dets[i][4], i))
    return idx


def nms(dets, iou_threshold, max_out=0):
    keep = []
    kb = []           # kept boxes as (x1, y1, x2, y2, area): IoU inlined, calls are slow on MicroPython
    for i in order(dets):
        d = dets[i]
        x1 = d[0]
        y1 = d[1]
        x2 = x1 + d[2]
        y2 = y1 + d[3]
        area = d[2] * d[3]
        ok = True
        for k in kb:
            ix1 = k[0] if k[0] > x1 else x1
            iy1 = k[1] if k[1] > y1 else y1
            ix2 = k[2] if k[2] < x2 else x2
            iy2 = k[3] if k[3] < y2 else y2
            if ix2 <= ix1 or iy2 <= iy1:
                continue
            inter = (ix2 - ix1) * (iy2 - iy1)
            union = k[4] + area - inter
            if union > 0.0 and inter / union > iou_threshold:
                ok = False
                break
        if ok:
            keep.append(d)
            kb.append((x1, y1, x2, y2, area))
            if max_out and len(keep) >= max_out:
                break
    return keep
