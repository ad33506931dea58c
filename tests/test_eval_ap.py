"""AP math against hand-computed values: PR points, all-point interpolation, ignore, ties."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from picoface.data import Sample
from picoface.evaluate import match_centroids, match_image, pr_curve, score, voc_ap
from picoface.evaluate.ap import FP, IGNORED, TP, iou_matrix

G1 = [0, 0, 10, 10]
G2 = [20, 0, 10, 10]
FAR = [100, 100, 10, 10]


def S(boxes, ignore=()):
    return Sample("x.jpg", 200, 200, boxes, list(ignore), "t")


def ap(dets_per_image, samples, iou=0.5, kind="box"):
    res = score([np.asarray(d, np.float32).reshape(-1, 5) for d in dets_per_image], samples, iou=(iou,), kind=kind)
    return next(iter(res["results"].values()))


def test_iou_matrix():
    m = iou_matrix([[0, 0, 10, 10], [5, 0, 10, 10]], [[0, 0, 10, 10], [50, 50, 1, 1]])
    np.testing.assert_allclose(m, [[1, 0], [50 / 150, 0]])


def test_voc_ap_all_point_interpolation():
    assert voc_ap([0.5, 1.0], [1.0, 0.5]) == pytest.approx(0.75)
    # precision envelope: the 0.5 at recall 0.5 is lifted to 2/3 by the later point
    assert voc_ap([0.25, 0.5, 0.75], [1.0, 0.5, 2 / 3]) == pytest.approx(0.25 + 0.25 * 2 / 3 + 0.25 * 2 / 3)
    assert voc_ap([], []) == 0.0


def test_tp_fp_tp_hand_computed():
    # scores .9 TP, .8 FP, .7 TP, 2 faces: PR points (.5, 1), (.5, .5), (1, 2/3)
    r = ap([[G1 + [0.9], FAR + [0.8], G2 + [0.7]]], [S([G1, G2])])
    rec, prec, thr = r["_pr_full"]
    np.testing.assert_allclose(rec, [0.5, 0.5, 1.0])
    np.testing.assert_allclose(prec, [1.0, 0.5, 2 / 3])
    np.testing.assert_allclose(thr, [0.9, 0.8, 0.7], rtol=1e-6)
    assert r["ap"] == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    assert (r["true_positives"], r["false_positives"], r["faces"]) == (2, 1, 2)
    # same detections split over two images give the same AP
    r2 = ap([[G1 + [0.9], FAR + [0.8]], [G2 + [0.7]]], [S([G1]), S([G2])])
    assert r2["ap"] == pytest.approx(r["ap"])


def test_ties_enter_the_curve_together():
    # one face; a TP and an FP with the same score, in either order / image: P = .5 at R = 1
    a = ap([[G1 + [0.5]], [FAR + [0.5]]], [S([G1]), S([])])
    b = ap([[FAR + [0.5]], [G1 + [0.5]]], [S([]), S([G1])])
    c = ap([[FAR + [0.5], G1 + [0.5]]], [S([G1])])
    assert a["ap"] == b["ap"] == c["ap"] == pytest.approx(0.5)
    rec, prec, _ = a["_pr_full"]
    np.testing.assert_allclose(rec, [1.0]) and np.testing.assert_allclose(prec, [0.5])


def test_ignore_regions_and_ignored_faces():
    big = [50, 50, 100, 100]
    # .95 on an ignore region (IoU >= .5) is neither TP nor FP: AP 1
    r = ap([[[52, 52, 98, 98, 0.95], G1 + [0.9]]], [S([G1], [big])])
    assert r["ap"] == pytest.approx(1.0) and r["ignored_detections"] == 1 and r["false_positives"] == 0
    # without the ignore region it is a false positive ranked first: AP .5
    assert ap([[[52, 52, 98, 98, 0.95], G1 + [0.9]]], [S([G1])])["ap"] == pytest.approx(0.5)
    # small box mostly inside a big ignore region (IoU << .5) is ignored too
    r = ap([[[60, 60, 10, 10, 0.95], G1 + [0.9]]], [S([G1], [big])])
    assert r["ap"] == pytest.approx(1.0) and r["ignored_detections"] == 1
    # ...but one that only grazes it is a false positive
    r = ap([[[140, 140, 30, 30, 0.95], G1 + [0.9]]], [S([G1], [big])])
    assert r["ap"] == pytest.approx(0.5)
    # an ignored face (e.g. too small) is not counted: found nothing there, recall still 1
    r = ap([[G1 + [0.9]]], [S([G1], [G2])])
    assert r["faces"] == 1 and r["ap"] == pytest.approx(1.0)
    # a detection that matches a real face is a TP even when it also overlaps an ignore region
    labels, _ = match_image(np.array([G1 + [0.9]]), np.array([G1]), np.array([G1]), 0.5)
    assert labels.tolist() == [TP]


def test_greedy_matching_duplicates_and_iou_threshold():
    # two detections on one face: the second is a false positive
    labels, gsc = match_image(np.array([G1 + [0.8], [1, 0, 10, 10, 0.9]]), np.array([G1]), np.zeros((0, 4)), 0.5)
    assert labels.tolist() == [FP, TP] and gsc.tolist() == [pytest.approx(0.9)]
    # IoU 1/3 (shift by 5 px): FP at 0.5, TP at 0.3
    shifted = [[5, 0, 10, 10, 0.9]]
    assert ap([shifted], [S([G1])], iou=0.5)["ap"] == 0.0
    assert ap([shifted], [S([G1])], iou=0.3)["ap"] == pytest.approx(1.0)
    # greedy by score: the best detection takes the face it overlaps most
    labels, _ = match_image(np.array([[2, 0, 10, 10, 0.5], [0, 0, 12, 10, 0.9]]), np.array([G1]), np.zeros((0, 4)), 0.5)
    assert labels.tolist() == [FP, TP]


def test_empty_cases():
    assert ap([[]], [S([G1])])["ap"] == 0.0
    r = ap([[G1 + [0.9]]], [S([])])
    assert r["ap"] is None and r["false_positives"] == 1
    rec, prec, thr = pr_curve([0.9, 0.8], [IGNORED, IGNORED], 3)
    assert len(rec) == 0


def test_recall_by_size_and_operating_point():
    faces = [[0, 0, 10, 10], [20, 0, 30, 30], [60, 0, 100, 100]]
    dets = [[0, 0, 10, 10, 0.3], [20, 0, 30, 30, 0.9]]
    res = score([np.array(dets, np.float32)], [S(faces)], iou=(0.5,), score_threshold=0.5)
    r = res["results"]["0.5"]
    rows = {row["bucket"]: row for row in r["recall_by_size"]}
    assert rows["<20"]["faces"] == 1 and rows["<20"]["recall_any_score"] == 1.0 and rows["<20"]["recall"] == 0.0
    assert rows["20-40"]["recall"] == 1.0 and rows["80-160"]["recall"] == 0.0 and rows["40-80"]["recall"] is None
    assert r["at_threshold"]["precision"] == 1.0 and r["at_threshold"]["recall"] == pytest.approx(1 / 3)
    assert r["best_f1"]["f1"] == pytest.approx(0.8)  # P 1, R 2/3 at score .3
    assert res["ap"] == {"0.5": pytest.approx(2 / 3)}


def test_centroid_metric():
    faces = np.array([G1, G2])
    # centre (5,5) in G1, second centre in G1 again (FP), centre in G2, centre in an ignore region
    dets = np.array([[3, 3, 4, 4, 0.9], [4, 4, 2, 2, 0.8], [22, 2, 4, 4, 0.7], [60, 60, 2, 2, 0.95]], np.float32)
    labels, gsc = match_centroids(dets, faces, np.array([[50, 50, 20, 20]]))
    assert labels.tolist() == [TP, FP, TP, IGNORED]
    r = ap([dets], [S([G1, G2], [[50, 50, 20, 20]])], kind="centroid")
    assert r["metric"] == "centroid" and "centroid" in r["label"] and r["iou"] is None
    assert r["ap"] == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    # a centre inside two faces goes to the one whose centre is nearest
    labels, gsc = match_centroids(np.array([[16, 4, 2, 2, 0.9]]), np.array([[0, 0, 20, 20], [10, 0, 20, 20]]),
                                  np.zeros((0, 4)))
    assert labels.tolist() == [TP] and np.isinf(gsc[0]) and gsc[1] == pytest.approx(0.9)


box = st.tuples(st.integers(0, 90), st.integers(0, 90), st.integers(2, 30), st.integers(2, 30))


@settings(max_examples=60, deadline=None, derandomize=True)
@given(gts=st.lists(box, max_size=6), dets=st.lists(st.tuples(box, st.integers(1, 9)), max_size=10),
       seed=st.integers(0, 1000))
def test_ap_properties(gts, dets, seed):
    sample = S([list(g) for g in gts])
    d = np.array([list(b) + [s / 10] for b, s in dets], np.float32).reshape(-1, 5)
    r = ap([d], [sample])
    if not gts:
        assert r["ap"] is None
        return
    assert 0.0 <= r["ap"] <= 1.0
    # order of the detections does not matter (ties included)
    perm = np.random.default_rng(seed).permutation(len(d))
    assert ap([d[perm]], [sample])["ap"] == pytest.approx(r["ap"])
    # the ground truth itself, ranked first, is perfect
    oracle = np.array([list(g) + [1.0] for g in gts], np.float32)
    assert ap([np.vstack([oracle, d])], [sample])["ap"] == pytest.approx(1.0) or len(set(gts)) < len(gts)
    # detections inside an ignore region far from every face change nothing
    far = S([list(g) for g in gts], [[200, 200, 50, 50]])
    extra = np.array([[205, 205, 20, 20, 0.95]], np.float32)
    assert ap([np.vstack([d, extra])], [far])["ap"] == pytest.approx(r["ap"])
    # a looser IoU threshold never lowers AP
    assert ap([d], [sample], iou=0.3)["ap"] >= r["ap"] - 1e-9
