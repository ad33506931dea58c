"""Device core (device/pfcore) on CPython: region decode, NMS, geometry, presence, config,
protocol v1. The same files run under MicroPython in tests/test_micropython.py."""

import json
import math
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pfcore import config, geom, nms, presence, protocol, region
from pfcore.protocol import ProtocolError
from picoface.kmodel import MAIXPY_FACE_ANCHOR_PAIRS

ANCHORS = MAIXPY_FACE_ANCHOR_PAIRS  # Sipeed's stock face model's anchors


# ---- region ----------------------------------------------------------------------------------

def _tensor(gw, gh, na, ne, fill=-20.0):
    """Logical [a][e][row][col] values, all `fill`."""
    return [[[[fill] * gw for _ in range(gh)] for _ in range(ne)] for _ in range(na)]


def _flat(t, layout):
    na, ne, gh, gw = len(t), len(t[0]), len(t[0][0]), len(t[0][0][0])
    out = []
    if layout == "NCHW":
        for a in range(na):
            for e in range(ne):
                for r in range(gh):
                    out.extend(t[a][e][r])
    else:
        for r in range(gh):
            for c in range(gw):
                for a in range(na):
                    for e in range(ne):
                        out.append(t[a][e][r][c])
    return out


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_decode_one_box_both_layouts(layout):
    t = _tensor(4, 3, 2, 6)
    # anchor 1, row 2, col 1: tx=0 ty=0 -> centre of the cell; tw=0 th=ln 2; obj high
    for e, v in enumerate([0.0, 0.0, 0.0, math.log(2.0), 30.0, 0.0]):
        t[1][e][2][1] = v
    dets = region.decode(_flat(t, layout), 4, 3, [[1.0, 1.0], [2.0, 3.0]], 1, layout, 0.5)
    assert len(dets) == 1
    cx, cy, w, h, s = dets[0]
    assert cx == pytest.approx((1 + 0.5) / 4) and cy == pytest.approx((2 + 0.5) / 3)
    assert w == pytest.approx(2.0 / 4) and h == pytest.approx(2 * 3.0 / 3)
    assert s == pytest.approx(1.0, abs=1e-12)


def test_decode_empty_and_short_output():
    assert region.decode([], 0, 0, ANCHORS) == []
    assert region.decode([-30.0] * (20 * 15 * 30), 20, 15, ANCHORS) == []
    with pytest.raises(ValueError, match="expected 9000"):
        region.decode([0.0] * 8999, 20, 15, ANCHORS)
    with pytest.raises(ValueError, match="layout"):
        region.decode([0.0] * 9000, 20, 15, ANCHORS, layout="HWC")


def test_threshold_boundary_is_strict():
    # The firmware's C region layers keep prob > threshold; quantised outputs often hit
    # sig(0) == 0.5 exactly, so the boundary matters on real boards.
    t = _tensor(1, 1, 1, 6)
    t[0][4][0][0] = 0.0          # sig(0) == 0.5 exactly
    out = _flat(t, "NCHW")
    assert region.decode(out, 1, 1, [[1, 1]], threshold=0.5) == []
    assert len(region.decode(out, 1, 1, [[1, 1]], threshold=0.4999999)) == 1
    assert len(region.decode(out, 1, 1, [[1, 1]], threshold=0.0)) == 1
    assert region.decode(out, 1, 1, [[1, 1]], threshold=1.0) == []


def test_classes_softmax_and_class_index():
    t = _tensor(2, 1, 1, 8)
    t[0][4][0][1] = 3.0
    t[0][5][0][1], t[0][6][0][1], t[0][7][0][1] = 0.0, 2.0, 1.0
    d = region.decode(_flat(t, "NHWC"), 2, 1, [[1, 1]], classes=3, layout="NHWC", threshold=0.1, with_class=True)
    assert len(d) == 1
    soft = math.exp(2) / (1 + math.exp(2) + math.exp(1))
    assert d[0][4] == pytest.approx(soft / (1 + math.exp(-3.0)), rel=1e-12)
    assert d[0][5] == 1
    # equal class logits split the score
    t[0][5][0][1] = t[0][6][0][1] = t[0][7][0][1] = 0.5
    d = region.decode(_flat(t, "NCHW"), 2, 1, [[1, 1]], classes=3, threshold=0.1, with_class=True)
    assert d[0][4] == pytest.approx(1 / 3 / (1 + math.exp(-3.0)), rel=1e-12) and d[0][5] == 0


def test_int8_bytes_equal_float_decode():
    scale, zp = 0.0625, -3
    q = bytes((i * 37 + 11) % 256 for i in range(6 * 5 * 5 * 6))
    signed = [b - 256 if b > 127 else b for b in q]
    floats = [(v - zp) * scale for v in signed]
    a = region.decode(q, 6, 5, ANCHORS, threshold=0.3, scale=scale, zero_point=zp)
    b = region.decode(floats, 6, 5, ANCHORS, threshold=0.3)
    assert a == b and len(a) > 0
    # array('b')-like ints take the same path through scale/zero_point
    assert region.decode(signed, 6, 5, ANCHORS, threshold=0.3, scale=scale, zero_point=zp) == a
    # uint8
    u = [(b - zp) * scale for b in q]
    assert region.decode(q, 6, 5, ANCHORS, threshold=0.3, scale=scale, zero_point=zp, dtype="uint8") == \
        region.decode(u, 6, 5, ANCHORS, threshold=0.3)


def test_flat_anchors_and_garbage_values():
    flat = [v for p in ANCHORS for v in p]
    out = [((i * 7919) % 200 - 100) / 10.0 for i in range(4 * 3 * 30)]
    assert region.decode(out, 4, 3, flat, threshold=0.2) == region.decode(out, 4, 3, ANCHORS, threshold=0.2)
    out[4 * 12] = float("nan")                   # obj of anchor 0, cell 0
    out[2 * 12 + 5] = 1e6                         # huge tw: clamped, finite
    out[4 * 12 + 5] = 50.0
    dets = region.decode(out, 4, 3, ANCHORS, threshold=0.0)
    assert all(math.isfinite(v) for d in dets for v in d)
    assert len(dets) == 4 * 3 * 5 - 1


