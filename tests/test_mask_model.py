"""The shipped mask / no-mask K210 detector (models/picoface_k210_mask_320x240) on simulated boards:
held-out photos of people with and without masks, the class on every frame line as each firmware
family's own decoder gives it (MaixPy: the app's pfcore.region; CanMV: its C region layer's fake)."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pfcore import protocol

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "picoface_k210_mask_320x240"
PICOFACE = [sys.executable, "-m", "picoface.cli"]

pytestmark = [pytest.mark.shared, pytest.mark.slow]


def test_shipped_contract_names_the_classes():
    c = json.loads((MODEL / "model.json").read_text())
    assert c["format"] == "kmodel-v3" and c["output"]["classes"] == 2
    assert c["output"]["labels"] == ["mask", "no_mask"]
    assert len(c["output"]["anchors"]) == 5 and (c["output"]["grid_w"], c["output"]["grid_h"]) == (20, 15)
    assert (MODEL / "eval_holdout" / "results.json").is_file()


def _held_out_portraits(data_root, label, n):
    """n held-out facemask_kaggle photos with one face of ``label``, at least 50 px."""
    from picoface.data.holdout import split
    from picoface.train.config import load_config
    from picoface.train.trainset import set_samples

    cfg = load_config(MODEL / "train.yaml", ["data.root=%s" % data_root])
    held = split(set_samples(cfg, "facemask_kaggle"), cfg.data.holdout["facemask_kaggle"])[1]
    out = [s for s in held if len(s.boxes) == 1 and s.meta.get("labels") == [label] and min(s.boxes[0][2:4]) >= 50]
    return out[:n]


@pytest.mark.parametrize("gen,board", [("maixpy-0.6.2", "maix_dock"), ("canmv-1.0.7", "maix_bit")])
def test_mask_and_no_mask_on_the_board(data_root, tmp_path, gen, board):
    src = tmp_path / "frames"
    src.mkdir()
    truth = []
    for label, name in (("with_mask", "mask"), ("without_mask", "no_mask")):
        for i, s in enumerate(_held_out_portraits(data_root, label, 4)):
            shutil.copyfile(s.image_path, src / ("%d_%s_%d.jpg" % (len(truth), name, i)))
            truth.append(name)
    assert truth.count("mask") == 4 and truth.count("no_mask") == 4
    r = subprocess.run(PICOFACE + ["sim", "--board", board, "--firmware", gen, "--model", str(MODEL),
                                   "--source", str(src)], capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    frames = []
    for ln in r.stdout.splitlines():
        try:
            d = protocol.decode(ln)
        except protocol.ProtocolError:
            continue
        if d is not None and d["type"] == "frame":
            frames.append(d)
    assert len(frames) == len(truth)
    said = []
    for f in frames:
        if not f["faces"]:
            said.append(None)
            continue
        assert "classes" in f and all(c in ("mask", "no_mask") for c in f["classes"])
        big = max(range(len(f["faces"])), key=lambda i: f["faces"][i][2] * f["faces"][i][3])
        said.append(f["classes"][big])
    right = sum(a == b for a, b in zip(said, truth))
    assert right >= 6, list(zip(truth, said))
    assert "mask" in said and "no_mask" in said
