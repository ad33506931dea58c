"""OpenMV's FOMO face model (Edge Impulse FOMO, 96x96 int8 in, 12x12x{background, face} out).

FOMO predicts object centroids on a 12x12 grid, not box sizes, so this is a "centroid" detector:
the bench scores it with the centroid-hit metric (a detection is a hit when its centre falls
inside a face box), which is not comparable with box AP.

- Input: the whole image resized (stretched, aspect not kept) to 96x96, RGB, int8 = pixel - 128 (the model's input
  quantisation is scale 1/255, zero point -128, i.e. pixels/255 in [0, 1]).
- Output: the face channel of the softmax heat map (dequantised). Each local maximum (3x3) with
  probability >= the score threshold (0.05, low for a complete PR curve) is one detection; its
  centre is the probability-weighted centroid of its 3x3 neighbourhood, its box one grid cell.
"""

import functools
from pathlib import Path

import numpy as np

from picoface.errors import PicofaceError


def heat_peaks(prob, threshold):
    """(gh, gw) heat map -> list of (cx, cy, score) in cell units (centres at +0.5)."""
    gh, gw = prob.shape
    pad = np.pad(prob, 1, constant_values=-1.0)
    out = []
    for r in range(gh):
        for c in range(gw):
            p = prob[r, c]
            if p < threshold:
                continue
            win = pad[r : r + 3, c : c + 3]
            if p < win.max():
                continue
            # ties: keep only the first cell of a plateau (row-major)
            flat = win.reshape(-1)
            if any(flat[k] == p for k in range(4)):
                continue
            wts = np.clip(win, 0, None)
            ys, xs = np.mgrid[r - 1 : r + 2, c - 1 : c + 2]
            s = wts.sum()
            out.append(((xs * wts).sum() / s + 0.5, (ys * wts).sum() / s + 0.5, float(p)))
    return out


class FomoDetector:
    kind = "centroid"

    def __init__(self, model, score_threshold=0.05, name="fomo-face-96"):
        path = Path(model)
        if not path.is_file():
            raise PicofaceError("FOMO model %s not found" % path, "pass fomo_face_detection.tflite")
        from picoface.litert import interpreter

        self.path = path
        self.name = name
        self.bytes = path.stat().st_size
        self.score_threshold = float(score_threshold)
        self._it = interpreter(path)
        inp = self._it.get_input_details()[0]
        out = self._it.get_output_details()[0]
        if len(inp["shape"]) != 4 or len(out["shape"]) != 4 or out["shape"][-1] != 2:
            raise PicofaceError("%s is not a FOMO face model" % path, "use fomo_face_detection.tflite")
        self._in, self._out = inp, out
        self.input_h, self.input_w = int(inp["shape"][1]), int(inp["shape"][2])

    @functools.cached_property
    def macs(self):
        from picoface.bench.macs import tflite_macs

        return tflite_macs(self.path)

    def heatmap(self, rgb):
        """Face probability on the output grid, float32 (gh, gw)."""
        import cv2

        x = cv2.resize(np.ascontiguousarray(rgb), (self.input_w, self.input_h), interpolation=cv2.INTER_AREA)
        scale, zp = self._in["quantization"]
        if self._in["dtype"] == np.int8:
            q = np.round(x.astype(np.float32) / 255.0 / scale + zp)
            x = np.clip(q, -128, 127).astype(np.int8)
        elif self._in["dtype"] == np.uint8:
            q = np.round(x.astype(np.float32) / 255.0 / scale + zp) if scale else x
            x = np.clip(q, 0, 255).astype(np.uint8)
        else:
            x = x.astype(np.float32) / 255.0
        self._it.set_tensor(self._in["index"], x[None])
        self._it.invoke()
        y = self._it.get_tensor(self._out["index"])[0]
        oscale, ozp = self._out["quantization"]
        y = (y.astype(np.float32) - ozp) * oscale if oscale else y.astype(np.float32)
        return y[:, :, 1]

    def detect(self, rgb):
        h, w = rgb.shape[:2]
        prob = self.heatmap(rgb)
        gh, gw = prob.shape
        cw, ch = w / float(gw), h / float(gh)
        rows = [[cx * cw - cw / 2, cy * ch - ch / 2, cw, ch, s] for cx, cy, s in heat_peaks(prob, self.score_threshold)]
        if not rows:
            return np.zeros((0, 5), np.float32)
        out = np.asarray(rows, np.float32)
        return out[np.argsort(-out[:, 4], kind="stable")]
