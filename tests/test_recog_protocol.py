"""The LFW protocols on synthetic scores and embeddings with known answers: k-fold accuracy with
thresholds from the other folds, TAR at FAR, ROC, open-set DIR at FAR; and the pairs.txt parser."""

import numpy as np
import pytest

from picoface.errors import PicofaceError
from picoface.recog import openset, protocol
from picoface.recog.lfw import parse_pairs, person_of


def _pairs_from_embeddings(emb, folds=10, n=300, seed=0):
    """Scores of LFW-shaped pairs over people 'p' with embeddings emb(person, photo)."""
    rng = np.random.default_rng(seed)
    scores, same, fold = [], [], []
    for f in range(folds):
        for k in range(2 * n):
            p = rng.integers(10**6)
            q = p if k < n else p + 1
            a, b = emb(p, 0), emb(q, 1)
            scores.append(protocol.cosine(a[None], b[None])[0])
            same.append(k < n)
            fold.append(f)
    return np.array(scores), np.array(same), np.array(fold)


def test_perfect_embeddings_give_accuracy_one():
    def emb(p, i):
        return np.random.default_rng(p).normal(size=64)      # a person's photos share one vector
    s, y, f = _pairs_from_embeddings(emb)
    r = protocol.verify(s, y, f)
    assert r["kfold"]["mean"] == 1.0 and r["kfold"]["std"] == 0.0
    assert len(r["kfold"]["fold_accuracy"]) == 10 and r["pairs"] == 6000 and r["positives"] == 3000
    assert r["tar_at_far"]["0.001"]["tar"] == 1.0 and r["tar_at_far"]["0.01"]["tar"] == 1.0


def test_random_embeddings_give_about_one_half():
    def emb(p, i):
        return np.random.default_rng(p * 2 + i).normal(size=64)  # nothing shared between photos
    s, y, f = _pairs_from_embeddings(emb)
    r = protocol.verify(s, y, f)
    assert 0.45 < r["kfold"]["mean"] < 0.55
    assert r["tar_at_far"]["0.01"]["tar"] < 0.05


def test_a_planted_threshold_is_found():
    t, acc = protocol.best_threshold([0.7, 0.8, 0.9, 0.1, 0.2, 0.3], [1, 1, 1, 0, 0, 0])
    assert t == pytest.approx(0.5) and acc == 1.0
    # one positive below every negative: the best threshold still separates all but it
    t, acc = protocol.best_threshold([0.7, 0.8, 0.05, 0.1, 0.2, 0.3], [1, 1, 1, 0, 0, 0])
    assert t == pytest.approx(0.5) and acc == pytest.approx(5 / 6)


def test_fold_thresholds_come_only_from_the_other_folds():
    # fold 0 alone would pick 0.7 (accuracy 1); fold 1 picks 0.375. Each fold is scored with the other's.
    s = [0.9, 0.8, 0.6, 0.5, 0.55, 0.95, 0.1, 0.2]
    y = [1, 1, 0, 0, 1, 1, 0, 0]
    f = [0, 0, 0, 0, 1, 1, 1, 1]
    r = protocol.kfold(s, y, f)
    assert r["fold_threshold"] == pytest.approx([0.375, 0.7])
    assert r["fold_accuracy"] == pytest.approx([0.5, 0.75])        # with its own threshold fold 0 would be 1.0
    assert protocol.best_threshold(s[:4], y[:4])[1] == 1.0
    assert r["mean"] == pytest.approx(0.625) and r["std"] == pytest.approx(0.125)
    assert r["threshold_from"] == "other folds"


def test_tar_at_far_counts_false_accepts_without_interpolation():
    neg = np.linspace(0.0, 0.9, 3000)
    pos = np.full(1000, 0.95)                   # above every negative ...
    pos[:100] = (neg[-2] + neg[-3]) / 2         # ... but 10 % between the 2nd and 3rd highest negatives
    s = np.concatenate([pos, neg])
    y = np.concatenate([np.ones(1000, bool), np.zeros(3000, bool)])
    t3 = protocol.tar_at_far(s, y, 1e-3)        # at most 3 of 3,000 negatives accepted
    assert t3["false_accepts"] == 3 and t3["threshold"] == pytest.approx(neg[-4])
    assert t3["negatives"] == 3000 and t3["tar"] == 1.0
    strict = protocol.tar_at_far(s, y, 3e-4)    # floor(0.9) = 0 false accepts
    assert strict["false_accepts"] == 0 and strict["threshold"] == pytest.approx(neg[-1])
    assert strict["tar"] == pytest.approx(0.9)
    far, tar, ts = protocol.roc(s, y)
    assert far[0] == 0 and tar[-1] == 1.0 and far[-1] == 1.0
    assert (np.diff(far) >= 0).all() and (np.diff(tar) >= 0).all()


