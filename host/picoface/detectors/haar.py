"""Viola-Jones (Haar cascade) frontal face detector from OpenCV, as a bench row.

Scores: ``detectMultiScale3(..., outputRejectLevels=True)`` reports, per grouped window, the
cascade stage it reached (reject level) and the weighted sum of that stage (level weight). In
OpenCV 4.x only windows that pass every stage are reported (all levels equal the stage count), so
the level weight alone ranks them; ``score = sigmoid(level weight / 4)`` puts it in [0, 1]
without changing the order (the /4 keeps typical weights, 0..15, apart in float32). That makes a PR curve (and AP) instead of a single operating point.
The image is converted to grayscale and histogram-equalised (OpenCV's face-detection sample).
"""

from pathlib import Path

import numpy as np

from picoface.errors import PicofaceError

CASCADE = "haarcascade_frontalface_default.xml"


class HaarDetector:
    kind = "box"
    macs = None  # a cascade has no fixed multiply count: it depends on the image content
    macs_error = "a cascade has no fixed MAC count (its work depends on the image)"

    def __init__(self, cascade=None, scale_factor=1.1, min_neighbors=3, min_size=16, name="haar"):
        import cv2

        if not hasattr(cv2, "CascadeClassifier"):
            raise PicofaceError(
                "this OpenCV (%s) has no CascadeClassifier (removed in OpenCV 5)" % cv2.__version__,
                "install opencv-python-headless 4.x (requirements.txt pins 4.12)",
            )
        path = Path(cascade) if cascade else Path(cv2.data.haarcascades) / CASCADE
        if not path.is_file():
            raise PicofaceError("Haar cascade %s not found" % path, "reinstall opencv-python-headless")
        self._clf = cv2.CascadeClassifier(str(path))
        if self._clf.empty():
            raise PicofaceError("OpenCV could not load the cascade %s" % path, "check the file")
        self.name = name
        self.path = path
        self.bytes = path.stat().st_size
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.min_size = int(min_size)
        self._cv2 = cv2

    def detect(self, rgb):
        cv2 = self._cv2
        gray = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
        gray = cv2.equalizeHist(gray)
        boxes, _levels, weights = self._clf.detectMultiScale3(
            gray,
            scaleFactor=self.scale_factor,
            minNeighbors=self.min_neighbors,
            minSize=(self.min_size, self.min_size),
            outputRejectLevels=True,
        )
        if len(boxes) == 0:
            return np.zeros((0, 5), np.float32)
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        weights = np.asarray(weights, np.float64).reshape(-1)
        scores = haar_scores(weights)
        out = np.concatenate([boxes, scores[:, None].astype(np.float32)], axis=1)
        return out[np.argsort(-out[:, 4], kind="stable")]


def haar_scores(weights):
    """Level weights -> scores in [0, 1] (a monotonic squash; the order is what AP uses)."""
    w = np.clip(np.asarray(weights, np.float64), -60.0, 60.0)
    return 1.0 / (1.0 + np.exp(-w / 4.0))
