"""The reference baselines (paper MobileNetV2 early exit, TinyFace SqueezeNet) train by config."""

import csv

import numpy as np
import pytest

from picoface.cli import main
from picoface.paths import REPO_ROOT
from picoface.train.config import load_config

pytestmark = [pytest.mark.tf, pytest.mark.slow]

CONFIGS = REPO_ROOT / "host" / "picoface" / "train" / "configs"


def _data(tmp_path):
    from picoface.train.synthetic import make_dataset

    make_dataset(tmp_path / "d" / "tr", n=10, size=(96, 96), seed=1)
    make_dataset(tmp_path / "d" / "va", n=4, size=(96, 96), seed=2)
    return ["data.root=%s" % (tmp_path / "d"), "data.train=[tr]", "data.val=va", "data.val_min_size=4",
            "data.cache_side=96", "run_dir=%s" % (tmp_path / "run"), "train.budget_minutes=0"]


def test_reference_configs_validate():
    assert load_config(CONFIGS / "tinyface_squeezenet.yaml").model.arch == "tinyface_squeezenet"
    assert load_config(CONFIGS / "mobilenetv2_exit.yaml").model.width == 0.5


def test_tinyface_classifier_trains(tmp_path):
    """A face / no-face classifier on 48x48 grayscale crops; best.keras is the epoch with the best
    val accuracy, and that figure is what best.keras scores on the same val crops."""
    import keras

    from picoface.train.classifier import make_crops
    from picoface.train.val import load_valset

    args = _data(tmp_path) + ["input.w=48", "input.h=48", "train.epochs=2", "train.steps_per_epoch=2",
                              "train.batch_size=8", "data.val_min_size=8"]
    assert main(["train", "--config", str(CONFIGS / "tinyface_squeezenet.yaml"), "--quiet", *args]) == 0
    rows = list(csv.DictReader((tmp_path / "run" / "log.csv").read_text().splitlines()))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    best = max(float(r["val_acc"]) for r in rows)
    model = keras.models.load_model(str(tmp_path / "run" / "best.keras"), compile=False)
    assert tuple(model.input_shape) == (None, 48, 48, 1) and tuple(model.output_shape) == (None, 1)
    cfg = load_config(CONFIGS / "tinyface_squeezenet.yaml", args)
    v = load_valset(cfg)
    vx, vy = make_crops(v.images, [s.boxes for s in v.samples], [s.ignore for s in v.samples], 400, 48,
                        np.random.default_rng(12345), train=False)
    assert 0.2 < vy.mean() < 0.8   # faces and non-faces: an accuracy that means something
    p = model(vx.astype(np.float32) / 255.0, training=False).numpy()[:, 0]
    assert round(float(((p > 0) == (vy > 0.5)).mean()), 4) == pytest.approx(best, abs=1e-4)
    _same_weights(model, cfg, tmp_path / "run" / "ckpt" / "best.weights.h5", 48, 48)


def _same_weights(model, cfg, checkpoint, w, h):
    """best.keras holds the weights of the best checkpoint."""
    from picoface.train.model import build_model

    ref = build_model(cfg.model, w, h)
    ref.load_weights(str(checkpoint))
    got, want = model.get_weights(), ref.get_weights()
    assert len(got) == len(want) and all(np.array_equal(a, b) for a, b in zip(got, want))


def test_mobilenetv2_exit_trains(tmp_path):
    """The paper's early exit: MobileNetV2 cut at block_13_expand_relu (stride 16) + a 1x1 region
    head; the val AP in the log is what best.keras scores on the val set."""
    import json

    import keras

    from picoface.detectors.keras_det import KerasDetector
    from picoface.train.val import load_valset, val_ap, val_contract

    args = _data(tmp_path) + ["input.w=64", "input.h=64", "train.epochs=1", "train.steps_per_epoch=1",
                              "train.batch_size=4"]
    assert main(["train", "--config", str(CONFIGS / "mobilenetv2_exit.yaml"), "--quiet", *args]) == 0
    rows = list(csv.DictReader((tmp_path / "run" / "log.csv").read_text().splitlines()))
    assert len(rows) == 1
    model = keras.models.load_model(str(tmp_path / "run" / "best.keras"), compile=False)
    names = [layer.name for layer in model.layers]
    assert tuple(model.output_shape) == (None, 4, 4, 30) and names[-1] == "region"
    assert names[-2] == "block_13_expand_relu" and not any(n.startswith(("block_14", "block_13_project"))
                                                           for n in names)
    assert model.get_layer("block_13_expand_relu").output.shape[1:3] == (4, 4)   # stride 16 at 64x64
    cfg = load_config(CONFIGS / "mobilenetv2_exit.yaml", args)
    _same_weights(model, cfg, tmp_path / "run" / "ckpt" / "best.weights.h5", 64, 64)
    # the logged val AP is what best.keras scores (a step of training leaves it near 0 here: the
    # figure's source is what is checked, not the net's skill)
    anchors = json.loads((tmp_path / "run" / "anchors.json").read_text())
    det = KerasDetector(tmp_path / "run" / "best.keras", val_contract(cfg, anchors, (4, 4)))
    assert round(val_ap(det, load_valset(cfg)), 5) == pytest.approx(float(rows[0]["val_ap"]), abs=2e-5)
