"""Validation on photos held out of training: a fixed split by file name, the val mix a config
builds from it (framed as the camera frames a scene, scored by regime), and the model layout
options the stride-16 K210 detector uses (model.strides, pretrained_frozen_blocks)."""

import json
from pathlib import Path

import numpy as np
import pytest

from picoface.data.holdout import holdout_key, is_held_out, split
from picoface.data.sample import Sample
from picoface.errors import PicofaceError
from picoface.train.config import load_config


def _samples(n, source="setA"):
    return [Sample("/nowhere/%s/img_%04d.jpg" % (source, i), 640, 480, [[10, 10, 50, 60]], source=source)
            for i in range(n)]


def test_split_is_fixed_by_set_and_file_name_and_has_the_share():
    ss = _samples(2000)
    keep, held = split(ss, 0.2)
    assert len(keep) + len(held) == 2000
    assert 0.17 < len(held) / 2000.0 < 0.23
    assert not {id(s) for s in keep} & {id(s) for s in held}
    # the same photo is held out whatever else is in the set, and on every call
    again = split(list(reversed(ss[:500])) + _samples(10, "other"), 0.2)[1]
    assert {s.image_path.name for s in held if int(s.image_path.stem[4:]) < 500} == \
        {s.image_path.name for s in again if s.source == "setA"}
    # another set's photo of the same name is split on its own
    assert holdout_key(_samples(1, "setA")[0]) != holdout_key(_samples(1, "setB")[0])
    assert not any(is_held_out(s, 0.0) for s in ss)


def test_holdout_config_is_validated():
    with pytest.raises(PicofaceError, match=r"data.holdout names 'nope', which is not in data.train"):
        load_config(None, ["data.holdout={nope: 0.2}"])
    with pytest.raises(PicofaceError, match=r"data.holdout\[facemask_kaggle\] must be a share in \(0, 1\)"):
        load_config(None, ["data.holdout={facemask_kaggle: 1.5}"])
    with pytest.raises(PicofaceError, match=r"data.val is 'holdout' but data.holdout names no set"):
        load_config(None, ["data.val=holdout"])
    with pytest.raises(PicofaceError, match=r"data.val_framing='box'"):
        load_config(None, ["data.val_framing=box"])