def test_decode_order_anchor_then_cell():
    out = [5.0] * (3 * 2 * 2 * 6)
    dets = region.decode(out, 3, 2, [[1, 1], [2, 2]], threshold=0.5)
    assert len(dets) == 12
    assert [round(d[2] * 3, 6) for d in dets] == [round(math.exp(5.0) * a / 3 * 3, 6) for a in (1, 2) for _ in range(6)]
    assert [(round(d[0], 6), round(d[1], 6)) for d in dets[:6]] == \
        [(round((c + 1 / (1 + math.exp(-5))) / 3, 6), round((r + 1 / (1 + math.exp(-5))) / 2, 6))
         for r in range(2) for c in range(3)]


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("kind", ["float", "int8", "quant_list"])
@pytest.mark.parametrize("classes", [1, 3])
def test_postprocess_is_nms_of_map_of_decode(layout, kind, classes):
    """postprocess ranks candidates by score and decodes boxes best first until max_out are kept:
    the result is exactly nms(fit.map(decode(...))), for every max_out, clipping and ties; with
    more than one class each face keeps its class index (decode's with_class) as a 6th item."""
    import random

    rnd = random.Random(11 * classes + len(layout) + len(kind))
    gw, gh, na = 7, 5, 3
    ne = 5 + classes
    anchors = ANCHORS[:na]
    fit = geom.Fit(320, 240, 160, 160, "crop")
    for trial in range(12):
        q = [rnd.randint(-128, 127) for _ in range(gw * gh * na * ne)]
        for i in range(0, len(q), 17):
            q[i] = q[i - 1]                       # repeated values: equal scores
        scale, zp = 0.06, -3
        spec = {"grid_w": gw, "grid_h": gh, "anchors": anchors, "classes": classes, "layout": layout}
        if kind == "float":
            out = [(v - zp) * scale for v in q]
        elif kind == "int8":
            out = bytes(v & 0xFF for v in q)
            spec.update(dtype="int8", scale=scale, zero_point=zp)
        else:
            out = q
            spec.update(scale=scale, zero_point=zp)
        for thr in (0.2, 0.5):
            dets = region.decode(out, gw, gh, anchors, classes, layout, thr, spec.get("scale", 1.0),
                                 spec.get("zero_point", 0), spec.get("dtype"), classes > 1)
            for max_out in (0, 1, 3, 10):
                want = nms.nms(fit.map(dets), 0.3, max_out)
                assert region.postprocess(out, spec, fit, thr, 0.3, max_out) == want, (trial, thr, max_out)


def test_nms_greedy_offers_one_box_at_a_time():
    boxes = [[0, 0, 10, 10, 0.9], [1, 1, 10, 10, 0.8], [50, 50, 10, 10, 0.7], [52, 50, 10, 10, 0.6]]
    g = nms.Greedy(0.3, 2)
    assert [g.offer(b) for b in boxes] == [True, False, True, False]
    assert g.keep == [boxes[0], boxes[2]] and g.full()


# ---- nms -------------------------------------------------------------------------------------

def test_nms_basic_ties_and_max_out():
    a = [0, 0, 10, 10, 0.9]
    b = [1, 1, 10, 10, 0.8]        # overlaps a
    c = [50, 50, 10, 10, 0.9]      # ties with a, later in input
    d = [100, 0, 5, 5, 0.1]
    assert nms.nms([b, c, a, d], 0.3) == [c, a, d]
    assert nms.nms([a, c, b, d], 0.3) == [a, c, d]
    assert nms.nms([a, c, b, d], 0.3, max_out=2) == [a, c]
    assert nms.nms([], 0.3) == []
    # identical boxes, identical scores: the first one wins
    e = [0, 0, 10, 10, 0.9]
    assert nms.nms([a, e], 0.5)[0] is a and len(nms.nms([a, e], 0.5)) == 1


def test_nms_threshold_is_strict():
    a = [0.0, 0.0, 2.0, 1.0, 0.9]
    b = [1.0, 0.0, 2.0, 1.0, 0.8]    # IoU exactly 1/3
    assert nms.iou(a, b) == 1 / 3
    assert nms.nms([a, b], 1 / 3) == [a, b]
    assert nms.nms([a, b], 0.33) == [a]
    assert nms.iou([0, 0, 0, 0, 1], [0, 0, 0, 0, 1]) == 0.0
    assert nms.iou([0, 0, 1, 1, 1], [1, 0, 1, 1, 1]) == 0.0    # touching edges


# ---- geom ------------------------------------------------------------------------------------

def test_fit_rects():
    f = geom.Fit(320, 240, 224, 224, "crop")
    assert f.cam_rect() == (40, 0, 240, 240) and f.content_rect() == (0, 0, 224, 224)
    f = geom.Fit(320, 240, 224, 224, "letterbox")
    assert f.cam_rect() == (0, 0, 320, 240) and f.content_rect() == (0, 28, 224, 168)
    f = geom.Fit(240, 320, 224, 224, "letterbox")
    assert f.content_rect() == (28, 0, 168, 224)
    f = geom.Fit(240, 320, 224, 224, "crop")
    assert f.cam_rect() == (0, 40, 240, 240)
    f = geom.Fit(320, 240, 224, 224, "stretch")
    assert f.cam_rect() == (0, 0, 320, 240) and f.net_size == (224, 224)
    for mode in geom.MODES:
        f = geom.Fit(320, 240, 320, 240, mode)
        assert f.cam_rect() == (0, 0, 320, 240) and f.content_rect() == (0, 0, 320, 240)
        assert f.net_to_cam([0.5, 0.5, 0.25, 0.5]) == [120.0, 60.0, 80.0, 120.0]
    with pytest.raises(ValueError, match="fit mode"):
        geom.Fit(320, 240, 224, 224, "zoom")


