"""picoface's recognition pipeline on the host, as the board runs it (device/main.py Recognition):
the camera frame -> picoface's detector (at its deployed threshold) -> ``pfcore.recognise.crop_roi``
-> the landmark net's 64x64 input (resampled as the board's firmware does) -> 5 points ->
``pfcore.recognise.align_matrix`` -> the aligned face sampled by ``warp_nearest`` -> the embedding
net -> ``pfcore.recognise.embedding``. Nets run as the board runs them: kmodel v3 in picoface's KPU
emulator (K210), int8 TFLite in LiteRT (OpenMV).

LFW's 160x160 crops are put in the middle of a 320x240 camera frame (grey around them, RGB565
like the sensor's), so the face is 80-110 px: a person half a metre from the camera.
"""

import numpy as np

from pfcore import recognise
from picoface.errors import PicofaceError
from picoface.gate.board_input import k210_ai, k210_expand, k210_quantise, k210_resize, rgb565, rgb888

CAM_W, CAM_H = 320, 240
FAMILY = {"kmodel-v3": "k210", "tflite-int8": "openmv"}
DETECTOR = {"kmodel-v3": "models/picoface_k210_320x240/picoface.kmodel",
            "tflite-int8": "models/picoface_openmv_240x176/picoface_int8.tflite"}


def camera_frame(rgb):
    """The image in the middle of a grey 320x240 frame, through RGB565."""
    h, w = rgb.shape[:2]
    if w > CAM_W or h > CAM_H:
        raise PicofaceError("image %dx%d is larger than the 320x240 frame" % (w, h), "pass LFW's 160x160 crops")
    f = np.full((CAM_H, CAM_W, 3), 128, np.uint8)
    x, y = (CAM_W - w) // 2, (CAM_H - h) // 2
    f[y:y + h, x:x + w] = rgb
    return rgb888(rgb565(f)), (x, y)


def landmark_input(frame, roi, size, family):
    """The 64x64 landmark input the board cuts from the (RGB565) frame, as the net reads it. K210:
    copy(roi) + resize (nearest neighbour shrinking, the firmware's own bilinear growing), then
    pix_to_ai's table expansion; OpenMV: copy(roi, scale, hint=AREA shrinking, BILINEAR growing),
    then the RGB565 -> RGB888 bit replication the ml/tf input uses (device/hal_*.py landmarks)."""
    import cv2

    x, y, w, h = roi
    cut = frame[y:y + h, x:x + w]
    if family == "k210":
        return k210_ai(k210_resize(cut, size, size))
    interp = cv2.INTER_AREA if (w >= size and h >= size) else cv2.INTER_LINEAR
    return rgb888(rgb565(cv2.resize(cut, (size, size), interpolation=interp)))


def warp_positions(m, size):
    """(xs, ys): size x size int64 arrays, the frame pixel warp_nearest samples for output (u, v) at
    [v, u], from the same integers and with the same rule (pfcore.recognise.warp_fixed: (A*u + B*v
    + C) >> 16, exact in int64); -1 everywhere (so black) when warp_fixed refuses the matrix."""
    q = recognise.warp_fixed(m, size)
    if q is None:
        return np.full((size, size), -1, np.int64), np.full((size, size), -1, np.int64)
    u, v = np.meshgrid(np.arange(size, dtype=np.int64), np.arange(size, dtype=np.int64))
    sh = recognise.WARP_SHIFT
    return (q[0] * u + q[1] * v + q[2]) >> sh, (q[3] * u + q[4] * v + q[5]) >> sh


def aligned(frame, m, size, family="openmv"):
    """warp_nearest on a numpy frame as the board does it: get_pixel of the frame's nearest pixel
    (K210: table expansion of RGB565; OpenMV: bit replication), set_pixel into an RGB565 image (K210
    rounds by table, OpenMV truncates), then the net's input conversion."""
    if family == "k210":
        frame = k210_ai(frame)
    xs, ys = warp_positions(m, size)
    ok = (xs >= 0) & (xs < frame.shape[1]) & (ys >= 0) & (ys < frame.shape[0])
    out = np.zeros((size, size, 3), np.uint8)
    out[ok] = frame[ys[ok], xs[ok]]
    if family == "k210":
        return k210_expand(k210_quantise(out))
    return rgb888(rgb565(out))