def _write_set(folder, n, size=(400, 400), face=120):
    import cv2

    (folder / "images").mkdir(parents=True)
    rows = []
    for i in range(n):
        img = np.full((size[1], size[0], 3), 90, np.uint8)
        cv2.imwrite(str(folder / "images" / ("p%03d.jpg" % i)), img)
        rows.append({"image": "images/p%03d.jpg" % i, "width": size[0], "height": size[1],
                     "boxes": [[40, 50, face, face], [300, 300, 8, 8]]})
    (folder / "annotations.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_train_and_val_never_share_a_photo_and_val_is_framed(tmp_path):
    from picoface.train.trainset import train_samples
    from picoface.train.val import load_valset

    _write_set(tmp_path / "sq", 60)
    cfg = load_config(None, ["data.root=%s" % tmp_path, "data.train=[sq]", "data.holdout={sq: 0.3}",
                             "data.val=holdout", "data.val_framing=letterbox", "data.box_adjust={sq: [0, 0, 1.1, 1.0]}"])
    train = {s.image_path.name for s in train_samples(cfg)}
    val = load_valset(cfg)
    names = {s.image_path.name for s in val.samples}
    assert names and train and not names & train and len(names | train) == 60
    assert val.metric == "regimes"
    s, img = val.samples[0], val.images[0]
    # a square photo letterboxed to 4:3: 400x400 -> 534x400, bars of 67 px left and right
    assert img.shape[:2] == (400, 534) and s.width == 534 and s.height == 400
    assert not img[:, :60].any() and img[:, 70:460].all()
    # boxes follow the bars and the set's box convention (11 % wider about the centre)
    np.testing.assert_allclose(s.boxes[0], [67 + 40 - 6, 50, 132, 120], atol=0.01)
    # the 8 px face is 4.8 camera px (< 12): ignored, not a miss
    assert len(s.boxes) == 1 and len(s.ignore) == 1
    assert s.meta["framing"]["camera_scale"] == pytest.approx(320 / 534.0)


def test_int8_calibration_never_reads_a_held_out_photo(tmp_path, monkeypatch):
    """export's calibration images come from the training photos only (it once read whole sets,
    held-out photos included)."""
    from picoface.export import shipping
    from picoface.train import samples
    from picoface.train.trainset import train_samples
    from picoface.train.val import load_valset

    _write_set(tmp_path / "sq", 30)
    cfg = load_config(None, ["data.root=%s" % tmp_path, "data.train=[sq]", "data.holdout={sq: 0.3}",
                             "data.val=holdout", "input.w=64", "input.h=48"])
    held = {s.image_path.name for s in load_valset(cfg).samples}
    n_train = len(train_samples(cfg))
    read = []
    real = samples.read_image
    monkeypatch.setattr(samples, "read_image", lambda p: read.append(Path(p).name) or real(p))
    out = shipping.calibration_images(cfg, 100)
    assert held and len(out) == len(read) == n_train
    assert not set(read) & held
    assert out[0].shape == (48, 64, 3)

def test_kmodel_calibration_from_a_training_config_skips_held_out_photos(tmp_path):
    """`kmodel convert --calib train.yaml`: the config's training photos at the board's input size."""
    from picoface.kmodel.calib import image_count, load_images
    from picoface.train.trainset import train_samples

    _write_set(tmp_path / "sq", 30)
    y = tmp_path / "train.yaml"
    y.write_text("data: {root: %s, train: [sq], holdout: {sq: 0.3}, val: holdout}\ninput: {w: 64, h: 48}\n" % tmp_path)
    arr = load_images(y, (80, 60), limit=100)
    n_train = len(train_samples(load_config(y)))
    assert arr.shape == (n_train, 60, 80, 3) and arr.dtype == np.uint8 and n_train < 30
    assert image_count(y) == 64
    from picoface.kmodel.convert import calib_source

    assert calib_source(y) == "training photos of `train.yaml` (none of its held-out validation photos)"

def test_val_score_on_the_holdout_mix_is_the_mean_regime_ap(tmp_path):
    from picoface.evaluate.regimes import score_regimes
    from picoface.train.val import load_valset, val_score

    _write_set(tmp_path / "sq", 40, face=200)   # 120 camera px: close
    cfg = load_config(None, ["data.root=%s" % tmp_path, "data.train=[sq]", "data.holdout={sq: 0.5}",
                             "data.val=holdout", "data.val_framing=letterbox"])
    val = load_valset(cfg)
    # perfect on every face, plus one confident false positive in half of the images
    dets = []
    for i, s in enumerate(val.samples):
        d = [list(b) + [0.9] for b in s.boxes]
        if i % 2:
            d.append([310, 200, 190, 190, 0.95])   # close-sized, on no face
        dets.append(np.array(d, np.float32))
    ap, thr = val_score(dets, val)
    reg = score_regimes(dets, val.samples, 0.5)
    assert ap == pytest.approx(reg["mean_ap"])
    assert reg["close"]["faces"] == len(val.samples) and reg["far"]["faces"] == 0
    assert ap < 1.0
    assert thr == pytest.approx(0.9, abs=0.011)   # above the false positives' 0.95 would lose every face


def test_explicit_strides_and_partly_frozen_pretrained_blocks(tmp_path):
    from picoface.train.model import build_model, picoface_layers
    from picoface.train.pretrained import frozen_blocks

    over = ["model.stride=16", "model.strides=[1, 2, 1, 2, 1, 2, 1]", "model.channels=[8, 8, 16, 16, 24, 24, 32, 32]"]
    cfg = load_config(None, over)
    stem, blocks = picoface_layers(cfg.model)
    assert stem == 8 and blocks == [(8, 1), (16, 2), (16, 1), (24, 2), (24, 1), (32, 2), (32, 1)]
    m = build_model(cfg.model, 160, 128)
    assert m.output_shape[1:3] == (8, 10)
    with pytest.raises(PicofaceError, match=r"output stride of 32, not model.stride 16"):
        load_config(None, ["model.stride=16", "model.strides=[2, 2, 2, 2]"])
    with pytest.raises(PicofaceError, match=r"pretrained_frozen_blocks \(9\) exceeds"):
        load_config(None, ["model.pretrained=x.onnx", "model.pretrained_blocks=7", "model.pretrained_frozen=true",
                           "model.pretrained_frozen_blocks=9"])
    part = load_config(None, ["model.pretrained=x.onnx", "model.pretrained_blocks=10", "model.pretrained_frozen=true",
                              "model.pretrained_frozen_blocks=7"])
    assert frozen_blocks(part.model) == 7
    whole = load_config(None, ["model.pretrained=x.onnx", "model.pretrained_blocks=10", "model.pretrained_frozen=true"])
    assert frozen_blocks(whole.model) == 10
    assert frozen_blocks(load_config(None, []).model) == 0


def test_shipped_k210_config_respects_run_yolo2_and_holds_out_val(root):
    from picoface.train.model import grid_size

    cfg = load_config(root / "models" / "picoface_k210_320x240" / "train.yaml")
    gw, gh = grid_size(cfg.input.w, cfg.input.h, cfg.model.stride)
    assert gw * gh * cfg.model.anchors <= 1500
    assert cfg.data.val == "holdout" and cfg.data.val_framing == "letterbox"
    assert "widerface_val" not in cfg.data.holdout


@pytest.mark.tf
@pytest.mark.slow
def test_train_on_a_holdout_val_ships_figures_per_regime(tmp_path):
    from picoface.cli import main
    from picoface.contract import load_contract
    from picoface.export.parity import deployed_score
    from picoface.train.synthetic import make_dataset

    make_dataset(tmp_path / "data" / "syn_a", n=40, size=(96, 96), seed=1)
    cfg = tmp_path / "exp.yaml"
    cfg.write_text("""
name: tiny
out: %(out)s
run_dir: %(run)s
input: {w: 64, h: 48, fit: stretch}
model: {width: 0.25, extra_blocks: 0}
data: {root: %(data)s, train: [syn_a], holdout: {syn_a: 0.3}, val: holdout, val_framing: letterbox, cache_side: 96}
train: {epochs: 1, batch_size: 8, steps_per_epoch: 2, warmup_epochs: 0, threads: 2}
export: {formats: [tflite-float, tflite-int8], calib_images: 8, parity_tolerance: 1.0}
""" % {"out": tmp_path / "out", "run": tmp_path / "run", "data": tmp_path / "data"})
    assert main(["train", "--config", str(cfg), "--quiet"]) == 0
    ex = json.loads((tmp_path / "out" / "export.json").read_text())
    par = ex["parity"]
    assert par["metric"] == "regimes"
    assert set(par["regimes_int8"]) == {"0.5", "0.3"}
    assert set(par["regimes_int8"]["0.5"]) == {"far", "mid", "close", "mean_ap"}
    assert par["deployed_score"] == deployed_score(par["best_f1_score"]) == ex["score_threshold"]
    assert load_contract(tmp_path / "out" / "model.json")["thresholds"]["score"] == ex["score_threshold"]
    held = ex["val_mix"]["images"]["syn_a"]
    assert 6 <= held <= 18
    card = (tmp_path / "out" / "MODEL_CARD.md").read_text()
    assert "Validation mix (`data.val: holdout`)" in card and "syn_a 30 %% (%d photos)" % held in card
    assert "| close |" in card and "| mean of the regimes |" in card
