"""`picoface eval` end to end on tiny models built here (float + int8 TFLite, Keras), and on
Sipeed's stock kmodel through the KPU emulator."""

import json

import numpy as np
import pytest

from picoface.cli import main

NET_W, NET_H = 48, 32  # non-square on purpose: grid is (12, 8)
ANCHORS = [[1.5, 2.0], [3.0, 4.0]]


def make_set(d, n=5):
    import cv2

    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(2)
    recs = []
    for i in range(n):
        img = rng.integers(0, 255, (90, 120, 3), dtype=np.uint8)
        cv2.imwrite(str(d / ("%d.jpg" % i)), img)
        boxes = [[float(rng.integers(0, 80)), float(rng.integers(0, 50)), 30.0, 36.0] for _ in range(2)]
        recs.append({"image": "%d.jpg" % i, "width": 120, "height": 90, "boxes": boxes})
    (d / "annotations.jsonl").write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    return d


def _contract(name, fmt, file, dtype):
    return {"name": name, "format": fmt, "file": file,
            "input": {"w": NET_W, "h": NET_H, "channels": 3, "order": "RGB", "layout": "NHWC",
                      "dtype": dtype, "scale": 1 / 255.0, "zero_point": 0, "fit": "letterbox"},
            "output": {"grid_w": NET_W // 4, "grid_h": NET_H // 4, "anchors": ANCHORS, "classes": 1,
                       "layout": "NHWC", "dtype": "float32", "scale": 1.0, "zero_point": 0},
            "thresholds": {"score": 0.5, "nms": 0.3}}


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    import keras
    import tensorflow as tf

    from picoface.contract import write_contract

    d = tmp_path_factory.mktemp("tiny_models")
    keras.utils.set_random_seed(0)
    inp = keras.Input((NET_H, NET_W, 3))
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(inp)
    x = keras.layers.DepthwiseConv2D(3, strides=2, padding="same", activation="relu")(x)
    out = keras.layers.Conv2D(len(ANCHORS) * 6, 1, bias_initializer=keras.initializers.Constant(0.5))(x)
    model = keras.Model(inp, out)
    model.save(d / "tiny.keras")
    write_contract(d / "tiny.json", _contract("tiny-keras", "keras", "tiny.keras", "float32"))

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    (d / "tiny_float.tflite").write_bytes(conv.convert())
    write_contract(d / "tiny_float.json", _contract("tiny-float", "tflite-float", "tiny_float.tflite", "float32"))

    rng = np.random.default_rng(0)

    def rep():
        for _ in range(8):
            yield [rng.uniform(0, 1, (1, NET_H, NET_W, 3)).astype(np.float32)]

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = rep
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.uint8
    conv.inference_output_type = tf.int8
    (d / "tiny_int8.tflite").write_bytes(conv.convert())
    write_contract(d / "tiny_int8.json", _contract("tiny-int8", "tflite-int8", "tiny_int8.tflite", "uint8"))
    return d


@pytest.mark.tf
def test_backends_agree(tiny_models):
    from picoface.detectors import open_model

    img = np.random.default_rng(5).integers(0, 255, (90, 120, 3), dtype=np.uint8)
    k = open_model(tiny_models / "tiny.keras")
    f = open_model(tiny_models / "tiny_float.tflite", num_threads=2)
    q = open_model(tiny_models / "tiny_int8.tflite")
    assert (k.name, f.name, q.name) == ("tiny-keras", "tiny-float", "tiny-int8")
    assert q.in_dtype == np.uint8 and q.quantized
    assert f.bytes == (tiny_models / "tiny_float.tflite").stat().st_size
    # MACs: conv 16x24x8x(3x3x3) + depthwise 8x12x8x(3x3) + 1x1 8x12x12x8
    want = 16 * 24 * 8 * 27 + 8 * 12 * 8 * 9 + 8 * 12 * 12 * 8
    assert k.macs == want
    assert f.macs == want and q.macs == want
    from picoface.detectors.keras_det import KerasDetector

    mem = KerasDetector(None, _contract("in-memory", "keras", "x.keras", "float32"), model=k.model)
    assert mem.bytes is None and mem.name == "in-memory" and mem.macs == k.macs
    np.testing.assert_allclose(mem.detect(img), k.detect(img))
    # batched (Keras: one call per batch of 2) and one by one give the same detections
    imgs = [img, img[::-1].copy(), np.ascontiguousarray(img[:, ::-1])]
    for det in (k, q):
        many = det.detect_many(imgs, batch=2)
        assert len(many) == 3
        for got, im in zip(many, imgs):
            np.testing.assert_allclose(got, det.detect(im), rtol=1e-5, atol=1e-4)
    rk, fit = k.raw(img)
    rf, _ = f.raw(img)
    rq, _ = q.raw(img)
    assert rk.shape == rf.shape == rq.shape == (8 * 12 * 12,)
    assert fit.content_rect() == (2, 0, 43, 32)  # 120x90 letterboxed into 48x32
    np.testing.assert_allclose(rk, rf, atol=1e-4)
    cos = float(rq @ rf / np.linalg.norm(rq) / np.linalg.norm(rf))
    assert cos > 0.98 and np.abs(rq - rf).max() < 0.2
    dets = f.detect(img)
    assert dets.dtype == np.float32 and dets.shape[1] == 5 and len(dets) > 0
    assert (dets[:, 0] >= 0).all() and (dets[:, 0] + dets[:, 2] <= 120 + 1e-3).all()
    assert (dets[:, 4] >= f.threshold).all() and f.deploy_threshold == 0.5


