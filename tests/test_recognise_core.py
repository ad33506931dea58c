"""pfcore.recognise (mode recognise on the board): the readouts equal the host's (picoface.recog.nets),
the crop stays in the frame, the board's warp is the host pipeline's, matching, known/stranger
hysteresis and enrolment; the same results under real MicroPython; protocol frames and events
carry names."""

import numpy as np
import pytest

from pfcore import align, protocol, recognise
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


def _face_matrix(side, angle, cx, cy, size=64):
    """The alignment matrix of a face whose aligned square is ``side`` frame px wide, turned by
    ``angle`` degrees around (cx, cy): the template's 5 points moved there (forward scale size / side)."""
    s, r = side / float(size), np.radians(angle)
    rot = np.array([[np.cos(r), -np.sin(r)], [np.sin(r), np.cos(r)]])
    tpl = np.array(align.template(size)) - size / 2.0
    pts = (tpl * s) @ rot.T + (cx, cy)
    return recognise.align_matrix([(float(x), float(y)) for x, y in pts], size)


def _fixed_reference(m, size):
    """warp_fixed's documented rule computed independently in numpy int64: each coefficient of the
    inverse times 2^16 rounded (floor(t + 0.5)), 2^15 added to the offsets, (A*u + B*v + C) >> 16."""
    inv = np.array(align.invert(m), np.float64)
    q = np.floor(inv * 65536.0 + 0.5).astype(np.int64)
    q[:, 2] += 32768
    u, v = np.meshgrid(np.arange(size, dtype=np.int64), np.arange(size, dtype=np.int64))
    return (q[0, 0] * u + q[0, 1] * v + q[0, 2]) >> 16, (q[1, 0] * u + q[1, 1] * v + q[1, 2]) >> 16


def _board_warp(frame, m, size):
    out = np.zeros((size, size, 3), np.uint8)

    def put(u, v, rgb):
        out[v, u] = rgb
    h, w = frame.shape[:2]
    recognise.warp_nearest(lambda x, y: tuple(frame[y, x]), w, h, m, size, put)
    return out


@pytest.mark.parametrize("frame_wh, face, black", [
    ((320, 240), (60, 150, 160, 120), False),       # turned 150 degrees: every coefficient negative
    ((320, 240), (70, -30, 5, 8), True),            # over the frame's corner: part of the face is black
    ((320, 240), (200, 10, 160, 120), False),       # a large face: forward scale 0.32 (< 1)
    ((320, 240), (12, 45, 300, 200), False),        # a tiny face: forward scale 5.3 (> 4)
    ((640, 480), (300, -35, 480, 330), True),       # a 640x480 frame, the face over its edge
    ((640, 480), (640, 90, 320, 240), True),        # the largest face a 640x480 frame holds, turned
    ((640, 480), (8, 200, 636, 476), True),         # the smallest face, turned, at the far corner
], ids=["negative", "outside", "large", "tiny", "vga", "vga-largest", "vga-smallest"])
def test_fixed_point_warp_is_the_hosts_and_its_documented_rule(frame_wh, face, black):
    from picoface.gate.board_input import rgb565, rgb888
    from picoface.recog.pipeline import warp_positions

    w, h = frame_wh
    frame = rgb888(rgb565(np.random.default_rng(w + face[0]).integers(0, 256, (h, w, 3), dtype=np.uint8)))
    m = _face_matrix(*face)
    q = recognise.warp_fixed(m, 64)
    assert q is not None and all(isinstance(v, int) for v in q)
    if face[1] == 60:
        assert q[0] < 0 and q[4] < 0 and q[1] < 0 < q[3]
    # every integer the loops form (u, v = 0..64) is a small int on a 32-bit MicroPython port
    ext = [abs(q[0] * u + q[1] * v + q[2]) for u in (0, 64) for v in (0, 64)]
    ext += [abs(q[3] * u + q[4] * v + q[5]) for u in (0, 64) for v in (0, 64)] + [abs(x) for x in q]
    assert max(ext) < 2 ** 29
    xs, ys = _fixed_reference(m, 64)
    hx, hy = warp_positions(m, 64)
    assert np.array_equal(xs, hx) and np.array_equal(ys, hy)
    # the nearest pixel: the float rule floor(x + 0.5) but where x is within 1/1000 px of a half
    inv = align.invert(m)
    uu, vv = np.meshgrid(np.arange(64.0), np.arange(64.0))
    fx = inv[0][0] * uu + inv[0][1] * vv + inv[0][2]
    fy = inv[1][0] * uu + inv[1][1] * vv + inv[1][2]
    near_half = (np.abs(fx - np.floor(fx) - 0.5) < 1e-3) | (np.abs(fy - np.floor(fy) - 0.5) < 1e-3)
    same = (xs == np.floor(fx + 0.5)) & (ys == np.floor(fy + 0.5))
    assert same[~near_half].all() and (np.abs(xs - np.floor(fx + 0.5)) <= 1).all()
    got = _board_warp(frame, m, 64)
    assert np.array_equal(got, aligned(frame, m, 64))
    inside = (xs >= 0) & (xs < w) & (ys >= 0) & (ys < h)
    assert np.array_equal(got[inside], frame[ys[inside], xs[inside]])
    assert (got[~inside] == 0).all() and bool((~inside).any()) == black