def test_net_to_cam_modes_and_clipping():
    f = geom.Fit(320, 240, 224, 224, "crop")
    assert f.net_to_cam([0.5, 0.5, 1.0, 1.0]) == [40.0, 0.0, 240.0, 240.0]
    f = geom.Fit(320, 240, 224, 224, "letterbox")
    x, y, w, h = f.net_to_cam([0.5, 0.5, 1.0, 1.0])    # the padding is clipped away
    assert (x, y, w, h) == (0.0, 0.0, 320.0, 240.0)
    x, y, w, h = f.net_to_cam([0.5, 28 / 224 + 84 / 224, 0.1, 0.1])
    assert y + h / 2 == pytest.approx(120.0)
    f = geom.Fit(320, 240, 160, 120, "stretch")
    assert f.net_to_cam([0.0, 0.0, 0.5, 0.5]) == [0.0, 0.0, 80.0, 60.0]
    assert f.net_to_cam([1.2, 0.5, 0.1, 0.1]) == [320.0, 108.0, 0.0, 24.0]
    assert f.map([[1.2, 0.5, 0.1, 0.1, 0.9], [0.5, 0.5, 0.5, 0.5, 0.8]]) == [[80.0, 60.0, 160.0, 120.0, 0.8]]
    # items after the score (a class index) are kept
    assert f.map([[1.2, 0.5, 0.1, 0.1, 0.9, 1], [0.5, 0.5, 0.5, 0.5, 0.8, 1]]) == [[80.0, 60.0, 160.0, 120.0, 0.8, 1]]


def test_postprocess_two_classes_keeps_each_faces_class_and_nms_ignores_it():
    """Two overlapping boxes of different classes: one face (NMS is class-agnostic), the better
    box's class; a distant box keeps its own; one class: 5 items as before."""
    gw, gh = 4, 3
    t = _tensor(gw, gh, 2, 7)
    t[0][4][1][1], t[0][5][1][1], t[0][6][1][1] = 3.0, -1.0, 2.0      # no_mask, obj 3
    t[1][4][1][1], t[1][5][1][1], t[1][6][1][1] = 2.0, 2.0, -1.0      # mask, same cell: overlaps
    t[0][4][0][3], t[0][5][0][3], t[0][6][0][3] = 1.0, 3.0, 0.0       # mask, far away
    spec = {"grid_w": gw, "grid_h": gh, "anchors": [[1, 1], [1.2, 1.2]], "classes": 2, "layout": "NCHW"}
    fit = geom.Fit(320, 240, 320, 240, "stretch")
    faces = region.postprocess(_flat(t, "NCHW"), spec, fit, 0.3, 0.3, 10)
    assert [len(f) for f in faces] == [6, 6] and [f[5] for f in faces] == [1, 0]
    assert faces[0][0] < 160 < faces[1][0]
    assert faces == nms.nms(fit.map(region.decode(_flat(t, "NCHW"), gw, gh, spec["anchors"], 2, "NCHW", 0.3,
                                                  with_class=True)), 0.3, 10)
    one = _tensor(gw, gh, 2, 6)
    one[0][4][1][1] = 3.0
    spec1 = dict(spec, classes=1)
    assert [len(f) for f in region.postprocess(_flat(one, "NCHW"), spec1, fit, 0.3, 0.3, 10)] == [5]


@settings(max_examples=150, deadline=None)
@given(mode=st.sampled_from(geom.MODES), cw=st.integers(16, 800), ch=st.integers(16, 800),
       nw=st.integers(16, 400), nh=st.integers(16, 400),
       fx=st.floats(0, 0.8), fy=st.floats(0, 0.8), fw=st.floats(0.05, 0.2), fh=st.floats(0.05, 0.2))
def test_geom_round_trip(mode, cw, ch, nw, nh, fx, fy, fw, fh):
    f = geom.Fit(cw, ch, nw, nh, mode)
    rx, ry, rw, rh = f.cam_rect()
    box = [rx + fx * rw, ry + fy * rh, fw * rw, fh * rh]     # inside what the net sees
    n = f.cam_to_net(box)
    assert 0.0 <= n[0] <= 1.0 and 0.0 <= n[1] <= 1.0
    back = f.net_to_cam(n)
    assert back == pytest.approx(box, abs=1e-6 * max(cw, ch))


# ---- presence --------------------------------------------------------------------------------

def _events(p, counts):
    return [p.update(n) for n in counts]


def test_presence_hysteresis():
    p = presence.Presence(enter_frames=2, leave_frames=3)
    ev = _events(p, [0, 1, 0, 1, 2, 1, 0, 0, 1, 0, 0, 0, 0, 1])
    assert ev == [None, None, None, None, "enter", None, None, None, None, None, None, "leave", None, None]
    assert not p.present
    p = presence.Presence(enter_frames=1, leave_frames=1)
    assert _events(p, [1, 0, 3, 3, 0]) == ["enter", "leave", "enter", None, "leave"]
    p = presence.Presence(0, -4)             # nonsense counts behave like 1
    assert _events(p, [1, 0]) == ["enter", "leave"]
    p.update(1)
    p.reset()
    assert not p.present and p.update(0) is None


# ---- config ----------------------------------------------------------------------------------

def test_config_defaults_and_valid_values():
    cfg, problems = config.load(None)
    assert problems == [] and cfg == config.DEFAULTS and cfg["camera"] is not config.DEFAULTS["camera"]
    cfg, problems = config.load('{"score": 0.7, "nms": 1, "max_faces": 3, "led": false, "baud": 921600}')
    assert problems == []
    assert cfg["score"] == 0.7 and cfg["nms"] == 1.0 and isinstance(cfg["nms"], float)
    assert cfg["max_faces"] == 3 and cfg["led"] is False and cfg["baud"] == 921600
    assert not config.led_enabled(cfg)


