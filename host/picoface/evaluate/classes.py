"""Per-class figures of a multi-class detector (e.g. mask / no_mask): AP per class and the
classification of the faces it finds.

Data labels -> model classes: a class map ``label=class,...`` (``--class-map``). ``class`` is one of
the model's labels (or its index), or ``-``: faces of that label are ignore regions for every class.
The default, ``DEFAULT_CLASS_MAP``, is for facemask_kaggle's labels
(with_mask=mask, without_mask=no_mask, mask_weared_incorrect=-); a data label that equals one of
the model's labels maps to that class as well. A photo is scored per class when every one of its
boxes carries a label the map knows (``meta["labels"]``); other photos (e.g. the held-out mix's
sets labelled only "face") are left out of the per-class figures and counted.

AP of class k (VOC, each class on its own): the faces of class k are its ground truth; a detection
whose class is k is a true positive when it matches one of them (IoU, greedy by score, as
``picoface.evaluate.ap.match_image``), a false positive when it does not, also when it lies on a
face of another class; faces of a ``-`` label and the photo's ignore regions are ignore regions
(a detection on them is neither). Faces of other classes are neither missed nor matched for k.

Classification at the deployed score threshold: detections scoring at least it are matched to all
faces whatever their class (the class-agnostic matching of the face AP, at the first IoU); each face
of a known class that is found adds one to the confusion matrix (row: its class, column: the class
of the detection that found it), overall and per regime (far / mid / close, camera pixels,
``picoface.evaluate.regimes``). Accuracy = matrix diagonal / faces found.
"""

import math

import numpy as np

from picoface.errors import PicofaceError
from picoface.evaluate.ap import FP, IGNORED, TP, greedy_match, match_image, pr_curve, voc_ap

IGNORE = "-"
DEFAULT_CLASS_MAP = "with_mask=mask,without_mask=no_mask,mask_weared_incorrect=-"


def parse_class_map(text):
    """``"a=x,b=-"`` (or a dict) -> {"a": "x", "b": "-"}; PicofaceError on a malformed map."""
    if isinstance(text, dict):
        return {str(k): str(v) for k, v in text.items()}
    out = {}
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        if part.count("=") != 1:
            raise PicofaceError("class map entry %r is not LABEL=CLASS" % part,
                                "e.g. --class-map %s ('-': ignore the faces of that label)" % DEFAULT_CLASS_MAP)
        label, cls = (t.strip() for t in part.split("="))
        if not label or not cls:
            raise PicofaceError("class map entry %r has an empty side" % part,
                                "e.g. --class-map %s" % DEFAULT_CLASS_MAP)
        if label in out:
            raise PicofaceError("class map names data label %r twice" % label, "give each data label once")
        out[label] = cls
    if not out:
        raise PicofaceError("the class map %r is empty" % str(text), "e.g. --class-map %s" % DEFAULT_CLASS_MAP)
    return out


def resolve_class_map(class_map, labels):
    """{data label: class index, or -1 for ignore} of ``class_map`` (None: the default map, whose entries
    naming no class of the model are dropped) for a model with class names ``labels``. Data labels
    equal to a class name map to it unless the map says otherwise. -> (index map, {label: class name})."""
    explicit = class_map is not None
    m = parse_class_map(DEFAULT_CLASS_MAP if class_map is None else class_map)
    index = {}
    for label, cls in m.items():
        if cls == IGNORE:
            index[label] = -1
        elif cls in labels:
            index[label] = labels.index(cls)
        elif cls.isdigit() and int(cls) < len(labels):
            index[label] = int(cls)
        elif explicit:
            raise PicofaceError("the class map sends data label %r to %r, which is not a class of the model "
                                "(%s)" % (label, cls, ", ".join(labels)),
                                "map each data label to one of the model's labels, its index, or '-' (ignore)")
    for k, name in enumerate(labels):
        index.setdefault(name, k)
    names = {label: IGNORE if k < 0 else labels[k] for label, k in index.items()}
    return index, names


