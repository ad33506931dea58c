"""Faces a set left unlabelled become ignore regions (data.unlabelled)."""

import json

import numpy as np
import pytest

from picoface.data.unlabelled import mark_unlabelled, unlabelled_boxes
from picoface.evaluate.ap import iou_matrix
from picoface.train.config import load_config


def test_only_confident_detections_that_overlap_nothing_known_are_kept():
    boxes = np.array([[10, 10, 20, 24]], np.float32)
    ignore = np.array([[100, 100, 30, 30]], np.float32)
    dets = np.array([
        [11, 11, 20, 24, 0.95],     # the labelled face
        [102, 98, 28, 31, 0.9],     # inside an ignore box already
        [50, 60, 16, 20, 0.8],      # a new face
        [200, 60, 16, 20, 0.3],     # too unsure
        [150, 20, 0, 20, 0.9],      # degenerate
        [24, 10, 20, 24, 0.9],      # IoU ~0.27 with the label: a neighbour, kept
    ], np.float32)
    got = unlabelled_boxes(boxes, ignore, dets, score=0.5, max_iou=0.3)
    np.testing.assert_array_equal(got, dets[[2, 5]])
    assert unlabelled_boxes(np.zeros((0, 4)), np.zeros((0, 4)), dets, score=0.85).shape == (3, 5)
    assert unlabelled_boxes(boxes, ignore, np.zeros((0, 5))).shape == (0, 5)


def test_unlabelled_is_validated():
    from picoface.errors import PicofaceError

    with pytest.raises(PicofaceError, match="data.unlabelled names 'facemask_kagle'.*did you mean 'facemask_kaggle'"):
        load_config(None, ["data.unlabelled=[facemask_kagle]"])
    with pytest.raises(PicofaceError, match="unlabelled_score"):
        load_config(None, ["data.unlabelled=[facemask_kaggle]", "data.unlabelled_score=0"])
    with pytest.raises(PicofaceError, match="unlabelled_face_score"):
        load_config(None, ["data.unlabelled=[facemask_kaggle]", "data.unlabelled_face_score=0.3"])


def _photos(data_root, n):
    from picoface.data.sample import Sample

    folder = data_root / "facemask_kaggle"
    out = []
    for line in (folder / "annotations.jsonl").read_text().splitlines()[:n]:
        a = json.loads(line)
        out.append(Sample(image_path=folder / a["image"], width=a["width"], height=a["height"],
                          boxes=np.asarray(a["boxes"], np.float32).reshape(-1, 4),
                          ignore=np.zeros((0, 4), np.float32), source="facemask_kaggle"))
    return out


@pytest.mark.slow
def test_a_face_whose_label_is_dropped_comes_back_as_an_ignore_region(anchors, data_root):
    """Real photos, Ultra-Light RFB-320: drop the label of a face it sees, and that face is ignored."""
    from picoface.data import read_image
    from picoface.data.sample import Sample
    from picoface.detectors import open_reference

    det = open_reference(anchors / "ultralight_1mb" / "version-RFB-320.onnx")
    tried = 0
    for s in _photos(data_root, 40):
        if len(s.boxes) < 2:
            continue
        d = np.asarray(det.detect(read_image(s.image_path)), np.float64).reshape(-1, 5)
        d = d[d[:, 4] >= 0.8]
        if not len(d):
            continue
        m = iou_matrix(s.boxes, d[:, :4])
        seen = np.nonzero(m.max(axis=1) >= 0.5)[0]
        if not len(seen):
            continue
        drop = int(seen[np.argmax(s.boxes[seen, 2])])
        dropped = s.boxes[drop].copy()
        s.boxes = np.delete(s.boxes, drop, axis=0)
        labels = s.boxes.copy()
        sure = Sample(image_path=s.image_path, width=s.width, height=s.height, boxes=labels.copy(),
                      ignore=np.zeros((0, 4), np.float32), source=s.source)
        added, faces = mark_unlabelled([s], det, score=0.5)
        assert added == len(s.ignore) >= 1 and faces == 0
        assert iou_matrix(dropped[None], s.ignore).max() >= 0.5       # the dropped face is now ignored
        assert iou_matrix(s.ignore, s.boxes).max() < 0.3              # no labelled face is
        # face_score: what the reference is sure of comes back as a face, the rest as ignore
        added, faces = mark_unlabelled([sure], det, score=0.5, face_score=0.8)
        assert faces >= 1 and added + faces == len(s.ignore)
        assert iou_matrix(dropped[None], sure.boxes[len(labels):]).max() >= 0.5
        np.testing.assert_array_equal(sure.boxes[:len(labels)], labels)
        tried += 1
        if tried == 3:
            break
    assert tried == 3


@pytest.mark.slow
def test_training_cache_gets_the_ignore_regions(anchors, data_root):
    from picoface.train import trainset

    base = ["data.root=%s" % data_root, "data.train=[facemask_kaggle]", "data.max_images=12", "input.w=320",
            "input.h=240", "data.unlabelled_detector=%s" % (anchors / "ultralight_1mb" / "version-RFB-320.onnx")]
    plain = trainset.load_train_cache(load_config(None, base), progress=False)
    lines = []
    marked = trainset.load_train_cache(load_config(None, base + ["data.unlabelled=[facemask_kaggle]"]),
                                       progress=False, log=lines.append)
    n_plain = sum(len(x) for x in plain.ignore)
    n_marked = sum(len(x) for x in marked.ignore)
    assert n_marked > n_plain
    assert lines and lines[0].startswith("unlabelled faces: %d ignore regions added in 12 photos of facemask_kaggle"
                                         % (n_marked - n_plain))
    for a, b in zip(plain.boxes, marked.boxes):
        np.testing.assert_array_equal(a, b)                           # labels untouched


def test_a_missing_reference_detector_is_one_clear_error(tmp_path):
    from picoface.errors import PicofaceError
    from picoface.train import trainset
    from picoface.train.synthetic import make_dataset

    syn = make_dataset(tmp_path / "syn", n=2, size=(96, 72), seed=1)
    cfg = load_config(None, ["data.root=%s" % syn.parent, "data.train=[syn]", "data.unlabelled=[syn]",
                             "data.unlabelled_detector=%s" % (tmp_path / "absent.onnx"), "input.w=64", "input.h=64"])
    with pytest.raises(PicofaceError, match="data.unlabelled_detector .*absent.onnx not found") as e:
        trainset.load_train_cache(cfg, progress=False)
    assert "drop data.unlabelled" in e.value.todo
