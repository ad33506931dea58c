"""Faces by regime, in the pixels of the camera that would see the scene.

A board's camera is QVGA (320x240, 4:3). A photo of another aspect is framed as that camera would
frame the scene: padded to 4:3 with black bars (letterbox, the default) or left as it is
("stretch": the detector's own fit squashes it). A face's size is then its shorter side in camera
pixels (``camera_px``: the framed photo scaled to 320 wide), and its regime is:

  far    12 <= size < 40   (a person a few metres away)
  mid    40 <= size < 100
  close  size >= 100       (30 cm from the lens, up to faces cut by the frame edge)

AP per regime counts the regime's faces only: other faces become ignore regions, and a false
positive whose own size lies outside the regime is left out (as COCO's area ranges do), so a
regime's AP is not charged for the other regimes' mistakes.
"""

import math

import numpy as np

from picoface.evaluate.ap import FP, IGNORED, TP, match_image, pr_curve, voc_ap

CAMERA = (320, 240)
REGIMES = (("far", 12.0, 40.0), ("mid", 40.0, 100.0), ("close", 100.0, math.inf))
FRAMINGS = ("letterbox", "stretch")


def framed_size(width, height, framing="letterbox", camera=CAMERA):
    """(W, H, pad_x, pad_y) of a ``width`` x ``height`` photo framed to the camera's aspect."""
    if framing == "stretch":
        return width, height, 0, 0
    cw, ch = camera
    if width * ch >= height * cw:            # wider than 4:3: bars above and below
        H = int(math.ceil(width * ch / float(cw)))
        return width, H, 0, (H - height) // 2
    W = int(math.ceil(height * cw / float(ch)))
    return W, height, (W - width) // 2, 0


def frame_image(img, framing="letterbox", camera=CAMERA):
    """The photo as the camera frames it (black bars to 4:3) -> (image, (pad_x, pad_y))."""
    h, w = img.shape[:2]
    W, H, px, py = framed_size(w, h, framing, camera)
    if (W, H) == (w, h):
        return img, (0, 0)
    out = np.zeros((H, W) + img.shape[2:], img.dtype)
    out[py:py + h, px:px + w] = img
    return out, (px, py)


def frame_sample(sample, framing="letterbox", camera=CAMERA):
    """A copy of ``sample`` with boxes moved into the framed photo; meta["framing"] records it
    (pad, framed size, camera_scale = camera pixels per photo pixel)."""
    import copy

    w, h = int(sample.width or 0), int(sample.height or 0)
    if not w or not h:
        from picoface.data.images import read_image

        h, w = read_image(sample.image_path).shape[:2]
    W, H, px, py = framed_size(w, h, framing, camera)
    s = copy.copy(sample)
    s.meta = dict(sample.meta)
    off = np.array([px, py, 0, 0], np.float32)
    s.boxes = (np.asarray(sample.boxes, np.float32).reshape(-1, 4) + off).astype(np.float32)
    s.ignore = (np.asarray(sample.ignore, np.float32).reshape(-1, 4) + off).astype(np.float32)
    s.width, s.height = W, H
    s.meta["framing"] = {"mode": framing, "pad": [px, py], "size": [W, H], "camera_scale": camera[0] / float(W)}
    return s


def frame_samples(samples, framing="letterbox", camera=CAMERA):
    """``frame_sample`` of every sample, each photo's size read from its file's header (an
    annotation's width and height may be missing or not the file's)."""
    import copy

    from picoface.data.images import image_size

    out = []
    for s in samples:
        size = image_size(s.image_path)
        if size and tuple(size) != (s.width, s.height):
            s = copy.copy(s)
            s.width, s.height = int(size[0]), int(size[1])
        out.append(frame_sample(s, framing, camera))
    return out


def sample_image(sample, camera=CAMERA):
    """The image a detector sees for ``sample``: its photo, framed as ``sample.meta["framing"]``
    records (the photo itself for a sample that was not framed)."""
    from picoface.data.images import read_image
    from picoface.errors import PicofaceError

    img = read_image(sample.image_path)
    f = sample.meta.get("framing")
    if not f:
        return img
    out, pad = frame_image(img, f["mode"], camera)
    if list(pad) != list(f["pad"]) or [out.shape[1], out.shape[0]] != list(f["size"]):
        raise PicofaceError("%s is %dx%d, not the size its sample was framed for" % (
            sample.image_path, img.shape[1], img.shape[0]), "frame samples with regimes.frame_samples, which "
                            "reads the sizes from the image files")
    return out


def ignore_under(samples, lo=REGIMES[0][1]):
    """Move the faces of framed samples whose shorter side is under ``lo`` camera pixels (default:
    the far regime's lower bound) to the ignore regions, in place; returns the samples."""
    from picoface.data.sample import move_to_ignore

    for s in samples:
        move_to_ignore(s, camera_px(s.boxes, camera_scale(s)) < lo)
    return samples


