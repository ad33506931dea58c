"""picoface.kmodel.v4_runtime: each CPU kernel against hand-worked values and per-element
references written from nncase 0.2's source (kendryte/nncase tag v0.2.0-beta4, "NN02T"), a
hand-built v4 graph through the interpreter, the refusal of unknown ops, and Canaan's
feature_extraction.kmodel end to end (when ../shared is here)."""

import struct

import numpy as np
import pytest

from picoface.errors import PicofaceError
from picoface.kmodel import KMDL_IDENTIFIER, v4
from picoface.kmodel import v4_runtime as rt

F32 = np.float32


# --- quantized_binary (NN02T kernels/neutral/neutral_kernels.h:70-116, runtime_op_utility.h:62-118)

def ref_mul_and_carry_shift(value, mul, shift):
    """runtime_op_utility.h:114-118 + carry_shift(Banker=false) :100-104, in Python ints."""
    v = value * mul
    if shift > 0:
        v = (v + (1 << (shift - 1))) >> shift  # Python >> is arithmetic (floor), like int64 >>
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >> 31 else v


def test_mul_and_carry_shift_rounds_half_up_and_wraps_to_int32():
    # hand-worked: 15/2 = 7.5 -> 8, -15/2 = -7.5 -> -7 (half towards +inf, not away from zero),
    # -17/4 = -4.25 -> -4, -19/4 = -4.75 -> -5, shift 0 keeps the product
    assert rt.mul_and_carry_shift(np.array([5, -5, -17, -19]), 3, 0).tolist() == [15, -15, -51, -57]
    assert rt.mul_and_carry_shift(np.array([15, -15]), 1, 1).tolist() == [8, -7]
    assert rt.mul_and_carry_shift(np.array([-17, -19]), 1, 2).tolist() == [-4, -5]
    # the int64 product is cast to int32: 2^31 wraps to -2^31
    assert rt.mul_and_carry_shift(np.array([1 << 16]), 1 << 15, 0).tolist() == [-(1 << 31)]
    rng = np.random.default_rng(1)
    v = rng.integers(-300, 300, 500)
    for mul, shift in ((18730, 10), (147631504, 32), (-23091, 11), (7, 0)):
        want = [ref_mul_and_carry_shift(int(x), mul, shift) for x in v]
        assert rt.mul_and_carry_shift(v, mul, shift).tolist() == want
    with pytest.raises(PicofaceError, match="shift"):
        rt.mul_and_carry_shift(v, 1, 64)


def ref_quantized_add(a, b, p):
    ao, am, ash, bo, bm, bsh, oo, om, osh = p
    x = ref_mul_and_carry_shift(a + ao, am, ash)
    y = ref_mul_and_carry_shift(b + bo, bm, bsh)
    return min(255, max(0, ref_mul_and_carry_shift(x + y, om, osh) + oo))


# node 8 of Canaan's feature_extraction.kmodel (in file order: a offset/mul/shift, b ..., out offset/mul/shift)
CANAAN_ADD = (-123, 18730, 10, -122, 23091, 10, 104, 147631504, 32)


def test_quantized_add_matches_the_source_formula_and_saturates():
    shape = (1, 4, 8, 8)
    rng = np.random.default_rng(2)
    a = rng.integers(0, 256, 256).astype(np.uint8)
    b = rng.integers(0, 256, 256).astype(np.uint8)
    a[:4], b[:4] = (0, 255, 0, 255), (0, 255, 255, 0)
    got = rt.quantized_binary(a, b, shape, shape, shape, *CANAAN_ADD)
    want = [ref_quantized_add(int(x), int(y), CANAAN_ADD) for x, y in zip(a, b)]
    assert got.tolist() == want
    assert got[0] == 0 and got[1] == 255  # both ends saturate
    # hand-worked: a = 130, b = 126 with these parameters
    x = (7 * 18730 + 512) >> 10          # 131110 / 1024 = 128.04 -> 128
    assert x == 128
    y = (4 * 23091 + 512) >> 10          # 90.2 -> 90
    s = ((x + y) * 147631504 + (1 << 31)) >> 32  # 218 * 0.03437 = 7.49 -> 7
    assert rt.quantized_binary(np.array([130], np.uint8), np.array([126], np.uint8), (1, 1, 1, 1), (1, 1, 1, 1),
                               (1, 1, 1, 1), *CANAAN_ADD).tolist() == [s + 104] == [111]


