"""A kmodel v4 graph interpreter: nncase 0.2's runtime, node by node, on simulated memories.

v4 files (nncase 0.2) are a list of nodes that each read and write ``memory_range``s
{memory_type 0 const / 1 main / 2 KPU RAM, datatype, start byte, size in bytes} (see
``picoface.kmodel.v4``). This module runs such a list on three numpy buffers: the constants
blob, a main-memory buffer of ``main_mem`` bytes and the 2 MiB KPU RAM. KPU layers
(``kpu_conv2d``) run through picoface's KPU emulator (``emulator._Conv``: registers, layouts and
the integer pipeline of KMODEL.md §3-4); the CPU nodes run the kernels below, written from
nncase 0.2's source (kendryte/nncase, tag v0.2.0-beta4; cited as NN02T path:line):

- ``quantized_binary`` (0x11): NN02T src/common/include/kernels/neutral/neutral_kernels.h:70-116,
  with ``mul_and_carry_shift`` / ``carry_shift`` (round half up: add 2^(s-1), arithmetic shift)
  from src/common/include/runtime/runtime_op_utility.h:62-118; body
  src/common/include/runtime/neutral/neutral_ops_body.h:36-54.
- ``dequantize`` (0x03) and ``quantize`` (0x06): the K210 is RISC-V, so the ``__riscv`` forms of
  src/common/include/kernels/riscv/neutral_kernels.h:27-80 are the ones that run on the board
  (neutral_kernels.h:325-337 and :422-433 switch to them): dequantize q * (1/scale) +
  (-zero_point * (1/scale)) in float32; quantize x * scale + zero_point in float32, rounded to
  nearest-even by ``fcvt.w.s rne`` in pairs and by ``roundf`` (half away from zero) for the last
  element of an odd count, then clamped to 0..255. ``generic=True`` selects the portable forms
  of neutral_kernels.h instead ((q - zp) * (1/scale); roundf everywhere).
- ``pad`` (0x05): neutral_kernels.h:381-419 on elements of the input datatype's size (the
  runtime picks uint8/uint32 by size, neutral_ops.cpp:202-213, so a float pad value is copied
  as its raw bits); negative paddings crop.
- ``conv2d`` (0x02, float): neutral_kernels.h:133-193: per output, float32 ``value = bias``
  then ``value += in * w`` over (input channel, ky, kx) in that order, out-of-image taps
  skipped, then clamped to the fused activation range (kernel_utils.h:40-55).
- ``kpu_upload`` (0x2001): src/common/include/kernels/k210/k210_kernels.h:48-76 (dense CHW to
  the KPU layout for the width).
- ``kpu_conv2d`` (0x2002): src/runtime/k210/k210_ops.cpp:120-249; on the board (the
  non-simulator branch, :220-247) the KPU writes its result through the write-back registers
  and, when ``main_mem_output`` is set, ``kpu_download`` copies it dense CHW to main memory.

Not verified against a board: whether the board's compiler fuses ``a * b + c`` into one
``fmadd.s`` (one rounding instead of two) in dequantize/quantize/conv2d; and the KPU's own
rounding (``rounding``, as in the v3 emulator). Any other opcode is refused when the file is
loaded, naming the op.

    rt = Runtime("feature_extraction.kmodel")
    (emb,) = rt.run(chw_uint8)          # model outputs, float32 or uint8 by their datatype
"""

import struct

import numpy as np

from picoface.errors import PicofaceError
from picoface.kmodel import v3, v4
from picoface.kmodel.emulator import _Conv, kpu_read, kpu_write_default, single_thread_blas

MEM_CONST, MEM_MAIN, MEM_KPU = 0, 1, 2
DT_FLOAT32, DT_UINT8 = 0, 1
BINARY_OPS = {0: "add", 1: "sub", 2: "mul", 3: "div", 4: "min", 5: "max"}
IMPLEMENTED = {0x11: "quantized_binary", 0x03: "dequantize", 0x06: "quantize", 0x05: "pad", 0x02: "conv2d",
               0x2001: "kpu_upload", 0x2002: "kpu_conv2d"}