@pytest.mark.parametrize("key,value,fragment", [
    ("score", 1.5, "out of range"), ("score", "0.5", "number"), ("score", True, "number"),
    ("nms", -0.1, "out of range"), ("max_faces", 0, "out of range"), ("max_faces", 11, "out of range"),
    ("max_faces", 2.5, "integer"), ("max_faces", True, "integer"), ("enter_frames", None, "integer"),
    ("lcd", 1, "true or false"), ("led", "on", "true, false or an object"), ("baud", 115201, "standard rate"),
    ("baud", "fast", "integer"), ("board", 3, "string"), ("camera", [320, 240], "object"),
    ("watchdog_ms", -1, "out of range"), ("frame_every", 0, "out of range"),
])
def test_config_bad_values_fall_back(key, value, fragment):
    cfg, problems = config.load(json.dumps({key: value, "score": 0.6} if key != "score" else {key: value}))
    assert len(problems) == 1 and fragment in problems[0] and key in problems[0]
    assert cfg[key] == config.DEFAULTS[key]
    if key != "score":
        assert cfg["score"] == 0.6


def test_config_problems_never_raise():
    for text in ["", "{", "[1, 2]", "null", "3", b"\xff\xfe", '{"score": NaN}', '{"scroe": 0.5}']:
        cfg, problems = config.load(text)
        assert len(problems) == 1, (text, problems)
        assert cfg == config.DEFAULTS
    assert "unknown key 'scroe'" in config.load('{"scroe": 0.5}')[1][0]
    assert config.load({"score": float("nan")})[1][0].startswith("score must be a number")


def test_config_nested_sections():
    cfg, problems = config.load({
        "camera": {"w": 0, "h": 120, "fps": 30},
        "led": {"kind": "gpio", "r": 14, "g": 13, "b": 300, "active_low": True},
        "model": {"w": 224, "anchors": [[1, 2], [3]], "fit": "letterbox", "layout": "CHW",
                  "extra": {"anything": 1}},
    })
    assert cfg["camera"] == {"w": 320, "h": 120, "framesize": "QVGA", "pixformat": "RGB565"}
    assert cfg["led"] == {"enabled": True, "kind": "gpio", "r": 14, "g": 13, "active_low": True}
    assert config.led_enabled(cfg)
    assert cfg["model"] == {"w": 224, "fit": "letterbox", "extra": {"anything": 1}}
    joined = "\n".join(problems)
    assert len(problems) == 5, problems
    for frag in ("camera.w=0", "camera.fps", "led.b=300", "model.anchors", "model.layout"):
        assert frag in joined


def test_config_reads_what_picoface_flash_writes():
    from picoface.boards import device_config, load_board
    for name in ("maix_dock", "openmv_h7"):
        cfg_dict = device_config(load_board(name), {"name": "pf", "grid_w": 10, "grid_h": 8, "anchors": ANCHORS,
                                                    "fit": "crop", "layout": "NHWC"}, score=0.6)
        cfg, problems = config.load(json.dumps(cfg_dict))
        assert problems == [], problems
        assert cfg["board"] == name and cfg["score"] == 0.6 and cfg["model"]["grid_w"] == 10


# ---- protocol --------------------------------------------------------------------------------

def _lines():
    return [
        protocol.encode_hello(board="maix_dock", firmware="maixpy v0.6.2 (old KPU)", app="0.1.0",
                              model="picoface_k210_320x240", model_bytes=388776, model_hash="0123456789abcdef" * 4,
                              input_w=320, input_h=240, score=0.5, nms=0.3, cam_w=320, cam_h=240, gen="kpu-v3"),
        protocol.encode_frame(41, 123456, 29.94, [[10.2, 20.7, 30, 40, 0.91234], [100, 80, 64.5, 64.5, 0.5]]),
        protocol.encode_frame(0, 0, 0.0, []),
        protocol.encode_event(42, 123490, "enter", 2),
        protocol.encode_error("model_load", "kpu.load(0x300000): ERR_KMODEL_VERSION * @PF 1 = 100%"),
    ]


def test_crc_check_value():
    assert protocol.crc16(b"123456789") == 0x29B1
    assert protocol.crc16("123456789") == 0x29B1


def test_round_trip_every_type():
    h, f, f0, e, x = [protocol.decode(line) for line in _lines()]
    assert h == {"type": "hello", "v": 2, "board": "maix_dock", "firmware": "maixpy v0.6.2 (old KPU)",
                 "app": "0.1.0", "model": "picoface_k210_320x240", "model_bytes": 388776,
                 "model_hash": "0123456789abcdef", "input": [320, 240], "camera": [320, 240],
                 "score": 0.5, "nms": 0.3, "gen": "kpu-v3"}
    assert f == {"type": "frame", "v": 2, "seq": 41, "ms": 123456, "fps": 29.9, "n": 2,
                 "faces": [[10, 21, 30, 40, 0.912], [100, 80, 65, 65, 0.5]]}
    assert f0["n"] == 0 and f0["faces"] == [] and f0["fps"] == 0.0
    assert e == {"type": "event", "v": 2, "seq": 42, "ms": 123490, "kind": "enter", "n": 2}
    assert x == {"type": "error", "v": 2, "code": "model_load",
                 "text": "kpu.load(0x300000): ERR_KMODEL_VERSION * @PF 1 = 100%"}
    for line in _lines():
        assert "\n" not in line and line.isascii() and line.count("@PF") == 1
        assert len(line) <= protocol.MAX_LINE


def test_non_protocol_lines():
    for text in ["", "MicroPython v0.6.2 on 2020-12-01; Sipeed_M1 with kendryte-k210", ">>> ",
                 "[MaixPy]: soft reboot", "Traceback (most recent call last):", "PF 1 F 0 0 0.0 0*0000"]:
        assert protocol.decode(text) is None
    line = _lines()[1]
    assert protocol.decode("\x00\xffgarbage" + line + "\r\n") == protocol.decode(line)
    assert protocol.decode(line.encode()) == protocol.decode(line)


def _bad(body):
    """A line with a valid checksum around an arbitrary body."""
    s = "@PF 1 " + body
    return s + "*%04X" % protocol.crc16(s)


