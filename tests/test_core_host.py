"""Host twins of the device core: picoface.detect (numpy decode/NMS, fit_image, sizes) equal to
pfcore, and picoface.protocol.StreamDecoder on hostile byte streams."""

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pfcore import geom, nms, protocol, region
from picoface.detect import region as hregion
from picoface.detect.fit import fit_image
from picoface.errors import PicofaceError
from picoface.kmodel import MAIXPY_FACE_ANCHOR_PAIRS
from picoface.protocol import StreamDecoder, check_version, decode_bytes

ANCHORS = MAIXPY_FACE_ANCHOR_PAIRS  # Sipeed's stock face model's anchors


def _case(rng, trial):
    classes = 1 + trial % 3
    layout = ("NCHW", "NHWC")[trial % 2]
    gw, gh = int(rng.integers(1, 21)), int(rng.integers(1, 16))
    na = int(rng.integers(1, 6))
    anchors = ANCHORS[:na]
    n = gw * gh * na * (5 + classes)
    kind = ("float", "int8", "uint8", "int-list")[trial % 4]
    kw = {}
    if kind == "float":
        arr = rng.normal(-1.0, 2.5, n).astype(np.float32)
        dev = arr.tolist()                 # what fmap[:] gives the device: Python floats
    elif kind == "int-list":
        arr = rng.integers(-128, 128, n).astype(np.int8)
        dev = arr.tolist()
        kw = {"scale": float(rng.uniform(0.02, 0.2)), "zero_point": int(rng.integers(-10, 10))}
    else:
        arr = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        dev = arr
        kw = {"scale": float(rng.uniform(0.02, 0.2)), "zero_point": int(rng.integers(-30, 30)),
              "dtype": kind}
    return dev, arr, gw, gh, anchors, classes, layout, kw


def _same(a, b):
    a = np.asarray(a, dtype=np.float64).reshape(len(a), -1) if len(a) else np.zeros((0, b.shape[1]))
    assert a.shape == b.shape
    if len(a):
        # same boxes, same order; values to float rounding
        np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-9)


def test_numpy_decode_and_nms_equal_pfcore():
    rng = np.random.default_rng(1234)
    total = 0
    for trial in range(240):
        dev, arr, gw, gh, anchors, classes, layout, kw = _case(rng, trial)
        thr = float(rng.uniform(0.05, 0.95))
        a = region.decode(dev, gw, gh, anchors, classes, layout, thr, with_class=True, **kw)
        b = hregion.decode(arr, gw, gh, anchors, classes, layout, thr, with_class=True, **kw)
        _same(a, b)
        total += len(a)
        fit = geom.Fit(int(rng.integers(64, 641)), int(rng.integers(48, 481)),
                       int(rng.integers(32, 321)), int(rng.integers(32, 321)), geom.MODES[trial % 3])
        ca = fit.map(a)
        cb = hregion.to_camera(b, fit)
        _same(ca, cb)
        iou_t = float(rng.uniform(0.1, 0.7))
        max_out = int(rng.integers(0, 12))
        _same(nms.nms(ca, iou_t, max_out), hregion.nms(cb, iou_t, max_out))
    assert total > 600       # the comparison saw plenty of boxes


def test_numpy_postprocess_equals_pfcore_postprocess():
    rng = np.random.default_rng(7)
    fit = geom.Fit(320, 240, 320, 240, "stretch")
    for layout in ("NCHW", "NHWC"):
        spec = {"grid_w": 20, "grid_h": 15, "anchors": ANCHORS, "classes": 1, "layout": layout,
                "dtype": "int8", "scale": 0.1, "zero_point": -5}
        q = rng.integers(-128, 128, 9000).astype(np.int8)
        q[4 * 300:5 * 300] = -60           # mostly empty obj planes in NCHW
        a = region.postprocess(q.tobytes(), spec, fit, 0.3, 0.3, 10)
        b = hregion.postprocess(q.tobytes(), spec, fit, 0.3, 0.3, 10)
        assert b.dtype == np.float32 and b.shape == (len(a), 5) and len(a) > 0
        np.testing.assert_allclose(b, np.array(a, dtype=np.float32), rtol=1e-6)


