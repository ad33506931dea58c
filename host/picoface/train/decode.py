"""Vectorised numpy YOLOv2 region decode + NMS (same maths as pfcore.region, ARCHITECTURE §3)."""

import numpy as np


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def decode_nhwc(out, anchors, classes=1, threshold=0.05):
    """out (gh, gw, A*(5+C)) float -> (N,5) normalised centre boxes [cx, cy, w, h, score]."""
    gh, gw = out.shape[:2]
    A = len(anchors)
    p = out.reshape(gh, gw, A, 5 + classes).astype(np.float32)
    score = _sigmoid(p[..., 4])
    if classes > 1:
        e = np.exp(p[..., 5:] - p[..., 5:].max(-1, keepdims=True))
        score = score * (e / e.sum(-1, keepdims=True)).max(-1)
    rows, cols, a = np.nonzero(score >= threshold)
    if not len(rows):
        return np.zeros((0, 5), np.float32)
    q = p[rows, cols, a]
    anc = np.asarray(anchors, np.float32)[a]
    cx = (cols + _sigmoid(q[:, 0])) / gw
    cy = (rows + _sigmoid(q[:, 1])) / gh
    w = np.exp(np.clip(q[:, 2], -10, 10)) * anc[:, 0] / gw
    h = np.exp(np.clip(q[:, 3], -10, 10)) * anc[:, 1] / gh
    return np.stack([cx, cy, w, h, score[rows, cols, a]], 1).astype(np.float32)


def iou_xywh(a, b):
    """(N,4) x (M,4) top-left boxes -> (N,M) IoU."""
    a = np.asarray(a, np.float32).reshape(-1, 4)
    b = np.asarray(b, np.float32).reshape(-1, 4)
    ax1, ay1 = a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]
    bx1, by1 = b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    iw = np.clip(np.minimum(ax1[:, None], bx1[None]) - np.maximum(a[:, 0][:, None], b[:, 0][None]), 0, None)
    ih = np.clip(np.minimum(ay1[:, None], by1[None]) - np.maximum(a[:, 1][:, None], b[:, 1][None]), 0, None)
    inter = iw * ih
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None] - inter
    return inter / np.maximum(union, 1e-9)


def nms(dets, iou_threshold=0.3, max_out=200):
    """dets (N,5) top-left [x,y,w,h,score] -> kept rows sorted by score."""
    dets = np.asarray(dets, np.float32).reshape(-1, 5)
    order = np.argsort(-dets[:, 4])
    keep = []
    while len(order) and len(keep) < max_out:
        i = order[0]
        keep.append(i)
        if len(order) == 1:
            break
        ious = iou_xywh(dets[i:i + 1, :4], dets[order[1:], :4])[0]
        order = order[1:][ious <= iou_threshold]
    return dets[keep]


def to_image(dets_norm, fit):
    """Normalised centre boxes in net space -> top-left pixel boxes of the camera/image via fit."""
    out = np.zeros((len(dets_norm), 5), np.float32)
    for i, d in enumerate(dets_norm):
        out[i, :4] = fit.net_to_cam([float(v) for v in d[:4]])
        out[i, 4] = d[4]
    return out
