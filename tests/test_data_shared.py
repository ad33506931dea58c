"""Every ../shared/data set loads without errors, with the counts its SOURCE.md states."""

import json
from collections import Counter

import numpy as np
import pytest

from picoface.data import load_dataset, widerface_eval_set

pytestmark = pytest.mark.shared

# name -> (images, face boxes, ignore regions) from each SOURCE.md
EXPECTED = {
    "facemask_kaggle": (853, 4072, 0),
    "pseudo_facemask_cdeb": (1209, 1528, 192),
    "pseudo_lfw": (2400, 4297, 625),
    "roboflow_face_mik1i": (282, 348, 0),
    "roboflow_thesis_faces": (1147, 1155, 0),
    "fddb_annotations_only": (2845, 5171, 0),
}


def _counts(samples):
    return len(samples), sum(len(s.boxes) for s in samples), sum(len(s.ignore) for s in samples)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_shared_set_counts(data_root, name):
    d = data_root / name
    if not d.is_dir():
        pytest.skip("%s is absent" % name)
    samples = load_dataset(d)
    assert _counts(samples) == EXPECTED[name]
    assert all(s.source == name for s in samples)
    if name != "fddb_annotations_only":
        assert all(s.image_path.is_file() for s in samples)
        assert all(s.width and s.height for s in samples)


def test_shared_set_details(data_root):
    labels = Counter(l for s in load_dataset(data_root / "facemask_kaggle") for l in s.meta["labels"])
    assert labels == {"with_mask": 3232, "without_mask": 717, "mask_weared_incorrect": 123}
    lfw = load_dataset(data_root / "pseudo_lfw")
    assert {(s.width, s.height) for s in lfw} == {(250, 250)}
    assert all(len(s.meta["scores"]) == len(s.boxes) for s in lfw)
    assert {(s.width, s.height) for s in load_dataset(data_root / "roboflow_thesis_faces")} == {(416, 416)}
    assert {(s.width, s.height) for s in load_dataset(data_root / "roboflow_face_mik1i")} == {(640, 640)}


def test_widerface_val(data_root):
    d = data_root / "widerface_val"
    raw = [json.loads(line) for line in (d / "annotations.jsonl").read_text().splitlines()]
    total = sum(len(r["boxes"]) for r in raw)
    # SOURCE.md: 4372 boxes; the copy laid out on 2026-12-07 lacks the zero-width one
    assert len(raw) == 200 and total in (4371, 4372)
    invalid = sum(a["invalid"] for r in raw for a in r["attrs"])
    samples = load_dataset(d)
    n, faces, ign = _counts(samples)
    # invalid faces -> ignore; dropped: the "no face" placeholder [0,0,0,0] and any zero-width box
    degenerate = sum(1 for r in raw for b in r["boxes"] if b[2] <= 0 or b[3] <= 0)
    assert degenerate >= 1 and (n, ign) == (200, invalid) and faces + ign == total - degenerate
    ev = widerface_eval_set(d, min_size=20)
    n2, faces2, ign2 = _counts(ev)
    assert faces2 + ign2 == faces + ign and 0 < faces2 < faces
    sizes = np.concatenate([np.sqrt(s.boxes[:, 2] * s.boxes[:, 3]) for s in ev])
    assert sizes.min() >= 20


def test_fddb_raw_lists_match_jsonl(data_root):
    d = data_root / "fddb_annotations_only"
    from_jsonl = load_dataset(d)
    from_lists = load_dataset(d / "FDDB-folds")
    assert len(from_lists) == 2845 and sum(len(s.boxes) for s in from_lists) == 5171
    assert Counter(s.meta["fold"] for s in from_lists) == Counter(s.meta["fold"] for s in from_jsonl)
    for a, b in zip(from_jsonl, from_lists):
        assert a.image_path.relative_to(d) == b.image_path.relative_to(d)
        np.testing.assert_allclose(a.boxes, b.boxes, atol=0.011)
    assert from_jsonl[0].width is None