@pytest.mark.parametrize("body", [
    "F 1 2 3.0 1", "F 1 2 3.0 0 1,2,3,4,5", "F 01 2 3.0 0", "F 1 2 3 0", "F 1 2 3.00 0", "F -1 2 3.0 0",
    "F 1 2 3.0 1 1,2,3,4", "F 1 2 3.0 1 1,2,3,4,1001", "F 1 2 3.0 11" + " 1,1,1,1,1" * 11, "F 1 2 1000.0 0",
    "F 1 2 3.0 1 1,2,3,+4,5", "F 1 2 3.0 1 1,2,3,1_0,5", "F 1 1073741824 3.0 0", "F", "Q 1 2",
    "E 1 2 stay 0", "E 1 2 enter", "X code", "X bad%2 text", "X ok %FF", "X a b c",
    "H board=a", "H board=a board=b", "H =x", "H board=a fw=b app=c model=d bytes=1 hash=h in=1x2 cam=3 score=0.5 nms=0.3",
    "H board=a fw=b app=c model=d bytes=1 hash=h in=1x2 cam=3x4 score=0.5 nms=0.300",
    "H board=a fw=b app=c model=d bytes=1 hash=h in=1x2 cam=3x4 score=1.001 nms=0.300",
])
def test_field_errors(body):
    with pytest.raises(ProtocolError) as e:
        protocol.decode(_bad(body))
    assert e.value.kind == "field"


def test_frame_and_checksum_errors():
    line = _lines()[1]
    cases = {
        line[:-5]: "frame",                              # no checksum
        line[:-1]: "frame",                              # 3 hex digits
        line[:-4] + "zz" + line[-2:]: "frame",
        line[:-4] + "%04X" % ((int(line[-4:], 16) + 1) & 0xFFFF): "checksum",
        line.replace(" 29.9 ", " 29.8 "): "checksum",
        line[:8] + "\x01" + line[9:]: "frame",
        line[:8] + "\xe9" + line[9:]: "frame",
    }
    for bad, kind in cases.items():
        with pytest.raises(ProtocolError) as e:
            protocol.decode(bad)
        assert e.value.kind == kind, (bad, str(e.value))
        assert kind in str(e.value)


def test_newer_version_is_reported_as_such():
    s = "@PF 3 F 1 2 3.0 0 something new"
    line = s + "*%04X" % protocol.crc16(s)
    with pytest.raises(ProtocolError) as e:
        protocol.decode(line)
    assert e.value.kind == "version" and e.value.version == 3 and "version 3" in str(e.value)
    # a corrupted version digit is a checksum error, not a version claim
    with pytest.raises(ProtocolError) as e:
        protocol.decode(_lines()[1].replace("@PF 2 ", "@PF 3 "))
    assert e.value.kind == "checksum"


REPLACEMENTS = [chr(c) for c in range(32, 127)] + ["\x00", "\t", "\r", "\n", "\x7f", "\xff", "\u00e9", "\u20ac"]


@pytest.mark.parametrize("which", range(5))
def test_any_single_character_change_is_detected(which):
    line = _lines()[which]
    original = protocol.decode(line)
    checked = 0
    for i in range(len(line)):
        for r in REPLACEMENTS:
            if r == line[i]:
                continue
            bad = line[:i] + r + line[i + 1:]
            try:
                got = protocol.decode(bad)
            except ProtocolError:
                continue
            assert got is None, (i, r, bad, got)      # only a broken marker gets here
            assert "@PF" not in bad
            checked += 1
    assert checked > 0 and original is not None
    # dropping or doubling a character inside the frame is caught too (text before the
    # marker is noise by design: "@@PF ..." still carries the intact message)
    for i in range(1, len(line)):
        for bad in (line[:i] + line[i + 1:], line[:i] + line[i] + line[i:]):
            try:
                got = protocol.decode(bad)
            except ProtocolError:
                continue
            assert got is None, (i, bad)


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=80), code=st.text(max_size=20))
def test_free_text_escaping(text, code):
    line = protocol.encode_error(code, text)
    assert line.isascii() and "\n" not in line and line.count("@PF") == 1 and line.count("*") == 1
    d = protocol.decode(line)
    assert d["code"] == code[:protocol.MAX_TEXT] and d["text"] == text[:protocol.MAX_TEXT]
    for value in ("", "-", "%", "a=b c", "*@PF 1 F*", "é€\x00\n"):
        assert protocol.unescape(protocol.escape(value)) == value


def test_hello_extras_and_reserved_keys():
    d = protocol.decode(protocol.encode_hello(board="b", fw_gen="new", note="a b=c"))
    assert d["fw_gen"] == "new" and d["note"] == "a b=c" and d["board"] == "b"
    for bad in ("type", "v", "fw", "in", "cam", "hash", "input", "camera", "Upper", "a-b", ""):
        with pytest.raises((ValueError, TypeError)):
            protocol.encode_hello(**{bad: "x"})


_face = st.lists(st.one_of(st.floats(-50, 20000), st.just(float("nan"))), min_size=4, max_size=4).map(
    lambda v: v + [0.0]).flatmap(lambda v: st.floats(-0.5, 1.5).map(lambda s: v[:4] + [s]))


@settings(max_examples=100, deadline=None)
@given(seq=st.integers(0, 2**40), ms=st.integers(0, 2**40), fps=st.floats(0, 5000),
       faces=st.lists(_face, max_size=14))
def test_frame_round_trip_and_bounds(seq, ms, fps, faces):
    line = protocol.encode_frame(seq, ms, fps, faces)
    assert len(line) <= protocol.WORST_FRAME
    d = protocol.decode(line)
    assert d["seq"] == seq % 2**30 and d["ms"] == ms % 2**30
    assert d["n"] == min(len(faces), protocol.MAX_FACES) == len(d["faces"])
    assert abs(d["fps"] - min(fps, 999.9)) <= 0.05 + 1e-9
    for sent, got in zip(faces, d["faces"]):
        for v, g in zip(sent[:4], got[:4]):
            want = 0 if not v > 0 else min(v, 9999)
            assert abs(g - want) <= 0.5
        assert abs(got[4] - min(max(sent[4], 0.0), 1.0)) <= 0.0005 + 1e-12


