"""picoface bench: the reference-detector adapters on real photos, their decoding pieces, MAC
counting, the report and the CLI end to end (a few images, a couple of cheap rows)."""

import json

import numpy as np
import pytest

from picoface.errors import PicofaceError

ANCHOR_FILES = {
    "yunet": "yunet/yunet_n_320_320.onnx",
    "rfb": "ultralight_1mb/version-RFB-320.onnx",
    "slim": "ultralight_1mb/version-slim-320.onnx",
    "blazeface": "openmv_blazeface_front_128/blazeface_front_128.tflite",
    "fomo": "openmv_fomo_face/fomo_face_detection.tflite",
    "k210": "k210_maixpy_face_v3/facedetect.kmodel",
}


def iou(a, b):
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def photo(data_root, ds, name):
    """(RGB image, annotated face boxes) of one image of a shared data set."""
    from picoface.data import read_image

    folder = data_root / ds
    for line in (folder / "annotations.jsonl").read_text().splitlines():
        rec = json.loads(line)
        if rec["image"] == name:
            return read_image(folder / name), np.asarray(rec["boxes"], np.float32).reshape(-1, 4)
    raise AssertionError("%s not in %s" % (name, ds))


@pytest.fixture(scope="module")
def mask14(data_root):
    # a human-annotated photo with one clear (masked) face
    return photo(data_root, "facemask_kaggle", "images/maksssksksss14.jpg")


def model(anchors, key):
    p = anchors / ANCHOR_FILES[key]
    if not p.is_file():
        pytest.skip("%s is absent" % p)
    return p


def check_format(dets, img):
    """The detector contract: float32 (N,5), boxes inside the image, scores in [0,1], sorted."""
    h, w = img.shape[:2]
    assert isinstance(dets, np.ndarray) and dets.dtype == np.float32 and dets.ndim == 2 and dets.shape[1] == 5
    assert len(dets) > 0
    x, y, bw, bh, s = dets.T
    assert np.all(bw > 0) and np.all(bh > 0)
    assert np.all(x >= -1e-3) and np.all(y >= -1e-3)
    assert np.all(x + bw <= w + 1e-3) and np.all(y + bh <= h + 1e-3)
    assert np.all((s >= 0) & (s <= 1))
    assert np.all(np.diff(s) <= 1e-7), "scores not sorted descending"


def assert_finds(det, img, boxes):
    dets = det.detect(img)
    check_format(dets, img)
    best = dets[0]
    assert max(iou(best[:4], b) for b in boxes) >= 0.5, (det.name, dets[:3], boxes)
    return dets


# --- adapters on real photos -------------------------------------------------------------------

def test_yunet_finds_the_face(anchors, mask14):
    from picoface.detectors.yunet import YuNetDetector

    det = YuNetDetector(model(anchors, "yunet"))
    assert det.kind == "box" and det.bytes == model(anchors, "yunet").stat().st_size
    assert_finds(det, *mask14)
    native = YuNetDetector(model(anchors, "yunet"), size="native")
    assert_finds(native, *mask14)


def test_yunet_dynamic_export_is_a_clear_error(anchors, tmp_path):
    from picoface.detectors.yunet import YuNetDetector

    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"not an onnx file")
    with pytest.raises(PicofaceError):
        YuNetDetector(bad)
    with pytest.raises(PicofaceError, match="not found"):
        YuNetDetector(tmp_path / "absent.onnx")


@pytest.mark.parametrize("variant", ["rfb", "slim"])
def test_ultralight_finds_the_face(anchors, mask14, variant):
    from picoface.detectors.ultralight import UltraLightDetector

    det = UltraLightDetector(model(anchors, variant))
    assert det.name == "ultralight-%s-320" % variant.replace("rfb", "RFB")
    assert_finds(det, *mask14)


def test_k210_stock_model_finds_the_face(anchors, mask14):
    """Sipeed's stock kmodel v3 through the KPU emulator (data-eval + kmodel engineers' code)."""
    from picoface.bench.rows import anchor_rows

    row = next(r for r in anchor_rows(anchors) if r.name == "k210-maixpy-stock")
    model(anchors, "k210")
    det = row.build()
    assert det.kind == "box" and det.bytes == 388776
    assert_finds(det, *mask14)