def camera_scale(sample, camera=CAMERA):
    """Camera pixels per image pixel of a (framed) sample."""
    f = sample.meta.get("framing")
    if f:
        return float(f["camera_scale"])
    return camera[0] / float(sample.width)


def camera_px(boxes, scale):
    """Face size in camera pixels: the shorter side."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    return np.minimum(b[:, 2], b[:, 3]) * scale


def _in(size, lo, hi):
    return (size >= lo) & (size < hi)


def regime_labels(dets, sample, lo, hi, iou_thr):
    """(labels (N,), faces in the regime) for one image: TP/FP/IGNORED as ``match_image`` gives them
    with the other regimes' faces as ignore regions, and out-of-regime false positives ignored."""
    dets = np.asarray(dets, np.float64).reshape(-1, 5)
    k = camera_scale(sample)
    inside = _in(camera_px(sample.boxes, k), lo, hi)
    gts = sample.boxes[inside]
    ignore = np.concatenate([np.asarray(sample.ignore, np.float32).reshape(-1, 4), sample.boxes[~inside]])
    labels, _ = match_image(dets, gts, ignore, iou_thr)
    if len(dets):
        out = ~_in(camera_px(dets[:, :4], k), lo, hi)
        labels = np.where((labels == FP) & out, IGNORED, labels).astype(np.int8)
    return labels, int(inside.sum())


def point_at(scores, labels, n_gt, threshold):
    """Precision, recall and F1 of the detections scoring >= threshold."""
    keep = scores >= threshold
    tp = int(np.sum(labels[keep] == TP))
    fp = int(np.sum(labels[keep] == FP))
    p = tp / float(tp + fp) if tp + fp else (1.0 if n_gt == 0 else 0.0)
    r = tp / float(n_gt) if n_gt else 0.0
    return {"score": float(threshold), "precision": p, "recall": r,
            "f1": 2 * p * r / (p + r) if p + r > 0 else 0.0, "tp": tp, "fp": fp, "faces": int(n_gt)}


def _collect(detections, samples, lo, hi, iou_thr):
    scores, labels, n = [], [], 0
    for d, s in zip(detections, samples):
        lab, g = regime_labels(d, s, lo, hi, iou_thr)
        scores.append(np.asarray(d, np.float64).reshape(-1, 5)[:, 4])
        labels.append(lab)
        n += g
    sc = np.concatenate(scores) if scores else np.zeros(0)
    lb = np.concatenate(labels) if labels else np.zeros(0, np.int8)
    return sc, lb, n


def score_regimes(detections, samples, iou_thr=0.5, threshold=None, regimes=REGIMES):
    """{name: {"ap", "faces", "lo", "hi", "at_threshold"}} for each regime, plus "mean_ap" (the mean of
    the regimes that have faces). ``samples`` are framed (``frame_sample``) or camera frames."""
    out = {}
    aps = []
    for name, lo, hi in regimes:
        sc, lb, n = _collect(detections, samples, lo, hi, iou_thr)
        rec, prec, _ = pr_curve(sc, lb, n)
        ap = float(voc_ap(rec, prec)) if n else None
        row = {"ap": ap, "faces": n, "lo": lo, "hi": None if math.isinf(hi) else hi}
        if threshold is not None:
            row["at_threshold"] = point_at(sc, lb, n, threshold)
        out[name] = row
        if ap is not None:
            aps.append(ap)
    out["mean_ap"] = float(np.mean(aps)) if aps else None
    return out


def score_ious(detections, samples, ious=(0.5, 0.3), threshold=None, regimes=REGIMES):
    """``score_regimes`` at each IoU -> {"0.5": {...}, "0.3": {...}} (keys as ``picoface.evaluate.score``)."""
    return {"%g" % t: score_regimes(detections, samples, float(t), threshold, regimes) for t in ious}


def best_threshold(detections, samples, iou_thr=0.5, regimes=REGIMES, candidates=None):
    """The score threshold that maximises the mean F1 over the regimes that have faces -> (threshold,
    mean F1). Every regime counts alike, whatever its number of faces (a val mix of many far faces
    would otherwise pick a threshold that suits far faces only)."""
    per = [_collect(detections, samples, lo, hi, iou_thr) for _, lo, hi in regimes]
    per = [p for p in per if p[2] > 0]
    if not per:
        return None, 0.0
    if candidates is None:
        allsc = np.concatenate([p[0] for p in per])
        candidates = np.unique(allsc[allsc > 0])   # the detections' own scores: each is a step of the curve
        if len(candidates) > 400:
            candidates = candidates[np.unique(np.linspace(0, len(candidates) - 1, 400).round().astype(int))]
    best, best_f = None, -1.0
    for t in candidates:
        f = float(np.mean([point_at(sc, lb, n, t)["f1"] for sc, lb, n in per]))
        if f > best_f:
            best, best_f = float(t), f
    return best, best_f
