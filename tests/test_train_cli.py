"""`picoface train` end to end on a tiny synthetic dataset: 1 epoch, --resume to 2, export."""

import csv
import json

import pytest

from picoface.cli import main

pytestmark = [pytest.mark.tf, pytest.mark.slow]


def _write_config(tmp_path):
    from picoface.train.synthetic import make_dataset

    make_dataset(tmp_path / "data" / "syn_train", n=16, size=(96, 72), seed=1)
    make_dataset(tmp_path / "data" / "syn_val", n=6, size=(96, 72), seed=2)
    cfg = tmp_path / "exp.yaml"
    cfg.write_text("""
name: tiny
out: %(out)s
run_dir: %(run)s
input: {w: 64, h: 64, fit: stretch}
model: {width: 0.25, extra_blocks: 0}
data: {root: %(data)s, train: [syn_train], val: syn_val, val_min_size: 4, cache_side: 96}
train: {epochs: 1, batch_size: 8, steps_per_epoch: 2, warmup_epochs: 0, threads: 2}
export: {formats: [tflite-float, tflite-int8], calib_images: 8, board: openmv_h7, parity_tolerance: 1.0,
         variants: {%(var)s: [96, 64]}}
""" % {"var": tmp_path / "out_96x64", "out": tmp_path / "out", "run": tmp_path / "run", "data": tmp_path / "data"})
    return cfg