def test_worst_case_frame_fits_115200_at_30fps():
    faces = [[9999.0, 9999.0, 9999.0, 9999.0, 1.0]] * 10
    line = protocol.encode_frame(2**30 - 1, 2**30 - 1, 999.9, faces)
    assert len(line) == protocol.WORST_FRAME == 293
    event = protocol.encode_event(2**30 - 1, 2**30 - 1, "leave", 999)
    budget = 115200 // 10 // 30                       # 8N1: 10 bits a byte -> 384 bytes a frame
    assert len(line) + 2 + len(event) + 2 <= budget
    # more faces are cut, never lengthening the line
    assert protocol.encode_frame(2**30 - 1, 2**30 - 1, 999.9, faces * 3) == line


# ---- protocol: class labels -------------------------------------------------------------------

LABELS = ["mask", "no_mask"]


def test_single_class_frame_lines_are_unchanged():
    """A 1-class model's faces have 5 items: labels or not, the line is the one v2 always sent
    (the example of docs/protocol.md, byte for byte)."""
    faces = [[10, 21, 30, 40, 0.912], [1, 2, 3, 4, 1.0]]
    want = "@PF 2 F 12345 678901 29.9 2 10,21,30,40,912 1,2,3,4,1000*709B"
    assert protocol.encode_frame(12345, 678901, 29.9, faces) == want
    assert protocol.encode_frame(12345, 678901, 29.9, faces, LABELS) == want
    assert "classes" not in protocol.decode(want)
    named = [[10, 21, 30, 40, 0.912, "ann", 0.5]]
    assert protocol.encode_frame(1, 2, 3.0, named, LABELS) == protocol.encode_frame(1, 2, 3.0, named)
    assert protocol.encode_frame(1, 2, 3.0, named).split(" ")[7].startswith("10,21,30,40,912,ann,500*")


@pytest.mark.parametrize("face,token,back,label", [
    ([1, 2, 3, 4, 0.5], "1,2,3,4,500", [1, 2, 3, 4, 0.5], None),
    ([1, 2, 3, 4, 0.5, 1], "1,2,3,4,500,no_mask", [1, 2, 3, 4, 0.5], "no_mask"),
    ([1, 2, 3, 4, 0.5, "ann lee", 0.25], "1,2,3,4,500,ann%20lee,250", [1, 2, 3, 4, 0.5, "ann lee", 0.25], None),
    ([1, 2, 3, 4, 0.5, 0, "?", -0.2], "1,2,3,4,500,mask,%3F,0", [1, 2, 3, 4, 0.5, "?", 0.0], "mask"),
    ([1, 2, 3, 4, 0.5, 0, "", 0.9], "1,2,3,4,500,mask,-,900", [1, 2, 3, 4, 0.5, "", 0.9], "mask"),
    ([1, 2, 3, 4, 0.5, 7], "1,2,3,4,500,7", [1, 2, 3, 4, 0.5], "7"),          # no label for index 7
])
def test_face_tokens_with_classes_round_trip(face, token, back, label):
    """5 items plain, 6 the class label, 7 name + similarity, 8 label + name + similarity."""
    line = protocol.encode_frame(3, 4, 5.0, [face, [9, 9, 9, 9, 0.1]], LABELS)
    assert line.split(" ")[7] == token
    d = protocol.decode(line)
    assert d["faces"] == [back, [9, 9, 9, 9, 0.1]]
    if label is None:
        assert "classes" not in d
    else:
        assert d["classes"] == [label, None]


def test_labels_are_escaped_and_the_index_is_sent_without_labels():
    d = protocol.decode(protocol.encode_frame(1, 2, 3.0, [[1, 2, 3, 4, 0.5, 1]], ["a b", "x,y%\u00e9"]))
    assert d["classes"] == ["x,y%\u00e9"]
    line = protocol.encode_frame(1, 2, 3.0, [[1, 2, 3, 4, 0.5, 1], [5, 6, 7, 8, 0.5, 0]])
    assert " 1,2,3,4,500,1 5,6,7,8,500,0*" in line and protocol.decode(line)["classes"] == ["1", "0"]


@pytest.mark.parametrize("token", [
    "1,2,3,4,500,", "1,2,3,4,500,,ann,500", "1,2,3,4,500,mask,,500", "1,2,3,4,500,ma%2,ann,500",
    "1,2,3,4,500,mask,ann,1001", "1,2,3,4,500,mask,ann,x", "1,2,3,4,500,mask,ann,500,9",
    "1,2,3,4,500,m%ZZ", "1,2,3,4,500,mask,ann", "1,2,3,4,500,a,b,c,d", "1,2,3,4,1001,mask",
])
def test_bad_face_tokens_with_classes_are_field_errors(token):
    with pytest.raises(ProtocolError) as e:
        protocol.decode(_bad("F 1 2 3.0 1 " + token))
    assert e.value.kind == "field"


def test_worst_labelled_frame_fits_max_line():
    """10 faces, every number at its maximum, each with a label of MAX_LABEL bytes on the wire, the
    largest one named with a 24-byte name that escapes to 72: WORST_LINE bytes, within MAX_LINE.
    A label of MAX_LABEL bytes is what pfcore.config lets through (escaped), no more."""
    label = "m\u00e1scara"                                   # 12 bytes escaped
    assert len(protocol.token(label)) == protocol.MAX_LABEL == 12
    faces = [[9999.0, 9999.0, 9999.0, 9999.0, 1.0, 0]] * 10
    line = protocol.encode_frame(2**30 - 1, 2**30 - 1, 999.9, faces, [label])
    assert len(line) == protocol.WORST_LABELLED == 293 + 10 * 13
    name = "\u00e9" * 12                                     # 24 bytes, 72 escaped
    assert len(protocol.token(name)) == protocol.MAX_NAME == 72
    faces = [[9999.0, 9999.0, 9999.0, 9999.0, 1.0, 0, name, 1.0]] + faces[1:]
    line = protocol.encode_frame(2**30 - 1, 2**30 - 1, 999.9, faces, [label])
    assert len(line) == protocol.WORST_LINE == 501 and len(line) + 2 <= protocol.MAX_LINE
    assert protocol.decode(line)["classes"] == [label] * 10
    cfg, problems = config.load({"model": {"classes": 1, "labels": ["m\u00e1scaras"]}})
    assert "labels" not in cfg["model"] and "longer than 12" in problems[0]


