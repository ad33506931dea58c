"""YOLOv2 training targets: the target grid of one frame and its padded box lists."""

import math

import numpy as np


def target_channels(cfg):
    """Channels of y per anchor: 6, plus the class index for a multi-class model."""
    return 7 if cfg.model.classes > 1 else 6


def encode_targets(boxes, anchors, grid_w, grid_h, net_w, net_h, classes=1, extra_iou=0.0, box_class=None,
                   class_channel=False):
    """YOLOv2 targets for one image.

    Returns y (grid_h, grid_w, A, 6): [tx, ty, tw, th, obj, coord_weight] where tx,ty are the
    centre offsets inside the responsible cell (0..1), tw,th = log(w/anchor_w) in grid units;
    each face goes to the cell of its centre and the anchor whose shape matches it best
    (the next best if that slot is taken); with ``extra_iou`` > 0, also to every other free
    anchor of that cell whose shape IoU with the face is at least that (more positives per face).
    ``class_channel``: a seventh channel, the face's class index from ``box_class`` (-1 unknown,
    also in every slot without a face).
    """
    from picoface.train.anchors import shape_iou

    A = len(anchors)
    y = np.zeros((grid_h, grid_w, A, 7 if class_channel else 6), np.float32)
    if class_channel:
        y[..., 6] = -1.0
    if not len(boxes):
        return y
    gx = (boxes[:, 0] + boxes[:, 2] / 2.0) / net_w * grid_w
    gy = (boxes[:, 1] + boxes[:, 3] / 2.0) / net_h * grid_h
    gw = boxes[:, 2] / net_w * grid_w
    gh = boxes[:, 3] / net_h * grid_h
    ious = shape_iou(np.stack([gw, gh], 1), anchors)
    order = np.argsort(-(gw * gh))  # big faces first; small ones take the remaining slots
    for i in order:
        col = int(min(max(gx[i], 0), grid_w - 1e-4))
        row = int(min(max(gy[i], 0), grid_h - 1e-4))
        placed = False
        for a in np.argsort(-ious[i]):
            if y[row, col, a, 4] != 0:
                continue
            if placed and not (extra_iou > 0 and ious[i, a] >= extra_iou):
                break                  # best first: no later anchor qualifies either
            y[row, col, a, :6] = [gx[i] - col, gy[i] - row, math.log(gw[i] / anchors[a][0]),
                                  math.log(gh[i] / anchors[a][1]), 1.0, 2.0 - (gw[i] * gh[i]) / (grid_w * grid_h)]
            if class_channel:
                y[row, col, a, 6] = -1.0 if box_class is None else box_class[i]
            placed = True
    return y


def pad_boxes(b, n, net_w, net_h):
    """(n, 4) normalised centre boxes (cx, cy, w, h), zero-padded; largest kept when too many."""
    out = np.zeros((n, 4), np.float32)
    if len(b):
        if len(b) > n:
            b = b[np.argsort(-(b[:, 2] * b[:, 3]))[:n]]
        out[:len(b)] = np.stack([(b[:, 0] + b[:, 2] / 2) / net_w, (b[:, 1] + b[:, 3] / 2) / net_h,
                                 b[:, 2] / net_w, b[:, 3] / net_h], 1)
    return out