def test_train_resume_and_ship(tmp_path, capsys):
    cfg = _write_config(tmp_path)
    assert main(["train", "--config", str(cfg), "--quiet", "--no-export"]) == 0
    run = tmp_path / "run"
    state = json.loads((run / "ckpt" / "state.json").read_text())
    assert state["epoch"] == 1
    for f in ("config.yaml", "anchors.json", "log.csv", "curves.png", "best.keras"):
        assert (run / f).is_file(), f
    assert (run / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # a checkpoint made with another model config is refused
    assert main(["train", "--config", str(cfg), "model.width=0.5", "--resume", "--quiet", "--no-export"]) == 1
    assert "another config" in capsys.readouterr().err

    # resume with a longer schedule: continues at epoch 2, then ships
    assert main(["train", "--config", str(cfg), "train.epochs=2", "--resume", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "resumed at epoch 1" in out
    rows = list(csv.DictReader((run / "log.csv").read_text().splitlines()))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert all(r["val_ap"] != "" for r in rows)
    assert json.loads((run / "ckpt" / "state.json").read_text())["epoch"] == 2

    from picoface.contract import load_contract

    shipped = tmp_path / "out"
    c = load_contract(shipped / "model.json", check_file=True)
    assert c["format"] == "tflite-int8" and c["file"] == "picoface_int8.tflite"
    assert c["input"]["dtype"] == "uint8" and c["input"]["zero_point"] == 0
    assert abs(c["input"]["scale"] - 1 / 255) < 1e-9
    assert (c["output"]["grid_w"], c["output"]["grid_h"]) == (4, 4)
    assert c["arena_bytes"] > 0 and c["training"]["config"] == "train.yaml"
    assert 0.1 <= c["thresholds"]["score"] <= 0.9        # auto: best F1 on val, clamped
    cf = load_contract(shipped / "picoface_float.tflite", check_file=True)
    assert cf["format"] == "tflite-float" and cf["input"]["dtype"] == "float32"
    card = (shipped / "MODEL_CARD.md").read_text()
    assert "int8 TFLite" in card and "picoface train --config" in card
    assert "## What limits accuracy" in card and "- Compute: trained from scratch" in card
    for f in ("curves.png", "log.csv", "train.resolved.yaml", "picoface.keras", "export.json"):
        assert (shipped / f).is_file(), f
    assert load_contract(shipped / "picoface.keras", check_file=True)["format"] == "keras"

    # the same weights exported at another input size
    v = load_contract(tmp_path / "out_96x64" / "model.json", check_file=True)
    assert (v["input"]["w"], v["input"]["h"]) == (96, 64) and (v["output"]["grid_w"], v["output"]["grid_h"]) == (6, 4)
    assert v["training"]["config_hash"] == c["training"]["config_hash"]
    assert "trained on 64x64 frames" in (tmp_path / "out_96x64" / "MODEL_CARD.md").read_text()

    # ship again from the finished run, without training, with the outputs clamped
    (shipped / "MODEL_CARD.md").unlink()
    assert main(["train", "--config", str(cfg), "train.epochs=2", "--ship-only", "export.clip_output=[-2, 2]"]) == 0
    card = (shipped / "MODEL_CARD.md").read_text()
    assert "2 epochs run" in card and "clamped to [-2, 2]" in card
    assert load_contract(shipped / "model.json")["output"]["scale"] <= 4.0 / 255 * 1.01

    # export.input: the shipped folder itself runs at another size than the training input
    assert main(["train", "--config", str(cfg), "train.epochs=2", "--ship-only", "export.input=[96, 64]"]) == 0
    s = load_contract(shipped / "model.json", check_file=True)
    assert (s["input"]["w"], s["input"]["h"]) == (96, 64) and (s["output"]["grid_w"], s["output"]["grid_h"]) == (6, 4)
    card = (shipped / "MODEL_CARD.md").read_text()
    assert "trained on 64x64 frames" in card and "| input | 96x64 RGB" in card
    from picoface.train.config import load_config

    resolved = load_config(shipped / "train.resolved.yaml")        # what the run trained at
    assert (resolved.input.w, resolved.input.h) == (64, 64) and resolved.export.input == [96, 64]
    capsys.readouterr()
    assert main(["train", "--config", str(cfg), "--ship-only", "export.input=[100, 64]"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "input_w=100 is not a multiple" in err[0]


def test_weight_average_is_what_val_and_the_checkpoint_see(tmp_path, capsys):
    """train.ema with the newer loss options (rescore, DIoU box term, extra anchors): the best
    checkpoint holds the averaged weights, and --resume carries the average on."""
    import numpy as np

    from picoface.train.config import load_config
    from picoface.train.model import build_model

    cfg = _write_config(tmp_path)
    opts = ["train.ema=0.9", "loss.rescore=0.5", "loss.box=1.0", "loss.extra_anchor_iou=0.4"]
    assert main(["train", "--config", str(cfg), "--quiet", "--no-export", *opts]) == 0
    ckpt = tmp_path / "run" / "ckpt"
    avg = np.load(ckpt / "last_ema.npz")
    assert float(avg["count"]) == 2                                        # 2 steps
    c = load_config(cfg)
    best, last = build_model(c.model, 64, 64), build_model(c.model, 64, 64)
    best.load_weights(str(ckpt / "best.weights.h5"))
    last.load_weights(str(ckpt / "last.weights.h5"))
    got = [v.numpy() for v in best.trainable_variables]
    assert all(np.allclose(g, avg["a%d" % i], atol=1e-6) for i, g in enumerate(got))
    assert not all(np.allclose(g, v.numpy()) for g, v in zip(got, last.trainable_variables))
    rows = list(csv.DictReader((tmp_path / "run" / "log.csv").read_text().splitlines()))
    assert float(rows[0]["box"]) > 0
    assert main(["train", "--config", str(cfg), "--resume", "--quiet", "--no-export", "train.epochs=2", *opts]) == 0
    assert float(np.load(ckpt / "last_ema.npz")["count"]) == 4


def test_budget_stops_training(tmp_path, capsys):
    cfg = _write_config(tmp_path)
    assert main(["train", "--config", str(cfg), "train.epochs=50", "train.budget_minutes=0.0001",
                 "--quiet", "--no-export"]) == 0
    assert "done (budget)" in capsys.readouterr().out
    rows = list(csv.DictReader((tmp_path / "run" / "log.csv").read_text().splitlines()))
    assert len(rows) == 1


def test_profile_reports_throughput(tmp_path, capsys):
    import json

    cfg = _write_config(tmp_path)
    never_read = tmp_path / "never_read.onnx"   # --profile freezes the blocks as training does, reads no weights
    never_read.write_bytes(b"")
    assert main(["train", "--config", str(cfg), "--profile", "2", "train.warm_size=[32, 32]", "train.ema=0.99",
                 "model.pretrained=%s" % never_read, "model.pretrained_blocks=1", "model.pretrained_frozen=true"]) == 0
    out = capsys.readouterr().out
    res = json.loads(out[out.index("{"):])
    assert res["images"] == 16 and set(res) >= {"32x32", "64x64"}
    assert all(res[k]["step_img_s"] > 0 and res[k]["pipeline_img_s"] > 0 for k in ("32x32", "64x64"))


def test_card_says_whether_the_run_was_still_improving():
    from types import SimpleNamespace

    from picoface.export.card import _cell_note, _compute_note
    from picoface.train.config import load_config

    cfg = load_config(None, ["train.budget_minutes=50"])
    hist = [{"epoch": e, "val_ap": ap} for e, ap in enumerate([0.1, 0.2, 0.3, 0.35, 0.4, 0.41, 0.42, 0.43], 1)]
    late = SimpleNamespace(history=hist, best_epoch=8, stopped="budget")
    assert "still rose by 0.020 in the last 2 epochs (stopped by: budget)" in _compute_note(late, cfg)
    assert "50-minute" in _compute_note(late, cfg)
    flat = [{"epoch": e, "val_ap": ap} for e, ap in enumerate([0.1, 0.5, 0.52, 0.51, 0.52, 0.515, 0.525, 0.523], 1)]
    assert "levelled off (+0.005 in the last 2 epochs" in _compute_note(
        SimpleNamespace(history=flat, best_epoch=7, stopped="budget"), cfg)
    assert "one grid cell or less" in _cell_note([5, 8, 12, 20, 30], 16)
    assert "1.5 grid cells" in _cell_note([5, 8, 12, 20, 30], 8)


def test_card_names_frozen_blocks_and_unlabelled_faces():
    from types import SimpleNamespace

    from picoface.export.card import _compute_note
    from picoface.train.config import load_config

    base = ["model.pretrained=../shared/anchors/ultralight_1mb/version-slim-320.onnx", "model.pretrained_blocks=7"]
    run = SimpleNamespace(history=[], best_epoch=1, stopped="budget")
    assert "start from `version-slim-320.onnx`" in _compute_note(run, load_config(None, base))
    frozen = load_config(None, base + ["model.pretrained_frozen=true"])
    assert "start from `version-slim-320.onnx` (the first 7 frozen)" in _compute_note(run, frozen)
    from picoface.export.card import _start_lines

    lines = _start_lines(load_config(None, base + ["model.pretrained_frozen=true", "data.unlabelled=[facemask_kaggle]"]))
    assert "kept frozen during training (`model.pretrained_frozen`)" in lines[0]
    assert lines[1].startswith("- unlabelled faces: in facemask_kaggle, faces that `../shared/anchors/ultralight_1mb/"
                               "version-RFB-320.onnx` finds (score >= 0.5)")
    assert "fine-tuned" in _start_lines(load_config(None, base))[0] and _start_lines(load_config(None, [])) == []
    part = _start_lines(load_config(None, ["model.pretrained=x.onnx", "model.pretrained_blocks=10",
                                           "model.pretrained_frozen=true", "model.pretrained_frozen_blocks=7"]))
    assert "the stem and the first 7 kept frozen during training, the other 3 fine-tuned" in part[0]
    lines = _start_lines(load_config(None, ["data.unlabelled=[facemask_kaggle]", "data.unlabelled_face_score=0.8",
                                            "loss.rescore=0.5", "loss.box=2", "train.ema=0.998"]))
    assert "those scoring >= 0.8 are trained as faces" in lines[0]
    assert lines[1] == ("- loss: YOLOv2 region loss with objectness target (1 - 0.5) + 0.5 x IoU of the predicted box "
                        "(`loss.rescore`); a 1 - DIoU box term, weight 2 (`loss.box`)")
    assert "moving average" in lines[2] and "0.998" in lines[2]


def test_quantisation_aware_export(tmp_path):
    """export.qat_epochs: the folded net is fine-tuned with int8 rounding before conversion; the
    Keras file shipped is that net, and the float TFLite computes what it computes."""
    import keras
    import numpy as np

    from picoface.export import qat
    from picoface.train.config import load_config
    from picoface.detectors import open_model

    cfg = _write_config(tmp_path)
    assert main(["train", "--config", str(cfg), "--quiet", "--no-export"]) == 0
    qcfg = tmp_path / "qat.yaml"
    qcfg.write_text(cfg.read_text().replace("parity_tolerance: 1.0,", "parity_tolerance: 1.0, clip_output: [-5, 4.2], "
                                                                      "qat_epochs: 2, qat_lr: 0.001,"))
    best = tmp_path / "run" / "best.keras"
    for name, c in (("plain", cfg), ("qat", qcfg)):
        assert main(["export", str(best), "--config", str(c), "--out", str(tmp_path / name), "--val", "none"]) == 0
    s = json.loads((tmp_path / "qat" / "export.json").read_text())
    assert s["qat"]["epochs"] == 2 and s["qat"]["steps"] == 4 and len(s["qat"]["loss"]) == 2
    assert "qat" not in json.loads((tmp_path / "plain" / "export.json").read_text())

    tuned = keras.models.load_model(tmp_path / "qat" / "picoface.keras", compile=False)
    assert not any(l.__class__.__name__ == "BatchNormalization" for l in tuned.layers)
    x = np.random.default_rng(3).integers(0, 256, (2, 64, 64, 3)).astype(np.uint8)
    ref = np.clip(tuned(x.astype(np.float32) / 255.0).numpy(), -5.0, 4.2)
    f_qat = open_model(tmp_path / "qat" / "picoface_float.tflite")
    f_plain = open_model(tmp_path / "plain" / "picoface_float.tflite")
    got = np.stack([f_qat.forward(im) for im in x])
    np.testing.assert_allclose(got, ref, atol=1e-3)                 # the TFLite is the fine-tuned net
    assert np.abs(got - np.stack([f_plain.forward(im) for im in x])).max() > 1e-3   # which moved
    for name in ("qat", "plain"):
        assert (tmp_path / name / "picoface_int8.tflite").is_file()

    # the fine-tuning graph: every activation and the output on 256 levels, frozen layers listed
    rounded = qat.rounded_model(tuned, qat.ranges(tuned, list(x)), (-5.0, 4.2))
    taps = keras.Model(rounded.input, [l.output for l in rounded.layers if l.name.endswith("_act_int8")] + [rounded.output])
    outs = taps(x.astype(np.float32) / 255.0)
    assert len(outs) > 3
    for o in outs:
        assert len(np.unique(np.asarray(o))) <= 256
    assert float(np.min(outs[-1])) >= -5.0 - 1e-6 and float(np.max(outs[-1])) <= 4.2 + 0.02
    pre = load_config(None, ["model.pretrained=x.onnx", "model.pretrained_blocks=2", "model.pretrained_frozen=true"])
    assert qat.frozen_layers(pre, tuned) == {"stem", "b0_dw", "b0_pw", "b1_dw", "b1_pw"}


def test_grayscale_patchify_model_trains_and_ships(tmp_path):
    """input.grayscale with a 4x4/4 stem: training, quantisation-aware export and the int8 model all
    take one channel; model.json says GRAY and the detector feeds the luminance of an RGB photo."""
    import numpy as np

    from picoface.contract import load_contract
    from picoface.detect.fit import fit_image, luminance
    from picoface.detectors import open_model
    from picoface.export.tflite import io_details

    cfg = _write_config(tmp_path)
    text = cfg.read_text().replace("input: {w: 64, h: 64, fit: stretch}", "input: {w: 64, h: 64, fit: stretch, grayscale: true}")
    text = text.replace("model: {width: 0.25, extra_blocks: 0}",
                        "model: {stem_kernel: 4, stem_stride: 4, strides: [1, 2, 2], channels: [8, 16, 16, 24],"
                        " activation: relu}")
    text = text.replace("parity_tolerance: 1.0,", "parity_tolerance: 1.0, clip_output: [-5, 4.2], qat_epochs: 1,")
    cfg.write_text(text)
    assert main(["train", "--config", str(cfg), "--quiet"]) == 0
    out = tmp_path / "out"
    io = io_details((out / "picoface_int8.tflite").read_bytes())
    assert io["input"]["shape"] == [1, 64, 64, 1] and io["input"]["dtype"] == "uint8"
    c = load_contract(out / "model.json")
    assert (c["input"]["channels"], c["input"]["order"]) == (1, "GRAY")
    det = open_model(out / "picoface_int8.tflite")
    assert det.channels == 1
    rgb = np.random.default_rng(0).integers(0, 256, (72, 96, 3)).astype(np.uint8)
    assert det.detect(rgb).shape[1] == 5
    net, fit = det._net_input(rgb)
    assert net.shape == (64, 64, 1)
    np.testing.assert_array_equal(net, luminance(fit_image(rgb, fit)))
