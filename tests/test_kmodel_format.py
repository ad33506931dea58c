"""kmodel containers: version detection, v3 parse/serialize/build, v4 listing, `picoface kmodel info`."""

import json
import struct

import numpy as np
import pytest

from picoface import cli
from picoface.errors import PicofaceError
from picoface.kmodel import detect_version, info, v3, v4

STOCK = "k210_maixpy_face_v3/facedetect.kmodel"
CANMV3 = "k210_canmv_face_v3/yolo_face_detect.kmodel"
CANMV4 = "k210_canmv_face_v4/face_detect_320x240.kmodel"


@pytest.fixture(scope="module")
def stock_bytes(anchors):
    return (anchors / STOCK).read_bytes()


@pytest.fixture(scope="module")
def canmv_bytes(anchors):
    return (anchors / CANMV3).read_bytes()


@pytest.fixture(scope="module")
def v4_bytes(anchors):
    return (anchors / CANMV4).read_bytes()


def small_model(w=40, h=8, c=3, oc=4, kernel=3, depthwise=False, pool=0):
    """One conv (main-memory output) + DEQUANTIZE, built from scratch."""
    rng = np.random.default_rng(0)
    oc = c if depthwise else oc
    nw = (oc if depthwise else oc * c) * kernel * kernel
    regs = v3.conv_regs(w, h, c, oc, kernel=kernel, depthwise=depthwise, pool_type=pool, src_addr=100,
                        arg_x=-128, arg_w=-3, arg_add=kernel * kernel * 128 * 3, pad_value=3)
    conv = v3.ConvLayer(regs=regs, weights=rng.integers(0, 256, nw, dtype=np.uint8).tobytes(),
                        bn=[v3.BN(1000 + i, -5 * i, 12) for i in range(oc)], act=v3.ActTable.relu_1024(),
                        flags=v3.KLF_MAIN_MEM_OUT, main_mem_out_address=0)
    ow, oh, _ = regs.out_shape
    n = ow * oh * oc
    deq = v3.DequantizeLayer(main_mem_in_address=0, main_mem_out_address=v3.align(n, 8), count=n,
                             scale=0.1, bias=-2.5)
    return v3.build_model([conv, deq])


# ------------------------------------------------------------------------------ detection

def test_detect_version_anchors(stock_bytes, canmv_bytes, v4_bytes):
    assert detect_version(stock_bytes) == 3
    assert detect_version(canmv_bytes) == 3
    assert detect_version(v4_bytes) == 4


def test_detect_version_v5_and_garbage():
    v5_header = b"LDMK" + struct.pack("<7I", 5, 32, 0, 256, 2, 0, 0)
    assert detect_version(v5_header) == 5
    for bad in (b"", b"\x03\x00", b"hello world, not a model", b"\x03\0\0\0\1\0\0\0\7\0\0\0" + bytes(20),
                b"\x89PNG\r\n\x1a\n" + bytes(32)):
        with pytest.raises(PicofaceError, match="not a kmodel"):
            detect_version(bad)
    with pytest.raises(PicofaceError, match="version 9"):
        detect_version(b"LDMK" + struct.pack("<7I", 9, 32, 0, 0, 0, 0, 0))


# ------------------------------------------------------------------------------ v3 round trips

@pytest.mark.parametrize("name", [STOCK, CANMV3])
def test_v3_round_trip_byte_identical(anchors, name):
    data = (anchors / name).read_bytes()
    m = v3.parse(data)
    out = m.serialize()
    assert out == data
    assert v3.parse(out) == m
    # header fields recomputed from the layers alone match the file
    b = v3.build_model(m.layers, flags=m.flags)
    assert (b.max_start_address, b.main_mem_usage, b.outputs) == (m.max_start_address, m.main_mem_usage, m.outputs)
    assert b.serialize() == data