def test_pairs_parser_reads_folds_and_names():
    text = "2\t1\nAnn_B\t1\t2\nAnn_B\t1\tCarl_D\t3\nEve_F\t2\t4\nEve_F\t1\tGil_H\t1\n"
    p = parse_pairs(text)
    assert [(x.fold, x.a, x.b, x.same) for x in p] == [
        (0, "Ann_B_0001.jpg", "Ann_B_0002.jpg", True), (0, "Ann_B_0001.jpg", "Carl_D_0003.jpg", False),
        (1, "Eve_F_0002.jpg", "Eve_F_0004.jpg", True), (1, "Eve_F_0001.jpg", "Gil_H_0001.jpg", False)]
    assert person_of("Carl_D_0003.jpg") == "Carl_D"


@pytest.mark.parametrize("text,needle", [
    ("", "is empty"),
    ("ten 300\n", "line 1: header"),
    ("2\t1\nAnn_B\t1\t2\nAnn_B\t1\tCarl_D\t3\n", "has 2 pair lines"),
    ("1\t1\nAnn_B\t1\t2\t3\nAnn_B\t1\tCarl_D\t3\n", "line 2: expected a same-person pair"),
    ("1\t1\nAnn_B\t1\t2\nAnn_B\t1\t3\n", "line 3: expected a different-person pair"),
    ("1\t1\nAnn_B\tx\t2\nAnn_B\t1\tCarl_D\t3\n", "line 2: image index 'x'"),
    ("1\t1\nAnn_B\t0\t2\nAnn_B\t1\tCarl_D\t3\n", "below 1"),
    ("1\t1\nAnn_B\t2\t2\nAnn_B\t1\tCarl_D\t3\n", "with itself"),
    ("1\t1\nAnn_B\t1\t2\nAnn_B\t1\tAnn_B\t3\n", "names Ann_B twice"),
])
def test_pairs_parser_refuses_a_malformed_file(text, needle):
    with pytest.raises(PicofaceError) as e:
        parse_pairs(text, "pairs.txt")
    assert needle in str(e.value) and "View-2 pairs.txt" in str(e.value)
    assert "\n" not in str(e.value)


def _people(n_people=60, seed=3):
    rng = np.random.default_rng(seed)
    return {"P%03d" % i: ["P%03d_%04d.jpg" % (i, k + 1) for k in range(int(rng.integers(1, 6)))]
            for i in range(n_people)}


def test_openset_split_is_deterministic_and_well_formed():
    people = _people()
    g, known, unknown = openset.split(people, seed=5)
    assert (g, known, unknown) == openset.split(people, seed=5)
    assert openset.split(people, seed=6)[0] != g
    multi = [p for p in people if len(people[p]) >= 2]
    assert len(g) == round(len(multi) / 2)
    for p, photos in g.items():
        assert 1 <= len(photos) <= 3 and len(photos) < len(people[p])
        assert set(photos) | {x for x, q in known if q == p} == set(people[p])
    assert {x for x, _ in known}.isdisjoint(unknown)
    assert all(person_of(x) not in g for x in unknown)
    assert len(unknown) == sum(len(v) for p, v in people.items() if p not in g)


def test_openset_dir_at_far_on_a_planted_gallery():
    people = _people(80)
    g, known, unknown = openset.split(people, seed=1)
    names = sorted(people)
    dim = len(names) + len(unknown) + 1
    basis = np.eye(dim)
    emb = {}
    for i, p in enumerate(names):
        for x in people[p]:
            emb[x] = basis[i]                              # every photo of a person: that person's vector
    enrolled = sorted(g)
    wrong = {x for x, p in known[::4]}                     # a quarter of known probes look like someone else
    for x, p in known:
        if x in wrong:
            emb[x] = basis[names.index(enrolled[(enrolled.index(p) + 1) % len(enrolled)])]
    # unknown probes: cosine s_u with one enrolled person, s_u spread evenly over [0, 0.98]
    su = np.linspace(0.0, 0.98, len(unknown))
    for k, (x, s) in enumerate(zip(unknown, su)):
        emb[x] = s * basis[names.index(enrolled[k % len(enrolled)])] + np.sqrt(1 - s * s) * basis[len(names) + k]
    r = openset.evaluate(emb, people, seed=1, fars=(1e-2, 0.1))
    assert r["known_probes"] == len(known) and r["unknown_probes"] == len(unknown)
    expect = 1 - len(wrong) / float(len(known))
    assert r["rank1"] == pytest.approx(expect)
    for far in (0.01, 0.1):
        d = r["dir_at_far"]["%g" % far]
        k = int(np.floor(far * len(unknown) + 1e-9))
        assert d["false_alarms"] == k
        assert d["threshold"] == pytest.approx(np.sort(su)[::-1][k])
        assert d["dir"] == pytest.approx(expect)       # every known probe scores 1.0, above any threshold
    # a probe scoring below the threshold is not detected even when it is matched correctly
    ident = {"known_score": np.array([0.9, 0.5]), "known_correct": np.array([True, True]),
             "unknown_score": np.linspace(0, 0.8, 100)}
    d = openset.dir_at_far(ident, 0.0)
    assert d["threshold"] == pytest.approx(0.8) and d["dir"] == 0.5 and d["false_alarms"] == 0