def face_classes(sample, index):
    """Class index per face of ``sample`` (-1: an ignore label) by the resolved map, or (None, unknown
    labels) when its boxes carry no labels or a label the map does not know."""
    labels = sample.meta.get("labels")
    n = len(sample.boxes)
    if not isinstance(labels, list) or len(labels) != n:
        return None, []
    unknown = [str(x) for x in labels if str(x) not in index]
    if unknown:
        return None, unknown
    return np.array([index[str(x)] for x in labels], np.int64).reshape(n), []


def _point(scores, labels, n_gt, threshold):
    keep = scores >= threshold
    tp = int(np.sum(labels[keep] == TP))
    fp = int(np.sum(labels[keep] == FP))
    p = tp / float(tp + fp) if tp + fp else None    # None: no detection of the class at this score
    r = tp / float(n_gt) if n_gt else None
    f1 = None if p is None or r is None else (2 * p * r / (p + r) if p + r > 0 else 0.0)
    return {"score": float(threshold), "tp": tp, "fp": fp, "precision": p, "recall": r, "f1": f1}


def class_ap(dets, det_cls, gt_cls, samples, k, iou_thr, threshold=None):
    """AP of class ``k`` at ``iou_thr`` over samples (see the module docstring) -> dict."""
    all_sc, all_lab, n_gt = [], [], 0
    for d, c, g, s in zip(dets, det_cls, gt_cls, samples):
        d = np.asarray(d, np.float64).reshape(-1, 5)[np.asarray(c) == k]
        ignore = np.concatenate([np.asarray(s.ignore, np.float64).reshape(-1, 4),
                                 np.asarray(s.boxes, np.float64).reshape(-1, 4)[g < 0]])
        lab, _ = match_image(d, np.asarray(s.boxes, np.float64).reshape(-1, 4)[g == k], ignore, iou_thr)
        all_sc.append(d[:, 4])
        all_lab.append(lab)
        n_gt += int(np.sum(g == k))
    sc = np.concatenate(all_sc) if all_sc else np.zeros(0)
    lab = np.concatenate(all_lab) if all_lab else np.zeros(0, np.int8)
    rec, prec, _ = pr_curve(sc, lab, n_gt)
    row = {"ap": float(voc_ap(rec, prec)) if n_gt else None, "faces": n_gt, "detections": int(len(sc)),
           "true_positives": int(np.sum(lab == TP)), "false_positives": int(np.sum(lab == FP)),
           "ignored_detections": int(np.sum(lab == IGNORED)),
           "recall_max": float(rec[-1]) if len(rec) and n_gt else 0.0}
    if threshold is not None:
        row["at_threshold"] = _point(sc, lab, n_gt, threshold)
    return row