def test_model_labels_in_the_config():
    cfg, problems = config.load({"model": {"classes": 2, "labels": ["mask", "no_mask"]}})
    assert cfg["model"]["labels"] == ["mask", "no_mask"] and problems == []
    for labels, why in ((["mask"], "1 name(s) for 2 classes"), (["mask", "mask"], "repeats"),
                        (["mask", ""], "non-empty"), (["mask", "a\tb"], "control"), (["mask", "a,b"], "comma"),
                        ("mask,no_mask", "list"), (["mask", 3], "non-empty string"), ([], "list")):
        cfg, problems = config.load({"model": {"classes": 2, "labels": labels}})
        assert "labels" not in cfg["model"] and len(problems) == 1 and why in problems[0], (labels, problems)
    cfg, problems = config.load({"model": {"labels": ["face"]}})        # classes defaults to 1
    assert cfg["model"]["labels"] == ["face"] and problems == []


def test_led_and_lcd_colours_follow_the_class():
    """Mode detect with a multi-class model: red while any face is no_mask, else green; an unknown
    label is the face colour; the LCD box has its class colour and label."""
    from pfcore import signals

    red, green = (1, 0, 0), (0, 1, 0)
    assert signals.colour(signals.class_state([[1, 2, 3, 4, 0.9, 0], [1, 2, 3, 4, 0.9, 1]], LABELS)) == red
    assert signals.colour(signals.class_state([[1, 2, 3, 4, 0.9, 0], [1, 2, 3, 4, 0.9, 0]], LABELS)) == green
    assert signals.class_state([[1, 2, 3, 4, 0.9, 1, "ann", 0.9]], LABELS) == "class:no_mask"
    assert signals.class_state([[1, 2, 3, 4, 0.9, 1]], ["cat", "dog"]) == "face"
    assert signals.class_state([[1, 2, 3, 4, 0.9]], LABELS) == "face"
    assert signals.colour("class:hat") == signals.colour("face") == green
    assert signals.colour("error") == red and signals.colour("idle") == (0, 0, 0)
    assert signals.box([1, 2, 3, 4, 0.9, 1], LABELS) == ((255, 0, 0), "no_mask")
    assert signals.box([1, 2, 3, 4, 0.9, 0, "?", 0.1], LABELS) == ((0, 255, 0), "mask")
    assert signals.box([1, 2, 3, 4, 0.9, 5], LABELS) == ((0, 255, 0), "5")
    assert signals.box([1, 2, 3, 4, 0.9], LABELS) == ((0, 255, 0), None)
    assert signals.box([1, 2, 3, 4, 0.9, "ann", 0.9], LABELS) == ((0, 255, 0), None)


def test_numbers_are_formatted_without_float_printing():
    # encode must give identical bytes on every port: check the rounding rules
    f = protocol.decode(protocol.encode_frame(1, 2, 29.95, [[0.5, 1.49, 2.5, -3, 0.0005]]))
    assert f["fps"] == 30.0 and f["faces"] == [[1, 1, 3, 0, 0.001]]
    assert protocol.decode(protocol.encode_frame(1, 2, float("nan"), [[float("nan")] * 5]))["faces"] == [[0] * 4 + [0.0]]
    assert protocol.encode_hello(score=0.25, nms=1 / 3).split(" score=")[1].startswith("0.250 nms=0.333*")
    with pytest.raises(ValueError):
        protocol.encode_event(1, 2, "stay", 0)
    assert protocol.decode(protocol.encode_event(1, 2, "leave", [[0, 0, 1, 1, 1.0]] * 3))["n"] == 3


def test_struct_free_crc_matches_reference():
    # bitwise reference implementation of CRC-16/CCITT-FALSE
    def ref(data):
        crc = 0xFFFF
        for b in data:
            crc ^= b << 8
            for _ in range(8):
                crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
        return crc
    for n in range(0, 300, 7):
        data = struct.pack("<%dB" % n, *[(i * 131 + n) % 256 for i in range(n)])
        assert protocol.crc16(data) == ref(data)


# ---- protocol v2: commands (host -> board) and acks ------------------------------------------

def test_command_and_ack_round_trip():
    c = protocol.encode_command(17, "set", ["score", "0.6"])
    assert c.startswith("@PF 2 C 17 set score 0.6*") and len(c) <= protocol.MAX_COMMAND
    assert protocol.decode(c) == {"type": "command", "v": 2, "id": 17, "verb": "set", "args": ["score", "0.6"]}
    assert protocol.decode(protocol.encode_command(0, "hello")) == {"type": "command", "v": 2, "id": 0,
                                                                     "verb": "hello", "args": []}
    a = protocol.encode_ack(17, True, "score=0.600")
    assert protocol.decode(a) == {"type": "ack", "v": 2, "id": 17, "ok": True, "text": "score=0.600"}
    e = protocol.decode(protocol.encode_ack(9999, False, "unknown key 'x y'"))
    assert e["ok"] is False and e["text"] == "unknown key 'x y'" and e["id"] == 9999
    # free text in arguments is escaped, so a space or a '*' cannot split or end the line
    odd = protocol.decode(protocol.encode_command(3, "enrol", ["Ann * Lee"]))
    assert odd["args"] == ["Ann * Lee"]