def test_stock_model_facts(stock_bytes):
    m = v3.parse(stock_bytes)
    assert struct.unpack_from("<7I", stock_bytes) == (3, 1, 0, 24, 17408, 45000, 1)
    assert len(m.layers) == 24
    assert (m.flags, m.max_start_address, m.main_mem_usage) == (1, 17408, 45000)
    assert m.outputs == [v3.Output(9000, 36000)]
    assert all(isinstance(l, v3.ConvLayer) for l in m.layers[:23])
    deq = m.layers[23]
    assert isinstance(deq, v3.DequantizeLayer)
    assert (deq.flags, deq.main_mem_in_address, deq.main_mem_out_address, deq.count) == (1, 0, 9000, 9000)
    assert deq.scale == pytest.approx(0.226401, abs=1e-6) and deq.bias == pytest.approx(-53.4307, abs=1e-4)
    assert all(l.flags == 0 for l in m.layers[:22])
    last = m.layers[22]
    assert (last.flags, last.main_mem_out_address) == (1, 0)
    assert last.regs.in_shape == (20, 15, 256) and last.regs.out_shape == (20, 15, 30) and last.regs.kernel == 1
    first = m.layers[0].regs
    assert first.in_shape == (320, 240, 3) and first.out_shape == (160, 120, 16) and first.pool_type == 1
    # first body at 228, its layer arguments at 256 (absolute offsets in the conv header)
    body0 = 28 + 8 + 24 * 8
    assert body0 == 228
    assert struct.unpack_from("<6I", stock_bytes, body0)[2] == 256
    # the image_dst -> next image_src chain
    convs = m.convs
    assert all(a.regs.image_dst_addr == b.regs.image_src_addr for a, b in zip(convs, convs[1:]))
    assert all(r == 0 for l in convs for r in l.regs.reserved)
    assert all((l.regs.shr_x, l.regs.arg_w, l.regs.arg_add, l.regs.pad_value) == (15, 0, 0, 0) for l in convs)


def test_canmv_v3_facts(canmv_bytes):
    m = v3.parse(canmv_bytes)
    assert struct.unpack_from("<7I", canmv_bytes) == (3, 1, 0, 31, 0, 21600, 1)
    assert m.outputs == [v3.Output(4320, 17280)]
    assert len(m.convs) == 30 and isinstance(m.layers[30], v3.DequantizeLayer)
    assert m.convs[0].regs.in_shape == (320, 256, 3)
    assert m.convs[-1].regs.out_shape == (10, 8, 54)
    assert (m.convs[28].regs.load_time, m.convs[29].regs.load_time) == (4, 1)
    assert m.convs[28].regs.para_size == 30720


@pytest.mark.parametrize("name", [STOCK, CANMV3])
def test_conv_regs_reproduces_every_stock_register_block(anchors, name):
    m = v3.parse((anchors / name).read_bytes())
    for l in m.convs:
        r = l.regs
        w, h, c = r.in_shape
        g = v3.conv_regs(w, h, c, r.out_shape[2], kernel=r.kernel, depthwise=r.depthwise, pool_type=r.pool_type,
                         src_addr=r.image_src_addr, dst_addr=r.image_dst_addr, arg_x=r.arg_x, shr_x=r.shr_x,
                         arg_w=r.arg_w, shr_w=r.shr_w, arg_add=r.arg_add, pad_value=r.pad_value)
        assert g == r
        assert g.pack() == r.pack()


def test_regs_words_round_trip_and_signed_fields():
    rng = np.random.default_rng(1)
    for _ in range(50):
        words = [int(x) for x in rng.integers(0, 2 ** 63, 12, dtype=np.uint64)]
        r = v3.Regs.from_words(words)
        assert r.to_words() == words
    r = v3.Regs(arg_x=-(1 << 23), arg_w=(1 << 23) - 1, arg_add=-(1 << 39))
    back = v3.Regs.unpack(r.pack())
    assert (back.arg_x, back.arg_w, back.arg_add) == (-(1 << 23), (1 << 23) - 1, -(1 << 39))
    with pytest.raises(PicofaceError, match="arg_x"):
        v3.Regs(arg_x=1 << 23).pack()
    with pytest.raises(PicofaceError, match="i_row_wid"):
        v3.Regs(i_row_wid=1024).pack()


