"""Per-class evaluation of a multi-class (mask / no_mask) detector: detectors that return the class
of each box, per-class AP and the confusion of the faces found (picoface.evaluate.classes), the
`picoface eval` per_class results and `picoface bench --classes-data`.

The hand-computed case (one photo, faces A mask, B no_mask, C an ignored label, D no_mask):
detections B-as-mask 0.95, A-as-mask 0.88, C-as-no_mask 0.73, D-as-no_mask 0.62, and a no_mask box on
no face 0.55.
- mask: B is a wrong-class detection, so a false positive ranked first, then A: AP 0.5;
- no_mask: C lies on an ignored label (neither TP nor FP), D is found, the box on no face is a false
  positive, B is missed: recall 0.5 at precision 1, AP 0.5 (C as a FP would give 1/3; C as a face 0.75);
- faces found at the deployed score: A as mask, B as mask, D as no_mask: accuracy 2/3.
"""

import json

import numpy as np
import pytest

from picoface.cli import main
from picoface.data import Sample
from picoface.errors import PicofaceError

LABELS = ["mask", "no_mask"]
CELL = 32                                  # photo px per grid cell of the tiny constant model (128x96 photos)
# (row, col) -> (data label of the face there or None, detected class or None, objectness logit)
LAYOUT = {
    (0, 0): ("with_mask", 0, 2.0),         # A: found as mask
    (0, 2): ("without_mask", 0, 3.0),      # B: found as mask (wrong class), the best score
    (2, 1): ("mask_weared_incorrect", 1, 1.0),   # C: an ignored label
    (2, 3): ("without_mask", 1, 0.5),      # D: found as no_mask
    (1, 1): (None, 1, 0.2),                # E: a no_mask box on no face
}


def cell_box(r, c):
    return [float(c * CELL), float(r * CELL), float(CELL), float(CELL)]


def hand_case():
    """(sample, detections (N,5), classes (N,)) of the module docstring's case, in photo px (camera scale 1)."""
    labels = ["with_mask", "without_mask", "mask_weared_incorrect", "without_mask"]
    cells = [(0, 0), (0, 2), (2, 1), (2, 3)]
    s = Sample("/nowhere/hand.png", 320, 240, [cell_box(*rc) for rc in cells], [], "hand", {"labels": labels})
    dets = np.array([cell_box(0, 2) + [0.95], cell_box(0, 0) + [0.88], cell_box(2, 1) + [0.73],
                     cell_box(2, 3) + [0.62], cell_box(1, 1) + [0.55]])
    return s, dets, np.array([0, 0, 1, 1, 1])


# --- per-class AP and confusion, by hand -----------------------------------------------------------

def test_per_class_ap_by_hand():
    from picoface.evaluate.classes import score_classes

    s, dets, cls = hand_case()
    r = score_classes([dets], [cls], [s], LABELS, None, iou=(0.5, 0.3), threshold=0.5)
    assert r["images"] == 1 and r["images_left_out"] == 0
    assert r["faces"] == {"mask": 1, "no_mask": 2, "-": 1}
    for key in ("0.5", "0.3"):
        assert r["ap"][key] == {"mask": pytest.approx(0.5), "no_mask": pytest.approx(0.5)}
        assert r["map"][key] == pytest.approx(0.5)
    m, n = r["classes"]["0.5"]["mask"], r["classes"]["0.5"]["no_mask"]
    assert (m["true_positives"], m["false_positives"], m["ignored_detections"]) == (1, 1, 0)
    assert (n["true_positives"], n["false_positives"], n["ignored_detections"]) == (1, 1, 1)
    assert n["at_threshold"]["recall"] == pytest.approx(0.5) and n["at_threshold"]["precision"] == pytest.approx(0.5)
    cm = r["confusion"]
    assert cm["matrix"] == [[1, 0], [1, 1]] and (cm["found"], cm["correct"]) == (3, 2)
    assert cm["accuracy"] == pytest.approx(2 / 3) and cm["missed"] == {"mask": 0, "no_mask": 0}
    assert cm["ignore_label"] == {"faces": 1, "found": 1, "predicted": {"mask": 0, "no_mask": 1}}
    # 32 px faces at camera scale 1 are far; no mid or close face
    assert cm["regimes"]["far"]["matrix"] == [[1, 0], [1, 1]] and cm["regimes"]["far"]["found"] == 3
    assert cm["regimes"]["mid"]["found"] == 0 and cm["regimes"]["mid"]["accuracy"] is None


