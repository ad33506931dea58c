"""Matching detections to ground truth, PR curves and VOC all-point interpolated AP.

Rules (per image, per IoU threshold):
- detections are taken in decreasing score order (ties keep their input order); each takes the
  still-unmatched ground-truth box with the highest IoU >= threshold: a true positive;
- an unmatched detection that overlaps an ignore region (IoU >= 0.5, or at least half of the
  detection's area inside it) is ignored: neither TP nor FP;
- any other detection is a false positive; ignored faces are not counted in the recall.
PR points are taken only at distinct scores, so tied detections (across images too) enter the
curve together and AP does not depend on their order.
"""

import numpy as np

IGNORE_IOU = 0.5
IGNORE_INSIDE = 0.5
TP, FP, IGNORED = 1, 0, -1


def _xyxy(b):
    b = np.asarray(b, np.float64).reshape(-1, 4)
    return b[:, 0], b[:, 1], b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]


def intersection(a, b):
    ax1, ay1, ax2, ay2 = _xyxy(a)
    bx1, by1, bx2, by2 = _xyxy(b)
    iw = np.minimum(ax2[:, None], bx2[None, :]) - np.maximum(ax1[:, None], bx1[None, :])
    ih = np.minimum(ay2[:, None], by2[None, :]) - np.maximum(ay1[:, None], by1[None, :])
    return np.clip(iw, 0, None) * np.clip(ih, 0, None)


def area(b):
    b = np.asarray(b, np.float64).reshape(-1, 4)
    return np.clip(b[:, 2], 0, None) * np.clip(b[:, 3], 0, None)


def iou_matrix(a, b):
    """IoU of every box of ``a`` (N,4 xywh) with every box of ``b`` (M,4) -> (N, M)."""
    inter = intersection(a, b)
    union = area(a)[:, None] + area(b)[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def ignored_mask(dets, ignore):
    """True for detections that overlap an ignore region (IoU >= 0.5 or mostly inside it)."""
    dets = np.asarray(dets, np.float64).reshape(-1, 4)
    if len(ignore) == 0 or len(dets) == 0:
        return np.zeros(len(dets), bool)
    iou = iou_matrix(dets, ignore)
    inside = intersection(dets, ignore) / np.maximum(area(dets), 1e-12)[:, None]
    return ((iou >= IGNORE_IOU) | (inside >= IGNORE_INSIDE)).any(axis=1)


def order(scores):
    return np.argsort(-np.asarray(scores, np.float64), kind="stable")


def greedy_match(dets, gts, iou_thr):
    """The matching of ``match_image`` without ignore regions: dets (N,5), gts (G,4) -> (N,) index of
    the face each detection matched, -1 for none (detections best first, each takes the still-unmatched
    face of highest IoU >= ``iou_thr``)."""
    dets = np.asarray(dets, np.float64).reshape(-1, 5)
    gts = np.asarray(gts, np.float64).reshape(-1, 4)
    det_gt = np.full(len(dets), -1, np.int64)
    if len(dets) == 0 or len(gts) == 0:
        return det_gt
    iou = iou_matrix(dets[:, :4], gts)
    taken = np.zeros(len(gts), bool)
    for d in order(dets[:, 4]):
        cand = np.where(taken, -1.0, iou[d])
        g = int(np.argmax(cand))
        if cand[g] >= iou_thr:
            taken[g] = True
            det_gt[d] = g
    return det_gt


def match_image(dets, gts, ignore, iou_thr):
    """dets (N,5) xywh+score, gts (G,4), ignore (M,4) ->
    (labels (N,) of TP/FP/IGNORED in input order, gt_score (G,): score of the detection that
    matched each face, -inf when missed)."""
    dets = np.asarray(dets, np.float64).reshape(-1, 5)
    gts = np.asarray(gts, np.float64).reshape(-1, 4)
    labels = np.full(len(dets), FP, np.int8)
    gt_score = np.full(len(gts), -np.inf)
    if len(dets) == 0:
        return labels, gt_score
    det_gt = greedy_match(dets, gts, iou_thr)
    hit = det_gt >= 0
    labels[hit] = TP
    gt_score[det_gt[hit]] = dets[hit, 4]
    labels[~hit & ignored_mask(dets[:, :4], ignore)] = IGNORED
    return labels, gt_score


def pr_curve(scores, labels, n_gt):
    """Scores + TP/FP/IGNORED labels of all detections -> (recall, precision, thresholds),
    one point per distinct score, in decreasing score order."""
    scores = np.asarray(scores, np.float64)
    labels = np.asarray(labels)
    keep = labels != IGNORED
    scores, labels = scores[keep], labels[keep]
    o = order(scores)
    scores, labels = scores[o], labels[o]
    tp = np.cumsum(labels == TP)
    fp = np.cumsum(labels == FP)
    if len(scores) == 0:
        return np.zeros(0), np.zeros(0), np.zeros(0)
    last = np.r_[scores[1:] != scores[:-1], True]  # last detection of each distinct score
    tp, fp, thr = tp[last], fp[last], scores[last]
    recall = tp / n_gt if n_gt > 0 else np.zeros(len(tp))
    precision = tp / np.maximum(tp + fp, 1)
    return recall, precision, thr


def voc_ap(recall, precision):
    """VOC (2010+) all-point interpolated AP: area under the monotone precision envelope."""
    mrec = np.concatenate([[0.0], np.asarray(recall, np.float64), [1.0]])
    mpre = np.concatenate([[0.0], np.asarray(precision, np.float64), [0.0]])
    for i in range(len(mpre) - 2, -1, -1):
        mpre[i] = max(mpre[i], mpre[i + 1])
    idx = np.nonzero(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[idx + 1] - mrec[idx]) * mpre[idx + 1]))


def match_centroids(dets, gts, ignore):
    """Centroid metric (FOMO-style detectors): a detection is a hit when its centre lies inside
    a still-unmatched face box (nearest face centre first); each face is matched once. Unmatched
    centres inside an ignore region are ignored. Same return as ``match_image``."""
    dets = np.asarray(dets, np.float64).reshape(-1, 5)
    gts = np.asarray(gts, np.float64).reshape(-1, 4)
    ignore = np.asarray(ignore, np.float64).reshape(-1, 4)
    labels = np.full(len(dets), FP, np.int8)
    gt_score = np.full(len(gts), -np.inf)
    taken = np.zeros(len(gts), bool)

    def inside(c, boxes):
        return (boxes[:, 0] <= c[0]) & (c[0] <= boxes[:, 0] + boxes[:, 2]) & \
               (boxes[:, 1] <= c[1]) & (c[1] <= boxes[:, 1] + boxes[:, 3])

    for d in order(dets[:, 4]):
        c = dets[d, :2] + dets[d, 2:4] / 2
        if len(gts):
            ok = inside(c, gts) & ~taken
            if ok.any():
                centres = gts[:, :2] + gts[:, 2:] / 2
                dist = np.where(ok, np.hypot(*(centres - c).T), np.inf)
                g = int(np.argmin(dist))
                taken[g] = True
                labels[d] = TP
                gt_score[g] = dets[d, 4]
                continue
        if len(ignore) and inside(c, ignore).any():
            labels[d] = IGNORED
    return labels, gt_score
