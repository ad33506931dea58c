"""Detector plumbing without TensorFlow: contract lookup, grid inference, region decode through
RegionDetector with a scripted backend, open_model errors, the kmodel backend's version check."""

import json

import numpy as np
import pytest

from picoface.detectors import open_model
from picoface.contract import contract_path
from picoface.detectors.base import RegionDetector, infer_grid
from picoface.errors import PicofaceError
from picoface.kmodel import MAIXPY_FACE_ANCHOR_PAIRS


class Scripted(RegionDetector):
    """A 32x32 net with a fixed NHWC output: one confident box in grid cell (row 0, col 1)."""

    net_w = net_h = 32

    def forward(self, net_rgb):
        assert net_rgb.shape == (32, 32, 3) and net_rgb.dtype == np.uint8
        self.seen = net_rgb
        out = np.zeros((2, 2, 6), np.float32)
        out[..., 4] = -10.0
        out[0, 1, 4] = 10.0
        return out


def test_region_detector_decodes_and_maps_to_image_pixels(tmp_path):
    f = tmp_path / "m.bin"
    f.write_bytes(b"12345")
    det = Scripted(f, {"name": "s", "output": {"anchors": [[1, 1]], "grid_w": 2, "grid_h": 2},
                       "input": {"fit": "stretch"}, "thresholds": {"score": 0.6, "nms": 0.3}})
    assert det.bytes == 5 and det.deploy_threshold == 0.6 and det.threshold == 0.01
    img = np.zeros((64, 128, 3), np.uint8)
    img[:, 64:] = 200
    (d,) = det.detect(img)
    # centre (0.75, 0.25), size 0.5 x 0.5 of the net -> stretched back to 128x64
    np.testing.assert_allclose(d[:4], [64, 0, 64, 32], atol=1e-4)
    assert d[4] == pytest.approx(1 / (1 + np.exp(-10)), rel=1e-5)
    assert det.seen[:, :16].max() == 0 and det.seen[:, 16:].min() == 200
    # letterbox: the 2:1 image fills the middle half of the square input
    lb = Scripted(f, {"output": {"anchors": [[1, 1]]}}, fit="letterbox", grid=(2, 2))
    (d,) = lb.detect(img)
    np.testing.assert_allclose(d[:4], [64, 0, 64, 32], atol=1e-4)  # net y 0..16 -> image -32..32, clipped
    assert lb.seen[:8].max() == 0 and lb.seen[24:].max() == 0
    with pytest.raises(PicofaceError, match="RGB uint8"):
        lb.detect(np.zeros((10, 10), np.uint8))
    with pytest.raises(PicofaceError, match="no anchors"):
        Scripted(f, None)
    with pytest.raises(PicofaceError, match="outputs 24 values, but a 2x2 grid with 2 anchors"):
        Scripted(f, None, anchors="1,1,2,2", grid=(2, 2)).detect(img)


class ScriptedGray(Scripted):
    channels = 1

    def forward(self, net_rgb):
        assert net_rgb.shape == (32, 32, 1) and net_rgb.dtype == np.uint8
        return super().forward(np.repeat(net_rgb, 3, axis=2))


def test_grayscale_nets_get_the_luminance_of_the_fitted_image(tmp_path):
    f = tmp_path / "m.bin"
    f.write_bytes(b"1")
    det = ScriptedGray(f, {"output": {"anchors": [[1, 1]], "grid_w": 2, "grid_h": 2}, "input": {"fit": "stretch"}})
    img = np.zeros((32, 32, 3), np.uint8)
    img[..., 0] = 100                                   # pure red: luminance 0.299 * 100
    assert len(det.detect(img)) == 1
    assert det.seen.min() == det.seen.max() == 29        # as the training pipeline's grayscale frames


def test_infer_grid():
    assert infer_grid(20 * 15 * 30, 320, 240, 5, 1) == (20, 15)
    assert infer_grid(10 * 8 * 30, 320, 240, 5, 1) == (10, 8)  # 240/32 = 7.5 -> 8
    with pytest.raises(PicofaceError, match="cannot infer the output grid"):
        infer_grid(1234, 320, 240, 5, 1)


def test_contract_lookup(tmp_path):
    art = tmp_path / "a.tflite"
    art.write_bytes(b"x")
    assert contract_path(art) is None
    (tmp_path / "model.json").write_text(json.dumps({"file": "other.kmodel"}))
    assert contract_path(art) is None
    (tmp_path / "model.json").write_text(json.dumps({"file": "a.tflite"}))
    assert contract_path(art) == tmp_path / "model.json"
    (tmp_path / "a.json").write_text("{}")
    assert contract_path(art) == tmp_path / "model.json"         # naming the artifact wins
    (tmp_path / "model.json").unlink()
    assert contract_path(art) == tmp_path / "a.json"             # else a contract without "file"
    # picoface.kmodel and picoface.keras share a stem: picoface.json is the Keras model's contract
    (tmp_path / "picoface.json").write_text(json.dumps({"file": "picoface.keras"}))
    (tmp_path / "model.json").write_text(json.dumps({"file": "picoface.kmodel"}))
    assert contract_path(tmp_path / "picoface.kmodel") == tmp_path / "model.json"
    assert contract_path(tmp_path / "picoface.keras") == tmp_path / "picoface.json"
    (tmp_path / "model.json").write_text(json.dumps({"file": "other.kmodel"}))
    assert contract_path(tmp_path / "picoface.kmodel") is None
    (tmp_path / "model.json").unlink()
    (tmp_path / "a.json").write_text('{"name": "broken"}')
    with pytest.raises(PicofaceError, match="missing key"):  # validated by picoface.contract
        open_model(art)


def test_open_model_errors(tmp_path):
    with pytest.raises(PicofaceError, match="model not found"):
        open_model(tmp_path / "x.kmodel")
    (tmp_path / "x.pb").write_bytes(b"1")
    with pytest.raises(PicofaceError, match="unsupported model file type"):
        open_model(tmp_path / "x.pb")
    with pytest.raises(PicofaceError, match="unknown preset"):
        (tmp_path / "y.kmodel").write_bytes(b"1")
        open_model(tmp_path / "y.kmodel", preset="nope")


@pytest.mark.shared
def test_kmodel_backend(anchors):
    v4 = anchors / "k210_canmv_face_v4" / "face_detect_320x240.kmodel"
    with pytest.raises(PicofaceError, match="v4; the emulator runs v3 only"):
        open_model(v4, anchors=[1, 1])
    det = open_model(anchors / "k210_maixpy_face_v3" / "facedetect.kmodel", preset="maixpy-face")
    assert (det.net_w, det.net_h, det.fit_mode, det.deploy_threshold) == (320, 240, "stretch", 0.5)
    assert len(det.anchors) == 5 and det.anchors == MAIXPY_FACE_ANCHOR_PAIRS


def test_random_bytes_are_not_a_tflite_model(tmp_path):
    """The reason is what is wrong with the file, not the decoder's complaint (a UTF-8 error)."""
    p = tmp_path / "rnd.tflite"
    p.write_bytes(np.random.default_rng(1).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(PicofaceError) as e:
        open_model(p, anchors=[1, 1])
    msg = str(e.value)
    assert msg.startswith("%s is not a TFLite model: no TFL3 identifier at byte 4 (its first bytes are " % p)
    assert "utf-8" not in msg and "codec" not in msg
    p.write_bytes(b"TFL")
    with pytest.raises(PicofaceError, match="is not a TFLite model: only 3 bytes"):
        open_model(p, anchors=[1, 1])
