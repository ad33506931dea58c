"""Fake `ml.postprocessing.darknet.YoloV2` (>= 4.8), following openmv/openmv's darknet.py
(v4.8.0 / v5.0.0 scripts/libraries/ml/ml-darknet/ml/postprocessing/darknet.py): NHWC output,
oc = anchors x (5 + classes) as tx, ty, tw, th, obj, classes; score = sigmoid(obj); box centre
(col + sigmoid(tx)) / ow, size anchor * exp(t) / o; boxes in input pixels, soft-NMS, mapped back
to the input image ROI; returns one list per class of ((x, y, w, h), score). It gets the raw
tensor (v4.8.0+ hands a post-processor the model's dtype) and dequantises it itself.
The anchors are kept as given and only used once a score passes the threshold (:80-81), by
np.take(self.anchors, ..., axis=0) (:92): ulab raises TypeError("input is not an array") for
anything but an ndarray (v923z/micropython-ulab@20f7259 code/numpy/create.c:826-828, the ulab of
v4.8.0; d161443 :963-965 in v5.0.0); here an ndarray is a numpy array (ulab.numpy.array of the
fake ulab), and it must be 2-D (the code then reads bb_a_array[:, 0] and [:, 1])."""
import math

import numpy as np

from picoface.sim.fakes import _openmv

_openmv.require("darknet")


def _take(anchors):
    """What np.take(self.anchors, idx, axis=0) and the [:, 0] / [:, 1] reads accept."""
    if not isinstance(anchors, np.ndarray):
        raise TypeError("input is not an array")
    if anchors.ndim != 2 or anchors.shape[1] < 2:
        raise IndexError("too many indices")
    return anchors


class YoloV2:
    def __init__(self, threshold=0.6, anchors=None, nms_threshold=0.1, nms_sigma=0.1):
        if anchors is None:
            anchors = np.array([[0.98830, 3.36060], [2.11940, 5.37590], [3.05200, 9.13360], [5.55170, 9.30660],
                                [9.72600, 11.1422]], dtype=np.float32)     # darknet.py:53-58
        self.threshold = float(threshold)
        self.anchors = anchors
        self.anchors_len = len(anchors)
        self.nms_threshold = float(nms_threshold)
        self.nms_sigma = float(nms_sigma)

    def __call__(self, model, inputs, outputs):
        _, oh, ow, oc = model.output_shape[0]
        na = self.anchors_len
        nc = oc // na - 5
        raw = np.asarray(outputs[0], dtype=np.float32).reshape(oh * ow * na, 5 + nc)
        if model.output_dtype[0] != "f":
            raw = (raw - model.output_zero_point[0]) * model.output_scale[0]
        score = 1.0 / (1.0 + np.exp(-raw[:, 4]))
        keep = np.nonzero(score > self.threshold)[0]
        if not len(keep):
            return ()  # the firmware's _NO_DETECTION
        anchors = _take(self.anchors)
        _, ih, iw, _ = model.input_shape[0]
        boxes = []
        for k in keep:
            row, col, a = k // (ow * na), (k // na) % ow, k % na
            t = raw[k]
            cx = (col + 1.0 / (1.0 + math.exp(-t[0]))) / ow
            cy = (row + 1.0 / (1.0 + math.exp(-t[1]))) / oh
            hw = float(anchors[a, 0]) * math.exp(t[2]) / ow * 0.5
            hh = float(anchors[a, 1]) * math.exp(t[3]) / oh * 0.5
            x0, y0 = max(0.0, min((cx - hw) * iw, iw)), max(0.0, min((cy - hh) * ih, ih))
            x1, y1 = max(0.0, min((cx + hw) * iw, iw)), max(0.0, min((cy + hh) * ih, ih))
            bw, bh = int(x1 - x0), int(y1 - y0)
            cls = int(np.argmax(t[5:])) if nc > 1 else 0
            if bw > 0 and bh > 0:
                boxes.append([int(x0), int(y0), bw, bh, float(score[k]), cls])
        return self._soft_nms(boxes, iw, ih, inputs[0].roi)

    def _soft_nms(self, boxes, iw, ih, roi):
        def iou(a, b):
            w = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
            h = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
            inter = w * h
            return inter / float(a[2] * a[3] + b[2] * b[3] - inter)

        k = (-1.0 / self.nms_sigma) if self.nms_sigma > 0 else 0.0
        rest = sorted(boxes, key=lambda b: -b[4])
        out = []
        while rest:
            best = max(range(len(rest)), key=lambda i: rest[i][4])
            b = rest.pop(best)
            out.append(b)
            for r in rest:
                v = iou(b, r)
                r[4] *= math.exp(k * v * v)
                if r[4] < self.nms_threshold:
                    r[4] = 0.0
            rest = [r for r in rest if r[4] > 0.0]
        s = min(roi[2] / float(iw), roi[3] / float(ih))
        xo = (roi[2] - iw * s) / 2 + roi[0]
        yo = (roi[3] - ih * s) / 2 + roi[1]
        ncls = max([b[5] for b in out] + [0]) + 1
        res = [[] for _ in range(ncls)]
        for b in out:
            rect = (int(b[0] * s + xo), int(b[1] * s + yo), int(b[2] * s), int(b[3] * s))
            res[b[5]].append((rect, b[4]))
        return res
