"""The bench's rows: reference detectors from ../shared/anchors and picoface's shipped models.

A row is a name, a one-line description and a ``build()`` that returns a detector
(ARCHITECTURE §9). ``build()`` may fail (file or backend missing): the bench then shows the row
as "not available: <reason>" and carries on.
"""

import os
from dataclasses import dataclass, field
from pathlib import Path

from picoface.errors import PicofaceError
from picoface.paths import REPO_ROOT, shared_dir

MODEL_SUFFIXES = (".kmodel", ".tflite", ".keras")
REFERENCE = "yunet-n-320"  # latency ratios and the K210 gap are reported against this row


@dataclass
class Row:
    name: str
    what: str
    build: object  # () -> detector
    group: str = "anchor"  # "anchor" | "picoface"
    path: Path | None = None
    extra: dict = field(default_factory=dict)


def default_anchors():
    """../shared/anchors beside the repo (PICOFACE_ANCHORS or PICOFACE_SHARED override it)."""
    if os.environ.get("PICOFACE_ANCHORS"):
        return Path(os.environ["PICOFACE_ANCHORS"])
    return shared_dir() / "anchors"


def _need(path):
    path = Path(path)
    if not path.is_file():
        raise PicofaceError("%s is missing" % path, "put ../shared/anchors beside the repo or pass --anchors")
    return path


def anchor_rows(anchors):
    """The reference detectors, in table order."""
    a = Path(anchors)

    def haar():
        from picoface.detectors.haar import HaarDetector

        return HaarDetector(name="haar-frontalface")

    def yunet(size):
        def build():
            from picoface.detectors.yunet import YuNetDetector

            return YuNetDetector(_need(a / "yunet" / "yunet_n_320_320.onnx"), size=size,
                                 name="yunet-n-%s" % size)
        return build

    def ultralight(variant):
        def build():
            from picoface.detectors.ultralight import UltraLightDetector

            return UltraLightDetector(_need(a / "ultralight_1mb" / ("version-%s-320.onnx" % variant)),
                                      name="ultralight-%s-320" % variant.lower())
        return build

    def blazeface():
        from picoface.detectors.blazeface import BlazeFaceDetector

        return BlazeFaceDetector(_need(a / "openmv_blazeface_front_128" / "blazeface_front_128.tflite"))

    def fomo():
        from picoface.detectors.fomo import FomoDetector

        return FomoDetector(_need(a / "openmv_fomo_face" / "fomo_face_detection.tflite"))

    def k210_stock():
        from picoface.detectors import open_model

        path = _need(a / "k210_maixpy_face_v3" / "facedetect.kmodel")
        det = open_model(path, preset="maixpy-face")
        det.name = "k210-maixpy-stock"
        return det

    return [
        Row("haar-frontalface", "OpenCV Viola-Jones haarcascade_frontalface_default (grayscale, "
            "equalised, scale 1.1, 3 neighbours, min 16 px); score = sigmoid(level weight / 4)", haar),
        Row("yunet-n-320", "YuNet-n (yunet_n_320_320.onnx) via cv2.FaceDetectorYN, image resized so its "
            "longer side is 320 (aspect kept)", yunet(320)),
        Row("yunet-n-native", "YuNet-n at the image's own resolution (the protocol of YuNet's published "
            "numbers; images here are <= 640 px)", yunet("native")),
        Row("ultralight-rfb-320", "Ultra-Light-Fast RFB-320 (onnxruntime), image stretched to 320x240, "
            "(x-127)/128", ultralight("RFB")),
        Row("ultralight-slim-320", "Ultra-Light-Fast slim-320, same protocol as RFB-320", ultralight("slim")),
        Row("blazeface-front-128", "MediaPipe BlazeFace short-range (OpenMV build), letterboxed to "
            "128x128, [0,1] input, 896 SSD anchors, weighted NMS", blazeface),
        Row("fomo-face-96", "OpenMV FOMO face 96x96 int8, 12x12 heat-map peaks = centroids "
            "(centroid metric)", fomo),
        Row("k210-maixpy-stock", "Sipeed's stock MaixPy face kmodel v3 (320x240 stretched, 20x15x5 "
            "YOLOv2, anchors from MaixPy_scripts) through picoface's KPU emulator", k210_stock),
    ]


def find_models(paths=None):
    """Model artifacts (.kmodel, .tflite, .keras) in ``paths`` (files or folders; default: the
    repo's models/*/), sorted by path."""
    if paths is None:
        paths = [REPO_ROOT / "models"] if (REPO_ROOT / "models").is_dir() else []
    found = []
    for p in map(Path, paths):
        if p.is_file():
            found.append(p)
        elif p.is_dir():
            found += [f for f in sorted(p.rglob("*")) if f.suffix in MODEL_SUFFIXES and f.is_file()]
        else:
            raise PicofaceError("model path %s does not exist" % p, "give model files or folders")
    return sorted(set(found))


def model_rows(paths=None):
    rows = []
    for path in find_models(paths):
        def build(path=path):
            from picoface.detectors import open_model

            return open_model(path)
        fmt = {".kmodel": "kmodel v3 (KPU emulator)", ".tflite": "TFLite", ".keras": "Keras float"}[path.suffix]
        try:
            label = str(path.relative_to(REPO_ROOT))
        except ValueError:
            label = str(path)
        name = "%s/%s" % (path.parent.name, path.name)
        rows.append(Row(name, "picoface model %s, %s" % (label, fmt), build, group="picoface", path=path))
    return rows


def select(rows, only):
    """Rows whose name matches one of ``only`` (exact or fnmatch pattern; None = all)."""
    if not only:
        return rows
    from fnmatch import fnmatchcase

    pats = [p.strip() for o in only for p in str(o).split(",") if p.strip()]
    unknown = [p for p in pats if not any(fnmatchcase(r.name, p) for r in rows)]
    if unknown:
        raise PicofaceError("no bench row named %s" % ", ".join(unknown),
                            "rows: %s" % ", ".join(r.name for r in rows))
    return [r for r in rows if any(fnmatchcase(r.name, p) for p in pats)]
