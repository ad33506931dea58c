"""The reference baselines (paper MobileNetV2 early exit, TinyFace SqueezeNet) train by config."""

import csv

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
    args = _data(tmp_path) + ["input.w=48", "input.h=48", "train.epochs=2", "train.steps_per_epoch=2",
                              "train.batch_size=8", "data.val_min_size=8"]
    assert main(["train", "--config", str(CONFIGS / "tinyface_squeezenet.yaml"), "--quiet", *args]) == 0
    rows = list(csv.DictReader((tmp_path / "run" / "log.csv").open()))
    assert len(rows) == 2 and 0.0 <= float(rows[-1]["val_acc"]) <= 1.0
    assert (tmp_path / "run" / "best.keras").is_file()


def test_mobilenetv2_exit_trains(tmp_path):
    args = _data(tmp_path) + ["input.w=64", "input.h=64", "train.epochs=1", "train.steps_per_epoch=1",
                              "train.batch_size=4"]
    assert main(["train", "--config", str(CONFIGS / "mobilenetv2_exit.yaml"), "--quiet", *args]) == 0
    rows = list(csv.DictReader((tmp_path / "run" / "log.csv").open()))
    assert len(rows) == 1 and rows[0]["val_ap"] != ""