def test_numpy_postprocess_carries_the_class_like_pfcore():
    """A 2-class output: both postprocesses return [x, y, w, h, score, class] (N, 6), equal, with
    both classes present; an empty result keeps 6 columns; with_class=False drops the column."""
    rng = np.random.default_rng(11)
    fit = geom.Fit(320, 240, 320, 240, "crop")
    seen = set()
    for layout in ("NCHW", "NHWC"):
        spec = {"grid_w": 20, "grid_h": 15, "anchors": ANCHORS, "classes": 2, "layout": layout,
                "dtype": "int8", "scale": 0.1, "zero_point": -5}
        q = rng.integers(-128, 128, 20 * 15 * 5 * 7).astype(np.int8)
        a = region.postprocess(q.tobytes(), spec, fit, 0.3, 0.3, 10)
        b = hregion.postprocess(q.tobytes(), spec, fit, 0.3, 0.3, 10)
        assert b.dtype == np.float32 and b.shape == (len(a), 6) and len(a) > 3
        assert all(len(f) == 6 and isinstance(f[5], int) for f in a)
        np.testing.assert_allclose(b, np.array(a, dtype=np.float32), rtol=1e-6)
        seen |= {f[5] for f in a}
        assert hregion.postprocess(q.tobytes(), spec, fit, 0.3, 0.3, 10, with_class=False).shape == (len(a), 5)
        empty = np.full(q.size, -128, np.int8).tobytes()
        assert region.postprocess(empty, spec, fit, 0.3, 0.3, 10) == []
        assert hregion.postprocess(empty, spec, fit, 0.3, 0.3, 10).shape == (0, 6)
    assert seen == {0, 1}
    one = dict(spec, classes=1)
    q = rng.integers(-128, 128, 20 * 15 * 5 * 6).astype(np.int8)
    assert hregion.postprocess(q.tobytes(), one, fit, 0.3, 0.3, 10).shape[1] == 5
    c = hregion.postprocess(q.tobytes(), one, fit, 0.3, 0.3, 10, with_class=True)
    assert c.shape[1] == 6 and set(c[:, 5]) == {0.0}


def test_numpy_nms_ties_and_empty():
    d = np.array([[0, 0, 10, 10, 0.9], [50, 50, 10, 10, 0.9], [1, 1, 10, 10, 0.9]], dtype=np.float64)
    assert hregion.nms(d, 0.3).tolist() == nms.nms(d.tolist(), 0.3) == [d[0].tolist(), d[1].tolist()]
    assert hregion.nms(np.zeros((0, 5)), 0.3).shape == (0, 5)
    assert hregion.decode([], 0, 0, ANCHORS).shape == (0, 5)
    assert hregion.to_camera(np.zeros((0, 5)), geom.Fit(4, 4, 4, 4)).shape == (0, 5)


@pytest.mark.parametrize("mode", geom.MODES)
def test_fit_image_matches_geom(mode):
    cam = np.zeros((240, 320, 3), dtype=np.uint8)
    box = (200, 60, 64, 80)                   # a white "face" in camera pixels
    cam[box[1]:box[1] + box[3], box[0]:box[0] + box[2]] = 255
    fit = geom.Fit(320, 240, 224, 224, mode)
    net = fit_image(cam, fit)
    assert net.shape == (224, 224, 3)
    ys, xs = np.nonzero(net[:, :, 0] > 127)
    nb = [(xs.min() + xs.max() + 1) / 2 / 224, (ys.min() + ys.max() + 1) / 2 / 224,
          (xs.max() + 1 - xs.min()) / 224, (ys.max() + 1 - ys.min()) / 224]
    back = fit.net_to_cam(nb)
    assert back == pytest.approx(list(box), abs=2.0)
    if mode == "letterbox":
        assert (net[:28] == 0).all() and (net[-28:] == 0).all()
    with pytest.raises(ValueError, match="expects 320x240"):
        fit_image(cam[:100], fit)


def test_device_sizes_table():
    from picoface.detect import sizes
    rows = sizes.sizes()
    names = [r[0] for r in rows]
    assert "pfcore/protocol.py" in names and "pfcore/region.py" in names
    assert all(py > 0 and mpy > 0 for _, py, mpy in rows)
    text = sizes.table(rows)
    assert "| **pfcore total** |" in text
    print("\n" + text)


# ---- StreamDecoder ---------------------------------------------------------------------------