def test_deployed_score_and_iou_change_the_confusion():
    from picoface.evaluate.classes import score_classes

    s, dets, cls = hand_case()
    # above D's score: D is missed, only the two mask-found faces remain (one right, one wrong)
    cm = score_classes([dets], [cls], [s], LABELS, None, iou=(0.5,), threshold=0.7)["confusion"]
    assert cm["matrix"] == [[1, 0], [1, 0]] and cm["missed"] == {"mask": 0, "no_mask": 1}
    assert cm["accuracy"] == pytest.approx(0.5)
    # a detection shifted by half a face does not match at IoU 0.5, does at 0.3
    shifted = dets.copy()
    shifted[1, 0] += 14                        # A's box 14 px aside: IoU 18*32 / (2*1024 - 18*32) = 0.39
    r = score_classes([shifted], [cls], [s], LABELS, None, iou=(0.5, 0.3), threshold=0.5)
    assert r["ap"]["0.5"]["mask"] == pytest.approx(0.0) and r["ap"]["0.3"]["mask"] == pytest.approx(0.5)


def test_wrong_class_and_ignore_label_rules():
    """Each rule on its own: the answers the other readings would give are not what comes out."""
    from picoface.evaluate.classes import score_classes

    s, dets, cls = hand_case()
    # the ignored label is an ignore region for mask too: a mask box on it changes nothing
    d2 = np.concatenate([dets, [cell_box(2, 1) + [0.99]]])
    c2 = np.concatenate([cls, [0]])
    d2 = np.concatenate([d2[:2], d2[3:]])      # drop the no_mask box on C (NMS keeps one box per face)
    c2 = np.concatenate([c2[:2], c2[3:]])
    r = score_classes([d2], [c2], [s], LABELS, None, iou=(0.5,), threshold=0.5)
    assert r["ap"]["0.5"]["mask"] == pytest.approx(0.5)
    assert r["classes"]["0.5"]["mask"]["ignored_detections"] == 1
    # mapped to no_mask instead, C is a no_mask face: found by its own no_mask box, ranked before D
    r = score_classes([dets], [cls], [s], LABELS, "with_mask=mask,without_mask=no_mask,mask_weared_incorrect=no_mask",
                      iou=(0.5,), threshold=0.5)
    assert r["faces"]["no_mask"] == 3 and r["ap"]["0.5"]["no_mask"] == pytest.approx(2 / 3)
    # with every detection given the right class, both APs are 1
    right = np.array([1, 0, 1, 1, 1])
    r = score_classes([dets], [right], [s], LABELS, None, iou=(0.5,), threshold=0.5)
    assert r["ap"]["0.5"] == {"mask": pytest.approx(1.0), "no_mask": pytest.approx(1.0)}
    assert r["confusion"]["accuracy"] == pytest.approx(1.0)


