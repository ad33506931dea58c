"""K210 kmodel v3 files run through the KPU emulator (``picoface.kmodel.emulator``): planar
uint8 RGB input, NCHW float32 region output. Works for picoface's kmodels (model.json beside
them) and for Sipeed's stock MaixPy face model with ``preset="maixpy-face"``."""

import numpy as np

from picoface.detectors.base import RegionDetector, error_text
from picoface.errors import PicofaceError
from picoface.kmodel import MAIXPY_FACE_ANCHORS

# Facts from ../shared/anchors/SOURCE.md (sipeed/MaixPy_scripts face demo): kpu.init_yolo2(task,
# 0.5, 0.3, 5, anchors); QVGA camera frames go straight to run_yolo2 (320x240 input, 20x15 grid).
PRESETS = {
    "maixpy-face": {
        "name": "maixpy-stock-face",
        "anchors": list(MAIXPY_FACE_ANCHORS),
        "threshold_deploy": 0.5, "nms": 0.3, "fit": "stretch",
    },
}


def preset_options(name):
    if name not in PRESETS:
        raise PicofaceError("unknown preset %r" % name, "use one of: %s" % ", ".join(PRESETS))
    p = dict(PRESETS[name])
    deploy = p.pop("threshold_deploy")
    return p, {"name": p["name"], "thresholds": {"score": deploy, "nms": p["nms"]}}


class KmodelDetector(RegionDetector):
    default_layout = "NCHW"

    def __init__(self, path, contract=None, rounding="even", **kw):
        super().__init__(path, contract, **kw)
        from picoface.kmodel import detect_version, emulator

        data = self.path.read_bytes()
        version = detect_version(data)
        if version != 3:
            raise PicofaceError("%s is a kmodel v%d; the emulator runs v3 only" % (self.path.name, version),
                                "evaluate the float/int8 TFLite it came from, or export a v3 kmodel")
        self.emu = emulator.Emulator(data, rounding=rounding)
        c, h, w = self.emu.input_shape
        if c != 3:
            raise PicofaceError("%s takes %d channels, not RGB" % (self.path.name, c), "use an RGB model")
        self.net_w, self.net_h = int(w), int(h)
        self.out_layout = "NCHW"  # the KPU writes planar outputs whatever model.json says for TFLite
        if self.macs is None:
            try:
                from picoface.kmodel.info import summarize_v3

                self.macs = int(summarize_v3(self.emu.model, len(data))["macs"])
            except Exception as e:  # a summary problem must not stop an evaluation: it is reported
                self.macs, self.macs_error = None, "MACs not counted: %s" % error_text(e)

    def forward(self, net_rgb):
        from picoface.kmodel.emulator import hwc_to_chw

        outs = self.emu.run(hwc_to_chw(net_rgb))
        return np.asarray(outs[0], np.float32)
