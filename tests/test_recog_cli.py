"""`picoface recog eval` / `recog bench` end to end on a tiny LFW-like folder made here (synthetic
"people" + a 2-fold pairs.txt) with the pixels baseline embedder; resume from the cache; bad input;
YuNet landmarks and dlib on the real LFW kit when they are here."""

import json

import numpy as np
import pytest

from picoface.cli import main
from picoface.recog import run as recog_run
from picoface.recog.landmarks import CENTRE, Landmarker
from picoface.recog.lfw import LFW

PEOPLE = 8
PHOTOS = 4


def make_lfw(d, n_pairs=3):
    """PEOPLE synthetic people (a smooth random pattern each) x PHOTOS photos (shifted, brightened,
    noisy), and a pairs.txt of 2 folds x n_pairs (people 0-3 in fold 1, 4-7 in fold 2)."""
    import cv2

    (d / "images").mkdir(parents=True)
    rng = np.random.default_rng(7)
    for p in range(PEOPLE):
        base = cv2.resize(rng.uniform(0, 255, (6, 6, 3)).astype(np.float32), (96, 96), interpolation=cv2.INTER_CUBIC)
        for k in range(PHOTOS):
            dx, dy = rng.integers(-2, 3, 2)
            img = np.roll(base, (dy, dx), (0, 1)) * rng.uniform(0.9, 1.1) + rng.normal(0, 6, base.shape)
            cv2.imwrite(str(d / "images" / ("Person_%d_%04d.jpg" % (p, k + 1))), np.clip(img, 0, 255).astype(np.uint8))
    lines = ["2\t%d" % n_pairs]
    for fold in range(2):
        ppl = list(range(4 * fold, 4 * fold + 4))
        for i in range(n_pairs):
            lines.append("Person_%d\t%d\t%d" % (ppl[i], 1 + i % 2, 3 + i % 2))
        for i in range(n_pairs):
            lines.append("Person_%d\t%d\tPerson_%d\t%d" % (ppl[i], 1 + i, ppl[(i + 1) % 4], 2))
    (d / "pairs.txt").write_text("\n".join(lines) + "\n")
    return d


@pytest.fixture()
def tiny(tmp_path):
    return make_lfw(tmp_path / "lfw")


def test_recog_eval_end_to_end_on_a_tiny_set(tiny, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["recog", "eval", "--data", str(tiny), "--embedder", "pixels", "--landmarks", "centre",
               "--out", str(out), "--no-progress"])
    text = capsys.readouterr().out
    assert rc == 0, text
    r = json.loads((out / "recog_eval.json").read_text())
    assert r["name"] == "pixels" and r["folds"] == 2 and r["dim"] == 1024
    v = r["verification"]
    assert v["pairs"] == 12 and v["positives"] == 6
    assert len(v["kfold"]["fold_accuracy"]) == 2 and v["kfold"]["threshold_from"] == "other folds"
    assert v["kfold"]["mean"] >= 5 / 6        # each person's photos share a pattern: pixels separate them
    assert set(v["tar_at_far"]) == {"0.01", "0.001"}
    used = LFW(tiny).images
    assert len(used) == 16
    assert r["landmarks"] == {"source": "centre", "images": 16, "found": 0, "fallback": 16,
                              "describe": Landmarker("centre").describe}
    o = r["openset"]
    assert o["enrolled_people"] == 3 and o["known_probes"] + o["gallery_photos"] + o["unknown_probes"] == 16
    assert 0 <= o["dir_at_far"]["0.01"]["dir"] <= 1
    md = (out / "recog_eval.md").read_text()
    assert "LFW accuracy (2-fold)" in md and "16 used the fallback" in md and "roc.png" in md
    assert (out / "roc.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "pixels" in text and "wrote" in text


def test_recog_bench_writes_the_table_rows(tiny, tmp_path, capsys):
    out = tmp_path / "bench"
    rc = main(["recog", "bench", "--data", str(tiny), "--embedders", "pixels", "--landmarks", "centre",
               "--out", str(out), "--no-progress"])
    assert rc == 0
    r = json.loads((out / "recog.json").read_text())
    (row,) = r["rows"]
    assert {"name", "format", "bytes", "lfw_acc", "lfw_std", "tar_at_far_1e-3", "tar_at_far_1e-2",
            "dir_at_far_1e-2", "dir_threshold_at_far_1e-2", "ms_per_face"} <= set(row)
    assert row["name"] == "pixels" and row["format"] == "reference" and 0 < row["lfw_acc"] <= 1
    assert row["ms_per_face"] > 0
    from picoface.recog.embedders import available

    # only embedders that cannot run here are listed as not run, each with its reason
    assert r["not_run"] == {n: why for n, why in available().items() if why}
    md = (out / "recog.md").read_text()
    assert "| pixels | reference |" in md and ("Not run:" in md) == bool(r["not_run"])
    assert (out / "recog_roc.png").stat().st_size > 1000
    assert (out / "cache" / "emb-pixels-centre.npz").is_file()


def test_recog_bench_runs_canaans_k210_model_in_the_v4_runtime(anchors, tiny, tmp_path, capsys):
    model = anchors / "k210_canmv_face_recog" / "feature_extraction.kmodel"
    if not model.is_file():
        pytest.skip("../shared/anchors/k210_canmv_face_recog is absent")
    out = tmp_path / "bench"
    rc = main(["recog", "bench", "--data", str(tiny), "--embedders", "canaan-k210,pixels", "--landmarks", "centre",
               "--out", str(out), "--no-progress"])
    text = capsys.readouterr().out
    assert rc == 0, text
    r = json.loads((out / "recog.json").read_text())
    row = {x["name"]: x for x in r["rows"]}["canaan-k210"]
    assert row["format"] == "kmodel-v4" and row["bytes"] == model.stat().st_size == 1108368
    assert row["ms_per_face"] > 0 and 0 < row["lfw_acc"] <= 1
    res = {x["name"]: x for x in r["results"]}["canaan-k210"]
    assert res["dim"] == 192 and res["input"] == 64
    vecs = np.load(out / "cache" / "emb-canaan-k210-centre.npz")["emb"]
    assert vecs.shape == (16, 192) and np.all(np.isfinite(vecs))
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1, atol=1e-5)
    assert len({v.tobytes() for v in vecs}) == 16      # 16 different photos, 16 different vectors
    assert "canaan-k210" in text and "kmodel-v4" in text


