"""Detectors: picoface artifacts (keras, tflite, kmodel) behind one protocol (ARCHITECTURE §9).

``open_model(path, **overrides)`` picks the backend by file type and reads model.json beside the
artifact. Overrides: anchors, grid=(w, h), classes, fit, threshold (decode; default 0.01 for
full PR curves), nms, layout, name, labels (class names of a multi-class model; default model.json
output.labels), num_threads (TFLite), preset ("maixpy-face", kmodel).
TensorFlow and the emulator are imported only when a model of that kind is opened.
"""

from pathlib import Path

from picoface.contract import contract_for as load_contract
from picoface.detectors.base import Detector
from picoface.errors import PicofaceError

BACKENDS = {".keras": "keras", ".h5": "keras", ".tflite": "tflite", ".kmodel": "kmodel"}


def open_model(path, preset=None, **overrides):
    """A Detector for ``path`` (.keras/.h5, .tflite float or int8, .kmodel v3)."""
    path = Path(path)
    if not path.is_file():
        raise PicofaceError("model not found: %s" % path, "give the path of a .keras, .tflite or .kmodel file")
    kind = BACKENDS.get(path.suffix.lower())
    if kind is None:
        raise PicofaceError("unsupported model file type %r: %s" % (path.suffix, path.name),
                            "picoface evaluates .keras, .tflite (float or int8) and .kmodel (v3) files")
    contract = load_contract(path)
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if preset:
        from picoface.detectors.kmodel_det import preset_options

        opts, pc = preset_options(preset)
        contract = dict(pc, **(contract or {}))
        for k, v in opts.items():
            overrides.setdefault(k, v)
    if kind == "keras":
        from picoface.detectors.keras_det import KerasDetector as cls
    elif kind == "tflite":
        from picoface.detectors.tflite_det import TFLiteDetector as cls
    else:
        from picoface.detectors.kmodel_det import KmodelDetector as cls
    return cls(path, contract, **overrides)


def open_reference(path):
    """A detector that knows some other set's boxes: an Ultra-Light ``.onnx`` or a picoface artifact."""
    path = Path(path)
    if path.suffix.lower() == ".onnx":
        from picoface.detectors.ultralight import UltraLightDetector

        return UltraLightDetector(path)
    return open_model(path)


__all__ = ["Detector", "open_model", "open_reference", "load_contract"]
