"""evaluate() end to end with fake detectors: a perfect oracle scores AP 1, a shifted one less;
plot_pr with several detectors; eval CLI errors that need no TensorFlow."""

import hashlib
import json

import numpy as np
import pytest

from picoface.cli import main
from picoface.data import load_dataset, read_image
from picoface.evaluate import evaluate, plot_pr, to_json
from picoface.evaluate.report import markdown, summary_table


class Oracle:
    """Returns the ground truth of the image it is shown (found by pixel hash), optionally shifted
    sideways by a random fraction of the box width."""

    kind = "box"
    bytes = None
    macs = None

    def __init__(self, samples, shift=0.0, seed=0, name="oracle"):
        self.name = name
        self.shift = shift
        self.rng = np.random.default_rng(seed)
        self.gt = {self.key(read_image(s.image_path)): s.boxes for s in samples}

    @staticmethod
    def key(rgb):
        return hashlib.sha1(np.ascontiguousarray(rgb).tobytes()).hexdigest()

    def detect(self, rgb):
        b = np.array(self.gt[self.key(rgb)], np.float32).reshape(-1, 4)
        if self.shift:
            b[:, 0] += b[:, 2] * self.rng.uniform(0, self.shift, len(b))
        scores = self.rng.uniform(0.5, 1.0, (len(b), 1))
        return np.hstack([b, scores]).astype(np.float32)


def make_set(d, n=6):
    import cv2

    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    recs = []
    for i in range(n):
        img = rng.integers(0, 255, (64, 96, 3), dtype=np.uint8)
        cv2.imwrite(str(d / ("%d.png" % i)), img)
        boxes = [[float(rng.integers(0, 60)), float(rng.integers(0, 30)), float(rng.integers(20, 36)),
                  float(rng.integers(20, 34))] for _ in range(1 + i % 3)]
        recs.append({"image": "%d.png" % i, "width": 96, "height": 64, "boxes": boxes,
                     "ignore": [[0, 0, 4, 4]] if i == 0 else []})
    (d / "annotations.jsonl").write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    return d


def test_perfect_and_shifted_oracles(tmp_path):
    samples = load_dataset(make_set(tmp_path / "set"))
    perfect = evaluate(Oracle(samples), samples, progress=False)
    assert perfect["ap"] == {"0.5": pytest.approx(1.0), "0.3": pytest.approx(1.0)}
    assert perfect["counts"]["faces"] == 12 and perfect["counts"]["ignored"] == 1
    r = perfect["results"]["0.5"]
    assert r["true_positives"] == 12 and r["false_positives"] == 0
    assert all(row["recall_any_score"] in (1.0, None) for row in r["recall_by_size"])
    shifted = evaluate(Oracle(samples, shift=0.6, name="shifted"), samples, progress=False)
    assert 0.0 < shifted["ap"]["0.5"] < 0.95
    assert shifted["ap"]["0.3"] >= shifted["ap"]["0.5"]
    png = tmp_path / "pr.png"
    plot_pr([perfect, shifted], png)
    assert png.read_bytes()[:4] == b"\x89PNG"
    j = json.loads(json.dumps(to_json(shifted)))
    assert j["detector"]["name"] == "shifted" and len(j["results"]["0.5"]["pr"]["recall"]) > 0
    assert "AP@IoU0.5" in summary_table(shifted) and "| AP@IoU0.5 |" in markdown(shifted, "set")


@pytest.mark.shared
def test_oracles_on_widerface_val(data_root):
    from picoface.data import widerface_eval_set

    samples = widerface_eval_set(data_root / "widerface_val", min_size=20)[:40]
    perfect = evaluate(Oracle(samples), samples, progress=False)
    assert perfect["ap"]["0.5"] == pytest.approx(1.0) and perfect["ap"]["0.3"] == pytest.approx(1.0)
    shifted = evaluate(Oracle(samples, shift=0.6), samples, progress=False)
    assert shifted["ap"]["0.5"] < 0.9


def test_eval_cli_errors_without_tensorflow(tmp_path, capsys):
    d = make_set(tmp_path / "set", 2)
    assert main(["eval", str(tmp_path / "nope.tflite"), "--data", str(d)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("picoface: model not found")
    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"xx")
    assert main(["eval", str(onnx), "--data", str(d)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unsupported model file type" in err[0]
    km = tmp_path / "m.kmodel"
    km.write_bytes(b"\x03\x00\x00\x00" + b"\x00" * 8)
    assert main(["eval", str(km), "--data", str(tmp_path / "nodata")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "dataset not found" in err[0]
    # annotations without their photos (like FDDB here)
    (tmp_path / "noimg").mkdir()
    (tmp_path / "noimg" / "annotations.jsonl").write_text(
        '{"image": "a.jpg", "width": null, "height": null, "boxes": [[1, 1, 30, 30]]}\n')
    assert main(["eval", str(km), "--data", str(tmp_path / "noimg")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "1 of 1 images" in err[0] and "missing" in err[0]
    # a kmodel without model.json and without anchors
    assert main(["eval", str(km), "--data", str(d)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("picoface: ")
