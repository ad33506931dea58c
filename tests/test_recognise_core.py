"""pfcore.recognise (mode recognise on the board): the readouts equal the host's (picoface.recog.nets),
the crop stays in the frame, the board's warp is the host pipeline's, matching, known/stranger
hysteresis and enrolment; the same results under real MicroPython; protocol frames and events
carry names."""

import numpy as np
import pytest

from pfcore import protocol, recognise
from picoface.recog import nets
from picoface.recog.pipeline import aligned
import test_micropython as mprun

VECTORS = mprun.ROOT / "tests" / "vectors" / "recognise_vectors.py"


def test_readouts_match_the_host_for_both_layouts():
    rng = np.random.default_rng(0)
    emap = rng.normal(size=(1, 4, 4, 128)).astype(np.float32)
    pmap = rng.normal(size=(1, 4, 4, 160)).astype(np.float32)
    want_e = nets.readout_embed(emap)[0]
    want_p = nets.readout_points(pmap)[0]
    for chw in (True, False):
        fe = (np.transpose(emap[0], (2, 0, 1)) if chw else emap[0]).ravel().tolist()
        fp = (np.transpose(pmap[0], (2, 0, 1)) if chw else pmap[0]).ravel().tolist()
        assert np.allclose(recognise.embedding(fe, 4, 128, chw), want_e, atol=1e-5)
        assert np.allclose(recognise.points(fp, 4, chw), want_p, atol=1e-4)


@pytest.mark.parametrize("box", [[100, 60, 80, 100], [-10, -5, 60, 60], [280, 200, 50, 50], [0, 0, 300, 260]])
def test_crop_roi_is_inside_the_frame(box):
    x, y, w, h = recognise.crop_roi(box, 1.25, 320, 240)
    assert 0 <= x and 0 <= y and x + w <= 320 and y + h <= 240
    assert w == min(320, int(1.25 * max(box[2], box[3]) + 0.5)) and h == min(240, w if w < 240 else 240)
    assert recognise.crop_roi([5, 5, 4, 4], 1.25, 320, 240) is None


def test_board_warp_is_the_host_pipelines():
    rng = np.random.default_rng(3)
    frame = rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)
    from picoface.gate.board_input import rgb565, rgb888

    frame = rgb888(rgb565(frame))
    m = recognise.align_matrix([(130.2, 90.7), (170.9, 88.1), (150.3, 112.0), (135.5, 135.2), (166.0, 133.9)], 64)
    out = np.zeros((64, 64, 3), np.uint8)

    def put(u, v, rgb):
        out[v, u] = rgb
    recognise.warp_nearest(lambda x, y: tuple(frame[y, x]), 320, 240, m, 64, put)
    assert np.array_equal(out, aligned(frame, m, 64))


def test_matching_events_and_enrolment():
    a = recognise.normalise([1.0, 2.0, 3.0])
    b = recognise.normalise([3.0, -1.0, 0.5])
    m = recognise.Matcher([["ann", recognise.quantise(a)], ["bob", recognise.quantise(b)]])
    name, sim = m.best(a)
    assert name == "ann" and sim > 0.99
    assert recognise.Matcher([]).best(a) == (None, -1.0)
    idn = recognise.Identity(known=3, stranger=5, clear=4)
    seq = ["ann"] * 4 + ["?"] * 5 + [None] * 4 + ["ann"] * 3
    ev = [idn.update(x) for x in seq]
    assert [e for e in ev if e] == [("known", "ann"), ("stranger", ""), ("known", "ann")]
    assert ev.index(("known", "ann")) == 2 and ev.index(("stranger", "")) == 8
    held = recognise.Identity(known=3, stranger=5, clear=4)
    for x in ["?"] * 4:
        assert held.update(x) is None
    held.hold()                     # an enrolment frame: the run of strangers starts again
    assert [held.update(x) for x in ["?"] * 5][-1] == ("stranger", "")
    en = recognise.Enrolment("ann", 2, 5, 0, timeout_ms=1000)
    assert not en.done()
    en.offer([1.0, 0.0], 1)
    en.offer([0.0, 1.0], 2)
    assert en.done() and np.allclose(en.mean(), [0.7071, 0.7071], atol=1e-4)
    assert recognise.free_name(["face1", "face2", "x"]) == "face3"


def test_protocol_carries_names_and_recognition_events():
    line = protocol.encode_frame(7, 1000, 9.5, [[10, 20, 30, 40, 0.9, "ann lee", 0.734], [1, 2, 3, 4, 0.5]])
    d = protocol.decode(line)
    assert d["faces"][0][5:] == ["ann lee", 0.734] and len(d["faces"][1]) == 5
    d = protocol.decode(protocol.encode_frame(1, 1, 1.0, [[1, 2, 3, 4, 0.5, "?", -0.2]]))
    assert d["faces"][0][5:] == ["?", 0.0]
    d = protocol.decode(protocol.encode_event(3, 50, "known", 1, "bob"))
    assert (d["kind"], d["name"]) == ("known", "bob")
    d = protocol.decode(protocol.encode_event(3, 50, "stranger", 2))
    assert d["kind"] == "stranger" and "name" not in d
    with pytest.raises(ValueError):
        protocol.encode_event(1, 1, "hello", 1)


@pytest.mark.micropython
def test_recognise_runs_under_micropython_with_the_cpython_results(node):
    cp = mprun.run_cpython(VECTORS)
    assert cp.returncode == 0, cp.stderr
    mp = mprun.run_micropython(node, VECTORS)
    assert mp.returncode == 0, mp.stderr
    c, m = mprun._records(cp.stdout), mprun._records(mp.stdout)
    for k in ("embed_chw", "embed_hwc", "points_chw", "points_hwc"):
        assert np.allclose(np.array(m[k], float), np.array(c[k], float), atol=1e-5), k
    for k in ("roi", "warp", "quantise", "events", "free"):
        assert m[k] == c[k], k
    assert m["match"][0] == c["match"][0] and abs(m["match"][1] - c["match"][1]) < 1e-5
    assert m["enrol"][0] is True and np.allclose(m["enrol"][1], c["enrol"][1])
    assert m["per_face"]["best"] == c["per_face"]["best"]
    f = m["per_face"]
    # allocations include garbage: this runner's gc frees nothing while a script runs (micropython#15095)
    print("under wasm MicroPython: gallery of 100 loaded in %d ms, %d B allocated; per face: warp %d ms, readouts + "
          "match %d ms, %d B allocated" % (f["gallery_ms"], f["gallery_heap"], f["warp_ms"], f["readout_match_ms"],
                                          f["face_alloc"]))


def test_track_averages_a_face_in_place_and_restarts_when_it_jumps():
    t = recognise.Track(n=2)
    a = t.add([100, 100, 50, 50], [1.0, 0.0])
    assert a == [1.0, 0.0]
    b = t.add([105, 102, 50, 50], [0.0, 1.0])
    assert np.allclose(b, [0.7071, 0.7071], atol=1e-4)
    c = t.add([106, 101, 50, 50], [0.0, 1.0])          # only the last 2 are kept
    assert np.allclose(c, [0.0, 1.0])
    d = t.add([200, 100, 50, 50], [1.0, 0.0])           # moved more than half a width: a new track
    assert d == [1.0, 0.0]
    t.reset()
    assert t.add([0, 0, 10, 10], [0.6, 0.8]) == pytest.approx([0.6, 0.8])