def test_quantized_binary_broadcasts_like_get_reduced_offset():
    a = np.arange(24, dtype=np.uint8)              # (1, 2, 3, 4)
    b = np.array([10, 20], np.uint8)               # (1, 2, 1, 1): one value per channel
    p = (0, 1, 0, 0, 1, 0, 0, 1, 0)                # identity scaling
    got = rt.quantized_binary(a, b, (1, 2, 3, 4), (1, 2, 1, 1), (1, 2, 3, 4), *p, op="add")
    assert got.reshape(2, 12).tolist() == [list(range(10, 22)), list(range(32, 44))]
    got = rt.quantized_binary(a, b, (1, 2, 3, 4), (1, 2, 1, 1), (1, 2, 3, 4), *p, op="max")
    assert got.reshape(2, 12).tolist() == [[max(v, 10) for v in range(12)], [max(v, 20) for v in range(12, 24)]]
    got = rt.quantized_binary(a[:4], np.array([3, 3, 3, 3], np.uint8), (1, 1, 1, 4), (1, 1, 1, 4), (1, 1, 1, 4),
                              *p, op="div")
    assert got.tolist() == [(v + 1) // 3 for v in range(4)]  # (a + b / 2) / b, b / 2 = 1 in ints


# --- dequantize / quantize (NN02T kernels/riscv/neutral_kernels.h:27-80; neutral_kernels.h:325-337, 422-433)

def test_dequantize_board_form_against_per_element_float32():
    zp, scale = 130, F32(50.061527252197266)      # Canaan's last dequantize
    q = np.arange(256, dtype=np.uint8)
    got = rt.dequantize(q, zp, scale)
    div = F32(1) / scale
    zero = F32(-zp) * div
    want = [F32(F32(int(v)) * div) + zero for v in q]  # each step rounded to float32
    assert got.dtype == np.float32 and got.tolist() == [float(w) for w in want]
    assert got[130] == 0 and abs(got[255] - 125 / 50.0615) < 1e-6
    gen = rt.dequantize(q, zp, scale, generic=True)
    assert gen.tolist() == [float(F32(int(v) - zp) * div) for v in q]
    assert np.abs(gen - got).max() < 1e-6


def test_quantize_ties_pairs_to_even_and_the_odd_tail_away_from_zero():
    x = np.array([0.5, 1.5, 2.5], np.float32)   # x * 1 + 0: exact ties
    assert rt.quantize(x, 0, 1.0).tolist() == [0, 2, 3]  # fcvt rne on the pair, roundf on the odd last one
    assert rt.quantize(np.append(x, 3.5), 0, 1.0).tolist() == [0, 2, 2, 4]
    assert rt.quantize(np.append(x, 3.5), 0, 1.0, generic=True).tolist() == [1, 2, 3, 4]  # roundf everywhere
    # saturation: below 0, above 255, +-inf, NaN (fcvt.w.s gives 2^31 - 1, clamped to 255)
    edge = np.array([-3.0, 300.0, -np.inf, np.inf, np.nan, 254.6], np.float32)
    assert rt.quantize(edge, 0, 1.0).tolist() == [0, 255, 0, 255, 255, 255]
    # Canaan's quantize (zp 128, scale 72.2266): per element float32 x * scale + zp, rne
    rng = np.random.default_rng(3)
    v = rng.normal(0, 1, 1000).astype(np.float32)
    sc = F32(72.22657775878906)
    want = [min(255, max(0, int(np.rint(F32(F32(t) * sc) + F32(128))))) for t in v]
    assert rt.quantize(v, 128, sc).tolist() == want


# --- pad (NN02T neutral_kernels.h:381-419)

def test_pad_pads_and_crops():
    x = np.arange(6, dtype=np.uint8)             # (1, 1, 2, 3)
    got = rt.pad(x, (1, 1, 2, 3), ((0, 0), (0, 0), (1, 0), (0, 2)), np.uint8(9))
    assert got.reshape(3, 5).tolist() == [[9, 9, 9, 9, 9], [0, 1, 2, 9, 9], [3, 4, 5, 9, 9]]
    # negative paddings crop: Canaan's last pad takes the top-left of each 4x4 map
    y = np.arange(2 * 16, dtype=np.uint8)
    assert rt.pad(y, (1, 2, 4, 4), ((0, 0), (0, 0), (0, -3), (0, -3)), np.uint8(0)).ravel().tolist() == [0, 16]
    assert rt.pad(y, (1, 2, 4, 4), ((0, 0), (0, 0), (-1, -2), (-3, 0)), np.uint8(0)).ravel().tolist() == [7, 23]
    # float tensors are padded as 32-bit words: the value is the scalar's raw bits
    f = np.array([1.5], np.float32).view(np.uint32)
    one = np.array([1.0], np.float32).view(np.uint32)[0]
    got = rt.pad(f, (1, 1, 1, 1), ((0, 0), (0, 0), (0, 1), (0, 1)), one).view(np.float32)
    assert got.ravel().tolist() == [1.5, 1.0, 1.0, 1.0]
    with pytest.raises(PicofaceError, match="crops more"):
        rt.pad(y, (1, 2, 4, 4), ((0, 0), (0, 0), (0, -5), (0, 0)), np.uint8(0))


# --- conv2d float (NN02T neutral_kernels.h:133-193, kernel_utils.h:40-55)

def ref_conv2d(x, w, bias, shape, groups, oc, ph, pw, fh, fw, sh, sw, dh, dw, act):
    """The source's loops, one float32 rounding per multiply and per add."""
    n, c, h, wd = shape
    x = x.reshape(shape)
    g_ic, g_oc = c // groups, oc // groups
    w = w.reshape(oc, g_ic, fh, fw)
    oh = (h + ph[0] + ph[1] - ((fh - 1) * dh + 1) + sh) // sh
    ow = (wd + pw[0] + pw[1] - ((fw - 1) * dw + 1) + sw) // sw
    out = []
    for b in range(n):
        for g in range(groups):
            for o in range(g_oc):
                for oy in range(oh):
                    for ox in range(ow):
                        y0, x0 = oy * sh - ph[0], ox * sw - pw[0]
                        v = F32(bias[g * g_oc + o])
                        for ic in range(g_ic):
                            for ky in range(fh):
                                for kx in range(fw):
                                    iy, ix = y0 + dh * ky, x0 + dw * kx
                                    if 0 <= iy < h and 0 <= ix < wd:
                                        v = F32(v + F32(x[b, g * g_ic + ic, iy, ix] * w[g * g_oc + o, ic, ky, kx]))
                        out.append(min(max(v, F32(act[0])), F32(act[1])))
    return np.array(out, np.float32)


@pytest.mark.parametrize("case", [
    # shape, groups, oc, padding_h, padding_w, filter, stride, dilation, act
    ((1, 4, 5, 6), 1, 3, (1, 1), (1, 1), (3, 3), (1, 1), (1, 1), (-1e30, 1e30)),
    ((1, 4, 7, 7), 2, 4, (0, 2), (1, 0), (3, 2), (2, 1), (1, 2), (-0.5, 0.75)),
    ((1, 6, 4, 4), 6, 6, (0, 0), (0, 0), (4, 4), (1, 1), (1, 1), (-3.4e38, 3.4e38)),  # Canaan's global depthwise
])
def test_conv2d_equals_the_source_loops_bit_for_bit(case):
    shape, groups, oc, ph, pw, (fh, fw), (sh, sw), (dh, dw), act = case
    rng = np.random.default_rng(4)
    x = rng.normal(0, 3, int(np.prod(shape))).astype(np.float32)
    w = rng.normal(0, 1, oc * shape[1] // groups * fh * fw).astype(np.float32)
    bias = rng.normal(0, 1, oc).astype(np.float32)
    got = rt.conv2d(x, w, bias, shape, groups, oc, ph, pw, fh, fw, sh, sw, dh, dw, act)
    want = ref_conv2d(x, w, bias, shape, groups, oc, ph, pw, fh, fw, sh, sw, dh, dw, act)
    assert got.ravel().tolist() == want.tolist()


def test_conv2d_sums_in_the_source_order_in_float32():
    # 1e8 + 1 rounds back to 1e8 in float32, so the sequential sum is 0, not the exact 1
    x = np.array([1e8, 1.0, -1e8], np.float32)  # (1, 3, 1, 1), one output channel
    got = rt.conv2d(x, np.ones(3, np.float32), np.zeros(1, np.float32), (1, 3, 1, 1), 1, 1, (0, 0), (0, 0), 1, 1)
    assert got.ravel().tolist() == [0.0]
    x = np.array([1.0, 1e8, -1e8], np.float32)  # 1 first: 1 + 1e8 = 1e8, then 0
    assert rt.conv2d(x, np.ones(3, np.float32), np.zeros(1, np.float32), (1, 3, 1, 1), 1, 1, (0, 0),
                     (0, 0), 1, 1).ravel().tolist() == [0.0]
    x = np.array([1e8, -1e8, 1.0], np.float32)
    assert rt.conv2d(x, np.ones(3, np.float32), np.zeros(1, np.float32), (1, 3, 1, 1), 1, 1, (0, 0),
                     (0, 0), 1, 1).ravel().tolist() == [1.0]


# --- the interpreter on a hand-built v4 graph -------------------------------------------------

def _mr(mt, dt, start, size):
    return struct.pack("<4I", mt, dt, start, size)


def v4_file(nodes, inputs, outputs, main_mem, consts=b""):
    """A kmodel v4 file: header, input ranges + shapes, output ranges, constants, node table, bodies."""
    head = struct.pack("<10I", KMDL_IDENTIFIER, 4, 0, 1, len(consts), main_mem, len(nodes), len(inputs), len(outputs),
                       0)
    body = head + b"".join(r for r, _ in inputs) + b"".join(struct.pack("<4i", *s) for _, s in inputs)
    body += b"".join(outputs) + consts
    body += b"".join(struct.pack("<2I", op, len(b)) for op, b in nodes)
    return body + b"".join(b for _, b in nodes)


MAIN, DT_F, DT_U = 1, 0, 1


def tiny_graph():
    """u8 (1,1,2,2) @0 -> dequantize (zp 10, scale 2: (q-10)/2) @8 -> conv2d 2x2 (weights 1..4,
    bias 0.5) @24 -> pad float to 2x2 with 0.25 @28 -> quantize (zp 3, scale 0.5) @44 ->
    quantized add with the input @48 -> dequantize (zp 0, scale 1) @52 (output, 4 floats)."""
    deq = _mr(MAIN, DT_U, 0, 4) + _mr(MAIN, DT_F, 8, 16) + struct.pack("<if", 10, 2.0)
    conv = (_mr(MAIN, DT_F, 8, 16) + _mr(MAIN, DT_F, 24, 4) + struct.pack("<4i", 1, 1, 2, 2)
            + struct.pack("<12i", 1, 1, 0, 0, 0, 0, 2, 2, 1, 1, 1, 1) + struct.pack("<2f", -1e30, 1e30)
            + struct.pack("<5f", 1, 2, 3, 4, 0.5))
    pad = (_mr(MAIN, DT_F, 24, 4) + _mr(MAIN, DT_F, 28, 16) + struct.pack("<4i", 1, 1, 1, 1)
           + struct.pack("<8i", 0, 0, 0, 0, 0, 1, 0, 1) + struct.pack("<I", DT_F) + struct.pack("<f", 0.25))
    q = _mr(MAIN, DT_F, 28, 16) + _mr(MAIN, DT_U, 44, 4) + struct.pack("<if", 3, 0.5)
    add = (_mr(MAIN, DT_U, 44, 4) + _mr(MAIN, DT_U, 0, 4) + _mr(MAIN, DT_U, 48, 4) + struct.pack("<I", 0)
           + struct.pack("<12i", 1, 1, 2, 2, 1, 1, 2, 2, 1, 1, 2, 2) + struct.pack("<9i", 0, 1, 0, -10, 1, 0, 0, 1, 0))
    deq2 = _mr(MAIN, DT_U, 48, 4) + _mr(MAIN, DT_F, 52, 16) + struct.pack("<if", 0, 1.0)
    nodes = [(3, deq), (2, conv), (5, pad), (6, q), (0x11, add), (3, deq2)]
    return v4_file(nodes, [(_mr(MAIN, DT_U, 0, 4), (1, 1, 2, 2))], [_mr(MAIN, DT_F, 52, 16)], 68)


def test_interpreter_runs_a_hand_built_graph():
    r = rt.Runtime(tiny_graph())
    assert r.input_shape == (1, 2, 2)
    x = np.array([[[10, 12], [14, 16]]], np.uint8)
    (out,) = r.run(x)
    # dequantize: (q - 10) / 2 = 0, 1, 2, 3; conv: 0*1 + 1*2 + 2*3 + 3*4 + 0.5 = 20.5
    # pad: [20.5, 0.25, 0.25, 0.25]; quantize: x * 0.5 + 3 = 13.25 -> 13, 3.125 -> 3 (x3)
    # add: a + (b - 10) = 13 + 0, 3 + 2, 3 + 4, 3 + 6; dequantize zp 0 scale 1
    assert out.dtype == np.float32 and out.tolist() == [13.0, 5.0, 7.0, 9.0]
    with pytest.raises(PicofaceError, match="uint8"):
        r.run(x.astype(np.float32))


def test_unknown_op_is_refused_in_one_line_naming_it():
    data = bytearray(tiny_graph())
    m = v4.parse(bytes(data))
    table = m.nodes[0].offset - 8 * len(m.nodes)
    struct.pack_into("<I", data, table + 8 * 2, 12)  # the pad node becomes a transpose
    with pytest.raises(PicofaceError) as e:
        rt.Runtime(bytes(data))
    msg = str(e.value)
    assert "\n" not in msg and "node 2 is transpose (opcode 0xc)" in msg and "does not implement" in msg
    struct.pack_into("<I", data, table + 8 * 2, 0x1003)  # a CPU-target op nncase 0.2 defines
    with pytest.raises(PicofaceError, match="0x1003"):
        rt.Runtime(bytes(data))


# --- Canaan's feature_extraction.kmodel ------------------------------------------------------

@pytest.fixture(scope="module")
def canaan(shared):
    p = shared / "anchors" / "k210_canmv_face_recog" / "feature_extraction.kmodel"
    if not p.is_file():
        pytest.skip("../shared/anchors/k210_canmv_face_recog/feature_extraction.kmodel is absent")
    return p


def test_canaan_graph_is_what_the_runtime_implements(canaan):
    m = v4.parse(canaan.read_bytes())
    names = [n.name for n in m.nodes]
    assert len(names) == 80 and names.count("kpu_conv2d") == 49 and names.count("quantized_binary") == 12
    assert names.count("kpu_upload") == 13 and names[-8:] == ["dequantize", "conv2d", "pad", "quantize", "kpu_upload",
                                                              "kpu_conv2d", "pad", "dequantize"]
    # every residual add is followed by its re-upload to the KPU
    assert all(names[i + 1] == "kpu_upload" for i, n in enumerate(names) if n == "quantized_binary")


def test_canaan_feature_model_embeds_a_face(canaan, anchors, data_root):
    import cv2

    from picoface.recog.embedders import CanaanK210Embedder
    from picoface.recog.landmarks import Landmarker

    kit = data_root / "lfw_pairs" / "images"
    if not kit.is_dir():
        pytest.skip("../shared/data/lfw_pairs is absent")
    lm = Landmarker("yunet", anchors / "yunet" / "yunet_n_320_320.onnx")
    emb = CanaanK210Embedder(canaan)

    def vec(name, shift=(0.0, 0.0)):
        bgr = cv2.imread(str(kit / name))
        box, pts, _, found = lm.find(bgr)
        assert found
        face = emb.prepare(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), box, pts + np.array(shift, np.float32))
        assert face.shape == (64, 64, 3) and face.dtype == np.uint8
        (raw,) = emb._rt.run(np.ascontiguousarray(face.transpose(2, 0, 1)))
        assert raw.shape == (192,) and raw.dtype == np.float32 and np.all(np.isfinite(raw)) and np.abs(raw).max() > 0
        return emb.embed([face])[0]

    a = vec("Abel_Pacheco_0001.jpg")
    assert a.shape == (192,) and abs(float(np.linalg.norm(a)) - 1) < 1e-5
    same = float(a @ vec("Abel_Pacheco_0001.jpg", (1.5, -1.0)))  # the same face, landmarks moved 1-2 px
    other = float(a @ vec("Aaron_Eckhart_0001.jpg"))
    assert same > 0.9 and other < same - 0.2, (same, other)
    # deterministic: the same face twice gives the same vector
    assert np.array_equal(a, vec("Abel_Pacheco_0001.jpg"))


def test_canaan_detector_runs_the_same_as_the_lifted_v3_emulator(shared):
    """face_detect_320x240.kmodel is a pure-KPU v4 graph (pad -> kpu_upload -> 30 KPU convs ->
    dequantize): the node-by-node runtime and the v3 lifting (v4.to_v3 + emulator) must agree."""
    from picoface.kmodel import emulator

    p = shared / "anchors" / "k210_canmv_face_recog" / "face_detect_320x240.kmodel"
    if not p.is_file():
        pytest.skip("../shared/anchors/k210_canmv_face_recog/face_detect_320x240.kmodel is absent")
    x = np.random.default_rng(5).integers(0, 256, (3, 240, 320), dtype=np.uint8)
    (a,) = rt.Runtime(p).run(x)
    (b,) = emulator.Emulator(p).run(x)
    assert a.shape == b.shape == (4320,) and np.array_equal(a, b)