def test_canaan_alignment_uses_its_integer_template():
    from picoface.recog.embedders import CanaanK210Embedder, canaan_template

    assert canaan_template() == [(21, 29), (42, 29), (32, 40), (23, 52), (40, 52)]
    e = CanaanK210Embedder.__new__(CanaanK210Embedder)  # the alignment alone, no model file needed
    e._dst = canaan_template()
    # landmarks already on the template (plus a fraction the demo truncates away): identity
    m = e.matrix([(x + 0.7, y + 0.2) for x, y in canaan_template()])
    assert np.allclose(m, [[1, 0, 0], [0, 1, 0]], atol=1e-12)
    # twice the size and shifted by (10, 20): scale 1/2, translation back
    m = e.matrix([(2 * x + 10, 2 * y + 20) for x, y in canaan_template()])
    assert np.allclose(m, [[0.5, 0, -5], [0, 0.5, -10]], atol=1e-12)


def test_an_interrupted_run_resumes_from_the_cache(tiny, tmp_path):
    from picoface.recog.embedders import make

    out = tmp_path / "out"
    cache = out / "cache"
    one = LFW(tiny, limit_folds=1)
    lm = Landmarker("centre")
    emb = make("pixels")
    marks = recog_run.landmarks(one, cache, lm, progress=False)
    vecs, _, _ = recog_run.embeddings(one, emb, marks, cache, "centre", progress=False)
    assert sorted(vecs) == one.images
    # plant a marker in the cache: a resumed run must take cached images from it, not recompute them
    path = cache / "emb-pixels-centre.npz"
    z = dict(np.load(path))
    z["emb"][0] = 0.0
    z["emb"][0][:3] = (1.0, 2.0, 3.0)
    np.savez(path, **z)
    both = LFW(tiny)
    marks = recog_run.landmarks(both, cache, lm, progress=False)
    vecs2, _, _ = recog_run.embeddings(both, emb, marks, cache, "centre", progress=False)
    first = str(z["names"][0])
    assert vecs2[first][:3].tolist() == [1.0, 2.0, 3.0]
    assert len(vecs2) == len(both.images) > len(one.images)
    fresh, _, _ = recog_run.embeddings(both, emb, marks, tmp_path / "other", "centre", progress=False)
    for n in both.images:
        if n != first:
            assert np.allclose(fresh[n], vecs2[n])
    assert not np.allclose(fresh[first], vecs2[first])