def test_photos_without_class_labels_are_left_out():
    from picoface.evaluate.classes import score_classes

    s, dets, cls = hand_case()
    faces = Sample("/nowhere/f.png", 320, 240, [cell_box(1, 1)], [], "other", {"labels": ["face"]})
    bare = Sample("/nowhere/b.png", 320, 240, [cell_box(0, 0)], [], "wider")
    r = score_classes([dets, dets, dets], [cls, cls, cls], [s, faces, bare], LABELS, None, iou=(0.5,), threshold=0.5)
    assert r["images"] == 1 and r["images_left_out"] == 2 and r["unknown_labels"] == {"face": 1}
    assert r["ap"]["0.5"]["mask"] == pytest.approx(0.5)      # as with the labelled photo alone
    # a map that names "face" (ignore) takes the second photo in: its mask boxes are false positives
    r = score_classes([dets, dets], [cls, cls], [s, faces], LABELS,
                      "with_mask=mask,without_mask=no_mask,mask_weared_incorrect=-,face=-", iou=(0.5,), threshold=0.5)
    assert r["images"] == 2 and r["images_left_out"] == 0
    # mask boxes of the second photo are false positives tied with B's (.95) and A's (.88): A is found at
    # precision 1/4 after two false positives at .95 -> AP 0.25
    assert r["ap"]["0.5"]["mask"] == pytest.approx(0.25)
    # no labelled photo: skipped with the default map, an error with an explicit one
    r = score_classes([dets], [cls], [bare], LABELS, None, iou=(0.5,), threshold=0.5)
    assert "skipped" in r and "ap" not in r
    with pytest.raises(PicofaceError, match="per-class evaluation"):
        score_classes([dets], [cls], [faces], LABELS, "with_mask=mask", iou=(0.5,), threshold=0.5)


def test_class_map_parsing():
    from picoface.evaluate.classes import DEFAULT_CLASS_MAP, parse_class_map, resolve_class_map

    assert parse_class_map(DEFAULT_CLASS_MAP) == {"with_mask": "mask", "without_mask": "no_mask",
                                                  "mask_weared_incorrect": "-"}
    index, _ = resolve_class_map(None, LABELS)
    assert index == {"with_mask": 0, "without_mask": 1, "mask_weared_incorrect": -1, "mask": 0, "no_mask": 1}
    # the default map's entries that name no class of the model are dropped; names map to themselves
    index, _ = resolve_class_map(None, ["masked", "bare"])
    assert index == {"mask_weared_incorrect": -1, "masked": 0, "bare": 1}
    assert resolve_class_map("a=1,b=-", LABELS)[0]["a"] == 1
    for bad in ("with_mask", "a=b=c", "=mask", "a=mask,a=no_mask", " , "):
        with pytest.raises(PicofaceError):
            parse_class_map(bad)
    with pytest.raises(PicofaceError, match="not a class of the model"):
        resolve_class_map("with_mask=helmet", LABELS)


# --- detectors return the class of each box ---------------------------------------------------------

def _region_detector(out, labels=LABELS):
    from picoface.detectors.base import RegionDetector

    class Fixed(RegionDetector):
        net_w = net_h = 64

        def forward(self, net):
            return out

    c = {"output": {"anchors": [[0.2, 0.2]], "classes": len(labels) if labels else 2, "grid_w": 2, "grid_h": 2,
                    "layout": "NHWC"},
         "thresholds": {"score": 0.5, "nms": 0.3}}
    if labels:
        c["output"]["labels"] = labels
    return Fixed(None, c)


def _two_class_output():
    """2x2 grid, 1 anchor, 2 classes, NHWC: (row 0, col 0) pushed into the letterbox bar above the photo
    (dropped when mapped to the camera) with the best score, class no_mask; (1, 1) mask; (1, 0) no_mask."""
    t = np.zeros((4, 1, 7), np.float32)
    t[:, 0, 4] = -20.0
    t[0, 0] = [0, -10, 0, 0, 6.0, 0, 3]      # cell 0: ty -> the top edge: in the bar
    t[3, 0] = [0, 0, 0, 0, 5.0, 3, 0]        # cell 3 (row 1, col 1): mask
    t[2, 0] = [0, 0, 0, 0, 4.0, 0, 3]        # cell 2 (row 1, col 0): no_mask
    return t.reshape(-1)


