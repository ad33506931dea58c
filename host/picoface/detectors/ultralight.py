"""Ultra-Light-Fast-Generic-Face-Detector-1MB (Linzaer), RFB-320 and slim-320, via onnxruntime.

Preprocessing is the repository demo's: the whole image resized (stretched) to 320x240, RGB,
``(pixel - 127) / 128``, NCHW. The graph already decodes its priors: ``scores`` [1,4420,2] is a
softmax over (background, face), ``boxes`` [1,4420,4] corner form normalised to the input. Only
NMS is left (IoU 0.3 as the demo); the score threshold is low (0.05) so the PR curve is complete.
"""

from pathlib import Path

import numpy as np

from picoface.detectors.yunet import clip_boxes
from picoface.errors import PicofaceError

INPUT_W, INPUT_H = 320, 240


def ort_session(path):
    """A single-threaded onnxruntime CPU session (fair latency, quiet about initializer inputs)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


class UltraLightDetector:
    kind = "box"

    def __init__(self, model, score_threshold=0.05, nms=0.3, top_k=750, name=None):
        import cv2

        path = Path(model)
        if not path.is_file():
            raise PicofaceError("Ultra-Light model %s not found" % path, "pass the path of version-*-320.onnx")
        self.path = path
        self.bytes = path.stat().st_size
        self.name = name or path.stem.replace("version-", "ultralight-")
        self.score_threshold = float(score_threshold)
        self.nms = float(nms)
        self.top_k = int(top_k)
        self._sess = ort_session(path)
        self._in = self._sess.get_inputs()[0].name
        self._cv2 = cv2
        self._macs = {}

    @property
    def macs(self):
        if "v" not in self._macs:
            from picoface.bench.macs import onnx_macs

            self._macs["v"] = onnx_macs(self.path, {self._in: (1, 3, INPUT_H, INPUT_W)})
        return self._macs["v"]

    def detect(self, rgb):
        cv2 = self._cv2
        h, w = rgb.shape[:2]
        x = cv2.resize(np.ascontiguousarray(rgb), (INPUT_W, INPUT_H), interpolation=cv2.INTER_LINEAR)
        x = ((x.astype(np.float32) - 127.0) / 128.0).transpose(2, 0, 1)[None]
        scores, boxes = self._sess.run(["scores", "boxes"], {self._in: x})
        return postprocess(scores[0, :, 1], boxes[0], w, h, self.score_threshold, self.nms, self.top_k)


def postprocess(scores, corners, w, h, score_threshold, nms, top_k):
    """Normalised corner boxes + scores -> NMSed [x, y, w, h, score] in image pixels."""
    import cv2

    keep = np.nonzero(scores >= score_threshold)[0]
    if keep.size == 0:
        return np.zeros((0, 5), np.float32)
    keep = keep[np.argsort(-scores[keep], kind="stable")][:top_k]
    c = corners[keep].astype(np.float32)
    xywh = np.stack([c[:, 0] * w, c[:, 1] * h, (c[:, 2] - c[:, 0]) * w, (c[:, 3] - c[:, 1]) * h], axis=1)
    s = scores[keep].astype(np.float32)
    idx = cv2.dnn.NMSBoxes(xywh.tolist(), s.tolist(), float(score_threshold), float(nms))
    idx = np.asarray(idx, np.int64).reshape(-1)
    out = np.concatenate([xywh[idx], s[idx, None]], axis=1)
    out = clip_boxes(out, w, h)
    return out[np.argsort(-out[:, 4], kind="stable")].astype(np.float32)