@pytest.mark.tf
@pytest.mark.parametrize("artifact", ["tiny_float.tflite", "tiny_int8.tflite", "tiny.keras"])
def test_eval_cli_end_to_end(tiny_models, tmp_path, capsys, artifact):
    data = make_set(tmp_path / "set")
    out = tmp_path / "out"
    rc = main(["eval", str(tiny_models / artifact), "--data", str(data), "--out", str(out), "--min-size", "0",
               "--no-progress", "--iou", "0.5", "0.3"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "AP@IoU0.5" in printed and "AP@IoU0.3" in printed
    res = json.loads((out / "results.json").read_text())
    assert res["counts"] == {"images": 5, "faces": 10, "ignored": 0, "detections": res["counts"]["detections"]}
    for k in ("0.5", "0.3"):
        ap = res["ap"][k]
        assert isinstance(ap, float) and 0.0 <= ap <= 1.0
        assert len(res["results"][k]["pr"]["recall"]) == len(res["results"][k]["pr"]["precision"])
    assert res["ap"]["0.3"] >= res["ap"]["0.5"]
    assert res["detector"]["bytes"] == (tiny_models / artifact).stat().st_size
    assert (out / "pr.png").read_bytes()[:4] == b"\x89PNG"
    md = (out / "summary.md").read_text()
    assert "| AP@IoU0.5 |" in md and "Recall by face size" in md and "examples.png" in md
    assert (out / "examples.png").read_bytes()[:4] == b"\x89PNG"
    assert not list(out.glob(".*.tmp"))  # atomic writes leave no temp files


@pytest.mark.tf
def test_eval_cli_bad_tflite_and_limit(tiny_models, tmp_path, capsys):
    data = make_set(tmp_path / "set")
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"not a flatbuffer at all")
    (tmp_path / "bad.json").write_text((tiny_models / "tiny_float.json").read_text())
    assert main(["eval", str(bad), "--data", str(data), "--no-progress"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("picoface: ")
    out = tmp_path / "o"
    assert main(["eval", str(tiny_models / "tiny_float.tflite"), "--data", str(data), "--limit", "2",
                 "--out", str(out), "--no-progress"]) == 0
    assert json.loads((out / "results.json").read_text())["counts"]["images"] == 2
    # another run drawn on the same PR plot as the first one
    out2 = tmp_path / "o2"
    assert main(["eval", str(tiny_models / "tiny_int8.tflite"), "--data", str(data), "--limit", "2",
                 "--out", str(out2), "--no-progress", "--compare", str(out)]) == 0
    assert (out2 / "pr.png").is_file()
    capsys.readouterr()
    assert main(["eval", str(tiny_models / "tiny_int8.tflite"), "--data", str(data), "--compare",
                 str(data / "annotations.jsonl")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot read results" in err[0]


@pytest.mark.tf
def test_eval_cli_against(tiny_models, tmp_path, capsys):
    data = make_set(tmp_path / "set")
    f_out, q_out = tmp_path / "f", tmp_path / "q"
    assert main(["eval", str(tiny_models / "tiny_float.tflite"), "--data", str(data), "--min-size", "0",
                 "--out", str(f_out), "--no-progress", "--examples", "0"]) == 0
    assert main(["eval", str(tiny_models / "tiny_int8.tflite"), "--data", str(data), "--min-size", "0",
                 "--out", str(q_out), "--no-progress", "--examples", "0",
                 "--against", str(tiny_models / "tiny_float.tflite")]) == 0
    printed = capsys.readouterr().out
    assert "| outputs | AP@0.5 | vs float |" in printed
    fres = json.loads((f_out / "results.json").read_text())
    qres = json.loads((q_out / "results.json").read_text())
    rows = {r["row"]: r["ap"] for r in qres["quantisation"]["rows"]}
    # the breakdown's end rows are the two models' own AP as eval measures them
    assert rows["float"] == pytest.approx(fres["ap"]["0.5"])
    assert rows["quantised"] == pytest.approx(qres["ap"]["0.5"])
    step = [k for k in rows if k.startswith("float, rounded to the output step")]
    assert len(step) == 1 and len(rows) == 6
    assert "## Against the float model" in (q_out / "summary.md").read_text()
    assert main(["eval", str(tiny_models / "tiny_int8.tflite"), "--data", str(data), "--no-progress",
                 "--against", str(tmp_path / "missing.tflite")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("picoface: float model not found")


@pytest.mark.shared
def test_eval_stock_kmodel_through_emulator(anchors, data_root, tmp_path, capsys):
    km = anchors / "k210_maixpy_face_v3" / "facedetect.kmodel"
    out = tmp_path / "stock"
    rc = main(["eval", str(km), "--preset", "maixpy-face", "--data", str(data_root / "pseudo_lfw"),
               "--limit", "3", "--out", str(out), "--no-progress"])
    assert rc == 0
    res = json.loads((out / "results.json").read_text())
    assert res["detector"]["name"] == "maixpy-stock-face" and res["detector"]["bytes"] == 388776
    assert res["detector"]["macs"] > 10_000_000
    # LFW faces are big and frontal: Sipeed's detector finds most of them
    assert res["ap"]["0.3"] > 0.5