def test_region_detector_returns_classes():
    from picoface.detect import region

    det = _region_detector(_two_class_output())
    assert det.labels == LABELS and det.describe()["labels"] == LABELS
    img = np.zeros((32, 64, 3), np.uint8)     # 2:1 photo letterboxed into the 64x64 net: bars of 16 px
    d5 = det.detect(img)
    d6 = det.detect(img, with_class=True)
    assert d5.shape == (2, 5) and d6.shape == (2, 6) and d6.dtype == np.float32
    np.testing.assert_array_equal(d6[:, :5], d5)
    # three boxes decoded, the best one dropped (no area in the photo): the classes stay with their boxes
    assert len(region.decode(_two_class_output(), 2, 2, [[0.2, 0.2]], 2, "NHWC", 0.01)) == 3
    centres = d6[:, 0] + d6[:, 2] / 2
    assert centres[0] == pytest.approx(48, abs=1) and d6[0, 5] == 0      # (1, 1): mask
    assert centres[1] == pytest.approx(16, abs=1) and d6[1, 5] == 1      # (1, 0): no_mask
    many = det.detect_many([img, img], with_class=True)
    assert len(many) == 2 and all(np.array_equal(m, d6) for m in many)


def test_region_detector_uses_postprocess_with_class_when_it_has_it(monkeypatch):
    from picoface.detect import region

    det = _region_detector(_two_class_output())
    img = np.zeros((32, 64, 3), np.uint8)
    want = det.detect(img, with_class=True)
    calls = []
    plain = region.postprocess

    def with_cls(out, spec, fit, threshold=0.5, nms_threshold=0.3, max_out=0, with_class=False):
        calls.append(with_class)
        d = np.asarray(plain(out, spec, fit, threshold, nms_threshold, max_out), np.float32)[:, :5]
        return np.concatenate([d, np.full((len(d), 1), 7.0, np.float32)], axis=1) if with_class else d

    monkeypatch.setattr(region, "postprocess", with_cls)
    got = det.detect(img, with_class=True)
    assert calls == [True] and (got[:, 5] == 7).all()
    np.testing.assert_array_equal(got[:, :5], want[:, :5])
    assert det.detect(img).shape == (2, 5)

    def five_columns(out, spec, fit, threshold=0.5, nms_threshold=0.3, max_out=0, with_class=False):
        return np.asarray(plain(out, spec, fit, threshold, nms_threshold, max_out))[:, :5]

    monkeypatch.setattr(region, "postprocess", five_columns)     # ignores with_class: the fallback decodes
    np.testing.assert_array_equal(det.detect(img, with_class=True), want)


def test_kmodel_detector_detect_path_gives_the_class_column(tmp_path):
    """The kmodel backend's detect(): a 1-class tiny kmodel through the KPU emulator has no labels, and
    with_class gives its boxes with class 0."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import tiny_model

    from picoface.detectors import open_model

    det = open_model(tiny_model.kmodel(tmp_path / "kpu", w=64, h=48))
    assert det.labels is None
    img = np.asarray(tiny_model.calibration_frames(64, 48, n=1)[0])
    d5, d6 = det.detect(img), det.detect(img, with_class=True)
    assert len(d5) > 0 and d6.shape == (len(d5), 6)
    np.testing.assert_array_equal(d6[:, :5], d5)
    assert (d6[:, 5] == 0).all()


def test_class_labels_of_a_contract():
    from picoface.detectors.base import class_labels

    assert class_labels(["face"], 1) is None and class_labels(None, 1) is None
    assert class_labels(None, 2) == ["class_0", "class_1"]
    assert class_labels("mask, no_mask", 2) == LABELS
    for bad in (["mask"], ["mask", "mask"], ["a", "b", "c"]):
        with pytest.raises(PicofaceError, match="labels"):
            class_labels(bad, 2)


def test_evaluate_adds_per_class_and_keeps_the_face_figures(tmp_path):
    import cv2

    from picoface.evaluate import evaluate

    s, dets, cls = hand_case()
    s.image_path = tmp_path / "hand.png"
    cv2.imwrite(str(s.image_path), np.zeros((240, 320, 3), np.uint8))

    class Faces:
        name, kind, bytes, macs, deploy_threshold = "faces", "box", 1, 1, 0.5

        def detect(self, rgb):
            return dets.astype(np.float32)

    class Masks(Faces):
        name, labels = "masks", LABELS

        def detect(self, rgb, with_class=False):
            return np.concatenate([dets, cls[:, None]], axis=1).astype(np.float32) if with_class else \
                dets.astype(np.float32)

    class Forgets(Masks):
        def detect(self, rgb, with_class=False):
            return dets.astype(np.float32)

    plain = evaluate(Faces(), [s], progress=False)
    multi = evaluate(Masks(), [s], progress=False)
    assert "per_class" not in plain
    assert multi["per_class"]["ap"]["0.5"] == {"mask": pytest.approx(0.5), "no_mask": pytest.approx(0.5)}
    assert multi["ap"] == plain["ap"] and multi["regimes"] == plain["regimes"] and multi["counts"] == plain["counts"]
    assert [c.tolist() for c in multi["_classes"]] == [cls.tolist()]
    assert multi["_detections"][0].shape == (5, 5)
    with pytest.raises(PicofaceError, match="with_class"):
        evaluate(Forgets(), [s], progress=False)
    from picoface.evaluate.report import markdown, summary_table

    md = markdown(multi)
    assert "## Per class" in md and "| mask | 1 | 0.500 | 0.500 |" in md and "| mean (mAP) |  | 0.500 |" in md
    assert "| no_mask | 1 | 1 | 0 | 0.500 |" in md          # confusion row: B as mask, D as no_mask
    text = summary_table(multi)
    assert "per class (1 photo)" in text and "class accuracy 0.667" in text
    assert "## Per class" not in markdown(plain) and "per class" not in summary_table(plain)


# --- the bench --------------------------------------------------------------------------------------

def _photo_samples(tmp_path, n=2):
    """320x240 photos (camera scale 1) with the hand case's faces."""
    import cv2

    tmp_path.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        s, _, _ = hand_case()
        s.image_path = tmp_path / ("p%d.png" % i)
        cv2.imwrite(str(s.image_path), np.full((240, 320, 3), 30 * i, np.uint8))
        out.append(s)
    return out


