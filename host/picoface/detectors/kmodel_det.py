"""K210 kmodel v3 files run through the KPU emulator (``picoface.kmodel.emulator``): planar
uint8 RGB input, NCHW float32 region output. Works for picoface's kmodels (model.json beside
them), for Sipeed's stock MaixPy face model with ``preset="maixpy-face"`` and for Canaan's CanMV
face-mask detector (2 classes) with ``preset="canaan-mask"``."""

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
    # Canaan's K210 face-mask detector detect_5.kmodel (kmodel v3: 30 KPU convs + DEQUANTIZE;
    # 555,176 bytes, sha256 7c275998...), kept outside the repository (its source and licence:
    # /work/extdata/canaan_mask/SOURCE.md). Facts from kendryte/canmv_examples@4dddecbf
    # 01-K210/99-KPU/face_mask_detect/face_mask_detect.py: anchors (l.15); a 320x256 net, 10x8
    # grid, 5 anchors, 2 classes, threshold 0.7, NMS 0.4 (l.19); class 1 drawn "with mask", class 0
    # "without mask" (l.33-38). Input as in Canaan's first demo of it (kendryte/kendryte-standalone-
    # demo@e89c3546 face_mask_detect/main.c l.347-348): the 320x240 frame centred in 320x256, i.e.
    # letterbox (there padded with 127 grey, here black: no change at 0.7 on 20 facemask photos).
    # CanMV's example draws the frame at the top instead (l.13, l.28) while its region layer maps
    # boxes back as centred (kendryte/canmv yolo2_region_layer.c correct_region_boxes).
    "canaan-mask": {
        "name": "canaan-mask-detect5",
        "anchors": [0.156250, 0.222548, 0.361328, 0.489583, 0.781250, 0.983133, 1.621094, 1.964286,
                    3.574219, 3.94000],
        "classes": 2, "grid": (10, 8), "layout": "NCHW",
        "threshold_deploy": 0.7, "nms": 0.4, "fit": "letterbox",
        # class names in the model's output order (class index i is labels[i]), as a model.json's
        # output.labels; evaluation matches data labels to them by name (picoface.evaluate.classes)
        "labels": ["no_mask", "mask"],
    },
}


def preset_options(name):
    """(detector overrides, contract) of a preset; a multi-class preset's classes and labels are in
    both, the contract's "output" as a model.json would give them."""
    if name not in PRESETS:
        raise PicofaceError("unknown preset %r" % name, "use one of: %s" % ", ".join(PRESETS))
    p = dict(PRESETS[name])
    deploy = p.pop("threshold_deploy")
    contract = {"name": p["name"], "thresholds": {"score": deploy, "nms": p["nms"]}}
    if p.get("classes", 1) > 1:
        contract["output"] = {"classes": p["classes"], "labels": list(p["labels"])}
    return p, contract


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
