"""Validation during training and at export, as ``picoface eval`` measures it.

The model under test is wrapped as a picoface detector (``picoface.detectors``: the device's
geometry, region decode and NMS) and scored by the project's evaluator (``picoface.evaluate``),
so the val figures a run logs are the ones ``picoface eval`` gives for the files it ships.

Two kinds of val set (``data.val``):
- a dataset folder (e.g. widerface_val): its faces under ``data.val_min_size`` ignored; the metric
  is AP@0.5 and the deployed threshold the best F1 over all faces;
- ``holdout``: the photos ``data.holdout`` keeps out of training (``picoface.data.holdout``), each
  framed as the camera would see it (``data.val_framing``), boxes in WIDER's convention
  (``data.box_adjust``), faces under 12 camera pixels ignored. The metric is the mean AP@0.5 of
  the far / mid / close regimes and the threshold the best mean F1 over them
  (``picoface.evaluate.regimes``): every regime counts alike.
"""

from pathlib import Path

import numpy as np

HOLDOUT = "holdout"


class ValSet:
    """Eval samples with their images decoded (and framed) once. ``metric``: "ap" or "regimes"."""

    def __init__(self, samples, framing="stretch", metric="ap"):
        from picoface.evaluate.regimes import frame_image, frame_sample
        from picoface.train.samples import read_image

        self.metric = metric
        self.framing = framing
        if framing == "stretch":
            self.samples = list(samples)
            self.images = [read_image(s.image_path) for s in samples]
        else:
            self.samples, self.images = [], []
            for s in samples:
                img = read_image(s.image_path)
                s.width, s.height = img.shape[1], img.shape[0]
                self.samples.append(frame_sample(s, framing))
                self.images.append(frame_image(img, framing)[0])

    def describe(self):
        faces = sum(len(s.boxes) for s in self.samples)
        ign = sum(len(s.ignore) for s in self.samples)
        return "%d images, %d faces (%d ignored)" % (len(self.samples), faces, ign)


def holdout_samples(cfg):
    """The held-out photos of every set in ``data.holdout``, boxes in WIDER's convention."""
    from picoface.data.holdout import split
    from picoface.errors import PicofaceError
    from picoface.train.trainset import set_samples

    if not cfg.data.holdout:
        raise PicofaceError("data.val is 'holdout' but data.holdout names no set",
                            "list the sets and the share of their photos to hold out, e.g. "
                            "data.holdout={facemask_kaggle: 0.2}")
    return [x for name in sorted(cfg.data.holdout) for x in split(set_samples(cfg, name), cfg.data.holdout[name])[1]]


def load_valset(cfg, val=None):
    """The val set a config names (``val`` overrides ``data.val``; '' or 'none': no val) or None."""
    from picoface.errors import PicofaceError
    from picoface.train.config import data_root
    from picoface.train.samples import load_eval_samples

    val = cfg.data.val if val is None else val
    if not val or val == "none":
        return None
    if val == HOLDOUT:
        vs = holdout_samples(cfg)
        metric = "regimes"
    else:
        vpath = Path(val)
        if not vpath.exists():
            vpath = data_root(cfg) / val
        if not vpath.exists():
            raise PicofaceError("val set %s not found" % val, "check data.val and data.root")
        vs = load_eval_samples(vpath, cfg.data.val_min_size, cfg.data.val_size_rule)
        metric = "ap"
    if cfg.data.val_max_images:
        vs = vs[:cfg.data.val_max_images]
    valset = ValSet(vs, cfg.data.val_framing, metric)
    if metric == "regimes":   # faces under the far regime (12 camera px, shorter side) are ignored
        from picoface.evaluate.regimes import ignore_under

        ignore_under(valset.samples)
    return valset


def val_contract(cfg, anchors, grid, macs=None):
    """What a detector reads from model.json, for a model that has none yet (training, export)."""
    c = {"name": cfg.name, "macs": macs,
         "input": {"w": cfg.input.w, "h": cfg.input.h, "fit": cfg.input.fit, "scale": 1.0 / 255.0},
         "output": {"grid_w": int(grid[0]), "grid_h": int(grid[1]), "classes": cfg.model.classes, "layout": "NHWC",
                    "anchors": [[float(a), float(b)] for a, b in np.asarray(anchors, np.float64)]},
         "thresholds": {"score": 0.5, "nms": cfg.export.nms}}
    if cfg.model.classes > 1:
        c["output"]["labels"] = list(cfg.model.labels)
    return c


def detections(detector, valset):
    """The detector on every val image (in batches when it can) -> list of float32 (N, 5)."""
    dets = detector.detect_many(valset.images) if hasattr(detector, "detect_many") else \
        [detector.detect(im) for im in valset.images]
    return [np.asarray(d, np.float32).reshape(-1, 5) for d in dets]


def val_score(dets, valset, iou=0.5):
    """(val metric, deployed score threshold or None when nothing matches) of detections: AP@iou and
    the best-F1 score, or (metric "regimes") the mean regime AP@iou and the best mean regime F1."""
    if getattr(valset, "metric", "ap") == "regimes":
        from picoface.evaluate.regimes import best_threshold, score_regimes

        ap = score_regimes(dets, valset.samples, iou)["mean_ap"]
        thr, f1 = best_threshold(dets, valset.samples, iou)
        return float(ap or 0.0), (thr if f1 > 0 else None)
    from picoface.evaluate import score

    r = score(dets, valset.samples, iou=(iou,))["results"]["%g" % iou]
    best = r.get("best_f1")
    return float(r["ap"] or 0.0), (best["score"] if best and best["f1"] > 0 else None)


def val_ap(detector, valset, iou=0.5):
    """The val metric of a detector on a ValSet."""
    return val_score(detections(detector, valset), valset, iou)[0]
