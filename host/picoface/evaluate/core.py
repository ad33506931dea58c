"""Run a detector over samples and score it: AP per IoU, PR arrays, recall by face size."""

import math
import sys
import time

import numpy as np

from picoface.data.sample import SIZE_EDGES, bucket_labels, face_size
from picoface.evaluate.ap import match_centroids, match_image, pr_curve, voc_ap

MAX_PR_POINTS = 400  # PR arrays kept in results (subsampled evenly; the AP uses every point)


def run_detector(detector, samples, progress=True, images=None, with_class=False):
    """detector.detect on every sample's image -> (list of float32 (N,5), seconds per image);
    ``with_class``: detector.detect(image, with_class=True), (N,6) arrays with the class index last.

    The image is the sample's photo framed as its ``meta["framing"]`` records
    (``regimes.sample_image``), or ``images[i]`` when given (images as the detector is to see them)."""
    from picoface.errors import PicofaceError
    from picoface.evaluate.regimes import sample_image

    it = samples
    if progress:
        from tqdm import tqdm

        it = tqdm(samples, desc="eval %s" % getattr(detector, "name", "model"), unit="img",
                  file=sys.stderr, leave=False)
    out, spent = [], 0.0
    for i, s in enumerate(it):
        img = sample_image(s) if images is None else images[i]
        t = time.perf_counter()
        if with_class:
            d = np.asarray(detector.detect(img, with_class=True), np.float32)
            if d.size == 0:
                d = np.zeros((0, 6), np.float32)
            elif d.ndim != 2 or d.shape[1] < 6:
                raise PicofaceError("%s has class labels, but detect(with_class=True) gave %s, not (N, 6) boxes "
                                    "with their class" % (getattr(detector, "name", "the detector"), d.shape),
                                    "return [x, y, w, h, score, class] from detect(rgb, with_class=True)")
            d = d[:, :6]
        else:
            d = np.asarray(detector.detect(img), np.float32).reshape(-1, 5)
        spent += time.perf_counter() - t
        out.append(d)
    return out, spent / max(1, len(samples))


def _subsample(arr, n=MAX_PR_POINTS):
    arr = np.asarray(arr)
    if len(arr) <= n:
        return arr
    idx = np.unique(np.linspace(0, len(arr) - 1, n).round().astype(int))
    return arr[idx]


def _point(recall, precision, thr, i):
    p, r = float(precision[i]), float(recall[i])
    return {"score": float(thr[i]), "precision": p, "recall": r,
            "f1": 2 * p * r / (p + r) if p + r > 0 else 0.0}


def score_one(detections, samples, iou_thr=0.5, kind="box", score_threshold=None, edges=SIZE_EDGES):
    """Score detections (one (N,5) array per sample) against the samples at one IoU threshold
    (``kind="centroid"``: the centroid metric, IoU unused)."""
    all_scores, all_labels, gt_scores, gt_sizes = [], [], [], []
    n_gt = 0
    for dets, s in zip(detections, samples):
        dets = np.asarray(dets, np.float64).reshape(-1, 5)
        if kind == "centroid":
            labels, gsc = match_centroids(dets, s.boxes, s.ignore)
        else:
            labels, gsc = match_image(dets, s.boxes, s.ignore, iou_thr)
        all_scores.append(dets[:, 4])
        all_labels.append(labels)
        gt_scores.append(gsc)
        gt_sizes.append(face_size(s.boxes))
        n_gt += len(s.boxes)
    scores = np.concatenate(all_scores) if all_scores else np.zeros(0)
    labels = np.concatenate(all_labels) if all_labels else np.zeros(0, np.int8)
    gsc = np.concatenate(gt_scores) if gt_scores else np.zeros(0)
    gsz = np.concatenate(gt_sizes) if gt_sizes else np.zeros(0)
    recall, precision, thr = pr_curve(scores, labels, n_gt)
    ap = voc_ap(recall, precision) if n_gt > 0 else None
    res = {
        "metric": "centroid" if kind == "centroid" else "box",
        "label": "centroid AP (centre inside face)" if kind == "centroid" else "AP@IoU%g" % iou_thr,
        "iou": None if kind == "centroid" else float(iou_thr),
        "ap": ap,
        "faces": int(n_gt),
        "detections": int(len(scores)),
        "ignored_detections": int(np.sum(labels == -1)),
        "true_positives": int(np.sum(labels == 1)),
        "false_positives": int(np.sum(labels == 0)),
        "recall_max": float(recall[-1]) if len(recall) else 0.0,
        "pr": {"recall": _subsample(recall).tolist(), "precision": _subsample(precision).tolist(),
               "score": _subsample(thr).tolist()},
        "_pr_full": (recall, precision, thr),
    }
    if len(recall):
        f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
        res["best_f1"] = _point(recall, precision, thr, int(np.argmax(f1)))
        if score_threshold is not None:
            k = np.nonzero(thr >= score_threshold)[0]
            res["at_threshold"] = _point(recall, precision, thr, int(k[-1])) if len(k) else {
                "score": float(score_threshold), "precision": 0.0, "recall": 0.0, "f1": 0.0}
            res["at_threshold"]["score"] = float(score_threshold)
    t = -np.inf if score_threshold is None else score_threshold
    rows = []
    for name, lo, hi in zip(bucket_labels(edges), edges[:-1], edges[1:]):
        m = (gsz >= lo) & (gsz < hi)
        n = int(m.sum())
        found = int(np.sum(gsc[m] >= t)) if n else 0
        found_any = int(np.sum(np.isfinite(gsc[m]))) if n else 0
        rows.append({"bucket": name, "lo": lo, "hi": None if math.isinf(hi) else hi, "faces": n,
                     "found": found, "recall": found / n if n else None,
                     "found_any_score": found_any, "recall_any_score": found_any / n if n else None})
    res["recall_by_size"] = rows
    return res


