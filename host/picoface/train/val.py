"""Validation AP during training and at export, as ``picoface eval`` measures it.

The model under test is wrapped as a picoface detector (``picoface.detectors``: the device's
geometry, region decode and NMS) and scored by the project's evaluator (``picoface.evaluate``),
so the val AP a run logs is the AP ``picoface eval`` gives for the files it ships.
"""

import numpy as np


class ValSet:
    """Eval samples with their images decoded once."""

    def __init__(self, samples):
        from picoface.train.samples import read_image

        self.samples = samples
        self.images = [read_image(s.image_path) for s in samples]


def val_contract(cfg, anchors, grid, macs=None):
    """What a detector reads from model.json, for a model that has none yet (training, export)."""
    return {"name": cfg.name, "macs": macs,
            "input": {"w": cfg.input.w, "h": cfg.input.h, "fit": cfg.input.fit, "scale": 1.0 / 255.0},
            "output": {"grid_w": int(grid[0]), "grid_h": int(grid[1]), "classes": cfg.model.classes, "layout": "NHWC",
                       "anchors": [[float(a), float(b)] for a, b in np.asarray(anchors, np.float64)]},
            "thresholds": {"score": 0.5, "nms": cfg.export.nms}}


def detections(detector, valset):
    """The detector on every val image (in batches when it can) -> list of float32 (N, 5)."""
    dets = detector.detect_many(valset.images) if hasattr(detector, "detect_many") else \
        [detector.detect(im) for im in valset.images]
    return [np.asarray(d, np.float32).reshape(-1, 5) for d in dets]


def val_score(dets, valset, iou=0.5):
    """(AP@iou, score threshold with the best F1 or None when nothing matches) of detections."""
    from picoface.evaluate import score

    r = score(dets, valset.samples, iou=(iou,))["results"]["%g" % iou]
    best = r.get("best_f1")
    return float(r["ap"] or 0.0), (best["score"] if best and best["f1"] > 0 else None)


def val_ap(detector, valset, iou=0.5):
    """AP@iou of a detector on a ValSet."""
    return val_score(detections(detector, valset), valset, iou)[0]
