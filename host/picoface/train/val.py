"""Validation during training: a Keras region detector and AP@IoU on an eval set.

``KerasRegionDetector`` follows the detector protocol of ARCHITECTURE §9 (name, kind, bytes,
macs, detect(rgb) -> (N,5) image pixels), preprocessing with the device geometry.
``val_ap`` uses ``picoface.evaluate.evaluate`` when it is installed, else ``average_precision``
here (WIDER-style: detections matching an ignored face count neither way).
"""

import numpy as np

from picoface.train.decode import decode_nhwc, iou_xywh, nms, to_image
from picoface.train.geometry import preprocess


class KerasRegionDetector:
    kind = "box"

    def __init__(self, model, anchors, fit="stretch", classes=1, score=0.01, nms_iou=0.3, name="picoface",
                 net_size=None):
        self.model = model
        self.anchors = np.asarray(anchors, np.float32)
        self.fit = fit
        self.classes = classes
        self.score = score
        self.nms_iou = nms_iou
        self.name = name
        self.bytes = None
        self.macs = None
        self.net_w, self.net_h = net_size or (model.input_shape[2], model.input_shape[1])
        self.gray = model.input_shape[-1] == 1

    def _prep(self, rgb):
        x, fit = preprocess(rgb, self.net_w, self.net_h, self.fit)
        if self.gray:
            x = (x.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32))[..., None]
        return x.astype(np.float32) / 255.0, fit

    def _post(self, out, fit):
        d = decode_nhwc(out, self.anchors, self.classes, self.score)
        return nms(to_image(d, fit), self.nms_iou)

    def detect(self, rgb):
        x, fit = self._prep(rgb)
        out = self.model(x[None], training=False).numpy()[0]
        return self._post(out, fit)

    def detect_many(self, images, batch=16):
        res = []
        for i in range(0, len(images), batch):
            prep = [self._prep(im) for im in images[i:i + batch]]
            out = self.model(np.stack([p[0] for p in prep]), training=False).numpy()
            res += [self._post(o, p[1]) for o, p in zip(out, prep)]
        return res


def average_precision(all_dets, all_gts, all_ignores, iou=0.5):
    """VOC all-point AP over images. Returns (ap, recall array, precision array, n_gt)."""
    scores, tps = [], []
    n_gt = 0
    for dets, gts, ign in zip(all_dets, all_gts, all_ignores):
        gts = np.asarray(gts, np.float32).reshape(-1, 4)
        ign = np.asarray(ign, np.float32).reshape(-1, 4)
        n_gt += len(gts)
        dets = np.asarray(dets, np.float32).reshape(-1, 5)
        dets = dets[np.argsort(-dets[:, 4])]
        used = np.zeros(len(gts), bool)
        ious = iou_xywh(dets[:, :4], gts) if len(gts) else np.zeros((len(dets), 0))
        iig = iou_xywh(dets[:, :4], ign) if len(ign) else np.zeros((len(dets), 0))
        for k, d in enumerate(dets):
            j = -1
            if ious.shape[1]:
                cand = np.where(~used & (ious[k] >= iou))[0]
                if len(cand):
                    j = cand[np.argmax(ious[k][cand])]
            if j >= 0:
                used[j] = True
                scores.append(d[4])
                tps.append(1)
            elif iig.shape[1] and iig[k].max() >= iou:
                continue  # matches an ignored face: neither TP nor FP
            else:
                scores.append(d[4])
                tps.append(0)
    if n_gt == 0:
        return 0.0, np.zeros(0), np.zeros(0), 0
    order = np.argsort(-np.asarray(scores, np.float32), kind="stable")
    tp = np.asarray(tps, np.float32)[order]
    ctp = np.cumsum(tp)
    cfp = np.cumsum(1 - tp)
    rec = ctp / n_gt
    prec = ctp / np.maximum(ctp + cfp, 1e-9)
    mrec = np.concatenate([[0.0], rec, [rec[-1] if len(rec) else 0.0]])
    mpre = np.concatenate([[1.0], prec, [0.0]])
    for i in range(len(mpre) - 2, -1, -1):
        mpre[i] = max(mpre[i], mpre[i + 1])
    idx = np.where(mrec[1:] != mrec[:-1])[0]
    ap = float(np.sum((mrec[idx + 1] - mrec[idx]) * mpre[idx + 1]))
    return ap, rec, prec, n_gt


class ValSet:
    """Eval samples with their images decoded once."""

    def __init__(self, samples):
        from picoface.train.samples import read_image

        self.samples = samples
        self.images = [read_image(s.image_path) for s in samples]


def best_f1_threshold(dets, samples, iou=0.5):
    """The score threshold with the best F1 on these detections (None if nothing matches)."""
    from picoface.train.decode import iou_xywh as _iou

    scores, tps, n_gt = [], [], 0
    for d, s in zip(dets, samples):
        d = np.asarray(d, np.float32).reshape(-1, 5)
        d = d[np.argsort(-d[:, 4])]
        n_gt += len(s.boxes)
        used = np.zeros(len(s.boxes), bool)
        ious = _iou(d[:, :4], s.boxes) if len(s.boxes) else np.zeros((len(d), 0))
        iig = _iou(d[:, :4], s.ignore) if len(s.ignore) else np.zeros((len(d), 0))
        for k in range(len(d)):
            cand = np.where(~used & (ious[k] >= iou))[0] if ious.shape[1] else []
            if len(cand):
                used[cand[np.argmax(ious[k][cand])]] = True
                scores.append(d[k, 4])
                tps.append(1)
            elif iig.shape[1] and iig[k].max() >= iou:
                continue
            else:
                scores.append(d[k, 4])
                tps.append(0)
    if not scores or not n_gt or not any(tps):
        return None
    order = np.argsort(-np.asarray(scores))
    tp = np.cumsum(np.asarray(tps)[order])
    fp = np.cumsum(1 - np.asarray(tps)[order])
    prec, rec = tp / (tp + fp), tp / n_gt
    f1 = 2 * prec * rec / np.maximum(prec + rec, 1e-9)
    return float(np.asarray(scores)[order][int(np.argmax(f1))])


def val_ap(detector, valset, iou=0.5):
    """AP@iou of a detector on a ValSet: ``picoface.evaluate.score`` (the project's evaluator)
    when it is installed, else ``average_precision`` here (same WIDER-style rules)."""
    dets = detector.detect_many(valset.images) if hasattr(detector, "detect_many") else \
        [detector.detect(im) for im in valset.images]
    try:
        from picoface.evaluate import score
    except ImportError:
        score = None
    if score is not None:
        res = score(dets, valset.samples, iou=(iou,))
        ap = res["ap"].get("%g" % iou)
        return float(ap) if ap is not None else 0.0
    ap, _, _, _ = average_precision(dets, [s.boxes for s in valset.samples],
                                    [s.ignore for s in valset.samples], iou)
    return ap
