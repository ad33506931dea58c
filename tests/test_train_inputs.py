"""`picoface train` checks every input path of its config before it creates anything or starts
TensorFlow (no TensorFlow needed here: the command must stop before it)."""

import subprocess
import sys

from picoface.paths import REPO_ROOT

RUN = """
import sys
from picoface.cli import main
rc = main(sys.argv[1:])
print("rc=%d tensorflow=%s" % (rc, "tensorflow" in sys.modules))
"""


def _config(tmp_path, **data):
    (tmp_path / "data" / "syn_train").mkdir(parents=True)
    keys = {"root": tmp_path / "data", "train": "[syn_train]", "val": "syn_val"}
    keys.update(data)
    cfg = tmp_path / "exp.yaml"
    cfg.write_text("""
name: tiny
out: %(out)s
run_dir: %(run)s
input: {w: 64, h: 64}
model: {width: 0.25, extra_blocks: 0}
data: {%(data)s}
train: {epochs: 1, batch_size: 8}
""" % {"out": tmp_path / "out", "run": tmp_path / "run",
       "data": ", ".join("%s: %s" % kv for kv in keys.items())})
    return cfg


def _train(*argv):
    r = subprocess.run([sys.executable, "-c", RUN, "train", *map(str, argv)], capture_output=True, text=True,
                       timeout=300, cwd=REPO_ROOT)
    return r.stdout.strip().splitlines()[-1], r.stderr


def test_missing_val_set_stops_before_anything_is_created(tmp_path):
    cfg = _config(tmp_path)
    status, err = _train("--config", cfg, "--quiet")
    assert status == "rc=1 tensorflow=False"
    assert err.count("\n") == 1 and err.startswith("picoface: %s: 1 input path not found: data.val syn_val (%s)"
                                                   % (cfg, tmp_path / "data" / "syn_val"))
    assert not (tmp_path / "run").exists() and not (tmp_path / "out").exists()


def test_every_missing_path_is_named_at_once(tmp_path):
    cfg = _config(tmp_path, train="[syn_train, gone_set]", val="holdout", holdout="{syn_train: 0.2}",
                  unlabelled="[syn_train]", unlabelled_detector=tmp_path / "no_detector.onnx")
    status, err = _train("--config", cfg, "model.pretrained=%s" % (tmp_path / "no_backbone.onnx"),
                         "model.pretrained_blocks=2", "--quiet")
    assert status == "rc=1 tensorflow=False"
    assert ": 3 input paths not found: data.train[1] gone_set (%s); data.unlabelled_detector %s (%s); " \
           "model.pretrained %s (%s) — " % (tmp_path / "data" / "gone_set", tmp_path / "no_detector.onnx",
                                           tmp_path / "no_detector.onnx", tmp_path / "no_backbone.onnx",
                                           tmp_path / "no_backbone.onnx") in err
    assert not (tmp_path / "run").exists()
    status, err = _train("--config", cfg, "data.root=%s" % (tmp_path / "nowhere"), "data.unlabelled=[]",
                         "--quiet")
    assert status == "rc=1 tensorflow=False"
    assert ": 1 input path not found: data.root %s (%s) — put ../shared beside the repository" % (
        tmp_path / "nowhere", tmp_path / "nowhere") in err
