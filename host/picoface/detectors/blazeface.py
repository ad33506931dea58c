"""MediaPipe BlazeFace front (short-range) 128x128 as shipped with OpenMV, run by LiteRT.

- Input: float32 RGB in [0, 1]. The model's own first op quantises the input with scale 1/255 and
  zero point -128, i.e. it maps [0, 1] onto int8; a [-1, 1] input would clip its negative half.
- Image fit: letterbox. The whole image is scaled so its longer side is 128 and padded (black) to a
  square, so no face is cut away; boxes are mapped back through the same transform.
- Anchors: MediaPipe's short-range SSD scheme, 896 in all: stride 8 (16x16 cells, 2 anchors per
  cell) then stride 16 (8x8 cells, 6 per cell), fixed anchor size 1, centres at cell + 0.5.
- Decode: box centre = anchor centre + regressor/128, size = regressor/128 (normalised to the
  128-pixel input); score = sigmoid(logit clipped to +-100).
- NMS: MediaPipe's weighted NMS (overlapping boxes, IoU > 0.3, are averaged with score weights).
  Score threshold 0.05 (MediaPipe uses 0.5) so the PR curve is complete.
The model was trained for faces larger than ~20% of the frame: small faces are out of its scope.
"""

import functools
from pathlib import Path

import numpy as np

from picoface.errors import PicofaceError

SIZE = 128


def blazeface_anchors():
    """(896, 2) anchor centres (x, y) normalised to the input, in the model's output order."""
    rows = []
    for grid, per_cell in ((16, 2), (8, 6)):
        ys, xs = np.meshgrid(np.arange(grid), np.arange(grid), indexing="ij")
        c = np.stack([(xs + 0.5) / grid, (ys + 0.5) / grid], axis=-1).reshape(-1, 1, 2)
        rows.append(np.repeat(c, per_cell, axis=1).reshape(-1, 2))
    return np.concatenate(rows).astype(np.float32)


def decode(regressors, logits, anchors, size=SIZE):
    """Raw outputs -> (boxes xywh normalised, scores) for all anchors."""
    r = np.asarray(regressors, np.float32).reshape(-1, 16)
    cx = anchors[:, 0] + r[:, 0] / size
    cy = anchors[:, 1] + r[:, 1] / size
    w = r[:, 2] / size
    h = r[:, 3] / size
    boxes = np.stack([cx - w / 2, cy - h / 2, w, h], axis=1)
    scores = 1.0 / (1.0 + np.exp(-np.clip(np.asarray(logits, np.float64).reshape(-1), -100, 100)))
    return boxes, scores


def iou_one(box, boxes):
    x1 = np.maximum(box[0], boxes[:, 0])
    y1 = np.maximum(box[1], boxes[:, 1])
    x2 = np.minimum(box[0] + box[2], boxes[:, 0] + boxes[:, 2])
    y2 = np.minimum(box[1] + box[3], boxes[:, 1] + boxes[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    union = box[2] * box[3] + boxes[:, 2] * boxes[:, 3] - inter
    return inter / np.maximum(union, 1e-12)


def weighted_nms(boxes, scores, iou_threshold=0.3):
    """MediaPipe-style weighted NMS: each cluster becomes the score-weighted mean box."""
    order = np.argsort(-scores, kind="stable")
    boxes, scores = boxes[order], scores[order]
    out = []
    alive = np.ones(len(scores), bool)
    for i in range(len(scores)):
        if not alive[i]:
            continue
        idx = np.nonzero(alive)[0]
        ov = iou_one(boxes[i], boxes[idx])
        members = idx[ov > iou_threshold]
        members = members if members.size else np.array([i])
        wts = scores[members]
        out.append(list((boxes[members] * wts[:, None]).sum(0) / wts.sum()) + [scores[i]])
        alive[members] = False
        alive[i] = False
    return np.asarray(out, np.float32).reshape(-1, 5)


class BlazeFaceDetector:
    kind = "box"

    def __init__(self, model, score_threshold=0.05, nms=0.3, name="blazeface-front-128"):
        path = Path(model)
        if not path.is_file():
            raise PicofaceError("BlazeFace model %s not found" % path, "pass blazeface_front_128.tflite")
        from picoface.litert import interpreter

        self.path = path
        self.name = name
        self.bytes = path.stat().st_size
        self.score_threshold = float(score_threshold)
        self.nms = float(nms)
        self._it = interpreter(path)
        inp = self._it.get_input_details()[0]
        if tuple(inp["shape"]) != (1, SIZE, SIZE, 3):
            raise PicofaceError("%s is not a 128x128 BlazeFace model" % path, "use blazeface_front_128.tflite")
        self._in = inp["index"]
        outs = {tuple(o["shape"]): o["index"] for o in self._it.get_output_details()}
        try:
            self._reg = [outs[(1, 512, 16)], outs[(1, 384, 16)]]
            self._cls = [outs[(1, 512, 1)], outs[(1, 384, 1)]]
        except KeyError:
            raise PicofaceError("%s has unexpected outputs %s" % (path, sorted(outs)), "use blazeface_front_128.tflite")
        self._anchors = blazeface_anchors()

    @functools.cached_property
    def macs(self):
        from picoface.bench.macs import tflite_macs

        return tflite_macs(self.path)

    def raw(self, x):
        """Run on a (128,128,3) float32 input -> (regressors (896,16), logits (896,))."""
        self._it.set_tensor(self._in, x[None].astype(np.float32))
        self._it.invoke()
        reg = np.concatenate([self._it.get_tensor(i)[0] for i in self._reg])
        cls = np.concatenate([self._it.get_tensor(i)[0, :, 0] for i in self._cls])
        return reg, cls

    def detect(self, rgb):
        import cv2

        h, w = rgb.shape[:2]
        f = SIZE / float(max(w, h))
        nw, nh = max(1, int(round(w * f))), max(1, int(round(h * f)))
        canvas = np.zeros((SIZE, SIZE, 3), np.float32)
        ox, oy = (SIZE - nw) // 2, (SIZE - nh) // 2
        small = cv2.resize(np.ascontiguousarray(rgb), (nw, nh), interpolation=cv2.INTER_AREA)
        canvas[oy : oy + nh, ox : ox + nw] = small.astype(np.float32) / 255.0
        reg, cls = self.raw(canvas)
        boxes, scores = decode(reg, cls, self._anchors)
        keep = scores >= self.score_threshold
        dets = weighted_nms(boxes[keep], scores[keep], self.nms)
        if len(dets) == 0:
            return np.zeros((0, 5), np.float32)
        # normalised letterboxed square -> image pixels
        dets[:, 0] = (dets[:, 0] * SIZE - ox) / f
        dets[:, 1] = (dets[:, 1] * SIZE - oy) / f
        dets[:, 2] = dets[:, 2] * SIZE / f
        dets[:, 3] = dets[:, 3] * SIZE / f
        from picoface.detectors.yunet import clip_boxes

        out = clip_boxes(dets, w, h)
        return out[np.argsort(-out[:, 4], kind="stable")].astype(np.float32)