def _stream(rng):
    """A capture: messages mixed with banners, NULs, invalid UTF-8, corrupt and endless lines."""
    msgs, parts = [], []
    expect = {"corrupt": 0, "overlong": 0}
    for i in range(60):
        k = rng.randrange(8)
        if k <= 2:
            line = protocol.encode_frame(i, 1000 + 33 * i, 29.5,
                                         [[rng.uniform(0, 300), 10, 20, 30, rng.random()] for _ in range(rng.randrange(11))])
            msgs.append(protocol.decode(line))
            parts.append(line.encode() + (b"\r\n" if k == 1 else b"\n"))
        elif k == 3:
            line = protocol.encode_event(i, 5, "enter", 1)
            msgs.append(protocol.decode(line))
            parts.append(b"\x00\x00\xff\xfe" + line.encode() + b"\n")       # noise then a message
        elif k == 4:
            parts.append(b"MicroPython v0.6.2-54 \xc3\x28 banner\x00\r\n")
        elif k == 5:
            bad = bytearray(protocol.encode_error("x", "y z").encode())
            bad[rng.randrange(4, len(bad) - 5)] ^= 0x01
            parts.append(bytes(bad) + b"\n")
            expect["corrupt"] += 1
        elif k == 6:
            parts.append(bytes(rng.randrange(1, 256) for _ in range(rng.randrange(2100, 3000)))
                         .replace(b"\n", b".").replace(b"@", b"."))
            line = protocol.encode_event(i, 6, "leave", 0)                   # after a lost newline
            msgs.append(protocol.decode(line))
            parts.append(line.encode() + b"\n")
            expect["overlong"] += 1
        else:
            parts.append(b"\n")
    return b"".join(parts), msgs, expect


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10**6), splits=st.lists(st.integers(1, 700), min_size=1, max_size=50))
def test_stream_decoder_any_split(seed, splits):
    rng = random.Random(seed)
    data, msgs, expect = _stream(rng)
    whole, dec1 = decode_bytes(data)
    assert whole == msgs
    dec = StreamDecoder()
    got, pos, k = [], 0, 0
    while pos < len(data):
        n = splits[k % len(splits)]
        k += 1
        got += dec.feed(data[pos:pos + n])
        assert len(dec._buf) <= dec.max_line          # memory stays bounded
        pos += n
    got += dec.flush()
    assert got == msgs
    assert dec.counters() == dec1.counters()
    assert dec.messages == len(msgs) and dec.corrupt == expect["corrupt"]
    assert dec.overlong == expect["overlong"] and dec.bytes == len(data)


def test_stream_decoder_counters_and_text():
    frame = protocol.encode_frame(1, 2, 3.0, [])
    data = b"boot\r\n" + frame.encode() + b"\n" + frame[:-1].encode() + b"Z\n" + b"tail without newline"
    dec = StreamDecoder(keep_text=True)
    out = dec.feed(data) + dec.flush()
    assert [m["type"] for m in out] == ["text", "frame", "text"]
    assert out[0]["text"] == "boot" and out[2]["text"] == "tail without newline"
    c = dec.counters()
    assert c == {"bytes": len(data), "lines": 4, "messages": 1, "skipped": 2, "corrupt": 1,
                 "overlong": 0, "version": 0, "by_type": {"frame": 1}}
    assert "frame" in dec.last_error


def test_stream_decoder_newer_version():
    s = "@PF 3 F 1 2 3.0 0 with more"
    line = (s + "*%04X" % protocol.crc16(s) + "\n").encode()
    with pytest.raises(PicofaceError, match="protocol v3.*v1 to v2.*upgrade picoface"):
        StreamDecoder().feed(line)
    dec = StreamDecoder(strict_version=False)
    assert dec.feed(line * 3) == [] and dec.version == 3 and dec.seen_version == 3 and dec.corrupt == 0
    # a corrupted version digit is not taken as a newer board
    bad = protocol.encode_frame(1, 2, 3.0, []).replace("@PF 2", "@PF 3")
    dec = StreamDecoder()
    assert dec.feed(bad.encode() + b"\n") == [] and dec.corrupt == 1
    check_version(1)
    check_version(2)
    with pytest.raises(PicofaceError, match="v0"):
        check_version(0)


def test_stream_decoder_only_parses(tmp_path):
    marker = tmp_path / "pwned"
    payload = "__import__('pathlib').Path(%r).write_text('x')" % str(marker)
    line = protocol.encode_error("eval", payload)
    dec = StreamDecoder()
    out = dec.feed(("exec(" + payload + ")\n" + line + "\n").encode())
    assert out == [{"type": "error", "v": 2, "code": "eval", "text": payload[:protocol.MAX_TEXT]}]
    assert not marker.exists()


def test_pfcore_accepts_numpy_outputs_like_lists():
    """The sim and host callers may hand numpy arrays to pfcore: same boxes as Python lists."""
    rng = np.random.default_rng(5)
    q = rng.integers(-128, 128, 9000).astype(np.int8)
    f = rng.normal(-1, 2, 9000).astype(np.float32)
    assert region.decode(q, 20, 15, ANCHORS, 1, "NCHW", 0.4, 0.1, -20) == \
        region.decode(q.tolist(), 20, 15, ANCHORS, 1, "NCHW", 0.4, 0.1, -20) != []
    assert region.decode(f, 20, 15, ANCHORS, 1, "NHWC", 0.4) == region.decode(f.tolist(), 20, 15, ANCHORS, 1, "NHWC", 0.4)