@pytest.mark.tf
def test_blazeface_finds_a_large_centred_face(anchors, mask14):
    from picoface.detectors.blazeface import BlazeFaceDetector

    img, boxes = mask14
    x, y, w, h = boxes[0]
    side = int(max(w, h) * 1.6)  # the face fills ~60% of the crop: BlazeFace's design range
    x0, y0 = int(max(0, x + w / 2 - side / 2)), int(max(0, y + h / 2 - side / 2))
    crop = np.ascontiguousarray(img[y0:y0 + side, x0:x0 + side])
    det = BlazeFaceDetector(model(anchors, "blazeface"))
    assert_finds(det, crop, boxes - np.array([x0, y0, 0, 0], np.float32))
    # letterbox: a non-square image maps back into its own pixels
    check_format(det.detect(img), img)


@pytest.mark.tf
def test_fomo_centroid_lands_in_the_face(anchors, mask14):
    from picoface.detectors.fomo import FomoDetector

    img, boxes = mask14
    det = FomoDetector(model(anchors, "fomo"))
    assert det.kind == "centroid"
    dets = det.detect(img)
    check_format(dets, img)
    cx, cy = dets[0, 0] + dets[0, 2] / 2, dets[0, 1] + dets[0, 3] / 2
    x, y, w, h = boxes[0]
    assert x <= cx <= x + w and y <= cy <= y + h
    assert dets[0, 4] > 0.5


def test_haar_finds_the_face(data_root):
    from picoface.detectors.haar import HaarDetector

    img, boxes = photo(data_root, "pseudo_lfw", "images/lfw_Abdul_Rahman_0001.jpg")
    det = HaarDetector()
    assert det.macs is None and det.bytes > 0
    assert_finds(det, img, boxes)


# --- decoding pieces (no models needed) --------------------------------------------------------

def test_haar_scores_are_monotonic_in_0_1():
    from picoface.detectors.haar import haar_scores

    s = haar_scores([-3.0, 0.0, 2.5, 9.0, 15.0, 400.0])
    assert np.all(np.diff(s) > 0) and s[0] > 0 and s[-1] <= 1


def test_blazeface_anchor_scheme():
    from picoface.detectors.blazeface import blazeface_anchors, decode

    a = blazeface_anchors()
    assert a.shape == (896, 2)
    np.testing.assert_allclose(a[0], a[1])  # 2 anchors per 16x16 cell
    np.testing.assert_allclose(a[0], [0.5 / 16, 0.5 / 16])
    np.testing.assert_allclose(a[2], [1.5 / 16, 0.5 / 16])  # x runs fastest
    np.testing.assert_allclose(a[32], [0.5 / 16, 1.5 / 16])
    np.testing.assert_allclose(a[512:518], [[0.5 / 8, 0.5 / 8]] * 6)  # 6 per 8x8 cell
    np.testing.assert_allclose(a[-1], [7.5 / 8, 7.5 / 8])
    reg = np.zeros((896, 16), np.float32)
    reg[0, :4] = [12.8, -6.4, 32.0, 64.0]  # pixels of the 128 input
    boxes, scores = decode(reg, np.r_[100.0, -200.0, np.zeros(894)], a)
    np.testing.assert_allclose(boxes[0], [0.5 / 16 + 0.1 - 0.125, 0.5 / 16 - 0.05 - 0.25, 0.25, 0.5], atol=1e-6)
    assert scores[0] == pytest.approx(1.0) and scores[1] == pytest.approx(0.0) and scores[2] == pytest.approx(0.5)


def test_weighted_nms_blends_a_cluster():
    from picoface.detectors.blazeface import weighted_nms

    boxes = np.array([[0, 0, 10, 10], [1, 0, 10, 10], [50, 50, 10, 10]], np.float32)
    out = weighted_nms(boxes, np.array([0.9, 0.3, 0.5], np.float32), 0.3)
    assert len(out) == 2
    np.testing.assert_allclose(out[0], [0.25, 0, 10, 10, 0.9], atol=1e-6)
    np.testing.assert_allclose(out[1], [50, 50, 10, 10, 0.5])