def test_bn_and_activation_packing():
    for bn in (v3.BN(-(1 << 23), -(1 << 31), 15), v3.BN((1 << 23) - 1, (1 << 31) - 1, 0), v3.BN(-1, 5, 3)):
        assert v3.BN.from_word(bn.pack_word()) == bn
    with pytest.raises(PicofaceError):
        v3.BN(1 << 23, 0, 0).pack_word()
    t = v3.ActTable([v3.Segment(-(1 << 35) + i, -(1 << 15) + i, i, 255 - i) for i in range(16)])
    data = t.pack()
    assert len(data) == 144
    assert v3.ActTable.unpack(data) == t
    with pytest.raises(PicofaceError, match="16 segments"):
        v3.ActTable([v3.Segment(0, 0, 0, 0)] * 3)


@pytest.mark.parametrize("kw", [dict(), dict(kernel=1), dict(depthwise=True), dict(w=16, h=4, c=5, pool=1),
                                dict(w=24, h=6, c=7, oc=9, pool=5)])
def test_built_model_round_trip_and_alignment(kw):
    m = small_model(**kw)
    data = m.serialize()
    back = v3.parse(data)
    assert back == m
    assert back.serialize() == data
    conv_body = 28 + 8 + 16
    flags, mm_out, lay, w_off, bn_off, act_off = struct.unpack_from("<6I", data, conv_body)
    assert (lay % 8, w_off % 128, bn_off % 128, act_off % 256) == (0, 0, 0, 0)
    assert data[w_off:w_off + len(m.layers[0].weights)] == m.layers[0].weights
    body_sizes = [struct.unpack_from("<2I", data, 36 + 8 * i)[1] for i in range(2)]
    assert conv_body + sum(body_sizes) == len(data)
    assert (conv_body + body_sizes[0]) % 8 == 0
    # header computed by build_model
    n = m.layers[1].count
    assert m.outputs == [v3.Output(v3.align(n, 8), 4 * n)]
    assert m.main_mem_usage == v3.align(n, 8) + 4 * n
    assert m.max_start_address == 100


def test_other_layer_bodies_round_trip():
    conv = small_model().layers[0]
    layers = [conv,
              v3.QuantizeLayer(0, 64, 10, 0.5, 1.0),
              v3.RequantizeLayer(64, 128, 10, bytes(255 - i for i in range(256))),
              v3.UploadLayer(0, 500, 4, 4, 2),
              v3.AddPaddingLayer(0, 600, 5),
              v3.RemovePaddingLayer(0, 700, 5),
              v3.GlobalAveragePoolLayer(0, 800, 9, 4),
              v3.QuantizedAddLayer(0, 8, 16, 8, 1, 2, 3, 4, 5, 6, 7, 8, 9),
              v3.ConcatLayer(900, [(0, 8), (16, 8)]),
              v3.ChannelOpLayer(15, 0, 1000, 4),
              v3.FullyConnectedLayer(0, 1100, 2, 3, 1, np.arange(6, dtype=np.float32).tobytes(),
                                     np.ones(3, np.float32).tobytes()),
              v3.RawLayer(22, b"\x01\x00\x00\x00abc"),
              v3.DequantizeLayer(0, 1200, 8, 0.25, -1.0)]
    m = v3.build_model(layers)
    data = m.serialize()
    back = v3.parse(data)
    assert back == m
    assert back.serialize() == data


# ------------------------------------------------------------------------------ corrupt files

def test_truncated_files_give_one_clear_error(stock_bytes):
    for n in (0, 10, 27, 40, 100, 228, 300, 5000, len(stock_bytes) - 1):
        with pytest.raises(PicofaceError) as e:
            v3.parse(stock_bytes[:n])
        msg = str(e.value)
        assert "truncated" in msg or "not a kmodel" in msg, msg
        assert " — " in msg


def test_corrupt_files(stock_bytes):
    bad = bytearray(stock_bytes)
    struct.pack_into("<I", bad, 36 + 8 * 3, 777)  # layer 3 type
    with pytest.raises(PicofaceError, match="layer 3 has unknown layer type 777"):
        v3.parse(bytes(bad))
    bad = bytearray(stock_bytes)
    struct.pack_into("<I", bad, 228 + 12, 10 ** 7)  # layer 0 weights_offset
    with pytest.raises(PicofaceError, match="outside its body"):
        v3.parse(bytes(bad))
    bad = bytearray(stock_bytes)
    struct.pack_into("<I", bad, 12, 10 ** 6)  # layers_length
    with pytest.raises(PicofaceError, match="truncated"):
        v3.parse(bytes(bad))


