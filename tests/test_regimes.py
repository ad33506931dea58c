"""picoface.evaluate.regimes on hand-made detections: faces in camera pixels, framing to the
camera's 4:3, per-regime AP and the operating point at a threshold, and the best mean-F1 threshold."""

import numpy as np
import pytest

from picoface.data import Sample
from picoface.errors import PicofaceError
from picoface.evaluate import regimes


def det(box, score):
    return list(box) + [score]


def sample(boxes, w=640, h=480, ignore=(), path="x.jpg"):
    return Sample(path, w, h, boxes, list(ignore), "hand")


# a 640x480 photo (already 4:3): 0.5 camera px per photo px
FAR = [100, 100, 40, 50]      # shorter side 40 px -> 20 camera px
MID = [300, 100, 120, 140]    # 120 -> 60
CLOSE = [300, 250, 240, 220]  # 220 -> 110


def test_a_face_in_each_regime_and_out_of_regime_false_positives():
    s = regimes.frame_sample(sample([FAR, MID, CLOSE]))
    assert s.meta["framing"] == {"mode": "letterbox", "pad": [0, 0], "size": [640, 480], "camera_scale": 0.5}
    np.testing.assert_allclose(regimes.camera_px(s.boxes, regimes.camera_scale(s)), [20, 60, 110])
    dets = np.array([
        det(FAR, 0.9), det(MID, 0.8), det(CLOSE, 0.7),
        det([0, 300, 250, 250], 0.95),   # a close-sized false positive (125 camera px), the top score
        det([500, 20, 40, 40], 0.6),     # a far-sized false positive (20 camera px)
    ], np.float32)
    r = regimes.score_regimes([dets], [s], iou_thr=0.5, threshold=0.65)
    assert [r[k]["faces"] for k in ("far", "mid", "close")] == [1, 1, 1]
    assert (r["far"]["lo"], r["far"]["hi"], r["close"]["hi"]) == (12.0, 40.0, None)
    # far: its face found at 0.9, its own false positive at 0.6 comes after it; the close-sized one
    # is not charged to the far regime
    assert r["far"]["ap"] == pytest.approx(1.0)
    # mid: neither false positive is mid-sized
    assert r["mid"]["ap"] == pytest.approx(1.0)
    # close: the 0.95 false positive ranks above the face: precision 1/2 at recall 1
    assert r["close"]["ap"] == pytest.approx(0.5)
    assert r["mean_ap"] == pytest.approx((1.0 + 1.0 + 0.5) / 3)
    # at score 0.65 (>=): far TP, its FP (0.6) below; close: the FP passes and the face (0.7) too
    assert r["far"]["at_threshold"] == {"score": 0.65, "precision": 1.0, "recall": 1.0, "f1": 1.0, "tp": 1, "fp": 0,
                                        "faces": 1}
    c = r["close"]["at_threshold"]
    assert (c["tp"], c["fp"], c["precision"], c["recall"]) == (1, 1, 0.5, 1.0)
    assert c["f1"] == pytest.approx(2 / 3)
    # at 0.5 the far false positive counts in its own regime only
    r = regimes.score_regimes([dets], [s], threshold=0.5)
    f = r["far"]["at_threshold"]
    assert (f["tp"], f["fp"], f["precision"], f["recall"]) == (1, 1, 0.5, 1.0)
    assert r["mid"]["at_threshold"]["fp"] == 0
    # at 0.96 nothing passes: precision 0 of a regime with faces, recall 0
    z = regimes.score_regimes([dets], [s], threshold=0.96)["mid"]["at_threshold"]
    assert (z["tp"], z["fp"], z["precision"], z["recall"], z["f1"]) == (0, 0, 0.0, 0.0, 0.0)


def test_faces_of_other_regimes_are_ignore_regions_and_ious():
    s = regimes.frame_sample(sample([FAR, MID]))
    # a loose box on the mid face: IoU ~0.4 -> a hit at IoU 0.3 only
    loose = [MID[0], MID[1], MID[2], MID[3] * 0.42]
    dets = np.array([det(loose, 0.9)], np.float32)
    t = regimes.score_ious([dets], [s], ious=(0.5, 0.3), threshold=0.5)
    assert list(t) == ["0.5", "0.3"]
    assert t["0.5"]["mid"]["ap"] == pytest.approx(0.0) and t["0.3"]["mid"]["ap"] == pytest.approx(1.0)
    # the far regime: the far face is missed, and the mid-sized detection on the mid face (an
    # ignore region of the far regime) is no false positive there
    assert t["0.5"]["far"]["ap"] == pytest.approx(0.0)
    assert t["0.5"]["far"]["at_threshold"]["fp"] == 0
    assert t["0.5"]["close"] == {"ap": None, "faces": 0, "lo": 100.0, "hi": None,
                                 "at_threshold": t["0.5"]["close"]["at_threshold"]}
    assert t["0.5"]["mean_ap"] == pytest.approx(0.0)  # the mean of regimes with faces only


