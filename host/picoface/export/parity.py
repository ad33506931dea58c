"""Float vs int8 parity: AP@0.5 of each TFLite model on the validation set."""

import numpy as np

from picoface.errors import PicofaceError
from picoface.export.tflite import TFLiteRunner
from picoface.train.decode import decode_nhwc, nms, to_image
from picoface.train.geometry import preprocess


class TFLiteRegionDetector:
    """Detector protocol (ARCHITECTURE §9) over a TFLite region model (float or int8)."""

    kind = "box"

    def __init__(self, data, anchors, fit="stretch", classes=1, score=0.01, nms_iou=0.3, name="picoface", threads=1):
        self.run = TFLiteRunner(data, threads)
        shape = self.run.inp["shape"]
        self.net_h, self.net_w = int(shape[1]), int(shape[2])
        self.gray = int(shape[3]) == 1
        self.anchors = np.asarray(anchors, np.float32)
        self.fit, self.classes, self.score, self.nms_iou = fit, classes, score, nms_iou
        self.name = name
        self.bytes = len(data)
        self.macs = None

    def detect(self, rgb):
        x, fit = preprocess(rgb, self.net_w, self.net_h, self.fit)
        if self.gray:
            x = (x.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32))[..., None].astype(np.uint8)
        out = self.run(x)
        d = decode_nhwc(out, self.anchors, self.classes, self.score)
        return nms(to_image(d, fit), self.nms_iou)

    def detect_many(self, images):
        return [self.detect(im) for im in images]


def parity(float_bytes, int8_bytes, anchors, valset, fit="stretch", tolerance=0.01, raise_on_fail=True):
    """{'ap_float', 'ap_int8', 'delta', 'ok', 'best_f1_score'}; PicofaceError when |delta| > tolerance."""
    from picoface.train.val import best_f1_threshold, val_ap

    ap_f = val_ap(TFLiteRegionDetector(float_bytes, anchors, fit), valset)
    qdet = TFLiteRegionDetector(int8_bytes, anchors, fit)
    qdets = qdet.detect_many(valset.images)

    class _Cached:
        def detect_many(self, images):
            return qdets

    ap_q = val_ap(_Cached(), valset)
    res = {"ap_float": round(ap_f, 4), "ap_int8": round(ap_q, 4), "delta": round(ap_q - ap_f, 4),
           "ok": abs(ap_q - ap_f) <= tolerance, "tolerance": tolerance,
           "best_f1_score": best_f1_threshold(qdets, valset.samples)}
    if raise_on_fail and not res["ok"]:
        raise PicofaceError("int8 AP %.4f differs from float AP %.4f by more than %.3f"
                            % (ap_q, ap_f, tolerance), "use more/better calibration images (--calib)")
    return res