def test_v3_parse_refuses_other_versions(v4_bytes):
    with pytest.raises(PicofaceError, match="v4"):
        v3.parse(v4_bytes)


# ------------------------------------------------------------------------------ v4

def test_v4_listing(v4_bytes):
    m = v4.parse(v4_bytes)
    assert m.target_name == "k210"
    assert len(m.nodes) == 33
    names = [n.name for n in m.nodes]
    assert names[0] == "pad" and names[1] == "kpu_upload" and names[-1] == "dequantize"
    assert names.count("kpu_conv2d") == 30
    assert m.inputs[0][1] == (1, 3, 240, 320)
    assert m.outputs[0].datatype == 0 and m.outputs[0].size == 17280
    last = m.nodes[-1]
    assert last.offset + last.body_size == len(v4_bytes)
    convs = [n for n in m.nodes if n.regs is not None]
    assert convs[-1].regs.out_shape == (10, 8, 54)
    assert all(n.act is not None for n in convs)
    with pytest.raises(PicofaceError, match="truncated"):
        v4.parse(v4_bytes[:5000])


# ------------------------------------------------------------------------------ info / CLI

def test_activation_classes():
    top = (1 << 35) - 1
    S = v3.Segment
    flat = [S(top, 0, 0, 0)] * 13
    relu = v3.ActTable.relu_1024()
    relu6 = v3.ActTable([S(-(1 << 35), 0, 0, 0), S(0, 1, 2, 0), S(800, 0, 0, 200)] + flat)
    linear = v3.ActTable([S(-(1 << 35), 0, 0, 0), S(-1000, 1, 3, 0), S(1200, 0, 0, 255)] + flat)
    leaky = v3.ActTable([S(-(1 << 35), 0, 0, 0), S(-1000, 1, 4, 0), S(0, 10, 4, 62)] + flat)
    sig = v3.ActTable([S(-(1 << 35), 0, 0, 0), S(-400, 1, 4, 0), S(-200, 4, 4, 12), S(0, 8, 4, 62),
                       S(200, 4, 4, 162), S(400, 1, 4, 212), S(600, 0, 0, 225)] + [S(top, 0, 0, 255)] * 9)
    custom = v3.ActTable([S(-(1 << 35), 0, 0, 0), S(0, -3, 0, 200)] + [S(top, 0, 0, 0)] * 14)
    assert info.classify_activation(relu) == "relu"
    assert info.classify_activation(v3.ActTable.identity()) == "relu"
    assert info.classify_activation(relu6) == "relu6"
    assert info.classify_activation(linear) == "linear"
    assert info.classify_activation(leaky) == "leaky"
    assert info.classify_activation(sig) == "sigmoid-like"
    assert info.classify_activation(custom) == "custom"


def _cli(capsys, *argv):
    rc = cli.main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_cli_info_stock(capsys, anchors, stock_bytes):
    rc, out, err = _cli(capsys, "kmodel", "info", str(anchors / STOCK))
    assert rc == 0, err
    rows = [ln for ln in out.splitlines() if ln[:3].strip().isdigit()]
    assert len(rows) == 24
    assert sum("K210_CONV" in r for r in rows) == 23 and "DEQUANTIZE" in rows[-1]
    assert "320x240x3" in rows[0] and "max2x2/2" in rows[0] and "relu" in rows[0]
    assert "main@0" in rows[22]
    assert "all compute on the KPU: yes" in out
    assert "MaixPy/CanMV checks: ok" in out
    rc, out, err = _cli(capsys, "kmodel", "info", "--json", str(anchors / STOCK))
    d = json.loads(out)
    m = v3.parse(stock_bytes)
    assert d["layers"] == 24 and d["version"] == 3 and d["file_bytes"] == 388776
    assert d["weight_bytes"] == sum(len(l.weights) for l in m.convs)
    assert d["kpu_ram_span_bytes"] == (32768 - 17408) * 64
    assert d["main_memory_bytes"] == 45000 and d["all_on_kpu"] is True
    assert d["input"] == [320, 240, 3] and d["output"] == [20, 15, 30]
    assert d["macs"] == sum(r["macs"] for r in d["layer_table"] if "macs" in r) > 10 ** 8