def confusion(dets, det_cls, gt_cls, samples, labels, iou_thr, threshold):
    """Classification of the faces found at ``threshold`` (class-agnostic matching at ``iou_thr``):
    overall and per regime. -> dict (see the module docstring)."""
    from picoface.evaluate.regimes import REGIMES, camera_px, camera_scale

    n = len(labels)

    def empty():
        return {"faces": 0, "found": 0, "correct": 0, "accuracy": None, "matrix": [[0] * n for _ in range(n)],
                "missed": [0] * n}

    total = empty()
    by = {name: empty() for name, _, _ in REGIMES}
    ign = {"faces": 0, "found": 0, "predicted": [0] * n}
    for d, c, g, s in zip(dets, det_cls, gt_cls, samples):
        d = np.asarray(d, np.float64).reshape(-1, 5)
        c = np.asarray(c, np.int64)
        keep = d[:, 4] >= threshold
        d, c = d[keep], c[keep]
        boxes = np.asarray(s.boxes, np.float64).reshape(-1, 4)
        det_gt = greedy_match(d, boxes, iou_thr)
        found = np.full(len(boxes), -1, np.int64)       # class of the detection that found each face
        found[det_gt[det_gt >= 0]] = c[det_gt >= 0]
        size = camera_px(boxes, camera_scale(s)) if len(boxes) else np.zeros(0)
        for i, true in enumerate(g):
            if true < 0:
                ign["faces"] += 1
                if found[i] >= 0:
                    ign["found"] += 1
                    ign["predicted"][int(found[i])] += 1
                continue
            rows = [total] + [by[name] for name, lo, hi in REGIMES if lo <= size[i] < hi]
            for r in rows:
                r["faces"] += 1
                if found[i] < 0:
                    r["missed"][int(true)] += 1
                    continue
                r["found"] += 1
                r["matrix"][int(true)][int(found[i])] += 1
                if found[i] == true:
                    r["correct"] += 1
    for r in [total] + list(by.values()):
        r["accuracy"] = r["correct"] / float(r["found"]) if r["found"] else None
        r["missed"] = dict(zip(labels, r["missed"]))
    for name, lo, hi in REGIMES:
        by[name].update(lo=lo, hi=None if math.isinf(hi) else hi)
    ign["predicted"] = dict(zip(labels, ign["predicted"]))
    total.update(iou=float(iou_thr), score=float(threshold), labels=list(labels), regimes=by, ignore_label=ign)
    return total


def score_classes(dets, det_cls, samples, labels, class_map=None, iou=(0.5, 0.3), threshold=None):
    """Per-class figures of detections ``dets`` (one (N,5) array per sample) with classes ``det_cls``
    (one (N,) array of indices into ``labels`` per sample) -> the dict results.json keeps as "per_class".

    ``class_map``: None (the default map, for facemask_kaggle's labels) or a map as ``parse_class_map``
    takes it. With an explicit map a data set without a photo the map can score is a PicofaceError;
    with the default one the result says why it is skipped."""
    index, names = resolve_class_map(class_map, labels)
    keep, gts, left_out, unknown = [], [], 0, {}
    for i, s in enumerate(samples):
        g, bad = face_classes(s, index)
        if g is None:
            left_out += 1
            for b in bad:
                unknown[b] = unknown.get(b, 0) + 1
            continue
        keep.append(i)
        gts.append(g)
    out = {"labels": list(labels), "class_map": names, "images": len(keep), "images_left_out": left_out,
           "unknown_labels": unknown, "score_threshold": threshold}
    if not keep:
        why = ("no photo of the data has its boxes labelled with the class map's data labels (%s)%s"
               % (", ".join(sorted(names)), "; labels seen: %s" % ", ".join(sorted(unknown)) if unknown else ""))
        if class_map is not None:
            raise PicofaceError("per-class evaluation: %s" % why,
                                "give data whose boxes carry labels (annotations.jsonl \"labels\"), and a "
                                "--class-map LABEL=CLASS,... that names them")
        out["skipped"] = why
        return out
    sub = [samples[i] for i in keep]
    d = [np.asarray(dets[i], np.float64).reshape(-1, 5) for i in keep]
    c = [np.asarray(det_cls[i], np.int64).reshape(-1) for i in keep]
    faces = np.concatenate(gts) if gts else np.zeros(0, np.int64)
    out["faces"] = dict({name: int(np.sum(faces == k)) for k, name in enumerate(labels)},
                        **{IGNORE: int(np.sum(faces < 0))})
    out["ap"], out["map"], out["classes"] = {}, {}, {}
    for t in iou:
        key = "%g" % t
        rows = {name: class_ap(d, c, gts, sub, k, float(t), threshold) for k, name in enumerate(labels)}
        aps = [r["ap"] for r in rows.values() if r["ap"] is not None]
        out["classes"][key] = rows
        out["ap"][key] = {name: r["ap"] for name, r in rows.items()}
        out["map"][key] = float(np.mean(aps)) if aps else None
    if threshold is not None:
        out["confusion"] = confusion(d, c, gts, sub, labels, float(iou[0]), float(threshold))
    return out
