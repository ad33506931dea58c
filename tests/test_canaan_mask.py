"""The ``canaan-mask`` preset: Canaan's CanMV K210 face-mask detector (detect_5.kmodel, kmodel v3)
through the KPU emulator, each box with its class.

The model is not in the repository (its source and licence: /work/extdata/canaan_mask/SOURCE.md).
Its classes are named in its own order (0 no_mask, 1 mask); evaluation maps data labels by name.
The tests that run it are a local check: they skip where the file is absent, as in CI and in a
user's clone. Give another copy's path in PICOFACE_CANAAN_MASK. The preset table's own facts are
checked everywhere.
"""

import hashlib
import os
from pathlib import Path

import pytest

from picoface.detectors import open_model
from picoface.detectors.kmodel_det import PRESETS, preset_options

MODEL = Path(os.environ.get("PICOFACE_CANAAN_MASK", "/work/extdata/canaan_mask/detect_5.kmodel"))
SHA256 = "7c2759989273e82d9cfabf9d402dfd75de67dc111e32306e665c9b46dd7b271b"


@pytest.fixture(scope="module")
def mask_model():
    if not MODEL.is_file():
        pytest.skip("Canaan's face-mask kmodel is absent (%s): it is kept outside the repository, so this "
                    "is a local check (set PICOFACE_CANAAN_MASK to its path)" % MODEL)
    assert hashlib.sha256(MODEL.read_bytes()).hexdigest() == SHA256, "not the detect_5.kmodel of SOURCE.md"
    return MODEL


def test_preset_facts():
    p = PRESETS["canaan-mask"]
    assert len(p["anchors"]) == 10 and p["classes"] == 2 and tuple(p["grid"]) == (10, 8)
    opts, contract = preset_options("canaan-mask")
    assert contract["thresholds"] == {"score": 0.7, "nms": 0.4}
    # Canaan's example draws class 1 as "with mask", class 0 as "without mask"
    assert contract["output"] == {"classes": 2, "labels": ["no_mask", "mask"]}
    assert opts["labels"] == ["no_mask", "mask"] and opts["fit"] == "letterbox"
    # the face preset has one class and no class facts
    assert "output" not in preset_options("maixpy-face")[1]


def test_preset_opens_the_model(mask_model):
    det = open_model(mask_model, preset="canaan-mask")
    assert (det.net_w, det.net_h, det.grid, det.classes, det.out_layout) == (320, 256, (10, 8), 2, "NCHW")
    assert (det.deploy_threshold, det.nms_threshold, det.fit_mode) == (0.7, 0.4, "letterbox")
    assert det.labels == ["no_mask", "mask"]
    assert det.bytes == 555176 and det.macs == 139_468_800


def _iou(a, b):
    iw = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    i = iw * ih
    return i / (a[2] * a[3] + b[2] * b[3] - i)


@pytest.mark.shared
@pytest.mark.parametrize("name, face, label", [
    ("maksssksksss0.jpg", [325, 90, 35, 51], "no_mask"),     # labelled without_mask
    ("maksssksksss10.jpg", [98, 267, 96, 116], "mask"),      # labelled with_mask
])
def test_finds_and_classes_facemask_faces(mask_model, data_root, name, face, label):
    from picoface.data import read_image

    img = data_root / "facemask_kaggle" / "images" / name
    if not img.is_file():
        pytest.skip("%s is absent" % img)
    det = open_model(mask_model, preset="canaan-mask", threshold=PRESETS["canaan-mask"]["threshold_deploy"])
    dets = det.detect(read_image(img), with_class=True)
    best = max(dets, key=lambda d: _iou(face, d[:4]))
    assert _iou(face, best[:4]) > 0.5 and best[4] > 0.9
    assert det.labels[int(best[5])] == label