def test_cli_info_canmv_v3_and_v4(capsys, anchors):
    rc, out, err = _cli(capsys, "kmodel", "info", "--json", str(anchors / CANMV3))
    assert rc == 0, err
    d = json.loads(out)
    assert d["layers"] == 31 and d["output"] == [10, 8, 54] and d["all_on_kpu"]
    assert [r["pool"] for r in d["layer_table"][:1]] == ["pick-lt/2"]
    rc, out, err = _cli(capsys, "kmodel", "info", str(anchors / CANMV4))
    assert rc == 0, err
    assert "kmodel v4" in out and "target k210" in out
    assert out.count("kpu_conv2d") == 30
    assert "1x3x240x320" in out


def test_cli_info_errors(capsys, tmp_path, stock_bytes):
    junk = tmp_path / "junk.kmodel"
    junk.write_bytes(b"this is not a model at all")
    rc, out, err = _cli(capsys, "kmodel", "info", str(junk))
    assert rc == 1 and "picoface: not a kmodel" in err and "Traceback" not in err
    cut = tmp_path / "cut.kmodel"
    cut.write_bytes(stock_bytes[:20000])
    rc, out, err = _cli(capsys, "kmodel", "info", str(cut))
    assert rc == 1 and "truncated" in err and len(err.strip().splitlines()) == 1
    rc, out, err = _cli(capsys, "kmodel", "info", str(tmp_path / "missing.kmodel"))
    assert rc == 1 and "does not exist" in err


def test_cli_info_built_model(capsys, tmp_path):
    p = tmp_path / "m.kmodel"
    p.write_bytes(small_model(w=64, h=16, c=3, oc=8, pool=5).serialize())
    rc, out, err = _cli(capsys, "kmodel", "info", "--json", str(p))
    assert rc == 0, err
    d = json.loads(out)
    assert d["layers"] == 2 and d["layer_table"][0]["pool"] == "pick-lt/2"
    assert d["layer_table"][0]["output"] == [32, 8, 8]
    assert d["maixpy_problems"] == []


def minimal_v5():
    """A valid v5 container with one stackvm module and one empty function (no KPU code)."""
    text = b"\x00\x00\x00\x00"
    func = struct.pack("<8I", 32, 32, 0, 0, 0, 0, 0, len(text))
    section = b".text".ljust(16, b"\0") + struct.pack("<4I", 0, 0, len(text), 0) + text
    size = 48 + len(func) + len(section)
    module = b"stackvm".ljust(16, b"\0") + struct.pack("<8I", 1, 48, size, 0, 0, 1, 1, 0) + func + section
    return b"LDMK" + struct.pack("<7I", 5, 32, 0, 8, 1, 0, 0) + module


def test_cli_info_v5_container(capsys, tmp_path):
    p = tmp_path / "m.kmodel"
    p.write_bytes(minimal_v5())
    rc, out, err = _cli(capsys, "kmodel", "info", str(p))
    assert rc == 0, err
    assert "kmodel v5" in out and "module stackvm: 1 function(s)" in out
    assert "not a single pure-KPU graph" in out and "convert" in out
    p.write_bytes(minimal_v5()[:60])
    rc, out, err = _cli(capsys, "kmodel", "info", str(p))
    assert rc == 1 and "truncated" in err and len(err.strip().splitlines()) == 1


def test_export_help_sends_k210_users_to_kmodel_convert(capsys):
    """`picoface export` writes TFLite only; its help must not promise a kmodel."""
    with pytest.raises(SystemExit):
        cli.main(["export", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "kmodel v3" not in out and "for the K210: picoface kmodel convert" in out
    assert "--format {tflite-int8,tflite-float}" in out
