"""YuNet (libfacedetection / OpenCV Zoo) through ``cv2.FaceDetectorYN``, as a bench row.

Input size handling (``size``):
- ``"native"``: the net runs on the image at its own resolution (FaceDetectorYN pads it to a
  multiple of 32). This is the protocol of YuNet's published WIDER FACE numbers.
- an int N (default 320): the image is resized, aspect ratio kept, so that its longer side is N,
  boxes are mapped back. This matches the 320-pixel budget of the other tiny detectors in the
  bench (Ultra-Light 320x240, the K210 models' 320x240) and YuNet's own 320x320 release.
OpenCV 4.12 loads the fixed-shape yunet_n_320_320.onnx (its DNN module re-infers the shapes for
any input size) but rejects yunet_n_dynamic.onnx (dynamic Shape op), so the bench uses the former.
The score threshold is low (0.05) so the PR curve runs to high recall; NMS 0.3 as OpenCV Zoo.
"""

import functools
from pathlib import Path

import numpy as np

from picoface.errors import PicofaceError


class YuNetDetector:
    kind = "box"

    def __init__(self, model, size=320, score_threshold=0.05, nms=0.3, top_k=5000, name=None):
        import cv2

        path = Path(model)
        if not path.is_file():
            raise PicofaceError("YuNet model %s not found" % path, "pass the path of yunet_n_*.onnx")
        if not hasattr(cv2, "FaceDetectorYN"):
            raise PicofaceError(
                "this OpenCV (%s) has no FaceDetectorYN" % cv2.__version__, "install OpenCV >= 4.8"
            )
        self.path = path
        self.size = size
        self.bytes = path.stat().st_size
        self.name = name or "yunet-%s" % ("native" if size == "native" else size)
        try:
            self._det = cv2.FaceDetectorYN.create(str(path), "", (320, 320), score_threshold, nms, top_k)
        except cv2.error as e:
            raise PicofaceError(
                "OpenCV %s cannot load %s (%s)" % (cv2.__version__, path.name, str(e).strip().splitlines()[-1]),
                "use yunet_n_320_320.onnx (OpenCV 4.x rejects the dynamic-shape export)",
            ) from e
        self._cv2 = cv2

    @functools.cached_property
    def macs(self):
        """Multiply-accumulates at 320x320 (the size YuNet's published MFLOPs refer to)."""
        from picoface.bench.macs import onnx_macs

        return onnx_macs(self.path, {"input": (1, 3, 320, 320)})

    def detect(self, rgb):
        cv2 = self._cv2
        h, w = rgb.shape[:2]
        bgr = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR)
        if self.size == "native":
            sx = sy = 1.0
            img = bgr
        else:
            f = float(self.size) / max(w, h)
            nw, nh = max(1, int(round(w * f))), max(1, int(round(h * f)))
            img = cv2.resize(bgr, (nw, nh), interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR)
            sx, sy = w / float(nw), h / float(nh)
        self._det.setInputSize((img.shape[1], img.shape[0]))
        _, faces = self._det.detect(img)
        if faces is None or len(faces) == 0:
            return np.zeros((0, 5), np.float32)
        faces = np.asarray(faces, np.float32)
        out = np.stack(
            [faces[:, 0] * sx, faces[:, 1] * sy, faces[:, 2] * sx, faces[:, 3] * sy, faces[:, 14]], axis=1
        )
        out = clip_boxes(out, w, h)
        return out[np.argsort(-out[:, 4], kind="stable")].astype(np.float32)


def clip_boxes(dets, w, h):
    """Clip [x, y, w, h, score] rows to the image; drop rows that end up empty."""
    d = np.asarray(dets, np.float32).reshape(-1, 5).copy()
    x1 = np.clip(d[:, 0], 0, w)
    y1 = np.clip(d[:, 1], 0, h)
    x2 = np.clip(d[:, 0] + d[:, 2], 0, w)
    y2 = np.clip(d[:, 1] + d[:, 3], 0, h)
    d[:, 0], d[:, 1], d[:, 2], d[:, 3] = x1, y1, x2 - x1, y2 - y1
    return d[(d[:, 2] > 0) & (d[:, 3] > 0)]