class _Masks:
    name, kind, bytes, macs, deploy_threshold, labels = "masks", "box", 1, 1, 0.5, LABELS

    def __init__(self):
        self.calls = 0

    def detect(self, rgb, with_class=False):
        self.calls += 1
        s, dets, cls = hand_case()
        return np.concatenate([dets, cls[:, None]], axis=1).astype(np.float32) if with_class else \
            dets.astype(np.float32)


class _Faces(_Masks):
    name, labels = "faces", None


def test_bench_rows_per_class_on_the_close_set_and_on_its_own_set(tmp_path):
    from picoface.bench import report
    from picoface.bench.rows import Row
    from picoface.bench.run import bench_rows
    from picoface.evaluate.regimes import frame_samples
    from picoface.evaluate.sets import EvalSet

    main_set = frame_samples(_photo_samples(tmp_path / "m"), "letterbox")
    close = EvalSet(frame_samples(_photo_samples(tmp_path / "c"), "letterbox"), "letterbox", note="close")
    made = []

    def build(cls):
        def b():
            made.append(cls())
            return made[-1]
        return b

    rows = [Row("masks", "2 classes", build(_Masks), group="picoface"), Row("faces", "1 class", build(_Faces))]
    res = bench_rows(rows, main_set, progress=False, close=close, classes=close)
    by = {r["name"]: r for r in res}
    assert made[0].calls == 1 + 2 + 2           # warm-up, main, close: the per-class figures come from the close run
    c = by["masks"]["classes"]
    assert c["status"] == "ok" and c["images"] == 2
    assert c["ap"]["0.5"] == {"mask": pytest.approx(0.5), "no_mask": pytest.approx(0.5)}
    assert c["confusion"]["accuracy"] == pytest.approx(2 / 3)
    assert "classes" not in by["faces"] and "per_class" not in by["masks"]["close"]
    json.dumps(res[0]["classes"])                # JSON-ready
    # a class map that fits no photo of the set fails the per-class figures only, not the close-range ones
    made.clear()
    bad = bench_rows(rows[:1], main_set, progress=False, close=close, classes=close, class_map="face=mask")
    assert bad[0]["close"]["status"] == "ok" and bad[0]["classes"]["status"].startswith("failed: per-class")
    assert report.class_rows(bad)[1][-1].startswith("failed: per-class")
    swapped = bench_rows(rows[:1], main_set, progress=False, close=close, classes=close,
                         class_map="with_mask=no_mask,without_mask=mask,mask_weared_incorrect=-")
    assert swapped[0]["classes"]["faces"] == {"mask": 4, "no_mask": 2, "-": 2}
    # a per-class set of its own: one more run of the rows with classes only
    own = EvalSet(frame_samples(_photo_samples(tmp_path / "o", n=3), "letterbox"), "letterbox", note="own")
    made.clear()
    res2 = bench_rows(rows, main_set, progress=False, close=close, classes=own)
    assert made[0].calls == 1 + 2 + 2 + 3 and made[1].calls == 1 + 2 + 2
    assert res2[0]["classes"]["images"] == 3 and "classes" not in res2[1]
    # the report: a per-class table only when a row has classes
    info = {"data": "synthetic", "images": 2, "min_size": 20, "size_rule": "min-side", "host": "test",
            "strict_min_size": 32, "framing": "letterbox",
            "classes": {"data": "own", "note": "own", "images": 3, "faces": 12, "framing": "letterbox",
                        "class_map": "with_mask=mask", "same_as_close": False}}
    md, _ = report.markdown(res2, info, "faces")
    assert "## Per class" in md and "| masks | 0.500 | 0.500 | 0.500 | 0.500 | 0.5 | 9 | 0.667 |" in md
    table = report.class_rows(res2)
    assert table[0][:3] == ["detector", "mask AP@0.5", "no_mask AP@0.5"] and len(table) == 2
    only_faces = [r for r in res2 if r["name"] == "faces"]
    assert report.class_rows(only_faces) is None
    assert "Per class" not in report.markdown(only_faces, dict(info, classes=None), "faces")[0]


