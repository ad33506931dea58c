"""Multi-class detectors (mask / no_mask): class rules, the class column through augmentation and
targets, the class term of the loss, starting from a shipped one-class detector, and `picoface
train` end to end on a two-class synthetic set."""

import json

import numpy as np
import pytest

from picoface.data.sample import Sample
from picoface.errors import PicofaceError
from picoface.train.config import load_config


def _sample(n, labels=None, origin=""):
    meta = {}
    if labels is not None:
        meta["labels"] = labels
    if origin:
        meta["origin"] = origin
    return Sample("x.jpg", 100, 100, [[10.0 * i, 10, 8, 8] for i in range(n)], meta=meta)


def test_rules_give_each_box_its_class():
    from picoface.train.classes import box_classes

    labels = ["mask", "no_mask"]
    rules = {"label:with_mask": "mask", "label:without_mask": "no_mask"}
    got = box_classes(_sample(4, ["with_mask", "without_mask", "mask_weared_incorrect"]), rules, labels)
    assert got.tolist() == [0, 1, -1, -1]      # an unmapped label and a box without a label: no class
    folder = {"origin:dataset/with_mask/": "mask", "origin:dataset/without_mask/": "no_mask"}
    assert box_classes(_sample(1, origin="dataset/without_mask/1.png"), folder, labels).tolist() == [1]
    # a folder speaks for a one-face photo only
    assert box_classes(_sample(2, origin="dataset/with_mask/1.png"), folder, labels).tolist() == [-1, -1]
    assert box_classes(_sample(2), {"*": "no_mask"}, labels).tolist() == [1, 1]
    assert box_classes(_sample(2), {"*": "-"}, labels).tolist() == [-1, -1]
    # first rule wins
    assert box_classes(_sample(1, ["with_mask"]), {"label:with_mask": "mask", "*": "no_mask"}, labels).tolist() == [0]


@pytest.mark.parametrize("overrides, message", [
    (["model.classes=2"], "model.labels names 0"),
    (["model.classes=2", "model.labels=[mask, mask]"], "distinct"),
    (["data.classes={syn: {'*': mask}}"], "model.classes is 1"),
    (["model.classes=2", "model.labels=[mask, no_mask]", "data.classes={other: {'*': mask}}"], "not in data.train"),
    (["model.classes=2", "model.labels=[mask, no_mask]", "data.classes={syn: {'colour:red': mask}}"], "rule"),
    (["model.classes=2", "model.labels=[mask, no_mask]", "data.classes={syn: {'*': hat}}"], "not one of model.labels"),
])
def test_config_refuses_bad_class_settings(overrides, message):
    with pytest.raises(PicofaceError, match=message):
        load_config(None, ["data.train=[syn]", *overrides])


def test_class_column_survives_augmentation():
    from types import SimpleNamespace

    from picoface.train.augment import Augmenter, cut_boxes, mosaic_frame

    cfg = load_config(None, ["input.w=64", "input.h=64", "augment.mosaic=1.0", "augment.min_face=2"])
    img = np.full((80, 80, 3), 100, np.uint8)
    boxes = np.array([[10, 10, 20, 24, 1.0], [45, 40, 20, 24, 0.0], [70, 70, 30, 30, -1.0]], np.float32)
    aug = Augmenter(cfg)
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(40):
        _, b, ig = aug.frame(img, boxes, np.zeros((0, 4), np.float32), rng)
        assert b.shape[1] == 5 and ig.shape[1] == 4
        seen |= set(b[:, 4].tolist())
    assert seen <= {1.0, 0.0, -1.0} and {0.0, 1.0} <= seen
    # a cut-off face leaves as an ignore region, its class with it; a kept face keeps its class
    kept, ig = cut_boxes(np.array([[-15, 0, 20, 20, 1.0], [5, 5, 20, 20, 0.0]], np.float32), np.zeros((0, 4)), 64, 64, 2)
    assert kept.tolist() == [[5, 5, 20, 20, 0.0]] and ig.shape == (1, 4)
    class Cache(SimpleNamespace):
        def __len__(self):
            return len(self.images)

    cache = Cache(images=[img, img], boxes=[boxes, boxes[:1]], ignore=[np.zeros((0, 4))] * 2)
    _, b, _ = mosaic_frame(aug, cache, np.array([0.5, 0.5]), 0, np.random.default_rng(1))
    assert b.shape[1] == 5 and set(b[:, 4].tolist()) <= {1.0, 0.0, -1.0}


def test_targets_carry_the_class():
    from picoface.train.targets import encode_targets

    anchors = np.array([[1.0, 1.0], [3.0, 3.0]], np.float32)
    boxes = np.array([[0, 0, 16, 16], [32, 32, 48, 48]], np.float32)
    y = encode_targets(boxes, anchors, 4, 4, 64, 64, box_class=np.array([1.0, -1.0]), class_channel=True)
    assert y.shape == (4, 4, 2, 7)
    assert y[0, 0, 0, 6] == 1.0 and y[0, 0, 0, 4] == 1.0
    assert y[..., 6][y[..., 4] == 1].tolist() == [1.0, -1.0]
    assert (y[..., 6][y[..., 4] == 0] == -1).all()
    assert encode_targets(boxes, anchors, 4, 4, 64, 64).shape == (4, 4, 2, 6)