def test_fomo_heat_peaks():
    from picoface.detectors.fomo import heat_peaks

    prob = np.zeros((12, 12), np.float32)
    prob[2, 3] = 0.9
    prob[2, 4] = 0.3  # shoulder of the same peak: pulls the centroid right
    prob[8, 8] = prob[8, 9] = 0.6  # plateau: one detection
    prob[0, 11] = 0.04  # under the threshold
    peaks = heat_peaks(prob, 0.05)
    assert len(peaks) == 2
    (cx, cy, s), (cx2, cy2, s2) = peaks
    assert s == pytest.approx(0.9) and cy == pytest.approx(2.5) and 3.5 < cx < 4.0
    assert s2 == pytest.approx(0.6) and cx2 == pytest.approx(9.0) and cy2 == pytest.approx(8.5)


def test_ultralight_postprocess_maps_corners_to_pixels():
    from picoface.detectors.ultralight import postprocess

    corners = np.array([[0.1, 0.2, 0.3, 0.6], [0.11, 0.2, 0.31, 0.6], [0.7, 0.7, 1.2, 0.9]], np.float32)
    out = postprocess(np.array([0.9, 0.8, 0.6], np.float32), corners, 200, 100, 0.05, 0.3, 750)
    np.testing.assert_allclose(out, [[20, 20, 40, 40, 0.9], [140, 70, 60, 20, 0.6]], atol=1e-4)


# --- MAC counting ------------------------------------------------------------------------------

def test_onnx_macs_match_published_figures(anchors):
    from picoface.bench.macs import onnx_macs

    # published: YuNet-n 149 MFLOPs at 320x320, Ultra-Light 90-109 MFLOPs at 320x240
    yunet = onnx_macs(model(anchors, "yunet"), {"input": (1, 3, 320, 320)})
    rfb = onnx_macs(model(anchors, "rfb"), {"input": (1, 3, 240, 320)})
    slim = onnx_macs(model(anchors, "slim"), {"input": (1, 3, 240, 320)})
    assert 120e6 < yunet < 160e6
    assert 85e6 < rfb < 115e6 and 70e6 < slim < rfb


@pytest.mark.tf
def test_tflite_macs_exact_on_a_tiny_model(tmp_path):
    import tensorflow as tf

    from picoface.bench.macs import tflite_macs

    inp = tf.keras.Input((16, 16, 3))
    x = tf.keras.layers.Conv2D(8, 3, strides=2, padding="same")(inp)  # 8x8x8 * 27
    x = tf.keras.layers.DepthwiseConv2D(3, padding="same")(x)  # 8x8x8 * 9
    x = tf.keras.layers.Conv2D(4, 1)(x)  # 8x8x4 * 8
    x = tf.keras.layers.Flatten()(x)
    x = tf.keras.layers.Dense(5)(x)  # 5 * 256
    m = tf.keras.Model(inp, x)
    path = tmp_path / "tiny.tflite"
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(m).convert())
    assert tflite_macs(path) == 8 * 8 * 8 * 27 + 8 * 8 * 8 * 9 + 8 * 8 * 4 * 8 + 5 * 256


def test_kmodel_macs_of_the_stock_model(anchors):
    from picoface.bench.macs import kmodel_macs
    from picoface.kmodel import load

    m = load(model(anchors, "k210"))
    first = m.convs[0].regs
    assert first.in_shape == (320, 240, 3)
    total = kmodel_macs(model(anchors, "k210"))
    assert total > 320 * 240 * first.out_shape[2] * 9 * 3  # at least the first layer
    assert 100e6 < total < 400e6


# --- rows, report, CLI -------------------------------------------------------------------------

def test_select_rows_by_name_and_pattern(tmp_path):
    from picoface.bench.rows import anchor_rows, select

    rows = anchor_rows(tmp_path)
    assert [r.name for r in select(rows, ["yunet-*"])] == ["yunet-n-320", "yunet-n-native"]
    assert [r.name for r in select(rows, ["haar-frontalface,fomo-face-96"])] == ["haar-frontalface", "fomo-face-96"]
    with pytest.raises(PicofaceError, match="no bench row named nope"):
        select(rows, ["nope"])