# --- `picoface eval` and `picoface bench` on a tiny 2-class model ------------------------------------

def make_mask_set(d):
    """Two 128x96 photos: the hand case's faces at the tiny model's cells (labelled as facemask_kaggle
    labels them), and one with a face labelled only "face" (another set's label)."""
    import cv2

    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(3)
    recs = []
    cells = [rc for rc, (lab, _, _) in LAYOUT.items() if lab]
    recs.append({"image": "0.jpg", "width": 128, "height": 96, "boxes": [cell_box(*rc) for rc in cells],
                 "labels": [LAYOUT[rc][0] for rc in cells]})
    recs.append({"image": "1.jpg", "width": 128, "height": 96, "boxes": [cell_box(1, 1)], "labels": ["face"]})
    for r in recs:
        cv2.imwrite(str(d / r["image"]), rng.integers(0, 255, (96, 128, 3), dtype=np.uint8))
    (d / "annotations.jsonl").write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    return d


@pytest.fixture(scope="module")
def mask_model(tmp_path_factory):
    """A float TFLite 2-class region model (64x48 input, 4x3 grid, 1 anchor of one cell) whose output is a
    constant: the boxes of LAYOUT, whatever the photo."""
    import keras
    import tensorflow as tf

    from picoface.contract import write_contract

    d = tmp_path_factory.mktemp("mask_model")
    value = np.zeros((3, 4, 7), np.float32)
    value[..., 4] = -20.0
    for (r, c), (_, k, obj) in LAYOUT.items():
        value[r, c] = [0, 0, 0, 0, obj] + ([8.0, 0.0] if k == 0 else [0.0, 8.0])

    class Const(keras.layers.Layer):
        def build(self, shape):
            self.c = self.add_weight(shape=value.shape, initializer=keras.initializers.Constant(value),
                                     trainable=False)

        def call(self, x):
            return x + self.c

    inp = keras.Input((48, 64, 3))
    x = keras.layers.AveragePooling2D(16)(inp)
    x = keras.layers.Conv2D(7, 1, kernel_initializer="zeros", bias_initializer="zeros")(x)
    model = keras.Model(inp, Const()(x))
    path = d / "masks.tflite"
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    contract = {"name": "tiny-masks", "format": "tflite-float", "file": path.name,
                "input": {"w": 64, "h": 48, "channels": 3, "order": "RGB", "layout": "NHWC", "dtype": "float32",
                          "scale": 1 / 255.0, "zero_point": 0, "fit": "stretch"},
                "output": {"grid_w": 4, "grid_h": 3, "anchors": [[1.0, 1.0]], "classes": 2, "labels": LABELS,
                           "layout": "NHWC", "dtype": "float32", "scale": 1.0, "zero_point": 0},
                "thresholds": {"score": 0.5, "nms": 0.3}}
    write_contract(d / "masks.json", contract)
    return {"tflite": path, "keras": model, "contract": contract}