# ---------------------------------------------------------------------------------------------
# Kernels (numpy, one per nncase 0.2 kernel; each follows the source cited in the module doc)
# ---------------------------------------------------------------------------------------------

def _wrap32(v):
    """int64 -> int32 two's-complement wrap (the C casts to int32_t)."""
    return ((np.asarray(v, np.int64) + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def mul_and_carry_shift(value, mul, shift):
    """nncase 0.2 ``mul_and_carry_shift``: (int64)value * mul, then for shift > 0 add 2^(shift-1)
    and shift right arithmetically (round half towards +inf), then cast to int32."""
    if not 0 <= shift < 64:
        raise PicofaceError("quantized_binary shift %d is outside 0..63" % shift, "the node body is corrupt")
    v = np.asarray(value, np.int64) * np.int64(mul)
    if shift > 0:
        v = (v + (np.int64(1) << np.int64(shift - 1))) >> np.int64(shift)
    return _wrap32(v)


def _reduced_index(out_shape, in_shape):
    """Flat indices into an input of ``in_shape`` for every output position (NCHW), each axis
    index replaced by 0 where it is beyond the input's extent (nncase get_reduced_offset)."""
    idx = [np.where(np.arange(o) >= i, 0, np.arange(o)) for o, i in zip(out_shape, in_shape)]
    g = np.ix_(*idx)
    return (((g[0] * in_shape[1] + g[1]) * in_shape[2] + g[2]) * in_shape[3] + g[3]).ravel()


def quantized_binary(a, b, a_shape, b_shape, out_shape, a_offset, a_mul, a_shift, b_offset, b_mul, b_shift,
                     out_offset, out_mul, out_shift, op="add"):
    """uint8 a (op) b in nncase 0.2's fixed point; returns uint8 of ``out_shape`` elements."""
    a = np.asarray(a, np.uint8).ravel()
    b = np.asarray(b, np.uint8).ravel()
    if tuple(a_shape) != tuple(b_shape):
        a = a[_reduced_index(out_shape, a_shape)]
        b = b[_reduced_index(out_shape, b_shape)]
    else:
        n = int(np.prod(a_shape))
        a, b = a[:n], b[:n]
    x = mul_and_carry_shift(a.astype(np.int64) + a_offset, a_mul, a_shift)
    y = mul_and_carry_shift(b.astype(np.int64) + b_offset, b_mul, b_shift)
    if op == "add":
        r = x + y
    elif op == "sub":
        r = x - y
    elif op == "mul":
        r = x * y
    elif op == "div":  # (a + b / 2) / b in C int32 arithmetic: truncating division
        if np.any(y == 0):
            raise PicofaceError("quantized_binary div by a zero operand", "the model divides by zero")
        num = x + np.trunc(y / 2).astype(np.int64)
        r = np.trunc(num / y).astype(np.int64)
    elif op == "min":
        r = np.minimum(x, y)
    elif op == "max":
        r = np.maximum(x, y)
    else:
        raise PicofaceError("quantized_binary op %r is not add/sub/mul/div/min/max" % (op,), "the node is corrupt")
    v = mul_and_carry_shift(_wrap32(r), out_mul, out_shift)
    return np.clip(v + out_offset, 0, 255).astype(np.uint8)


def dequantize(q, zero_point, scale, generic=False):
    """uint8 -> float32 as nncase 0.2's dequantize: the board's RISC-V form by default."""
    q = np.asarray(q, np.uint8).ravel()
    div = np.float32(1) / np.float32(scale)
    if generic:  # (input - zero_point) * div, int difference converted to float
        return (q.astype(np.int32) - np.int32(zero_point)).astype(np.float32) * div
    zero = np.float32(-int(zero_point)) * div  # -zero_point * scale, int * float in float32
    return q.astype(np.float32) * div + zero


def _to_int32_sat(v):
    """float32 -> int32 as RISC-V fcvt.w.s: saturating, NaN -> 2^31 - 1 (values already rounded)."""
    v = np.asarray(v, np.float64)
    out = np.where(np.isnan(v), 2 ** 31 - 1, np.clip(v, -(2 ** 31), 2 ** 31 - 1))
    return out.astype(np.int64)


def _roundf(v):
    """C roundf: half away from zero."""
    v = np.asarray(v, np.float32)
    return np.copysign(np.floor(np.abs(v) + np.float32(0.5)), v)


def quantize(x, zero_point, scale, generic=False):
    """float32 -> uint8 as nncase 0.2's quantize: the board's RISC-V form by default."""
    x = np.asarray(x, np.float32).ravel()
    with np.errstate(over="ignore", invalid="ignore"):
        if generic:
            t = _roundf(x * np.float32(scale) + np.float32(zero_point))
        else:
            t = x * np.float32(scale) + np.float32(zero_point)
            n = len(t) - len(t) % 2
            t = np.concatenate([np.rint(t[:n]), _roundf(t[n:])])  # fcvt rne in pairs, roundf for the tail
        return np.clip(_to_int32_sat(t), 0, 255).astype(np.uint8)


def pad(x, in_shape, paddings, value):
    """NCHW pad of ``x`` (any element dtype) by ((before, after),) x 4; negative values crop."""
    x = np.asarray(x).ravel()[:int(np.prod(in_shape))].reshape(in_shape)
    out_shape = tuple(s + a + b for s, (a, b) in zip(in_shape, paddings))
    if min(out_shape) < 0:
        raise PicofaceError("pad crops more than the tensor holds (%s by %s)" % (in_shape, paddings),
                            "the node body is corrupt")
    out = np.full(out_shape, value, dtype=x.dtype)
    src, dst = [], []
    for o, s, (before, after) in zip(out_shape, in_shape, paddings):
        d = np.arange(o)
        keep = (d >= before) & (d < o - after)
        d = d[keep]
        i = d - before
        if len(i) and (i.min() < 0 or i.max() >= s):
            raise PicofaceError("pad reads outside its input (%s by %s)" % (in_shape, paddings),
                                "the node body is corrupt")
        dst.append(d)
        src.append(i)
    out[np.ix_(*dst)] = x[np.ix_(*src)]
    return out


def _window_out(size, filt, stride, dilation, before, after):
    return (size + before + after - ((filt - 1) * dilation + 1) + stride) // stride


def conv2d(x, weights, bias, in_shape, groups, out_channels, padding_h, padding_w, filter_h, filter_w,
           stride_h=1, stride_w=1, dilation_h=1, dilation_w=1, act=(-np.inf, np.inf)):
    """Float32 NCHW conv2d with nncase 0.2's summation order and float32 rounding at each step."""
    n, c, h, w = in_shape
    x = np.asarray(x, np.float32).ravel()[:n * c * h * w].reshape(in_shape)
    if groups <= 0 or c % groups or out_channels % groups or min(stride_h, stride_w, dilation_h, dilation_w) <= 0:
        raise PicofaceError("conv2d: %d input / %d output channels in %d groups, strides %s, dilations %s"
                            % (c, out_channels, groups, (stride_h, stride_w), (dilation_h, dilation_w)),
                            "the node body is corrupt")
    g_ic, g_oc = c // groups, out_channels // groups
    oh = _window_out(h, filter_h, stride_h, dilation_h, *padding_h)
    ow = _window_out(w, filter_w, stride_w, dilation_w, *padding_w)
    wt = np.asarray(weights, np.float32).reshape(groups, g_oc, g_ic, filter_h, filter_w)
    value = np.broadcast_to(np.asarray(bias, np.float32).reshape(1, groups, g_oc, 1, 1),
                            (n, groups, g_oc, oh, ow)).copy()
    ys = np.arange(oh) * stride_h - padding_h[0]
    xs = np.arange(ow) * stride_w - padding_w[0]
    xg = x.reshape(n, groups, g_ic, h, w)
    for ic in range(g_ic):
        for ky in range(filter_h):
            iy = ys + dilation_h * ky
            vy = (iy >= 0) & (iy < h)
            for kx in range(filter_w):
                ix = xs + dilation_w * kx
                vx = (ix >= 0) & (ix < w)
                if not (vy.any() and vx.any()):
                    continue
                tap = xg[:, :, ic][:, :, np.clip(iy, 0, h - 1)][:, :, :, np.clip(ix, 0, w - 1)]  # (n, G, oh, ow)
                prod = tap[:, :, None] * wt[:, :, ic, ky, kx][None, :, :, None, None]
                mask = (vy[:, None] & vx[None, :])
                if mask.all():
                    value += prod
                else:
                    value = np.where(mask, value + prod, value)
    lo, hi = np.float32(act[0]), np.float32(act[1])
    return np.minimum(np.maximum(value, lo), hi).reshape(n, out_channels, oh, ow)


# ---------------------------------------------------------------------------------------------
# Node bodies
# ---------------------------------------------------------------------------------------------

def _range(data, pos):
    return v4.MemoryRange(*struct.unpack_from("<4I", data, pos))


def _need(node, i, size):
    if node.body_size < size:
        raise PicofaceError("kmodel v4 node %d (%s) is %d bytes, expected at least %d"
                            % (i, node.name, node.body_size, size), "the file is truncated or corrupt")


class Runtime:
    """Load a kmodel v4 file (path or bytes) once, then ``run(chw_uint8)`` as often as needed."""

    def __init__(self, model, rounding="even", boundary="strict", generic=False):
        from picoface.kmodel import read_file

        data = bytes(model) if isinstance(model, (bytes, bytearray, memoryview)) else read_file(model)
        self.data = data
        self.m = v4.parse(data)
        self.rounding, self.boundary, self.generic = rounding, boundary, generic
        if not self.m.inputs:
            raise PicofaceError("kmodel v4 has no inputs", "the file is corrupt")
        in_range, shape = self.m.inputs[0]
        if shape[0] != 1 or in_range.datatype != DT_UINT8:
            raise PicofaceError("kmodel v4 input is %s %s; picoface runs one uint8 NCHW image"
                                % (shape, v4.DATATYPES.get(in_range.datatype, in_range.datatype)),
                                "use a model with a batch-1 uint8 input")
        self.input_shape = tuple(shape[1:])
        consts_at = v4.HEADER_SIZE + 16 * (2 * len(self.m.inputs) + len(self.m.outputs))
        self.consts = np.frombuffer(data, np.uint8, self.m.constants_size, consts_at)
        self.plan = [self._compile(i, n) for i, n in enumerate(self.m.nodes)]
        self.kpu_convs = sum(1 for n in self.m.nodes if n.opcode == v4.KPU_CONV2D)

    def _compile(self, i, n):
        d = self.data
        p = n.offset
        if n.opcode not in IMPLEMENTED:
            raise PicofaceError("kmodel v4 node %d is %s (opcode 0x%x), an op picoface's v4 runtime does not implement"
                                % (i, n.name, n.opcode),
                                "it runs only %s" % ", ".join(IMPLEMENTED[k] for k in sorted(IMPLEMENTED)))
        if n.opcode == 0x11:
            _need(n, i, 136)
            ra, rb, ro = _range(d, p), _range(d, p + 16), _range(d, p + 32)
            (op,) = struct.unpack_from("<I", d, p + 48)
            shapes = [struct.unpack_from("<4i", d, p + 52 + 16 * k) for k in range(3)]
            q = struct.unpack_from("<9i", d, p + 100)
            if op not in BINARY_OPS:
                raise PicofaceError("kmodel v4 node %d: quantized_binary op %d is unknown" % (i, op),
                                    "the file is corrupt")
            for s in (q[2], q[5], q[8]):
                if not 0 <= s < 64:
                    raise PicofaceError("kmodel v4 node %d: quantized_binary shift %d is outside 0..63" % (i, s),
                                        "the file is corrupt")
            return ("qbin", ra, rb, ro, BINARY_OPS[op], shapes, q)
        if n.opcode in (0x03, 0x06):
            _need(n, i, 40)
            zp, scale = struct.unpack_from("<if", d, p + 32)
            return ("deq" if n.opcode == 0x03 else "q", _range(d, p), _range(d, p + 16), zp, scale)
        if n.opcode == 0x05:
            _need(n, i, 88)
            ri, ro = _range(d, p), _range(d, p + 16)
            shape = struct.unpack_from("<4i", d, p + 32)
            pp = struct.unpack_from("<8i", d, p + 48)
            paddings = tuple((pp[2 * k], pp[2 * k + 1]) for k in range(4))
            dtype = {DT_FLOAT32: np.uint32, DT_UINT8: np.uint8}.get(ri.datatype)
            if dtype is None:
                raise PicofaceError("kmodel v4 node %d: pad of datatype %d" % (i, ri.datatype), "the file is corrupt")
            value = np.frombuffer(d, dtype, 1, p + 84)[0]  # scalar {datatype, 4-byte storage}: as<T>()
            return ("pad", ri, ro, shape, paddings, value)
        if n.opcode == 0x02:
            _need(n, i, 104)
            ri, ro = _range(d, p), _range(d, p + 16)
            shape = struct.unpack_from("<4i", d, p + 32)
            groups, oc, ph0, ph1, pw0, pw1, fh, fw, sh, sw, dh, dw = struct.unpack_from("<12i", d, p + 48)
            amin, amax = struct.unpack_from("<2f", d, p + 96)
            if groups <= 0 or shape[1] % groups or min(fh, fw, oc) <= 0:
                raise PicofaceError("kmodel v4 node %d: conv2d with %d groups over %d channels" % (i, groups, shape[1]),
                                    "the file is corrupt")
            nw = oc * (shape[1] // groups) * fh * fw
            _need(n, i, 104 + 4 * (nw + oc))
            wts = np.frombuffer(d, np.float32, nw, p + 104)
            bias = np.frombuffer(d, np.float32, oc, p + 104 + 4 * nw)
            return ("conv", ri, ro, shape, groups, oc, (ph0, ph1), (pw0, pw1), fh, fw, sh, sw, dh, dw, (amin, amax),
                    wts, bias)
        if n.opcode == v4.KPU_UPLOAD:
            _need(n, i, 48)
            ri, ro = _range(d, p), _range(d, p + 16)
            shape = struct.unpack_from("<4i", d, p + 32)
            if shape[0] != 1 or ro.memory_type != MEM_KPU or ro.start % 64:
                raise PicofaceError("kmodel v4 node %d: kpu_upload of %s to %s" % (i, shape, ro.describe()),
                                    "picoface runs batch-1 uploads to 64-byte-aligned KPU RAM")
            return ("upload", ri, ro, shape)
        # kpu_conv2d
        _need(n, i, 120)
        (batches,) = struct.unpack_from("<i", d, p + 16)
        if batches != 1:
            raise PicofaceError("kmodel v4 node %d: kpu_conv2d of %d batches" % (i, batches),
                                "picoface runs batch-1 KPU layers")
        conv = _Conv(i, v4.conv_layer(d, n, i), 1)
        return ("kpu", conv, n.main_mem_output)

    # memories ------------------------------------------------------------------------------
    def _mem(self, r, what, dtype=np.uint8):
        buf = {MEM_CONST: self.consts, MEM_MAIN: self.main, MEM_KPU: self.kpu_ram}.get(r.memory_type)
        if buf is None:
            raise PicofaceError("%s: memory type %d is unknown" % (what, r.memory_type), "the file is corrupt")
        if r.start + r.size > buf.size:
            raise PicofaceError("%s: %s runs past its memory (%d bytes)" % (what, r.describe(), buf.size),
                                "the file is corrupt")
        view = buf[r.start:r.start + r.size]
        return view.view(dtype) if dtype is not np.uint8 else view

    def _store(self, r, arr, what):
        raw = np.ascontiguousarray(arr).view(np.uint8).ravel()
        dst = self._mem(r, what)
        if raw.size > dst.size:
            raise PicofaceError("%s: writes %d bytes into %s" % (what, raw.size, r.describe()), "the file is corrupt")
        dst[:raw.size] = raw

    # run -----------------------------------------------------------------------------------
    def run(self, chw_uint8):
        """Run one planar uint8 (C, H, W) image; returns the model outputs (float32 or uint8)."""
        x = np.asarray(chw_uint8)
        if x.dtype != np.uint8 or x.shape != self.input_shape:
            raise PicofaceError("input is %s %s, the model takes uint8 %s (C, H, W)"
                                % (x.dtype, tuple(x.shape), self.input_shape), "resize the image to the model input")
        self.main = np.zeros(self.m.main_mem, np.uint8)
        self.kpu_ram = np.zeros(v3.KPU_RAM_BYTES, np.uint8)
        in_range, _ = self.m.inputs[0]
        if in_range.memory_type == MEM_KPU:
            kpu_write_default(self.kpu_ram, in_range.start // 64, x)
        else:
            self._store(in_range, x, "input")
        with single_thread_blas():
            for i, step in enumerate(self.plan):
                self._step(i, step)
        outs = []
        for k, r in enumerate(self.m.outputs):
            outs.append(self._mem(r, "output %d" % k, np.float32 if r.datatype == DT_FLOAT32 else np.uint8).copy())
        return outs

    def _step(self, i, step):
        kind = step[0]
        what = "node %d (%s)" % (i, self.m.nodes[i].name)
        if kind == "kpu":
            conv, mm = step[1], step[2]
            out = conv.compute(conv.read_input(self.kpu_ram), self.rounding, self.boundary)
            conv.write_output(self.kpu_ram, out)
            if mm is not None and mm.size:  # kpu_download from the output address, default layout
                c, h, w = out.shape
                groups, row_len, _ = v3.kpu_layout(w)
                dense = kpu_read(self.kpu_ram, conv.r.image_dst_addr, c, h, w, row_len * h, row_len, groups, what)
                self._store(mm, dense, what)
        elif kind == "upload":
            _, ri, ro, shape = step
            n = int(np.prod(shape))
            src = self._mem(ri, what)[:n].reshape(shape[1:])
            kpu_write_default(self.kpu_ram, ro.start // 64, src)
        elif kind == "qbin":
            _, ra, rb, ro, op, shapes, q = step
            out = quantized_binary(self._mem(ra, what), self._mem(rb, what), *shapes, *q[:6], q[6], q[7], q[8], op=op)
            self._store(ro, out, what)
        elif kind == "deq":
            _, ri, ro, zp, scale = step
            self._store(ro, dequantize(self._mem(ri, what), zp, scale, self.generic), what)
        elif kind == "q":
            _, ri, ro, zp, scale = step
            self._store(ro, quantize(self._mem(ri, what, np.float32), zp, scale, self.generic), what)
        elif kind == "pad":
            _, ri, ro, shape, paddings, value = step
            src = self._mem(ri, what, value.dtype.type)
            self._store(ro, pad(src, shape, paddings, value), what)
        elif kind == "conv":
            (_, ri, ro, shape, groups, oc, ph, pw, fh, fw, sh, sw, dh, dw, act, wts, bias) = step
            y = conv2d(self._mem(ri, what, np.float32), wts, bias, shape, groups, oc, ph, pw, fh, fw, sh, sw, dh, dw,
                       act)
            self._store(ro, y, what)


def run(model, chw_uint8, **kw):
    return Runtime(model, **kw).run(chw_uint8)