@pytest.mark.parametrize("call, text", [
    (lambda: protocol.encode_command(10000, "ping"), "out of range"),
    (lambda: protocol.encode_command(1, "Set"), "use a-z and _"),
    (lambda: protocol.encode_command(1, ""), "1-16 characters"),
    (lambda: protocol.encode_command(1, "set", ["a", "b", "c", "d", "e"]), "at most 4"),
    (lambda: protocol.encode_command(1, "set", ["x" * 60, "y" * 60]), "reads at most 120"),
])
def test_bad_commands_are_refused_before_sending(call, text):
    with pytest.raises(ValueError, match=text):
        call()


def test_commands_are_v2_only_and_checked():
    for body in ("C 1 set", "A 1 ok -"):
        s = "@PF 1 " + body
        with pytest.raises(ProtocolError, match="unknown message type"):
            protocol.decode(s + "*%04X" % protocol.crc16(s))
    for body in ("C x set", "C 1 SET", "C 1", "C 1 set a b c d e", "A 1 maybe -", "A 1 ok", "C 10000 ping"):
        s = "@PF 2 " + body
        with pytest.raises(ProtocolError):
            protocol.decode(s + "*%04X" % protocol.crc16(s))


def test_line_reader_assembles_commands_from_any_chunks():
    cmds = [protocol.encode_command(i, "set", ["score", "0.%d" % i]) for i in range(1, 4)]
    stream = ("noise\r\n" + "\r\n".join(cmds) + "\n").encode()
    for size in (1, 2, 7, 64, len(stream)):
        r = protocol.LineReader()
        got = []
        for i in range(0, len(stream), size):
            got += r.feed(stream[i:i + size])
        assert [c["id"] for c in got] == [1, 2, 3] and r.corrupt == 0 and r.overlong == 0
        assert len(r.buf) == 0


def test_line_reader_drops_overlong_corrupt_and_non_command_lines():
    r = protocol.LineReader()
    good = protocol.encode_command(5, "ping")
    damaged = good.replace("ping", "pong")
    assert r.feed(("@PF" + "x" * 500 + "\n").encode()) == [] and r.overlong == 1
    # the board never holds more than one command line of input
    assert len(r.buf) == 0
    assert r.feed(damaged.encode() + b"\n") == [] and r.corrupt == 1 and "checksum" in r.last_error
    assert r.feed(protocol.encode_ack(1, True).encode() + b"\n") == [] and r.corrupt == 2
    assert r.feed(b"print('hi')\n") == []
    # after all that, a good line is read
    assert [c["id"] for c in r.feed(good.encode() + b"\r\n")] == [5]


def test_commands_get_set_and_refuse():
    from pfcore import commands

    cfg, _ = config.load({})
    c = commands.Commands(cfg)

    def cmd(verb, *args):
        return c.handle({"verb": verb, "args": list(args)})

    assert cmd("ping") == (True, "pong", "")
    assert cmd("hello") == (True, "", "hello")
    assert cmd("get", "score") == (True, "score=0.500", "")
    assert cmd("set", "score", "0.65") == (True, "score=0.650", "model") and cfg["score"] == 0.65
    assert cmd("set", "score", "1") == (True, "score=1.000", "model") and isinstance(cfg["score"], float)
    assert cmd("set", "leave_frames", "9") == (True, "leave_frames=9", "presence") and cfg["leave_frames"] == 9
    assert cmd("set", "send_frames", "false") == (True, "send_frames=false", "") and cfg["send_frames"] is False
    before = dict(cfg)
    for args, text in ((("score", "1.5"), "out of range"), (("max_faces", "2.5"), "must be an integer"),
                       (("max_faces", "11"), "out of range"), (("score", "nan"), "is not a value"),
                       (("score", "high"), "is not a value"), (("board", "x"), "KEY one of"),
                       (("baud", "9600"), "KEY one of"), (("score",), "set KEY VALUE")):
        ok, got, todo = cmd("set", *args)
        assert not ok and text in got and todo == "", (args, got)
    assert cfg == before
    assert cmd("get", "model")[0] is False and cmd("ping", "x")[0] is False
    ok, text, _ = cmd("reboot")
    assert not ok and "unknown command 'reboot'; known: ping,hello,get,set,gallery_list,gallery_rm,gallery_rename," \
        "gallery_get,gallery_put,enrol" == text
    assert cmd("gallery_list") == (False, "this app has no gallery", "")
    # a malformed command dict never raises
    assert c.handle({})[0] is False


def test_gallery_commands_page_rename_remove(tmp_path):
    from pfcore import commands, gallery

    paths = (str(tmp_path / "gallery.a"), str(tmp_path / "gallery.b"))
    g = gallery.Gallery(4, paths=paths)
    names = ["person%02d" % i for i in range(12)] + ["Zoë"]
    for n in names:
        assert g.add(n, bytes([1, 2, 3, 4])) is None
    assert g.add("person00", bytes(4)) is None
    g.save()
    cfg, _ = config.load({})
    c = commands.Commands(cfg, gallery.Gallery(paths=paths))

    def cmd(verb, *args):
        return c.handle({"verb": verb, "args": list(args)})

    seen, start = [], 0
    while True:
        ok, text, _ = cmd("gallery_list", str(start))
        assert ok and len(text) <= 60
        total, nxt, listed = text.split(" ", 2)
        seen += [p.rsplit(":", 1) for p in listed.split(",") if p]
        if int(nxt) == int(total):
            break
        assert int(nxt) > start
        start = int(nxt)
    assert [n for n, _ in seen] == sorted(names) and dict(seen)["person00"] == "2" and int(total) == 13
    assert cmd("gallery_rename", "person00", "Ann") == (True, "2", "")
    assert cmd("gallery_rm", "person05") == (True, "1", "")
    assert cmd("gallery_rm", "nobody") == (False, "no face named 'nobody'", "")
    assert cmd("gallery_rename", "Ann", "a,b")[0] is False
    again = gallery.Gallery(paths=paths)
    assert again.load() is None and dict(again.names())["Ann"] == 2 and "person05" not in dict(again.names())
    assert again.dim == 4 and again.seq == 3