def score(detections, samples, iou=(0.5, 0.3), kind="box", score_threshold=None):
    """All metrics for the detections: {"results": {key: score_one(...)}, "ap": {key: ap}}.
    Keys: "0.5", "0.3" ... for boxes; "centroid" for centroid detectors."""
    if kind == "centroid":
        keys = [("centroid", None)]
    else:
        keys = [("%g" % t, float(t)) for t in iou]
    results = {k: score_one(detections, samples, t, kind, score_threshold) for k, t in keys}
    return {
        "metric": "centroid" if kind == "centroid" else "box",
        "counts": {"images": len(samples), "faces": int(sum(len(s.boxes) for s in samples)),
                   "ignored": int(sum(len(s.ignore) for s in samples)),
                   "detections": int(sum(len(d) for d in detections))},
        "score_threshold": score_threshold,
        "ap": {k: r["ap"] for k, r in results.items()},
        "results": results,
    }


def evaluate(detector, samples, iou=(0.5, 0.3), progress=True, score_threshold=None, images=None, class_map=None):
    """Run ``detector`` on ``samples`` and score it (ARCHITECTURE section 9).

    ``score_threshold``: the deployment threshold for the "at threshold" point and recall by
    size (default: the detector's ``deploy_threshold`` attribute when it has one). ``images``:
    the images the detector sees, one per sample (default: read, and framed as each sample's
    ``meta["framing"]`` says). Box detectors also get "regimes": far / mid / close AP and the
    operating point at each IoU (``picoface.evaluate.regimes``; sizes in camera pixels).
    A box detector with class ``labels`` (a multi-class model) also gets "per_class"
    (``picoface.evaluate.classes.score_classes``: AP per class, the classification of the faces found;
    ``class_map`` maps the data's box labels to its classes, None: the default map); the face figures
    above ignore the classes."""
    from picoface.evaluate.regimes import score_ious

    if score_threshold is None:
        score_threshold = getattr(detector, "deploy_threshold", None)
    kind = getattr(detector, "kind", "box")
    labels = getattr(detector, "labels", None) if kind != "centroid" else None
    dets, sec = run_detector(detector, samples, progress=progress, images=images, with_class=bool(labels))
    classes = None
    if labels:
        classes = [d[:, 5].astype(np.int64) for d in dets]
        dets = [np.ascontiguousarray(d[:, :5]) for d in dets]
    res = score(dets, samples, iou=iou, kind=kind, score_threshold=score_threshold)
    if kind != "centroid":
        res["regimes"] = score_ious(dets, samples, iou, score_threshold)
    if labels:
        from picoface.evaluate.classes import score_classes

        res["per_class"] = score_classes(dets, classes, samples, list(labels), class_map, iou, score_threshold)
        res["_classes"] = classes  # per-sample class indices of the detections
    res["detector"] = {"name": getattr(detector, "name", "detector"), "kind": kind,
                       "bytes": getattr(detector, "bytes", None), "macs": getattr(detector, "macs", None),
                       "macs_error": getattr(detector, "macs_error", None)}
    res["ms_per_image"] = round(sec * 1000, 3)
    res["_detections"] = dets  # per-sample arrays for drawing; to_json leaves it out
    return res


def to_json(results):
    """Results without the private full-resolution arrays (JSON-serialisable)."""
    def clean(o):
        if isinstance(o, dict):
            return {k: clean(v) for k, v in o.items() if not str(k).startswith("_")}
        if isinstance(o, (list, tuple)):
            return [clean(v) for v in o]
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, float) and not math.isfinite(o):
            return None
        return o

    return clean(results)
