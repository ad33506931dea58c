"""How a dataset draws its face boxes, relative to a reference set (WIDER FACE by default).

Labelling conventions differ: one set boxes eyebrows to chin, another forehead to chin, another
adds a margin. A detector trained on a mix learns the mix, and at IoU 0.5 a small face's box that
sits 13 % of its height too low is a miss. ``measure`` runs a reference detector (one trained on
the reference convention, e.g. Ultra-Light RFB-320 on WIDER) over a set and returns the median
offset and scale of its boxes against the labels; ``to_reference`` combines two measurements
into the ``data.box_adjust`` entry [dx, dy, sw, sh] that maps the set's boxes to the reference's,
which ``adjust_boxes`` applies when the training set is loaded.
"""

import numpy as np

from picoface.evaluate.ap import iou_matrix


def measure(samples, detector, n=150, seed=0, min_iou=0.4, min_score=0.6, read=None):
    """Median (dx, dy, sw, sh) of matched detector boxes against label boxes, and the pair count.

    dx, dy: centre offset in label widths/heights; sw, sh: detector size / label size."""
    if read is None:
        from picoface.data import read_image as read
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(samples), min(n, len(samples)), replace=False) if len(samples) else []
    rows = []
    for k in pick:
        s = samples[int(k)]
        if not len(s.boxes):
            continue
        d = np.asarray(detector.detect(read(s.image_path)), np.float64).reshape(-1, 5)
        d = d[d[:, 4] >= min_score]
        if not len(d):
            continue
        m = iou_matrix(s.boxes, d[:, :4])
        for gi, g in enumerate(np.asarray(s.boxes, np.float64)):
            j = int(np.argmax(m[gi]))
            if m[gi, j] < min_iou or g[2] <= 0 or g[3] <= 0:
                continue
            p = d[j]
            rows.append(((p[0] + p[2] / 2 - g[0] - g[2] / 2) / g[2], (p[1] + p[3] / 2 - g[1] - g[3] / 2) / g[3],
                         p[2] / g[2], p[3] / g[3]))
    if not rows:
        return {"pairs": 0}
    med = np.median(np.array(rows), axis=0)
    return {"pairs": len(rows), "dx": float(med[0]), "dy": float(med[1]), "sw": float(med[2]), "sh": float(med[3])}


def adjust_boxes(boxes, adj):
    """xywh boxes in another labelling convention: centre moved by (dx*w, dy*h), size scaled (sw, sh)."""
    dx, dy, sw, sh = adj
    b = np.asarray(boxes, np.float32).reshape(-1, 4)
    cx = b[:, 0] + b[:, 2] * (0.5 + dx)
    cy = b[:, 1] + b[:, 3] * (0.5 + dy)
    w, h = b[:, 2] * sw, b[:, 3] * sh
    return np.stack([cx - w / 2, cy - h / 2, w, h], 1).astype(np.float32)


def to_reference(src, ref):
    """[dx, dy, sw, sh] that moves src-convention boxes onto the reference convention.

    The detector draws D = S scaled by (sw_s, sh_s) and D = R scaled by (sw_r, sh_r), so R = S scaled
    by sw_s / sw_r; the centre offsets are small and subtract (first order)."""
    return [round(src["dx"] - ref["dx"], 3), round(src["dy"] - ref["dy"], 3),
            round(src["sw"] / ref["sw"], 3), round(src["sh"] / ref["sh"], 3)]