@pytest.mark.tf
def test_keras_and_tflite_detectors_return_classes(mask_model):
    from picoface.detectors import open_model
    from picoface.detectors.keras_det import KerasDetector

    img = np.random.default_rng(0).integers(0, 255, (96, 128, 3), dtype=np.uint8)
    t = open_model(mask_model["tflite"])
    k = KerasDetector(None, mask_model["contract"], model=mask_model["keras"])
    assert t.labels == k.labels == LABELS
    for det in (t, k):
        d6 = det.detect(img, with_class=True)
        assert d6.shape == (5, 6) and det.detect(img).shape == (5, 5)
        got = {(int(round(y / CELL)), int(round(x / CELL))): int(c) for x, y, _, _, _, c in d6}
        assert got == {rc: k_ for rc, (_, k_, _) in LAYOUT.items()}     # each box with its own class
    np.testing.assert_allclose(k.detect(img, with_class=True), t.detect(img, with_class=True), atol=1e-4)
    (many,) = k.detect_many([img], with_class=True)
    np.testing.assert_allclose(many, k.detect(img, with_class=True), atol=1e-5)


@pytest.mark.tf
def test_eval_cli_writes_per_class(mask_model, tmp_path, capsys):
    mask_model = mask_model["tflite"]
    data = make_mask_set(tmp_path / "set")
    out = tmp_path / "out"
    assert main(["eval", str(mask_model), "--data", str(data), "--out", str(out), "--min-size", "0", "--no-progress",
                 "--examples", "0"]) == 0
    printed = capsys.readouterr().out
    res = json.loads((out / "results.json").read_text())
    # the face figures ignore the classes: 5 faces, each photo's 5 boxes (hand-computed AP 0.5)
    assert res["counts"]["faces"] == 5 and res["ap"]["0.5"] == pytest.approx(0.5)
    pc = res["per_class"]
    assert pc["labels"] == LABELS and pc["images"] == 1 and pc["images_left_out"] == 1
    assert pc["unknown_labels"] == {"face": 1} and pc["score_threshold"] == 0.5
    assert pc["faces"] == {"mask": 1, "no_mask": 2, "-": 1}
    assert pc["ap"] == {"0.5": {"mask": pytest.approx(0.5), "no_mask": pytest.approx(0.5)},
                        "0.3": {"mask": pytest.approx(0.5), "no_mask": pytest.approx(0.5)}}
    assert pc["map"]["0.5"] == pytest.approx(0.5)
    cm = pc["confusion"]
    assert cm["matrix"] == [[1, 0], [1, 1]] and cm["accuracy"] == pytest.approx(2 / 3)
    # 32 photo px at 2.5 camera px per photo px: mid faces
    assert cm["regimes"]["mid"]["found"] == 3 and cm["regimes"]["far"]["found"] == 0
    assert "per class" in printed and "class accuracy 0.667" in printed
    md = (out / "summary.md").read_text()
    assert "## Per class" in md and "| mask | 1 | 0.500 | 0.500 |" in md
    # an explicit map: the classes swapped, "face" an ignore label (the second photo scored too)
    out2 = tmp_path / "out2"
    assert main(["eval", str(mask_model), "--data", str(data), "--out", str(out2), "--min-size", "0",
                 "--no-progress", "--examples", "0", "--iou", "0.5",
                 "--class-map", "with_mask=no_mask,without_mask=mask,mask_weared_incorrect=-,face=-"]) == 0
    pc2 = json.loads((out2 / "results.json").read_text())["per_class"]
    assert pc2["images"] == 2 and pc2["faces"] == {"mask": 2, "no_mask": 1, "-": 2}
    assert pc2["ap"]["0.5"] == {"mask": pytest.approx(0.25), "no_mask": pytest.approx(0.0)}
    capsys.readouterr()
    # bad maps, and a map for a model without classes
    assert main(["eval", str(mask_model), "--data", str(data), "--no-progress", "--class-map", "with_mask"]) == 1
    assert "LABEL=CLASS" in capsys.readouterr().err
    assert main(["eval", str(mask_model), "--data", str(data), "--no-progress", "--out", str(tmp_path / "o3"),
                 "--class-map", "with_mask=helmet"]) == 1
    assert "not a class of the model" in capsys.readouterr().err
    one = tmp_path / "one"
    one.mkdir()
    (one / "m.tflite").write_bytes(mask_model.read_bytes())
    c = json.loads(mask_model.with_suffix(".json").read_text())
    c["file"] = "m.tflite"
    c["output"]["classes"] = 1
    del c["output"]["labels"]
    (one / "m.json").write_text(json.dumps(c))
    assert main(["eval", str(one / "m.tflite"), "--data", str(data), "--no-progress", "--class-map",
                 "with_mask=mask"]) == 1
    assert "--class-map is for a multi-class model" in capsys.readouterr().err