@pytest.mark.tf
def test_class_loss_counts_known_classes_only():
    import tensorflow as tf

    from picoface.train.loss import region_loss

    anchors = np.array([[1.0, 1.0]], np.float32)
    y = np.zeros((1, 2, 2, 1, 7), np.float32)
    y[..., 6] = -1
    y[0, 0, 0, 0, :] = [0.5, 0.5, 0.0, 0.0, 1.0, 1.0, 1.0]      # a no_mask face
    y[0, 1, 1, 0, :] = [0.5, 0.5, 0.0, 0.0, 1.0, 1.0, -1.0]     # a face of no known class
    gt = np.array([[[0.25, 0.25, 0.5, 0.5], [0.75, 0.75, 0.5, 0.5]]], np.float32)
    ig = np.zeros((1, 1, 4), np.float32)
    pred = np.zeros((1, 2, 2, 7), np.float32)

    def cls_part(p, weight=1.0):
        return float(region_loss(tf.constant(p), tf.constant(y), tf.constant(gt), tf.constant(ig), anchors, classes=2,
                                 cls=weight)[1]["cls"])

    assert cls_part(pred) == pytest.approx(np.log(2.0), rel=1e-5)   # two equal logits: ln 2 for the one known face
    right, wrong = pred.copy(), pred.copy()
    right[0, 0, 0, 6] = 5.0
    wrong[0, 0, 0, 5] = 5.0
    assert cls_part(right) < 0.01 < cls_part(wrong)
    # the unknown face's class entries do not matter
    other = pred.copy()
    other[0, 1, 1, 5] = 9.0
    assert cls_part(other) == pytest.approx(cls_part(pred))
    assert cls_part(wrong, 0.0) == 0.0


@pytest.mark.tf
def test_init_from_a_folded_one_class_detector(tmp_path):
    """model.init: a shipped (BN-folded) 1-class detector starts a 2-class net that computes the same
    boxes and objectness, with equal class logits."""
    from picoface.train.model import build_model, fold_batchnorm
    from picoface.train.pretrained import load_trained

    one = load_config(None, ["input.w=64", "input.h=64", "model.extra_blocks=0", "model.anchors=2"])
    two = load_config(None, ["input.w=64", "input.h=64", "model.extra_blocks=0", "model.anchors=2", "model.classes=2",
                             "model.labels=[mask, no_mask]"])
    rng = np.random.default_rng(0)
    src = build_model(one.model, 64, 64)
    for layer in src.layers:               # trained-looking BN statistics and weights
        ws = layer.get_weights()
        if ws:
            layer.set_weights([w + rng.normal(0, 0.1, w.shape).astype(np.float32) if i != 3 else
                               np.abs(w) + rng.uniform(0.5, 2, w.shape).astype(np.float32) for i, w in enumerate(ws)])
    folded = fold_batchnorm(src, one.model)
    images = rng.integers(0, 256, (24, 64, 64, 3)).astype(np.uint8)
    path = tmp_path / "picoface.keras"
    folded.save(path)
    dst = build_model(two.model, 64, 64)
    done = load_trained(dst, path, 2, 2, images)
    assert "region" in done and "stem_bn" in done
    x = images[:4].astype(np.float32) / 255.0
    a = folded.predict(x, verbose=0).reshape(4, 4, 4, 2, 6)
    b = dst.predict(x, verbose=0).reshape(4, 4, 4, 2, 7)
    np.testing.assert_allclose(b[..., :5], a[..., :5], atol=2e-3)
    assert np.abs(b[..., 5:]).max() == 0.0
    wider = load_config(None, ["input.w=64", "input.h=64", "model.extra_blocks=0", "model.anchors=2", "model.width=0.5"])
    with pytest.raises(PicofaceError, match="model.init layer"):
        load_trained(build_model(wider.model, 64, 64), path, 2, 1, images)
    with pytest.raises(PicofaceError, match="not a readable"):
        load_trained(dst, tmp_path / "missing.keras", 2, 2, images)


@pytest.mark.tf
@pytest.mark.slow
def test_train_a_two_class_detector(tmp_path, capsys):
    from picoface.cli import main
    from picoface.contract import load_contract
    from picoface.train.synthetic import make_dataset

    for name, seed, n in (("syn_train", 1, 16), ("syn_val", 2, 6)):
        folder = tmp_path / "data" / name
        make_dataset(folder, n=n, size=(96, 72), seed=seed)
        lines = [json.loads(x) for x in (folder / "annotations.jsonl").read_text().splitlines()]
        for i, rec in enumerate(lines):
            rec["labels"] = ["with_mask" if (i + k) % 2 else "without_mask" for k in range(len(rec["boxes"]))]
        (folder / "annotations.jsonl").write_text("\n".join(json.dumps(r) for r in lines) + "\n")
    cfg = tmp_path / "exp.yaml"
    cfg.write_text("""
name: tiny_mask
out: %(out)s
run_dir: %(run)s
input: {w: 64, h: 64, fit: stretch}
model: {width: 0.25, extra_blocks: 0, classes: 2, labels: [mask, no_mask]}
data: {root: %(data)s, train: [syn_train], val: syn_val, val_min_size: 4, cache_side: 96,
       classes: {syn_train: {"label:with_mask": mask, "label:without_mask": no_mask}}}
train: {epochs: 1, batch_size: 8, steps_per_epoch: 2, warmup_epochs: 0, threads: 2}
export: {formats: [tflite-float], calib_images: 8, board: openmv_h7, parity_tolerance: 1.0}
""" % {"out": tmp_path / "out", "run": tmp_path / "run", "data": tmp_path / "data"})
    assert main(["train", "--config", str(cfg), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "classes: syn_train: mask " in out and " cls " in out
    c = load_contract(tmp_path / "out" / "model.json", check_file=True)
    assert c["output"]["classes"] == 2 and c["output"]["labels"] == ["mask", "no_mask"]
    from picoface.litert import interpreter

    it = interpreter(str(tmp_path / "out" / c["file"]))
    assert it.get_output_details()[0]["shape"][-1] == len(c["output"]["anchors"]) * 7
    assert "cls" in (tmp_path / "run" / "log.csv").read_text().splitlines()[0].split(",")
