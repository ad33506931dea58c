"""Box conventions: measured against a reference detector, mapped with data.box_adjust."""

import json
import subprocess
import sys

import numpy as np
import pytest

from picoface.data.convention import adjust_boxes, measure, to_reference
from picoface.data.sample import Sample


class ConventionDetector:
    """Draws every labelled face its own way: centre moved by (dx*w, dy*h), size scaled by (sw, sh)."""

    def __init__(self, truth, adj):
        self.truth, self.adj = truth, adj

    def detect(self, key):
        b = adjust_boxes(self.truth[key], self.adj)
        return np.concatenate([b, np.full((len(b), 1), 0.9, np.float32)], 1)


def _samples(rng, n, start=0):
    out, truth = [], {}
    for i in range(start, start + n):
        k = rng.integers(1, 4)
        xy = rng.uniform(10, 200, (k, 2))
        wh = rng.uniform(20, 60, (k, 1)) * np.array([[1.0, 1.25]])
        boxes = np.concatenate([xy, wh], 1).astype(np.float32)
        truth["k%d" % i] = boxes
        out.append(Sample(image_path="k%d" % i, width=320, height=240, boxes=boxes, ignore=np.zeros((0, 4), np.float32),
                          source="syn"))
    return out, truth


def test_measure_and_map_a_known_convention():
    rng = np.random.default_rng(0)
    ref_s, ref_t = _samples(rng, 40)
    src_s, src_t = _samples(rng, 40, start=100)
    # the detector draws reference-style boxes slightly big; the source set labels faces lower and shorter
    det_vs_ref = [0.0, -0.02, 1.05, 1.04]
    src_to_ref = [0.01, -0.12, 0.97, 1.15]        # what box_adjust must come out as
    truth = dict(ref_t)
    for k, b in src_t.items():                     # detector box = ref-convention box, drawn its way
        truth[k] = adjust_boxes(b, src_to_ref)
    det = ConventionDetector(truth, det_vs_ref)
    ref = measure(ref_s, det, n=40, read=str)
    src = measure(src_s, det, n=40, read=str)
    assert ref["pairs"] > 40 and src["pairs"] > 40
    np.testing.assert_allclose([ref[k] for k in ("dx", "dy", "sw", "sh")], det_vs_ref, atol=1e-4)
    got = to_reference(src, ref)
    np.testing.assert_allclose(got, src_to_ref, atol=0.01)
    # mapping the source labels with it lands on the reference convention
    for k, b in src_t.items():
        np.testing.assert_allclose(adjust_boxes(b, got), truth[k], atol=0.6)


def test_nothing_matched_gives_zero_pairs():
    rng = np.random.default_rng(1)
    s, t = _samples(rng, 5)

    class Blind:
        def detect(self, key):
            return np.zeros((0, 5), np.float32)

    assert measure(s, Blind(), read=str) == {"pairs": 0}


def test_box_adjust_reaches_the_training_cache(tmp_path):
    from picoface.train import trainset
    from picoface.train.config import load_config
    from picoface.train.synthetic import make_dataset

    syn = make_dataset(tmp_path / "syn", n=4, size=(96, 72), seed=2)
    base = ["data.root=%s" % syn.parent, "data.train=[syn]", "input.w=64", "input.h=64", "data.cache_side=96"]
    plain = trainset.load_train_cache(load_config(None, base), progress=False)
    moved = trainset.load_train_cache(load_config(None, base + ["data.box_adjust={syn: [0.0, -0.1, 1.0, 1.2]}"]),
                                      progress=False)
    for a, b in zip(plain.boxes, moved.boxes):
        if not len(a):
            continue
        inside = (a[:, 1] > 0.2 * a[:, 3]) & (a[:, 1] + 1.2 * a[:, 3] < 71)   # not clipped by the image
        np.testing.assert_allclose(b[inside, 3], 1.2 * a[inside, 3], rtol=1e-4)
        np.testing.assert_allclose((b[inside, 1] + b[inside, 3] / 2), a[inside, 1] + 0.4 * a[inside, 3], atol=1e-3)


def test_box_adjust_is_validated():
    from picoface.errors import PicofaceError
    from picoface.train.config import load_config

    with pytest.raises(PicofaceError, match=r"\[dx, dy, sw, sh\]"):
        load_config(None, ["data.box_adjust={pseudo_lfw: [0, 0, 3.0, 1]}"])
    with pytest.raises(PicofaceError, match="not in data.train.*did you mean 'pseudo_lfw'"):
        load_config(None, ["data.box_adjust={pseudo_lwf: [0, 0, 1, 1]}"])


@pytest.mark.slow
def test_convention_command_on_wider_itself_is_the_identity(anchors, data_root, root):
    """The reference set measured against itself (other images): no adjustment to speak of."""
    r = subprocess.run([sys.executable, "-m", "picoface", "data", "convention", "widerface_val", "-n", "60",
                        "--reference-n", "60"], capture_output=True, text=True, timeout=600, cwd=root)
    assert r.returncode == 0, r.stderr
    line = [x for x in r.stdout.splitlines() if x.strip().startswith("widerface_val:")][0]
    dx, dy, sw, sh = json.loads(line.split(":", 1)[1])
    assert abs(dx) < 0.03 and abs(dy) < 0.04 and abs(sw - 1) < 0.06 and abs(sh - 1) < 0.06
    assert "| widerface_val (reference) |" in r.stdout