def test_letterbox_pads_a_square_photo_to_4_3(tmp_path):
    import cv2

    img = np.full((480, 480, 3), 200, np.uint8)
    path = tmp_path / "square.png"
    cv2.imwrite(str(path), img)
    assert regimes.framed_size(480, 480) == (640, 480, 80, 0)
    framed, pad = regimes.frame_image(img)
    assert framed.shape == (480, 640, 3) and pad == (80, 0)
    assert framed[:, :80].max() == 0 and framed[:, 560:].max() == 0 and framed[:, 80:560].min() == 200
    # the annotation's size is wrong on purpose: frame_samples reads the file's
    s = Sample(path, 999, 999, [[100, 50, 100, 60]], [[0, 0, 10, 10]], "hand")
    (f,) = regimes.frame_samples([s])
    np.testing.assert_allclose(f.boxes, [[180, 50, 100, 60]])
    np.testing.assert_allclose(f.ignore, [[80, 0, 10, 10]])
    assert (f.width, f.height) == (640, 480)
    assert f.meta["framing"] == {"mode": "letterbox", "pad": [80, 0], "size": [640, 480], "camera_scale": 0.5}
    assert regimes.camera_px(f.boxes, regimes.camera_scale(f)).tolist() == [30.0]  # 60 px * 320 / 640
    np.testing.assert_array_equal(regimes.sample_image(f), framed)
    np.testing.assert_array_equal(s.boxes, [[100, 50, 100, 60]])  # the original is left alone
    # a wide photo gets bars above and below; stretch leaves it as it is
    assert regimes.framed_size(800, 400) == (800, 600, 0, 100)
    st = regimes.frame_sample(Sample(path, 480, 480, [[100, 50, 100, 60]], [], "hand"), "stretch")
    np.testing.assert_allclose(st.boxes, [[100, 50, 100, 60]])
    assert regimes.camera_scale(st) == pytest.approx(320 / 480.0)
    np.testing.assert_array_equal(regimes.sample_image(st), img)
    # a sample framed for another size than its image's is an error, not a silent shift
    bad = regimes.frame_sample(Sample(path, 600, 480, [], [], "hand"))
    with pytest.raises(PicofaceError, match="not the size"):
        regimes.sample_image(bad)


def test_ignore_under_the_far_regime():
    s = regimes.frame_sample(sample([[0, 0, 20, 30], FAR]))  # 10 and 20 camera px
    regimes.ignore_under([s])
    np.testing.assert_allclose(s.boxes, [FAR])
    np.testing.assert_allclose(s.ignore, [[0, 0, 20, 30]])


def test_best_threshold_is_the_mean_f1_optimum():
    far2 = [200, 300, 30, 30]
    s = regimes.frame_sample(sample([FAR, far2, MID]))
    dets = np.array([
        det(FAR, 0.9), det([400, 300, 30, 30], 0.5), det(far2, 0.3),           # far: TP, FP, TP
        det(MID, 0.8), det([0, 250, 120, 120], 0.7), det([450, 300, 100, 100], 0.6),  # mid: TP, FP, FP
    ], np.float32)
    # mean F1 of far and mid by threshold (close has no faces: it does not count):
    # 0.3: (0.8 + 0.5) / 2 = 0.65; 0.5: 0.5; 0.6: (2/3 + 0.5) / 2; 0.7: 2/3; 0.8: (2/3 + 1) / 2; 0.9: 1/3
    thr, f1 = regimes.best_threshold([dets], [s])
    assert thr == pytest.approx(0.8) and f1 == pytest.approx((2 / 3 + 1) / 2)
    r = regimes.score_regimes([dets], [s], threshold=thr)
    assert np.mean([r[k]["at_threshold"]["f1"] for k in ("far", "mid")]) == pytest.approx(f1)
    assert regimes.best_threshold([np.zeros((0, 5), np.float32)], [regimes.frame_sample(sample([]))]) == (None, 0.0)
