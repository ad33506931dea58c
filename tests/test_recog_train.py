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


def test_centred_teacher_targets():
    """views.centred takes the training rows' mean (faces and mirrors) out of both target arrays and
    normalises again: unit targets whose mean over those rows is ~0, two people's cosine no longer
    near 1, the cache itself untouched."""
    from picoface.recog import views

    rng = np.random.default_rng(0)
    common = rng.normal(size=128)
    raw = common * 1.5 + rng.normal(size=(50, 128))
    raw /= np.linalg.norm(raw, axis=1, keepdims=True)
    data = {"teacher": raw.astype(np.float32), "teacher_flip": (raw[::-1] * 1.0).astype(np.float32)}
    rows = np.arange(40)
    out = views.centred(data, rows)
    assert np.allclose(np.linalg.norm(out["teacher"], axis=1), 1.0, atol=1e-5)
    assert float(np.dot(raw[0], raw[1])) > 0.5
    assert abs(float(np.dot(out["teacher"][0], out["teacher"][1]))) < 0.4
    mean = np.concatenate([raw[rows], raw[::-1][rows]]).mean(axis=0)
    want = (raw[3] - mean) / np.linalg.norm(raw[3] - mean)
    assert np.allclose(out["teacher"][3], want, atol=1e-5)
    assert np.allclose(data["teacher"], raw.astype(np.float32))       # the cache is not changed


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
    assert json.loads((run / "embed_history.json").read_text())["teacher_centred"] is True
    model = tmp_path / "model"
    assert main(["recog", "export", "--run", str(run), "--out", str(model), "--no-progress"]) == 0
    mj = json.loads((model / "model.json").read_text())
    rep = json.loads((model / "export.json").read_text())
    assert set(mj["thresholds"]) == {"kmodel-v3", "tflite-int8"}
    assert mj["files"]["embed:kmodel-v3"]["bytes"] <= 554 * 1024
    assert rep["nets"]["embed"]["formats"]["kmodel-v3"]["emulator_vs_simulator_lsb"] <= 1.0
    assert rep["nets"]["embed"]["teacher_centred"] is True
    assert "cosine to centred teacher" in (model / "MODEL_CARD.md").read_text()
    assert "MODEL_CARD.md" in [p.name for p in model.iterdir()]
    # the embedding net exported again beside the first export's landmark net (--landmarks-from)
    again = tmp_path / "again"
    assert main(["recog", "export", "--run", str(run), "--out", str(again), "--landmarks-from", str(model),
                 "--no-kmodel", "--no-progress"]) == 0
    assert (again / "landmarks_int8.tflite").read_bytes() == (model / "landmarks_int8.tflite").read_bytes()
    rep2 = json.loads((again / "export.json").read_text())
    assert rep2["nets"]["landmarks"]["formats"]["tflite-int8"] == rep["nets"]["landmarks"]["formats"]["tflite-int8"]
    assert set(rep2["nets"]["landmarks"]["formats"]) == {"keras-float", "tflite-int8"}
    assert rep2["nets"]["landmarks"]["reused_from"]["dir"].endswith("model")
    assert json.loads((again / "model.json").read_text())["files"]["landmarks:tflite-int8"] == mj["files"]["landmarks:tflite-int8"]
    assert "The landmark net is reused from an earlier export" in (again / "MODEL_CARD.md").read_text()
    # a landmark file that is not the one model.json names: one clear line, nothing written
    bad = tmp_path / "bad"
    shutil.copytree(model, bad)
    (bad / "landmarks_int8.tflite").write_bytes(b"not a model")
    capsys.readouterr()
    assert main(["recog", "export", "--run", str(run), "--out", str(tmp_path / "none"), "--landmarks-from", str(bad),
                 "--no-kmodel", "--no-progress"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("picoface: ") and "landmark tflite-int8 file" in err[0]
    assert not (tmp_path / "none").exists() or not any((tmp_path / "none").iterdir())
    # picoface's own K210 pipeline (detector -> landmarks -> align -> embed, emulated) on a mini LFW kit
    from test_recog_cli import make_lfw

    lfw = make_lfw(tmp_path / "lfw")
    rc = main(["recog", "eval", "--data", str(lfw), "--embedder", "picoface-k210", "--model", str(model),
               "--landmarks", "centre", "--out", str(tmp_path / "eval"), "--no-progress", "--workers", "1"])
    assert rc == 0
    res = json.loads((tmp_path / "eval" / "recog_eval.json").read_text())
    assert res["format"] == "kmodel-v3" and res["fixed_threshold"]["threshold"] == mj["thresholds"]["kmodel-v3"]
    assert "detector_missed" in res