class Net:
    """One net of one format: run(uint8 HWC) -> flat output in the board's order (CHW on the K210)."""

    def __init__(self, path, fmt):
        self.fmt = fmt
        data = path.read_bytes()
        if fmt == "kmodel-v3":
            from picoface.kmodel import emulator, v3

            self.model = v3.parse(data)
            self.emu = emulator.Emulator(self.model)
            self._hwc = emulator.hwc_to_chw
        else:
            from picoface.export.tflite import TFLiteRunner

            self.runner = TFLiteRunner(data)

    def run(self, img):
        if self.fmt == "kmodel-v3":
            return np.asarray(self.emu.run(self._hwc(img))[0], np.float32).ravel()
        return np.asarray(self.runner(img), np.float32).ravel()


class Pipeline:
    """Detector + landmarks + embedding of one format from a recog export folder."""

    def __init__(self, model_dir, fmt):
        import json

        from picoface.detectors import open_model
        from picoface.paths import resolve_path

        self.fmt = fmt
        self.family = FAMILY[fmt]
        self.dir = resolve_path(model_dir)
        mj = self.dir / "model.json"
        if not mj.is_file():
            raise PicofaceError("%s has no model.json" % self.dir, "run `picoface recog export` first")
        self.contract = json.loads(mj.read_text())
        files = self.contract["files"]
        for k in ("landmarks", "embed"):
            if "%s:%s" % (k, fmt) not in files:
                raise PicofaceError("%s has no %s %s" % (self.dir, k, fmt), "export it")
        self.landmarks = Net(self.dir / files["landmarks:" + fmt]["file"], fmt)
        self.embedder = Net(self.dir / files["embed:" + fmt]["file"], fmt)
        self.bytes = sum(files["%s:%s" % (k, fmt)]["bytes"] for k in ("landmarks", "embed"))
        self.embed_bytes = files["embed:" + fmt]["bytes"]
        det_path = resolve_path(DETECTOR[fmt])
        dcj = json.loads((det_path.parent / "model.json").read_text())
        self.score = float(dcj.get("thresholds", {}).get("score", 0.5))
        self.detector = open_model(det_path, threshold=self.score)
        self.size = int(self.contract["input"])
        self.grid = int(self.contract["grid"])
        self.dim = int(self.contract["embed"]["dim"])
        self.box_scale = float(self.contract["landmarks"]["box_scale"])
        self.threshold = float(self.contract.get("thresholds", {}).get(fmt, 0.5))
        self.chw = fmt == "kmodel-v3"
        self.missed = 0

    def face(self, rgb):
        """(aligned 64x64 face, frame box, 5 frame points, found) of an LFW crop: the detected face
        nearest the frame's centre, else the frame's centre square (counted in ``missed``)."""
        frame, off = camera_frame(rgb)
        dets = self.detector.detect(frame)
        found = len(dets) > 0
        if found:
            c = dets[:, :2] + dets[:, 2:4] / 2.0
            box = dets[int(np.argmin(((c - (CAM_W / 2.0, CAM_H / 2.0)) ** 2).sum(1)))][:4]
        else:
            self.missed += 1
            h, w = rgb.shape[:2]
            box = np.array([off[0] + 0.2 * w, off[1] + 0.15 * h, 0.6 * w, 0.7 * h])
        roi = recognise.crop_roi([float(v) for v in box], self.box_scale, CAM_W, CAM_H)
        flat = self.landmarks.run(landmark_input(frame, roi, self.size, self.family))
        pts = recognise.to_frame(recognise.points(flat, self.grid, self.chw), roi)
        m = recognise.align_matrix(pts, self.size)
        return aligned(frame, m, self.size, self.family), box, pts, found

    def embed(self, face):
        return np.array(recognise.embedding(self.embedder.run(face), self.grid, self.dim, self.chw), np.float32)