@pytest.mark.tf
def test_bench_classes_data(mask_model, tmp_path, capsys):
    mask_model = mask_model["tflite"]
    data = make_mask_set(tmp_path / "set")
    out = tmp_path / "bench"
    assert main(["bench", "--no-anchors", "--models", str(mask_model), "--data", str(data), "--no-close",
                 "--classes-data", str(data), "--no-progress", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    bench = json.loads((out / "bench.json").read_text())
    (row,) = bench["rows"]
    assert row["classes"]["status"] == "ok" and row["classes"]["images"] == 1
    assert row["classes"]["ap"]["0.5"] == {"mask": pytest.approx(0.5), "no_mask": pytest.approx(0.5)}
    assert bench["info"]["classes"]["data"] == str(data) and bench["info"]["classes"]["same_as_close"] is False
    md = (out / "bench.md").read_text()
    assert "## Per class" in md and "mask AP@0.5" in md and "per class (%s)" % data in printed
    # no per-class set: the bench as before
    out2 = tmp_path / "bench2"
    assert main(["bench", "--no-anchors", "--models", str(mask_model), "--data", str(data), "--no-close",
                 "--no-progress", "--out", str(out2)]) == 0
    bench2 = json.loads((out2 / "bench.json").read_text())
    assert "classes" not in bench2["rows"][0] and "classes" not in bench2["info"]
    assert "## Per class" not in (out2 / "bench.md").read_text()
    capsys.readouterr()
    assert main(["bench", "--no-anchors", "--models", str(mask_model), "--data", str(data), "--no-close",
                 "--classes-data", "close", "--no-progress", "--out", str(tmp_path / "b3")]) == 1
    assert "--classes-data close needs the close-range set" in capsys.readouterr().err


# --- the shared data: facemask_kaggle's labels -------------------------------------------------------

def test_facemask_kaggle_labels_all_map(data_root):
    """Every box of facemask_kaggle carries a label of the default map, and framing keeps them aligned."""
    from picoface.evaluate.classes import face_classes, resolve_class_map
    from picoface.evaluate.sets import camera_set

    folder = data_root / "facemask_kaggle"
    if not folder.is_dir():
        pytest.skip("%s is absent" % folder)
    es = camera_set(folder, "letterbox", 20.0, "min-side", limit=30)
    index, _ = resolve_class_map(None, LABELS)
    seen = set()
    for s in es.samples:
        g, unknown = face_classes(s, index)
        assert g is not None and not unknown and len(g) == len(s.boxes)
        seen |= set(g.tolist())
    assert seen <= {-1, 0, 1} and {0, 1} <= seen