@pytest.mark.parametrize("m", [
    [[1e-4, 0.0, 0.0], [0.0, 1e-4, 0.0]],           # absurd scale: the face would span 640,000 px
    [[1.0, 0.0, -5000.0], [0.0, 1.0, 0.0]],         # the output 5,000 px away from the frame
    [[0.2, 0.0, 0.0], [0.0, 0.2, -900.0]],          # 4,500 px at the far corner
    [[float("nan"), 0.0, 0.0], [0.0, 1.0, 0.0]],
])
def test_warp_beyond_the_fixed_point_range_is_black_on_board_and_host(m):
    frame = np.full((480, 640, 3), 200, np.uint8)
    assert recognise.warp_fixed(m, 64) is None
    assert not _board_warp(frame, m, 64).any()
    assert not aligned(frame, m, 64).any()


def test_warp_range_edge():
    """Just inside WARP_LIMIT (corners at 4095 px): accepted, and the loops' integers stay below 2^29;
    just outside: refused."""
    for size in (8, 64, 1024):
        k = 4095.0 / size                 # inverse scale: corner (size, size) at 4095 px
        m = [[1.0 / k, 0.0, 0.0], [0.0, 1.0 / k, 0.0]]
        q = recognise.warp_fixed(m, size)
        assert q is not None
        ext = [abs(q[0] * u + q[1] * v + q[2]) for u in (0, size) for v in (0, size)] + [abs(x) for x in q]
        assert max(ext) < 2 ** 29
        k = 4097.0 / size
        assert recognise.warp_fixed([[1.0 / k, 0.0, 0.0], [0.0, 1.0 / k, 0.0]], size) is None


def _float_best(gallery, e):
    """The float reference: cosine of e against each dequantised, re-normalised row."""
    g = np.array([np.frombuffer(raw, np.int8) for _, raw in gallery], np.float64) / 127.0
    n = np.linalg.norm(g, axis=1, keepdims=True)
    g = np.where(n > 0, g / np.where(n > 0, n, 1.0), 0.0)
    return g @ np.asarray(e, np.float64)


@pytest.mark.parametrize("dim", [128, 512, 1])
def test_integer_matcher_is_the_float_cosine(dim):
    rng = np.random.default_rng(dim)
    rows = rng.normal(size=(100, dim))
    gallery = [["p%d" % i, recognise.quantise(recognise.normalise(r.tolist()))] for i, r in enumerate(rows)]
    m = recognise.Matcher(gallery)
    assert all(len(r) == dim for r in m.rows) and m.rows[0].typecode == "b"
    for t in range(20):
        # probes near one of the rows (a known face) and far from all (a stranger)
        base = rows[t] + rng.normal(scale=0.5, size=dim) if t % 2 else rng.normal(size=dim)
        e = recognise.normalise(base.tolist())
        ref = _float_best(gallery, e)
        name, sim = m.best(e)
        assert abs(sim - ref.max()) < 1e-4, (sim, ref.max())
        if dim == 1:                      # every row is +-1 after normalising: ties, any of them will do
            assert abs(ref[int(name[1:])] - ref.max()) < 1e-4
        else:
            top = np.sort(ref)[-2:]
            assert top[1] - top[0] > 2e-4     # a clear winner in these seeds
            assert name == "p%d" % int(np.argmax(ref))
    assert recognise.Matcher([]).best(e) == (None, -1.0)


def test_integer_matcher_edges():
    a = recognise.normalise([1.0, 2.0, 3.0])
    # a zero row matches nothing (0.0), bytearray rows are taken, a longer probe counts as its unit vector
    m = recognise.Matcher([["zero", bytes(3)], ["ann", bytearray(recognise.quantise(a))]])
    assert m.best([-v for v in a])[0] == "zero" and m.best([-v for v in a])[1] == 0.0
    name, sim = m.best([10.0 * v for v in a])
    assert name == "ann" and abs(sim - m.best(a)[1]) < 1e-4 and sim > 0.999
    # the largest sum the config's dims allow (1024 values, probe and row in the same direction):
    # every partial sum stays a small int on 32-bit ports
    d = 1024
    e = recognise.normalise([1.0] * d)
    row = recognise.quantise(e)
    q = np.array([int(v * 32767 + 0.5) for v in e], np.int64)
    assert np.abs(np.cumsum(q * np.frombuffer(row, np.int8))).max() < 2 ** 28
    assert abs(recognise.Matcher([["x", row]]).best(e)[1] - 1.0) < 1e-4


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
    for k in ("roi", "warp", "warp_turned", "warp_far", "quantise", "events", "free"):
        assert m[k] == c[k], k
    assert m["warp_turned"][0][0] < 0 and m["warp_far"][0] is None and not any(m["warp_far"][1])
    assert m["match"][0] == c["match"][0] and abs(m["match"][1] - c["match"][1]) < 1e-5
    for (mn, ms), (cn, cs) in zip(m["match_512"], c["match_512"]):
        assert mn == cn and abs(ms - cs) < 1e-5
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