def test_k210_gap_line():
    from picoface.bench.report import k210_gaps, table_rows

    res = [
        {"name": "yunet-n-320", "status": "ok", "ap50": 0.78, "ap30": 0.86, "ms_median": 10.0, "kind": "box"},
        {"name": "k210-maixpy-stock", "status": "ok", "ap50": 0.39, "ap30": 0.5, "ms_median": 800.0, "kind": "box"},
        {"name": "fomo-face-96", "status": "not available: gone", "kind": None},
    ]
    (line,) = k210_gaps(res)
    assert "0.390 vs 0.780" in line and "gap -0.390" in line and "50% of YuNet-n" in line
    table = table_rows(res, "yunet-n-320")
    assert table[0][12] == "latency vs yunet-n-320"
    assert table[2][12] == "80.00x" and table[3][-1] == "not available: gone"


def _run_cli(args, capsys):
    from picoface.cli import main

    rc = main(["bench"] + args)
    return rc, capsys.readouterr()


def test_bench_cli_end_to_end(data_root, anchors, tmp_path, capsys):
    model(anchors, "yunet")
    out = tmp_path / "bench"
    rc, cap = _run_cli(["--data", str(data_root / "widerface_val"), "--anchors", str(anchors), "--limit", "3",
                        "--min-size", "10", "--only", "yunet-n-320,ultralight-slim-320", "--no-progress",
                        "--models", str(tmp_path / "no_models_here"), "--out", str(out)], capsys)
    assert rc == 1 and "does not exist" in cap.err  # a wrong --models path is a clear error
    rc, cap = _run_cli(["--data", str(data_root / "widerface_val"), "--anchors", str(anchors), "--limit", "3",
                        "--min-size", "10", "--only", "yunet-n-320,ultralight-slim-320", "--no-progress",
                        "--models", "--out", str(out)], capsys)
    assert rc == 0, cap.err
    md = (out / "bench.md").read_text()
    assert "| yunet-n-320 | box |" in md and "| ultralight-slim-320 | box |" in md
    assert "Protocol" in md and "centroid" in md and "20% of the frame" in md
    assert "## Recall by face size" in md and "| yunet-n-320 | " in md.split("## Recall by face size")[1]
    assert (out / "bench.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads((out / "bench.json").read_text())
    assert data["info"]["images"] == 3
    rows = {r["name"]: r for r in data["rows"]}
    for name in ("yunet-n-320", "ultralight-slim-320"):
        r = rows[name]
        assert r["status"] == "ok" and 0.0 <= r["ap50"] <= 1.0 and r["ap30"] >= r["ap50"]
        assert r["ms_median"] > 0 and r["macs"] > 1e7 and r["bytes"] > 1e5
    assert rows["yunet-n-320"]["ap50"] > rows["ultralight-slim-320"]["ap50"] - 0.3
    assert "yunet-n-320" in cap.out and "1.00x" in cap.out and "bench.md" in cap.out
    # letterbox framing, regimes, the >= 32 px figure and the close-range set (K210 config's holdout)
    info = data["info"]
    assert info["framing"] == "letterbox" and info["strict_min_size"] == 32
    assert info["close"]["data"] == "holdout" and info["close"]["images"] == 3
    assert info["close"]["config"].endswith("models/picoface_k210_320x240/train.yaml")
    for r in rows.values():
        assert set(r["regimes"]) == {"0.5", "0.3"} and {"far", "mid", "close"} <= set(r["regimes"]["0.5"])
        assert r["ap50_min32"] is None or 0.0 <= r["ap50_min32"] <= 1.0
        assert r["close"]["status"] == "ok" and set(r["close"]["regimes"]) == {"0.5", "0.3"}
        assert r["close"]["ap30"] >= r["close"]["ap50"]
        assert r["deploy_threshold"] is None  # reference rows: no P/R at a deployed threshold
    assert "AP@0.5 >=32 px" in md and "## Close range: holdout" in md and "close range (holdout)" in cap.out
    y = rows["yunet-n-320"]
    line = next(ln for ln in md.splitlines() if ln.startswith("| yunet-n-320 | box |"))
    assert line.split(" | ")[3] == ("%.3f" % y["ap50_min32"] if y["ap50_min32"] is not None else "—")
    # --no-close: no second set
    rc, cap = _run_cli(["--data", str(data_root / "widerface_val"), "--anchors", str(anchors), "--limit", "2",
                        "--only", "yunet-n-320", "--no-progress", "--models", "--no-close", "--framing", "stretch",
                        "--out", str(out)], capsys)
    assert rc == 0, cap.err
    data = json.loads((out / "bench.json").read_text())
    assert data["info"]["close"] is None and data["info"]["framing"] == "stretch" and "close" not in data["rows"][0]
    assert "## Close range" not in (out / "bench.md").read_text()


def test_bench_marks_missing_backends(data_root, tmp_path, capsys):
    """Anchors folder without the models, and a model file no backend can read: both rows say
    "not available" with the reason, the Haar row still runs."""
    junk = tmp_path / "models" / "junk"
    junk.mkdir(parents=True)
    (junk / "broken.kmodel").write_bytes(b"\x00" * 64)
    out = tmp_path / "bench"
    rc, cap = _run_cli(["--data", str(data_root / "widerface_val"), "--anchors", str(tmp_path / "empty"),
                        "--limit", "2", "--min-size", "10", "--only", "haar-frontalface,yunet-n-320,junk/*",
                        "--models", str(tmp_path / "models"), "--no-progress", "--out", str(out)], capsys)
    assert rc == 0, cap.err
    rows = {r["name"]: r for r in json.loads((out / "bench.json").read_text())["rows"]}
    assert rows["haar-frontalface"]["status"] == "ok"
    assert rows["yunet-n-320"]["status"].startswith("not available:") and "missing" in rows["yunet-n-320"]["status"]
    assert rows["junk/broken.kmodel"]["status"].startswith("not available:")
    md = (out / "bench.md").read_text()
    assert "| yunet-n-320 | — |" in md and "not available" in md


@pytest.mark.tf
def test_picoface_models_are_rows(data_root, tmp_path, capsys):
    """picoface artifacts (float + int8 TFLite, kmodel v3, model.json beside each) run as rows
    through picoface.detectors.open_model; MACs are counted from the files."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import tiny_model

    tfl = tiny_model.cached(128, 128)
    kpath = tiny_model.kmodel(tmp_path / "kpu")
    out = tmp_path / "bench"
    rc, cap = _run_cli(["--no-anchors", "--models", str(tfl["float"]), str(tfl["int8"]), str(kpath),
                        "--data", str(data_root / "widerface_val"), "--limit", "2", "--min-size", "10",
                        "--no-progress", "--out", str(out)], capsys)
    assert rc == 0, cap.err
    rows = {r["name"]: r for r in json.loads((out / "bench.json").read_text())["rows"]}
    assert set(rows) == {"float/tiny_128x128.tflite", "int8/tiny_128x128.tflite", "kpu/tiny_320x240.kmodel"}
    for r in rows.values():
        assert r["status"] == "ok", r
        assert r["group"] == "picoface" and r["macs"] > 0 and r["ms_median"] > 0
        assert r["ap50"] is None or 0.0 <= r["ap50"] <= 1.0
    assert rows["float/tiny_128x128.tflite"]["macs"] == rows["int8/tiny_128x128.tflite"]["macs"]
    md = (out / "bench.md").read_text()
    assert "kpu/tiny_320x240.kmodel vs yunet-n-320: not measured" in md


def test_size_rules(data_root):
    from picoface.bench import load_samples

    wider = data_root / "widerface_val"
    _, geo = load_samples(wider, 20, limit=20, size_rule="geomean")
    _, side = load_samples(wider, 20, limit=20, size_rule="min-side")
    assert len(geo) == len(side) == 20
    n_geo, n_side = sum(len(s.boxes) for s in geo), sum(len(s.boxes) for s in side)
    assert 0 < n_side < n_geo  # min(w, h) >= 20 is stricter than sqrt(w*h) >= 20
    for s in side:
        assert np.all(s.boxes[:, 2:] >= 20)
    for g, s in zip(geo, side):  # nothing is dropped: faces move to ignore
        assert len(g.boxes) + len(g.ignore) == len(s.boxes) + len(s.ignore)
    with pytest.raises(PicofaceError, match="size rule"):
        load_samples(wider, 20, limit=2, size_rule="area")


def test_training_val_can_use_the_bench_rule(data_root):
    """data.val_size_rule=min-side: training's val (best epoch, deployed threshold) ignores the
    same faces as picoface bench."""
    from picoface.bench import load_samples
    from picoface.train.samples import load_eval_samples

    wider = data_root / "widerface_val"
    for rule in ("geomean", "min-side"):
        _, bench = load_samples(wider, 20, size_rule=rule)
        val = load_eval_samples(wider, 20, rule)
        assert [s.image_path for s in val] == [s.image_path for s in bench]
        for v, b in zip(val, bench):
            np.testing.assert_array_equal(v.boxes, b.boxes)
            np.testing.assert_array_equal(v.ignore, b.ignore)
    assert sum(len(s.boxes) for s in load_eval_samples(wider, 20, "min-side")) < \
        sum(len(s.boxes) for s in load_eval_samples(wider, 20))


def test_bench_without_data_is_a_clear_error(tmp_path, capsys):
    rc, cap = _run_cli(["--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o"), "--no-anchors"], capsys)
    assert rc == 1 and "bench data" in cap.err and "--data" in cap.err
    assert not (tmp_path / "o").exists()


def test_runner_scores_rows_and_survives_a_failing_one(tmp_path):
    """No shared data needed: synthetic images, an oracle detector (AP 1), a centroid row, one
    detector that breaks mid-run and one that cannot be built."""
    import cv2

    from picoface.bench import report
    from picoface.bench.rows import Row
    from picoface.bench.run import bench_rows
    from picoface.data import Sample

    samples = []
    for i in range(3):
        p = tmp_path / ("img%d.png" % i)
        cv2.imwrite(str(p), np.full((60, 80, 3), 40 * i, np.uint8))
        samples.append(Sample(p, 80, 60, [[10 + i, 10, 30, 30]], [], "synthetic"))
    truth = {s.image_path.name: s.boxes for s in samples}

    class Oracle:
        name, kind, bytes, macs = "oracle", "box", 1000, 5

        def __init__(self):
            self.calls = 0

        def detect(self, rgb):
            self.calls += 1
            # the runner warms up on the first image, then evaluates in order
            b = truth["img%d.png" % ((self.calls - 2) % 3 if self.calls > 1 else 0)]
            return np.concatenate([b, [[0.9]]], axis=1).astype(np.float32)

    class Centroid(Oracle):
        name, kind = "dots", "centroid"

    class Breaks(Oracle):
        name = "breaks"

        def detect(self, rgb):
            self.calls += 1
            if self.calls > 2:
                raise RuntimeError("backend crashed")
            return np.zeros((0, 5), np.float32)

    def cannot():
        raise PicofaceError("no backend for this", "install it")

    rows = [Row("oracle", "perfect", Oracle), Row("dots", "centroids", Centroid),
            Row("breaks", "crashes", Breaks), Row("absent", "missing", cannot)]
    res = bench_rows(rows, samples, progress=False)
    by = {r["name"]: r for r in res}
    assert by["oracle"]["status"] == "ok" and by["oracle"]["ap50"] == pytest.approx(1.0)
    assert by["oracle"]["macs"] == 5 and len(by["oracle"]["_result"]["results"]) == 2
    assert by["dots"]["ap_centroid"] == pytest.approx(1.0) and by["dots"]["ap50"] is None
    assert by["breaks"]["status"] == "failed: RuntimeError: backend crashed"
    assert by["absent"]["status"] == "not available: no backend for this — install it"
    info = {"data": "synthetic", "images": 3, "min_size": 20, "size_rule": "geomean", "host": "test"}
    table = report.write_markdown(tmp_path / "bench.md", res, info, "oracle")
    report.write_png(tmp_path / "bench.png", res)
    assert table[0][:6] == ["detector", "kind", "AP@0.5", "AP@0.5 >=32 px", "AP@0.3", "centroid AP"]
    assert table[1][:6] == ["oracle", "box", "1.000", "—", "1.000", "—"]
    assert table[2][5] == "1.000" and table[3][-1].startswith("failed")
    assert (tmp_path / "bench.png").stat().st_size > 10000


def test_macs_that_cannot_be_counted_say_why(tmp_path, monkeypatch):
    """A MAC count never fails a row, and an n/a says why: in bench.json, bench.md and `eval`'s report."""
    import sys
    from pathlib import Path

    import cv2

    from picoface.bench import report
    from picoface.bench.macs import kmodel_macs
    from picoface.bench.rows import Row
    from picoface.bench.run import bench_rows, row_macs
    from picoface.data import Sample
    from picoface.detectors.keras_det import KerasDetector
    from picoface.detectors.kmodel_det import KmodelDetector
    from picoface.evaluate import evaluate
    from picoface.evaluate.report import markdown

    broken = tmp_path / "broken.kmodel"
    broken.write_bytes(b"\0" * 64)

    class NoCount:
        name, kind, bytes, macs, path = "nocount", "box", 10, None, broken

        def detect(self, rgb):
            return np.zeros((0, 5), np.float32)

    class Raises(NoCount):
        name = "raises"

        @property
        def macs(self):
            raise RuntimeError("profiler crashed")

    macs, why = row_macs(NoCount(), broken)
    assert macs is None and why.startswith("MACs not counted: not a kmodel (first bytes 00 00")
    assert row_macs(Raises(), None) == (None, "MACs not counted: RuntimeError: profiler crashed")
    assert row_macs(type("Known", (NoCount,), {"macs": 7})(), broken) == (7, None)

    # the emulator's layer summary fails: the kmodel detector still runs and keeps the reason
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import tiny_model

    kpath = tiny_model.kmodel(tmp_path / "kpu", w=64, h=48)

    def bad_summary(*a, **k):
        raise ValueError("bad layer")

    monkeypatch.setattr("picoface.kmodel.info.summarize_v3", bad_summary)
    det = KmodelDetector(kpath, contract=json.loads((kpath.parent / "model.json").read_text()))
    assert det.macs is None and det.macs_error == "MACs not counted: ValueError: bad layer"
    assert det.describe()["macs_error"] == det.macs_error

    class Conv2D:   # a Keras conv layer without a static output shape
        @property
        def output(self):
            raise AttributeError("Layer conv has no inbound nodes")

    fake = type("Model", (), {"inputs": [np.zeros((1, 48, 64, 3))], "layers": [Conv2D()]})()
    kdet = KerasDetector(None, {"output": {"anchors": [[1, 1]]}, "input": {"w": 64, "h": 48}}, model=fake)
    assert kdet.macs is None and kdet.macs_error == "MACs not counted: AttributeError: Layer conv has no inbound nodes"

    # the bench keeps the reason in bench.json's row and bench.md's notes
    img = tmp_path / "img.png"
    cv2.imwrite(str(img), np.full((48, 64, 3), 90, np.uint8))
    samples = [Sample(img, 64, 48, [[10, 10, 20, 20]], [], "synthetic")]
    res = bench_rows([Row("nocount", "no MACs", NoCount), Row("kpu", "emulated", lambda: det)], samples,
                     progress=False)
    assert [r["status"] for r in res] == ["ok", "ok"]
    # the detector could not count them, the bench counts them from its file
    assert (res[1]["macs"], res[1]["macs_error"]) == (kmodel_macs(kpath), None)
    assert res[0]["macs"] is None and res[0]["macs_error"].startswith("MACs not counted: not a kmodel")
    info = {"data": "synthetic", "images": 1, "min_size": 20, "size_rule": "geomean", "host": "test"}
    report.write_markdown(tmp_path / "bench.md", res, info, "nocount")
    md = (tmp_path / "bench.md").read_text()
    assert "- MACs n/a for `nocount`: MACs not counted: not a kmodel (first bytes 00 00" in md
    assert "MACs n/a for `kpu`" not in md
    # and `picoface eval`'s report
    assert "MACs: n/a (MACs not counted: ValueError: bad layer)" in markdown(evaluate(det, samples, progress=False))


def _synthetic(tmp_path, n=3, sizes=((25, 25), (40, 40)), shape=(60, 80)):
    import cv2

    from picoface.data import Sample

    samples = []
    for i in range(n):
        p = tmp_path / ("s%d.png" % i)
        cv2.imwrite(str(p), np.full(shape + (3,), 40 * i, np.uint8))
        boxes, x = [], 2
        for w, h in sizes:
            boxes.append([x, 5, w, h])
            x += w + 2
        samples.append(Sample(p, shape[1], shape[0], boxes, [], "synthetic"))
    return samples


def test_bench_runs_each_detector_once_per_image_of_each_set(tmp_path):
    """The >= 32 px figure is scored on the main set's detections (no second run), the close-range
    set runs once more, and a picoface row's regimes carry P/R at its deployed threshold."""
    from picoface.bench import STRICT_MIN_SIZE, report
    from picoface.bench.rows import Row
    from picoface.bench.run import bench_rows, with_min_size
    from picoface.evaluate.regimes import frame_samples
    from picoface.evaluate.sets import EvalSet

    # 80x60 photos (4:3: framing changes nothing; camera scale 4): a 25 px face (100 camera px) and
    # a 40 px one (160): both close
    main = frame_samples(_synthetic(tmp_path), "letterbox")
    strict = with_min_size(main, STRICT_MIN_SIZE, "min-side")
    assert [len(s.boxes) for s in strict] == [1, 1, 1] and [len(s.boxes) for s in main] == [2, 2, 2]
    close_dir = tmp_path / "close"
    close_dir.mkdir()
    close = EvalSet(frame_samples(_synthetic(close_dir, n=2, sizes=((10, 10), (30, 30)), shape=(240, 320))),
                    "letterbox", note="synthetic close set")

    class BigOnly:
        """Finds the faces of 30 px and more (of the image it is shown), scores 0.9; one false
        positive at 0.95."""
        name, kind, bytes, macs, deploy_threshold = "big-only", "box", 1000, 5, 0.5

        def __init__(self):
            self.calls = 0

        def detect(self, rgb):
            self.calls += 1
            h, w = rgb.shape[:2]
            dets = [[w - 12, h - 12, 10, 10, 0.95]]
            if h == 60:
                dets.append([29, 5, 40, 40, 0.9])
            else:
                dets.append([14, 5, 30, 30, 0.9])
            return np.asarray(dets, np.float32)

    made = []

    def build():
        made.append(BigOnly())
        return made[-1]

    res = bench_rows([Row("big-only", "test", build, group="picoface")], main, progress=False, strict=strict,
                     close=close)
    (r,) = res
    assert made[0].calls == 1 + 3 + 2  # warm-up, main set, close set
    # main: 6 faces, 3 found after a false positive per image: AP@0.5 = 0.5 * 0.5; >= 32 px: the 25 px
    # faces are ignored -> every face found, the false positives (10 px boxes) still ranked first
    assert r["ap50"] == pytest.approx(0.25) and r["ap50_min32"] == pytest.approx(0.5)
    reg = r["regimes"]["0.5"]
    assert (reg["far"]["faces"], reg["mid"]["faces"], reg["close"]["faces"]) == (0, 0, 6)
    at = reg["close"]["at_threshold"]
    assert (at["score"], at["tp"], at["fp"], at["faces"]) == (0.5, 3, 0, 6)  # the FPs are 40 camera px: mid
    # close set (320x240: camera scale 1): the 10 px faces are in no regime, the 30 px ones far; the
    # 10 px false positives count in the plain AP, and in no regime
    c = r["close"]
    assert c["status"] == "ok" and c["counts"]["faces"] == 4 and c["ap50"] == pytest.approx(0.25)
    creg = c["regimes"]["0.5"]
    assert [creg[k]["faces"] for k in ("far", "mid", "close")] == [2, 0, 0]
    assert creg["far"]["ap"] == pytest.approx(1.0) and creg["mid"]["ap"] is None
    assert r["ms_median"] > 0 and len(r["recall_by_size"]) > 0

    info = {"data": "synthetic", "images": 3, "min_size": 20, "size_rule": "min-side", "host": "test",
            "strict_min_size": 32, "framing": "letterbox",
            "close": {"data": "synthetic", "note": "synthetic close set", "images": 2, "faces": 4,
                      "framing": "letterbox"}}
    table = report.write_markdown(tmp_path / "bench.md", res, info, "big-only")
    assert table[1][2:4] == ["0.250", "0.500"] and table[1][6:9] == ["—", "—", "%.3f" % reg["close"]["ap"]]
    md = (tmp_path / "bench.md").read_text()
    assert "## Close range: synthetic" in md and "## At the deployed score threshold" in md
    assert "| big-only | 0.5 | — | — | 1.00 / 0.50 | 1.00 / 1.00 | — | — |" in md
    report.write_json(tmp_path / "bench.json", res, info)
    saved = json.loads((tmp_path / "bench.json").read_text())["rows"][0]
    assert saved["regimes"] == r["regimes"] and saved["close"] == r["close"] and saved["ap50_min32"] == r["ap50_min32"]
