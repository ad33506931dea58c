"""Box + 5 landmarks per image for the recognition evaluation, from YuNet (cv2.FaceDetectorYN).

YuNet (../shared/anchors/yunet) returns per face x, y, w, h, 5 points and a score. OpenCV names
the points right eye, left eye, nose tip, right and left mouth corner in the subject's terms; in
image terms they are left eye, right eye, nose tip, left mouth corner, right mouth corner: the
order ``pfcore.align`` uses. LFW crops are centred on their face, so the face whose box centre is
nearest the image centre is taken.

Fallback, when YuNet finds no face (score threshold ``SCORE``) or ``source="centre"``: the fixed
``CENTRE`` landmarks and ``CENTRE_BOX``, given as fractions of the image width/height. They are
the median YuNet detection over the first 300 images of the LFW kit (160x160 crops); every image
that uses them is counted (``fallback`` in the results).
"""

import numpy as np

from picoface.errors import PicofaceError
from picoface.paths import shared_dir

SCORE = 0.5
# median YuNet landmarks / box on the LFW kit's 160x160 crops, as fractions of the image size
CENTRE = ((0.3706, 0.4294), (0.6369, 0.4206), (0.5044, 0.5806), (0.3956, 0.6975), (0.6269, 0.6906))
CENTRE_BOX = (0.2113, 0.1213, 0.5825, 0.7844)
SOURCES = ("yunet", "centre")


def default_yunet():
    return shared_dir() / "anchors" / "yunet" / "yunet_n_320_320.onnx"


def centre(w, h):
    """(box [x, y, w, h], points (5, 2)) of the fixed fallback for a w x h image."""
    pts = np.array([(x * w, y * h) for x, y in CENTRE], np.float32)
    b = CENTRE_BOX
    return np.array([b[0] * w, b[1] * h, b[2] * w, b[3] * h], np.float32), pts


class Landmarker:
    """``find(bgr) -> (box, points, score, found)``; found is False when the fallback was used."""

    def __init__(self, source="yunet", model=None):
        if source not in SOURCES:
            raise PicofaceError("unknown landmark source %r" % source, "use one of: %s" % ", ".join(SOURCES))
        self.source = source
        self._det = None
        if source == "yunet":
            import cv2

            path = model or default_yunet()
            if not path.is_file():
                raise PicofaceError("YuNet model %s not found" % path,
                                    "pass --yunet PATH to yunet_n_320_320.onnx, or --landmarks centre")
            self.model = path
            self._det = cv2.FaceDetectorYN.create(str(path), "", (320, 320), SCORE, 0.3, 50)

    @property
    def describe(self):
        if self.source == "centre":
            return "fixed centre landmarks (median YuNet detection on the LFW kit) for every image"
        return "YuNet %s, face nearest the centre; fallback: fixed centre landmarks" % self.model.name

    def find(self, bgr):
        h, w = bgr.shape[:2]
        if self._det is not None:
            self._det.setInputSize((w, h))
            _, faces = self._det.detect(bgr)
            if faces is not None and len(faces):
                faces = np.asarray(faces, np.float32)
                c = faces[:, :2] + faces[:, 2:4] / 2.0
                i = int(np.argmin(((c - (w / 2.0, h / 2.0)) ** 2).sum(1)))
                f = faces[i]
                return f[:4].copy(), f[4:14].reshape(5, 2).copy(), float(f[14]), True
        box, pts = centre(w, h)
        return box, pts, 0.0, False
