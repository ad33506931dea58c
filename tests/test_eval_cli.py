"""`picoface eval` end to end on tiny models built here (float + int8 TFLite, Keras), and on
Sipeed's stock kmodel through the KPU emulator."""

import json

import numpy as np
import pytest

from picoface.cli import main
from picoface.paths import display_path

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


def make_wide_set(d, n=4):
    """16:9 photos (letterboxed to 4:3 by default) with faces of every regime, some of them under
    20 px on one side only (the size rules disagree on those)."""
    import cv2

    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    recs = []
    sizes = [(14, 30), (18, 18), (26, 30), (40, 44), (90, 100), (150, 170)]
    for i in range(n):
        img = rng.integers(0, 255, (180, 320, 3), dtype=np.uint8)
        cv2.imwrite(str(d / ("%d.jpg" % i)), img)
        boxes = []
        for k, (w, h) in enumerate(sizes[i % 2::2]):
            boxes.append([float(rng.integers(0, 320 - w)), float(rng.integers(0, 180 - h)), float(w), float(h)])
        recs.append({"image": "%d.jpg" % i, "width": 320, "height": 180, "boxes": boxes})
    (d / "annotations.jsonl").write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    return d


@pytest.mark.tf
def test_eval_regime_table_and_framing(tiny_models, tmp_path, capsys):
    import shutil

    data = make_wide_set(tmp_path / "set")
    # a model folder: eval takes the artifact its model.json names
    folder = tmp_path / "tiny_folder"
    folder.mkdir()
    shutil.copy(tiny_models / "tiny_float.tflite", folder)
    shutil.copy(tiny_models / "tiny_float.json", folder / "model.json")
    out = tmp_path / "out"
    assert main(["eval", str(folder), "--data", str(data), "--out", str(out), "--no-progress", "--examples", "2"]) == 0
    printed = capsys.readouterr().out
    assert "by regime" in printed and "letterbox" in printed
    lines = {ln.split()[0]: ln for ln in printed.splitlines() if ln.split()}
    assert {"far", "mid", "close", "mean"} <= set(lines)
    assert "AP@0.5" in lines["regime"] and "AP@0.3" in lines["regime"] and "P@0.5" in lines["regime"]
    res = json.loads((out / "results.json").read_text())
    assert (res["framing"], res["size_rule"], res["min_size"]) == ("letterbox", "min-side", 20.0)
    assert res["model"].endswith("tiny_float.tflite")
    assert set(res["regimes"]) == {"0.5", "0.3"}
    for key in ("0.5", "0.3"):
        reg = res["regimes"][key]
        assert set(reg) == {"far", "mid", "close", "mean_ap"}
        for name in ("far", "mid", "close"):
            assert reg[name]["faces"] > 0 and 0.0 <= reg[name]["ap"] <= 1.0
            at = reg[name]["at_threshold"]
            assert at["score"] == 0.5 and set(at) >= {"precision", "recall", "f1", "tp", "fp"}
    # regimes are sized in camera pixels of the letterboxed photo (320 x 240, scale 1): far 26;
    # mid 90 and 40; close 150 (14x30 and 18x18 are under 20 px on a side: ignored)
    assert [res["regimes"]["0.5"][k]["faces"] for k in ("far", "mid", "close")] == [2, 4, 2]
    assert res["counts"]["faces"] == 8 and res["counts"]["ignored"] == 4
    md = (out / "summary.md").read_text()
    assert "## By regime" in md and "| far | 12-40 |" in md and "| close | >=100 |" in md
    assert "faces whose width or height is under 20 px are ignore regions" in md
    # boxes are drawn on the framed photos
    assert (out / "examples.png").is_file()
    # stretch: the same faces, the detector sees the photo as it is
    out2 = tmp_path / "out2"
    assert main(["eval", str(folder), "--data", str(data), "--out", str(out2), "--no-progress", "--examples", "0",
                 "--framing", "stretch", "--size-rule", "geomean"]) == 0
    res2 = json.loads((out2 / "results.json").read_text())
    assert res2["framing"] == "stretch" and res2["counts"]["faces"] > res["counts"]["faces"]
    capsys.readouterr()
    assert main(["eval", str(folder), "--data", str(data), "--config", "x.yaml", "--no-progress"]) == 1
    assert "--config is for --data holdout" in capsys.readouterr().err


@pytest.mark.tf
def test_eval_equals_the_bench(tiny_models, tmp_path, capsys):
    """eval --size-rule min-side --min-size 20 gives the bench's figures for the same model and
    images: same framing, same size rule, same detections."""
    data = make_wide_set(tmp_path / "set", n=6)
    model = tiny_models / "tiny_int8.tflite"
    out = tmp_path / "eval"
    assert main(["eval", str(model), "--data", str(data), "--out", str(out), "--no-progress", "--examples", "0",
                 "--size-rule", "min-side", "--min-size", "20", "--limit", "5"]) == 0
    bout = tmp_path / "bench"
    assert main(["bench", "--no-anchors", "--models", str(model), "--data", str(data), "--no-close", "--limit", "5",
                 "--no-progress", "--out", str(bout)]) == 0
    capsys.readouterr()
    ev = json.loads((out / "results.json").read_text())
    bench = json.loads((bout / "bench.json").read_text())
    (row,) = bench["rows"]
    assert row["status"] == "ok" and bench["info"]["framing"] == "letterbox" and bench["info"]["close"] is None
    assert ev["counts"] == row["counts"]
    assert ev["ap"]["0.5"] is not None
    assert row["ap50"] == ev["ap"]["0.5"] and row["ap30"] == ev["ap"]["0.3"]
    assert row["regimes"] == ev["regimes"]
    assert row["deploy_threshold"] == 0.5


@pytest.mark.tf
def test_eval_holdout_of_a_training_config(tiny_models, data_root, root, tmp_path, capsys):
    config = root / "models" / "picoface_k210_320x240" / "train.yaml"
    if not config.is_file():
        pytest.skip("%s is absent" % config)
    out = tmp_path / "holdout"
    assert main(["eval", str(tiny_models / "tiny_float.tflite"), "--data", "holdout", "--config", str(config),
                 "--limit", "3", "--out", str(out), "--no-progress", "--examples", "1"]) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["counts"]["images"] == 3 and res["data"] == "holdout" and res["config"] == display_path(config)
    assert res["min_size"] is None and res["framing"] == "letterbox"  # the config's data.val_framing
    assert "held out of training" in res["data_note"] and set(res["regimes"]) == {"0.5", "0.3"}
    assert "held out of training" in (out / "summary.md").read_text()
    # without --config, the model's folder must hold a train.yaml
    capsys.readouterr()
    assert main(["eval", str(tiny_models / "tiny_float.tflite"), "--data", "holdout", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "train.yaml" in err and "--config" in err
