"""`picoface recog train` and `recog export` end to end on a tiny face set made from the shared
detection data (faces + YuNet landmarks + dlib teacher, one epoch per net), the K210 kmodels and
int8 TFLites with model.json and a card; `recog eval` of picoface's own K210 pipeline on a mini
LFW kit; LFW sets refused as training data."""

import json
import shutil

import numpy as np
import pytest

from picoface.cli import main
from picoface.errors import PicofaceError
from picoface.recog import faces


def _mini_set(src, dst, n):
    """A detection set of the first n photos of src (annotations.jsonl + images)."""
    (dst / "images").mkdir(parents=True)
    lines = (src / "annotations.jsonl").read_text().splitlines()[:n]
    for ln in lines:
        shutil.copy(src / json.loads(ln)["image"], dst / "images")
    (dst / "annotations.jsonl").write_text("\n".join(lines) + "\n")
    return dst


def _people(src_set, dst, people=6, photos=3):
    """A folder per "person": jittered, re-lit copies of one face photo each (a plumbing stand-in
    for an identity-labelled set)."""
    import cv2

    rng = np.random.default_rng(0)
    rows = [json.loads(ln) for ln in (src_set / "annotations.jsonl").read_text().splitlines()]
    rows = [r for r in rows if len(r["boxes"]) == 1 and r["boxes"][0][2] >= 80][:people]
    for p, r in enumerate(rows):
        img = cv2.imread(str(src_set / r["image"]))
        (dst / ("p%d" % p)).mkdir(parents=True)
        for k in range(photos):
            m = np.float32([[1, 0, rng.integers(-6, 7)], [0, 1, rng.integers(-6, 7)]])
            j = cv2.warpAffine(img, m, (img.shape[1], img.shape[0]), borderMode=cv2.BORDER_REPLICATE)
            cv2.imwrite(str(dst / ("p%d" % p) / ("p%d_%d.jpg" % (p, k))), np.clip(j * rng.uniform(0.85, 1.15), 0, 255).astype(np.uint8))
    return dst


def test_lfw_sets_are_refused(data_root):
    with pytest.raises(PicofaceError, match="LFW"):
        faces.Source(data_root / "pseudo_lfw")


@pytest.mark.slow
def test_recog_train_export_eval_end_to_end(data_root, tmp_path, capsys):
    mik = _mini_set(data_root / "roboflow_face_mik1i", tmp_path / "mik", 40)
    ident = _people(data_root / "roboflow_thesis_faces", tmp_path / "people")
    run = tmp_path / "run"
    rc = main(["recog", "train", "--source", str(mik), "--identity", str(ident), "--out", str(run), "--epochs", "1",
               "--landmark-epochs", "1", "--batch", "8", "--holdout", "0.5", "--no-progress"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "landmarks: best epoch 1" in out and "embed: best epoch 1" in out
    for f in ("faces.npz", "landmarks.keras", "embed.keras", "embed_history.png", "sources.json"):
        assert (run / f).is_file(), f
    model = tmp_path / "model"
    assert main(["recog", "export", "--run", str(run), "--out", str(model), "--no-progress"]) == 0
    mj = json.loads((model / "model.json").read_text())
    rep = json.loads((model / "export.json").read_text())
    assert set(mj["thresholds"]) == {"kmodel-v3", "tflite-int8"}
    assert mj["files"]["embed:kmodel-v3"]["bytes"] <= 554 * 1024
    assert rep["nets"]["embed"]["formats"]["kmodel-v3"]["emulator_vs_simulator_lsb"] <= 1.0
    assert "MODEL_CARD.md" in [p.name for p in model.iterdir()]
    # picoface's own K210 pipeline (detector -> landmarks -> align -> embed, emulated) on a mini LFW kit
    from test_recog_cli import make_lfw

    lfw = make_lfw(tmp_path / "lfw")
    rc = main(["recog", "eval", "--data", str(lfw), "--embedder", "picoface-k210", "--model", str(model),
               "--landmarks", "centre", "--out", str(tmp_path / "eval"), "--no-progress", "--workers", "1"])
    assert rc == 0
    res = json.loads((tmp_path / "eval" / "recog_eval.json").read_text())
    assert res["format"] == "kmodel-v3" and res["fixed_threshold"]["threshold"] == mj["thresholds"]["kmodel-v3"]
    assert "detector_missed" in res