def _fails(argv, capsys, needle):
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("picoface: ") and needle in lines[0], err
    return lines[0]


def test_bad_input_is_one_clear_line_and_writes_nothing(tiny, tmp_path, capsys):
    out = tmp_path / "out"
    pairs = tiny / "pairs.txt"
    good = pairs.read_text()
    pairs.write_text(good.replace("Person_0\t1\t3", "Person_0\t1\t3\t9", 1))
    _fails(["recog", "eval", "--data", str(tiny), "--embedder", "pixels", "--out", str(out)], capsys,
           "line 2: expected a same-person pair")
    pairs.write_text(good)
    img = tiny / "images" / "Person_5_0002.jpg"
    keep = img.read_bytes()
    img.unlink()
    _fails(["recog", "eval", "--data", str(tiny), "--embedder", "pixels", "--out", str(out)], capsys,
           "missing from")
    img.write_bytes(keep)
    _fails(["recog", "eval", "--data", str(tmp_path / "nope"), "--embedder", "pixels", "--out", str(out)], capsys,
           "does not exist")
    _fails(["recog", "bench", "--data", str(tiny), "--embedders", "pixels,canmv-stock", "--out", str(out)], capsys,
           "unknown embedder 'canmv-stock'")
    _fails(["recog", "eval", "--data", str(tiny), "--embedder", "pixels", "--limit-folds", "0", "--out", str(out)],
           capsys, "--limit-folds")
    _fails(["recog", "eval", "--data", str(tiny), "--embedder", "pixels", "--yunet", str(tmp_path / "x.onnx"),
            "--out", str(out)], capsys, "YuNet model")
    assert not out.exists()


def test_yunet_landmarks_on_lfw_and_the_counted_fallback(anchors, data_root, tiny, tmp_path, capsys):
    import cv2

    kit = data_root / "lfw_pairs"
    if not (kit / "pairs.txt").is_file():
        pytest.skip("../shared/data/lfw_pairs is absent")
    lm = Landmarker("yunet", anchors / "yunet" / "yunet_n_320_320.onnx")
    bgr = cv2.imread(str(kit / "images" / "Abel_Pacheco_0001.jpg"))
    box, pts, score, found = lm.find(bgr)
    assert found and score > 0.5
    h, w = bgr.shape[:2]
    # near the fixed centre landmarks (the kit's median), left eye left of the right eye
    assert np.abs(pts / (w, h) - np.array(CENTRE)).max() < 0.12 and pts[0, 0] < pts[1, 0]
    # the synthetic people have no faces: every image falls back, and the run says so
    out = tmp_path / "out"
    assert main(["recog", "eval", "--data", str(tiny), "--embedder", "pixels", "--out", str(out),
                 "--yunet", str(anchors / "yunet" / "yunet_n_320_320.onnx"), "--no-progress"]) == 0
    r = json.loads((out / "recog_eval.json").read_text())
    assert r["landmarks"]["source"] == "yunet" and r["landmarks"]["fallback"] == 16
    assert "landmarks: 0 of 16 images found, 16 fallback" in capsys.readouterr().out


@pytest.mark.slow
def test_dlib_on_one_real_lfw_fold(data_root, anchors, tmp_path, capsys):
    from picoface.recog.embedders import available

    why = available()["dlib"]
    if why:
        pytest.skip("dlib is not installed here: %s" % why)
    kit = data_root / "lfw_pairs"
    if not (kit / "pairs.txt").is_file():
        pytest.skip("../shared/data/lfw_pairs is absent")
    out = tmp_path / "out"
    assert main(["recog", "eval", "--data", str(kit), "--embedder", "dlib", "--limit-folds", "1",
                 "--out", str(out), "--no-progress"]) == 0
    r = json.loads((out / "recog_eval.json").read_text())
    v = r["verification"]
    assert v["pairs"] == 600 and r["dim"] == 128
    assert v["kfold"]["mean"] > 0.95                 # dlib reports 99.38 % on LFW
    assert v["tar_at_far"]["0.01"]["tar"] > 0.85
    assert r["landmarks"]["found"] >= 0.98 * r["landmarks"]["images"]
    assert r["openset"]["dir_at_far"]["0.01"]["dir"] > 0.5
