"""kmodel v3 (the format the Kendryte SDK, MaixPy and CanMV load): parse, build, serialize.

Plain Python objects, one per structure in ../shared/docs/KMODEL.md §1-3:

- ``Model(layers, flags=1, max_start_address=..., main_mem_usage=..., outputs=[Output(...)])``
- ``ConvLayer(regs=Regs(...), weights=bytes, bn=[BN(mul, add, shift)...], act=ActTable(...),
  flags=0, main_mem_out_address=0)``  (K210_CONV, 10240)
- ``DequantizeLayer``, ``QuantizeLayer``, ``RequantizeLayer``, ``UploadLayer``, ``AddPaddingLayer``,
  ``RemovePaddingLayer``, ``GlobalAveragePoolLayer``, ``QuantizedAddLayer``, ``ConcatLayer``,
  ``ChannelOpLayer`` (softmax/logistic/l2-norm), ``FullyConnectedLayer``; ``RawLayer(type_id, body)``
  keeps any other known layer type byte for byte.

``parse(data) -> Model`` and ``Model.serialize() -> bytes`` are exact inverses on files laid out
like nncase 0.1 writes them (8-byte body padding; weights 128-, BN 128-, activation table
256-aligned at absolute file offsets). Floats (scales, biases) are stored as float32, so they are
rounded to float32 when a layer is built.

Building a model from scratch::

    from picoface.kmodel import v3
    regs = v3.conv_regs(in_w=320, in_h=240, in_ch=3, out_ch=16, kernel=3, pool_type=1,
                        src_addr=0, dst_addr=3600, arg_x=-128, arg_w=0, arg_add=0)
    conv = v3.ConvLayer(regs=regs, weights=w_oihw_uint8.tobytes(),
                        bn=[v3.BN(mul, add, shift) for ...], act=v3.ActTable.relu_1024(),
                        flags=v3.KLF_MAIN_MEM_OUT, main_mem_out_address=0)
    deq = v3.DequantizeLayer(main_mem_in_address=0, main_mem_out_address=v3.align(n, 8), count=n,
                             scale=0.02, bias=-1.0)
    model = v3.build_model([conv, deq])   # fills max_start_address, main_mem_usage, outputs
    data = model.serialize()

``conv_regs`` computes every layout/weight-load register from the shapes with nncase's formulas;
``Regs`` can also be built field by field or from 12 raw words (``Regs.from_words``).
"""

import struct
from dataclasses import dataclass, field
from typing import List, NamedTuple

from picoface.errors import PicofaceError

HEADER_SIZE = 28
KLF_MAIN_MEM_OUT = 1
KPU_RAM_BYTES = 2 * 1024 * 1024
KPU_RAM_LINES = KPU_RAM_BYTES // 64  # 32768 lines of 64 bytes

# Layer type ids [SDK kpu.h kpu_model_layer_type_t]
LAYER_TYPES = {
    0: "INVALID", 1: "ADD", 2: "QUANTIZED_ADD", 3: "GLOBAL_MAX_POOL2D",
    4: "QUANTIZED_GLOBAL_MAX_POOL2D", 5: "GLOBAL_AVERAGE_POOL2D",
    6: "QUANTIZED_GLOBAL_AVERAGE_POOL2D", 7: "MAX_POOL2D", 8: "QUANTIZED_MAX_POOL2D",
    9: "AVERAGE_POOL2D", 10: "QUANTIZED_AVERAGE_POOL2D", 11: "QUANTIZE", 12: "DEQUANTIZE",
    13: "REQUANTIZE", 14: "L2_NORMALIZATION", 15: "SOFTMAX", 16: "CONCAT", 17: "QUANTIZED_CONCAT",
    18: "FULLY_CONNECTED", 19: "QUANTIZED_FULLY_CONNECTED", 20: "TENSORFLOW_FLATTEN",
    21: "QUANTIZED_TENSORFLOW_FLATTEN", 22: "RESIZE_NEAREST_NEIGHBOR",
    23: "QUANTIZED_RESIZE_NEAREST_NEIGHBOR", 24: "CHANNELWISE_DEQUANTIZE", 25: "LOGISTIC",
    10240: "K210_CONV", 10241: "K210_ADD_PADDING", 10242: "K210_REMOVE_PADDING", 10243: "K210_UPLOAD",
}
TYPE_IDS = {v: k for k, v in LAYER_TYPES.items()}
K210_CONV = 10240
# Types the open SDK's ai_step executes (others hit an assert on the board).
SDK_EXECUTES = {1, 2, 5, 8, 9, 11, 12, 13, 14, 15, 16, 17, 18, 20, 22, 23, 24, 25, 10240, 10241, 10242, 10243}


def align(n, a):
    """Round n up to a multiple of a."""
    return (n + a - 1) // a * a


def _f32(x):
    return struct.unpack("<f", struct.pack("<f", float(x)))[0]


def _err(what, todo="the file is truncated or corrupt; re-export or re-download it"):
    return PicofaceError(what, todo)


# ---------------------------------------------------------------------------------------------
# Registers: kpu_layer_argument_t, 12 x u64 (KMODEL.md §2)
# ---------------------------------------------------------------------------------------------

# name: (word, lsb, width, signed)
REG_FIELDS = {
    "int_en": (0, 0, 1, False), "ram_flag": (0, 1, 1, False), "full_add": (0, 2, 1, False),
    "depth_wise_layer": (0, 3, 1, False),
    "image_src_addr": (1, 0, 15, False), "image_dst_addr": (1, 32, 15, False),
    "i_ch_num": (2, 0, 10, False), "o_ch_num": (2, 32, 10, False), "o_ch_num_coef": (2, 48, 10, False),
    "i_row_wid": (3, 0, 10, False), "i_col_high": (3, 10, 9, False),
    "o_row_wid": (3, 32, 10, False), "o_col_high": (3, 42, 9, False),
    "kernel_type": (4, 0, 3, False), "pad_type": (4, 3, 1, False), "pool_type": (4, 4, 4, False),
    "first_stride": (4, 8, 1, False), "bypass_conv": (4, 9, 1, False), "load_para": (4, 10, 1, False),
    "dma_burst_size": (4, 16, 8, False), "pad_value": (4, 24, 8, False),
    "bwsx_base_addr": (4, 32, 32, False),
    "load_coor": (5, 0, 1, False), "load_time": (5, 1, 6, False), "para_size": (5, 15, 17, False),
    "para_start_addr": (5, 32, 32, False),
    "coef_column_offset": (6, 0, 4, False), "coef_row_offset": (6, 4, 12, False),
    "channel_switch_addr": (7, 0, 15, False), "row_switch_addr": (7, 16, 4, False),
    "coef_size": (7, 20, 8, False), "coef_group": (7, 28, 3, False), "load_act": (7, 31, 1, False),
    "active_addr": (7, 32, 32, False),
    "wb_channel_switch_addr": (8, 0, 15, False), "wb_row_switch_addr": (8, 16, 4, False),
    "wb_group": (8, 20, 3, False),
    "shr_w": (9, 0, 4, False), "shr_x": (9, 4, 4, False), "arg_w": (9, 8, 24, True),
    "arg_x": (9, 32, 24, True),
    "arg_add": (10, 0, 40, True),
    "send_data_out": (11, 0, 1, False), "channel_byte_num": (11, 16, 16, False),
    "dma_total_byte": (11, 32, 32, False),
}

_FIELD_MASK = [0] * 12
for _w, _lsb, _width, _s in REG_FIELDS.values():
    _FIELD_MASK[_w] |= ((1 << _width) - 1) << _lsb
RESERVED_MASK = tuple(((1 << 64) - 1) & ~m for m in _FIELD_MASK)


@dataclass
class Regs:
    """The 12 KPU layer registers as named fields (values as the hardware stores them, e.g.
    i_ch_num = channels - 1). ``reserved`` holds any bits outside the named fields (0 in every
    known file) so that odd files still round-trip."""

    int_en: int = 0
    ram_flag: int = 0
    full_add: int = 0
    depth_wise_layer: int = 0
    image_src_addr: int = 0
    image_dst_addr: int = 0
    i_ch_num: int = 0
    o_ch_num: int = 0
    o_ch_num_coef: int = 0
    i_row_wid: int = 0
    i_col_high: int = 0
    o_row_wid: int = 0
    o_col_high: int = 0
    kernel_type: int = 0
    pad_type: int = 0
    pool_type: int = 0
    first_stride: int = 0
    bypass_conv: int = 0
    load_para: int = 1
    dma_burst_size: int = 15
    pad_value: int = 0
    bwsx_base_addr: int = 0
    load_coor: int = 1
    load_time: int = 0
    para_size: int = 0
    para_start_addr: int = 0
    coef_column_offset: int = 0
    coef_row_offset: int = 0
    channel_switch_addr: int = 0
    row_switch_addr: int = 0
    coef_size: int = 0
    coef_group: int = 0
    load_act: int = 1
    active_addr: int = 0
    wb_channel_switch_addr: int = 0
    wb_row_switch_addr: int = 0
    wb_group: int = 0
    shr_w: int = 0
    shr_x: int = 0
    arg_w: int = 0
    arg_x: int = 0
    arg_add: int = 0
    send_data_out: int = 0
    channel_byte_num: int = 0
    dma_total_byte: int = 0
    reserved: tuple = (0,) * 12

    @classmethod
    def from_words(cls, words):
        words = [int(w) for w in words]
        if len(words) != 12:
            raise ValueError("kpu_layer_argument_t has 12 words, got %d" % len(words))
        kw = {}
        for name, (w, lsb, width, signed) in REG_FIELDS.items():
            v = (words[w] >> lsb) & ((1 << width) - 1)
            if signed and v >> (width - 1):
                v -= 1 << width
            kw[name] = v
        kw["reserved"] = tuple(words[i] & RESERVED_MASK[i] for i in range(12))
        return cls(**kw)

    @classmethod
    def unpack(cls, data, offset=0):
        return cls.from_words(struct.unpack_from("<12Q", data, offset))

    def to_words(self):
        words = list(self.reserved)
        if len(words) != 12:
            raise ValueError("Regs.reserved must have 12 entries")
        for name, (w, lsb, width, signed) in REG_FIELDS.items():
            v = int(getattr(self, name))
            lo, hi = (-(1 << (width - 1)), (1 << (width - 1)) - 1) if signed else (0, (1 << width) - 1)
            if not lo <= v <= hi:
                raise PicofaceError(
                    "KPU register field %s = %d does not fit its %d-bit %s field" % (
                        name, v, width, "signed" if signed else "unsigned"),
                    "the layer is too large for the KPU or a value was computed wrongly",
                )
            words[w] |= (v & ((1 << width) - 1)) << lsb
        return words

    def pack(self):
        return struct.pack("<12Q", *self.to_words())

    # Convenience views (plain numbers, not stored)
    @property
    def in_shape(self):
        """(W, H, C) of the input feature map."""
        return self.i_row_wid + 1, self.i_col_high + 1, self.i_ch_num + 1

    @property
    def out_shape(self):
        """(W, H, C) of the output after pooling."""
        return self.o_row_wid + 1, self.o_col_high + 1, self.o_ch_num + 1

    @property
    def kernel(self):
        return 3 if self.kernel_type == 1 else 1

    @property
    def depthwise(self):
        return bool(self.depth_wise_layer)


# ---------------------------------------------------------------------------------------------
# KPU RAM layout (KMODEL.md §3) and register builder
# ---------------------------------------------------------------------------------------------

def kpu_layout(w):
    """(groups, row_len, row_pitch) of a feature map of width w in KPU RAM."""
    if w <= 16:
        return 4, 1, 16
    if w <= 32:
        return 2, 1, 32
    return 1, (w + 63) // 64, 64


def kpu_lines(w, h, c):
    """64-byte lines a WxHxC map occupies in KPU RAM."""
    groups, row_len, _ = kpu_layout(w)
    return row_len * h * ((c + min(c, groups) - 1) // min(c, groups))


POOL_FILTER_STRIDE = {0: (1, 1), 1: (2, 2), 2: (2, 2), 3: (4, 4), 4: (4, 4), 5: (2, 2), 6: (2, 2),
                      7: (4, 4), 8: (2, 1), 9: (2, 1)}
POOL_NAMES = {0: "none", 1: "max2x2/2", 2: "avg2x2/2", 3: "max4x4/4", 4: "avg4x4/4", 5: "pick-lt/2",
              6: "pick-rt/2", 7: "pick-lt/4", 8: "avg2x2/1", 9: "max2x2/1"}


def weight_load_fields(in_ch, out_ch, kernel, depthwise, bytes_per_weight=1):
    """(para_size, load_time, o_ch_num_coef) as nncase fills them (KMODEL.md §2)."""
    k2 = kernel * kernel
    if depthwise:
        return out_ch * k2 * bytes_per_weight, 0, out_ch - 1
    one_ch = k2 * in_ch * bytes_per_weight
    limit = (30 if bytes_per_weight == 1 else 60) * 1024
    per_load = max(1, min(out_ch, limit // one_ch))
    loads = (out_ch + per_load - 1) // per_load
    return one_ch * per_load, loads - 1, per_load - 1


def conv_regs(in_w, in_h, in_ch, out_ch, kernel=3, depthwise=False, pool_type=0, src_addr=0,
              dst_addr=None, arg_x=0, shr_x=0, arg_w=0, shr_w=0, arg_add=0, pad_value=0,
              bytes_per_weight=1):
    """Registers for one conv layer, every derived field computed from the shapes.

    dst_addr defaults to the line right after the input map."""
    if kernel not in (1, 3):
        raise PicofaceError("KPU kernels are 1x1 or 3x3, not %dx%d" % (kernel, kernel),
                            "use 1x1 or 3x3 convolutions")
    if depthwise and in_ch != out_ch:
        raise PicofaceError("a depthwise KPU conv needs in_ch == out_ch (%d != %d)" % (in_ch, out_ch),
                            "fix the layer's channels")
    filt, stride = POOL_FILTER_STRIDE.get(pool_type, (None, None))
    if filt is None:
        raise PicofaceError("unknown KPU pool_type %r" % pool_type,
                            "use one of the KPU's pooling modes: %s" % ", ".join("%d %s" % kv for kv in sorted(POOL_NAMES.items())))
    out_w, out_h = in_w // stride, in_h // stride
    if dst_addr is None:
        dst_addr = src_addr + kpu_lines(in_w, in_h, in_ch)
    ig, irl, _ = kpu_layout(in_w)
    og, orl, _ = kpu_layout(out_w)
    para_size, load_time, coef = weight_load_fields(in_ch, out_ch, kernel, depthwise, bytes_per_weight)
    return Regs(
        depth_wise_layer=int(bool(depthwise)),
        image_src_addr=src_addr, image_dst_addr=dst_addr,
        i_ch_num=in_ch - 1, o_ch_num=out_ch - 1, o_ch_num_coef=coef,
        i_row_wid=in_w - 1, i_col_high=in_h - 1, o_row_wid=out_w - 1, o_col_high=out_h - 1,
        kernel_type=1 if kernel == 3 else 0, pool_type=pool_type, pad_value=pad_value,
        load_time=load_time, para_size=para_size,
        channel_switch_addr=irl * in_h, row_switch_addr=irl, coef_group=ig,
        wb_channel_switch_addr=orl * out_h, wb_row_switch_addr=orl, wb_group=og,
        shr_w=shr_w, shr_x=shr_x, arg_w=arg_w, arg_x=arg_x, arg_add=arg_add,
        channel_byte_num=out_w * out_h - 1, dma_total_byte=out_w * out_h * out_ch - 1,
    )


# ---------------------------------------------------------------------------------------------
# BN and activation tables
# ---------------------------------------------------------------------------------------------

class BN(NamedTuple):
    """kpu_batchnorm_argument_t: v = ((acc * mul) >> shift) + add."""

    mul: int
    add: int
    shift: int

    def pack_word(self):
        if not (-(1 << 23) <= self.mul < (1 << 23) and -(1 << 31) <= self.add < (1 << 31) and 0 <= self.shift < 16):
            raise PicofaceError("BN entry %r does not fit (mul s24, add s32, shift u4)" % (tuple(self),),
                                "requantize the layer")
        return (self.mul & 0xFFFFFF) | ((self.add & 0xFFFFFFFF) << 24) | ((self.shift & 0xF) << 56)

    @classmethod
    def from_word(cls, w):
        mul = w & 0xFFFFFF
        if mul >> 23:
            mul -= 1 << 24
        add = (w >> 24) & 0xFFFFFFFF
        if add >> 31:
            add -= 1 << 32
        return cls(mul, add, (w >> 56) & 0xF)


BN_RESERVED_MASK = 0xF << 60


class Segment(NamedTuple):
    """One activation segment: for x_start < v: y = round_shift((v - x_start) * y_mul, shift) + bias."""

    x_start: int
    y_mul: int
    shift: int
    bias: int


@dataclass
class ActTable:
    """kpu_activate_table_t: 16 segments (144 bytes in the file)."""

    segments: List[Segment]

    SIZE = 144

    def __post_init__(self):
        self.segments = [Segment(*s) for s in self.segments]
        if len(self.segments) != 16:
            raise PicofaceError("an activation table has 16 segments, got %d" % len(self.segments),
                                "build it with 16 Segment entries")

    def pack(self):
        words = []
        for s in self.segments:
            if not (-(1 << 35) <= s.x_start < (1 << 35) and -(1 << 15) <= s.y_mul < (1 << 15)
                    and 0 <= s.shift < 256 and 0 <= s.bias < 256):
                raise PicofaceError("activation segment %r does not fit (x_start s36, y_mul s16, shift u8, bias u8)"
                                    % (tuple(s),), "rebuild the activation table")
            words.append((s.shift & 0xFF) | ((s.y_mul & 0xFFFF) << 8) | ((s.x_start & ((1 << 36) - 1)) << 24))
        b = bytes(s.bias for s in self.segments)
        return struct.pack("<16Q", *words) + b

    @classmethod
    def unpack(cls, data, offset=0):
        words = struct.unpack_from("<16Q", data, offset)
        biases = data[offset + 128: offset + 144]
        segs = []
        for i, w in enumerate(words):
            if w >> 60:
                raise _err("activation table word %d has reserved bits set" % i)
            ymul = (w >> 8) & 0xFFFF
            if ymul >> 15:
                ymul -= 1 << 16
            xs = (w >> 24) & ((1 << 36) - 1)
            if xs >> 35:
                xs -= 1 << 36
            segs.append(Segment(xs, ymul, w & 0xFF, biases[i]))
        return cls(segs)

    @classmethod
    def relu_1024(cls):
        """The stock nncase 0.1 relu table: y = clamp(round(v / 1024)) for v > 0, else 0.
        (Segments 1-9 repeat nncase's breakpoints; only segment 10 has a slope.)"""
        xs = [-(1 << 35), -2192771912, -1898601972, -1604432032, -1293919318, -999749378,
              -705579438, -411409498, -100896784, -2840137, 0,
              (1 << 35) - 16, (1 << 35) - 15, (1 << 35) - 14, (1 << 35) - 13, (1 << 35) - 12]
        return cls([Segment(x, 1024 if i == 10 else 0, 20 if i == 10 else 0, 0) for i, x in enumerate(xs)])

    @classmethod
    def linear(cls, y_mul=1, shift=0, bias=0):
        """A single straight line y = clamp(round_shift((v + 2^35) * y_mul, shift) + bias) —
        mostly useful for tests; segments 1-15 never match."""
        top = (1 << 35) - 1
        segs = [Segment(-(1 << 35), y_mul, shift, bias)] + [Segment(top, 0, 0, 0)] * 15
        return cls(segs)

    @classmethod
    def identity(cls):
        """y = clamp(v, 0, 255): segment 0 (v <= 0) gives 0, segment 1 (v > 0) has slope 1."""
        top = (1 << 35) - 1
        return cls([Segment(-(1 << 35), 0, 0, 0), Segment(0, 1, 0, 0)] + [Segment(top, 0, 0, 0)] * 14)


# ---------------------------------------------------------------------------------------------
# Layers
# ---------------------------------------------------------------------------------------------

@dataclass
class ConvLayer:
    """K210_CONV: one KPU layer (conv + BN + activation + pool)."""

    regs: Regs
    weights: bytes
    bn: list
    act: ActTable
    flags: int = 0
    main_mem_out_address: int = 0
    type_id = K210_CONV

    def __post_init__(self):
        self.weights = bytes(self.weights)
        self.bn = [BN(*b) for b in self.bn]

    @property
    def main_mem_out(self):
        return bool(self.flags & KLF_MAIN_MEM_OUT)

    def expected_weight_bytes(self, bytes_per_weight=1):
        w, h, ic = self.regs.in_shape
        oc = self.regs.out_shape[2]
        k2 = self.regs.kernel ** 2
        return (oc * k2 if self.regs.depthwise else oc * ic * k2) * bytes_per_weight


def _simple(type_id, fmt, names, float_names=()):
    """Define a dataclass layer whose body is one fixed struct."""

    def deco(cls):
        cls.type_id = type_id
        cls._fmt = "<" + fmt
        cls._names = names
        cls._floats = float_names

        def __post_init__(self):
            for n in float_names:
                setattr(self, n, _f32(getattr(self, n)))

        cls.__post_init__ = __post_init__  # before dataclass() so that __init__ calls it
        return dataclass(cls)

    return deco


@_simple(12, "IIIIff", ("flags", "main_mem_in_address", "main_mem_out_address", "count", "scale", "bias"),
         ("scale", "bias"))
class DequantizeLayer:
    """DEQUANTIZE: float32 y = q * scale + bias for count uint8 values."""

    main_mem_in_address: int = 0
    main_mem_out_address: int = 0
    count: int = 0
    scale: float = 1.0
    bias: float = 0.0
    flags: int = KLF_MAIN_MEM_OUT


@_simple(11, "IIIIff", ("flags", "main_mem_in_address", "mem_out_address", "count", "scale", "bias"),
         ("scale", "bias"))
class QuantizeLayer:
    """QUANTIZE: q = clamp(roundf((x - bias) / scale), 0, 255)."""

    main_mem_in_address: int = 0
    mem_out_address: int = 0
    count: int = 0
    scale: float = 1.0
    bias: float = 0.0
    flags: int = 0


@_simple(10241, "IIII", ("flags", "main_mem_in_address", "kpu_mem_out_address", "channels"))
class AddPaddingLayer:
    main_mem_in_address: int = 0
    kpu_mem_out_address: int = 0
    channels: int = 0
    flags: int = 0


@_simple(10242, "IIII", ("flags", "main_mem_in_address", "main_mem_out_address", "channels"))
class RemovePaddingLayer:
    main_mem_in_address: int = 0
    main_mem_out_address: int = 0
    channels: int = 0
    flags: int = 0


@_simple(10243, "IIIIII", ("flags", "main_mem_in_address", "kpu_mem_out_address", "width", "height", "channels"))
class UploadLayer:
    main_mem_in_address: int = 0
    kpu_mem_out_address: int = 0
    width: int = 0
    height: int = 0
    channels: int = 0
    flags: int = 0


@_simple(5, "IIIII", ("flags", "main_mem_in_address", "main_mem_out_address", "kernel_size", "channels"))
class GlobalAveragePoolLayer:
    main_mem_in_address: int = 0
    main_mem_out_address: int = 0
    kernel_size: int = 0
    channels: int = 0
    flags: int = 0


@_simple(2, "IIIIIiiiiiiiii",
         ("flags", "main_mem_in_a_address", "main_mem_in_b_address", "main_mem_out_address", "count",
          "in_a_offset", "in_a_mul", "in_a_shift", "in_b_offset", "in_b_mul", "in_b_shift",
          "out_offset", "out_mul", "out_shift"))
class QuantizedAddLayer:
    main_mem_in_a_address: int = 0
    main_mem_in_b_address: int = 0
    main_mem_out_address: int = 0
    count: int = 0
    in_a_offset: int = 0
    in_a_mul: int = 0
    in_a_shift: int = 0
    in_b_offset: int = 0
    in_b_mul: int = 0
    in_b_shift: int = 0
    out_offset: int = 0
    out_mul: int = 0
    out_shift: int = 0
    flags: int = 0


@dataclass
class RequantizeLayer:
    """REQUANTIZE: out[i] = table[in[i]]."""

    main_mem_in_address: int = 0
    main_mem_out_address: int = 0
    count: int = 0
    table: bytes = bytes(range(256))
    flags: int = 0
    type_id = 13

    def __post_init__(self):
        self.table = bytes(self.table)
        if len(self.table) != 256:
            raise PicofaceError("a REQUANTIZE table has 256 entries, got %d" % len(self.table), "fix the table")


@dataclass
class ChannelOpLayer:
    """SOFTMAX (15), LOGISTIC (25) or L2_NORMALIZATION (14): flags, in, out, channels (float)."""

    type_id: int
    main_mem_in_address: int = 0
    main_mem_out_address: int = 0
    channels: int = 0
    flags: int = 0


@dataclass
class ConcatLayer:
    """CONCAT (16) / QUANTIZED_CONCAT (17): byte copies of (start, size) ranges into out."""

    main_mem_out_address: int = 0
    inputs: list = field(default_factory=list)
    flags: int = 0
    type_id: int = 16

    def __post_init__(self):
        self.inputs = [tuple(int(v) for v in r) for r in self.inputs]


@dataclass
class FullyConnectedLayer:
    """FULLY_CONNECTED (18): float weights[out][in] and bias[out] as raw float32 bytes."""

    main_mem_in_address: int = 0
    main_mem_out_address: int = 0
    in_channels: int = 0
    out_channels: int = 0
    act: int = 0
    weights: bytes = b""
    bias: bytes = b""
    flags: int = 0
    type_id = 18

    def __post_init__(self):
        self.weights = bytes(self.weights)
        self.bias = bytes(self.bias)


@dataclass
class RawLayer:
    """Any other known layer type, kept byte for byte (body without the trailing padding)."""

    type_id: int
    body: bytes

    def __post_init__(self):
        self.body = bytes(self.body)

    @property
    def flags(self):
        return struct.unpack_from("<I", self.body, 0)[0] if len(self.body) >= 4 else 0


SIMPLE_LAYERS = {c.type_id: c for c in (DequantizeLayer, QuantizeLayer, AddPaddingLayer, RemovePaddingLayer,
                                        UploadLayer, GlobalAveragePoolLayer, QuantizedAddLayer)}


def layer_type_name(layer):
    return LAYER_TYPES.get(layer.type_id, "TYPE_%d" % layer.type_id)


# ---------------------------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------------------------

class Output(NamedTuple):
    address: int
    size: int


@dataclass
class Model:
    layers: list
    flags: int = 1
    max_start_address: int = KPU_RAM_LINES
    main_mem_usage: int = 0
    outputs: list = field(default_factory=list)
    version: int = 3
    arch: int = 0
    trailer: bytes = b""

    def __post_init__(self):
        self.outputs = [Output(*o) for o in self.outputs]
        self.trailer = bytes(self.trailer)

    @property
    def eight_bit(self):
        return bool(self.flags & 1)

    @property
    def bytes_per_weight(self):
        return 1 if self.eight_bit else 2

    @property
    def convs(self):
        return [l for l in self.layers if isinstance(l, ConvLayer)]

    def serialize(self):
        return serialize(self)


# ---------------------------------------------------------------------------------------------
# Header helpers for models built from scratch
# ---------------------------------------------------------------------------------------------

def main_memory_extents(layer):
    """(start, end) byte ranges of the main buffer a layer writes (for main_mem_usage)."""
    if isinstance(layer, ConvLayer):
        if layer.main_mem_out:
            n = layer.regs.dma_total_byte + 1
            return [(layer.main_mem_out_address, layer.main_mem_out_address + align(n, 8))]
        return []
    if isinstance(layer, DequantizeLayer):
        return [(layer.main_mem_out_address, layer.main_mem_out_address + 4 * layer.count)]
    if isinstance(layer, QuantizeLayer):
        return [(layer.mem_out_address, layer.mem_out_address + align(layer.count, 8))]
    if isinstance(layer, RequantizeLayer):
        return [(layer.main_mem_out_address, layer.main_mem_out_address + align(layer.count, 8))]
    if isinstance(layer, QuantizedAddLayer):
        return [(layer.main_mem_out_address, layer.main_mem_out_address + align(layer.count, 8))]
    if isinstance(layer, RemovePaddingLayer):
        return [(layer.main_mem_out_address, layer.main_mem_out_address + layer.channels)]
    if isinstance(layer, GlobalAveragePoolLayer):
        return [(layer.main_mem_out_address, layer.main_mem_out_address + 4 * layer.channels)]
    if isinstance(layer, ChannelOpLayer):
        return [(layer.main_mem_out_address, layer.main_mem_out_address + 4 * layer.channels)]
    if isinstance(layer, FullyConnectedLayer):
        return [(layer.main_mem_out_address, layer.main_mem_out_address + 4 * layer.out_channels)]
    if isinstance(layer, ConcatLayer):
        return [(layer.main_mem_out_address, layer.main_mem_out_address + sum(s for _, s in layer.inputs))]
    return []


def kpu_extents(layer, bytes_per_weight=1):
    """[(first_line, end_line)] of KPU RAM a layer reads or writes."""
    if isinstance(layer, ConvLayer):
        r = layer.regs
        iw, ih, ic = r.in_shape
        ow, oh, oc = r.out_shape
        return [(r.image_src_addr, r.image_src_addr + kpu_lines(iw, ih, ic)),
                (r.image_dst_addr, r.image_dst_addr + kpu_lines(ow, oh, oc))]
    if isinstance(layer, UploadLayer):
        a = layer.kpu_mem_out_address
        return [(a, a + kpu_lines(layer.width, layer.height, layer.channels))]
    if isinstance(layer, AddPaddingLayer):
        a = layer.kpu_mem_out_address
        return [(a, a + kpu_lines(1, 1, layer.channels))]
    return []


def default_outputs(layers):
    """The model output: the last layer's result (DEQUANTIZE float32 or main-memory conv)."""
    last = layers[-1]
    if isinstance(last, DequantizeLayer):
        return [Output(last.main_mem_out_address, 4 * last.count)]
    if isinstance(last, ConvLayer) and last.main_mem_out:
        return [Output(last.main_mem_out_address, last.regs.dma_total_byte + 1)]
    ext = main_memory_extents(last)
    if ext:
        return [Output(ext[0][0], ext[0][1] - ext[0][0])]
    raise PicofaceError("the last layer (%s) writes nothing to main memory, so the model has no output"
                        % layer_type_name(last), "end the model with a KLF_MAIN_MEM_OUT conv or a DEQUANTIZE")


def build_model(layers, flags=1, outputs=None):
    """A Model with header fields computed: max_start_address (lowest KPU line used),
    main_mem_usage (end of the highest main-memory range written) and the output table."""
    layers = list(layers)
    if not layers:
        raise PicofaceError("a kmodel needs at least one layer", "add layers")
    starts = [s for l in layers for s, _ in kpu_extents(l)]
    ends = [e for l in layers for _, e in kpu_extents(l)]
    if ends and max(ends) > KPU_RAM_LINES:
        raise PicofaceError("the feature maps need KPU RAM up to %d bytes, more than the 2 MiB the KPU has"
                            % (max(ends) * 64), "shrink the network or re-plan the KPU addresses")
    outs = [Output(*o) for o in outputs] if outputs is not None else default_outputs(layers)
    mm_ends = [e for l in layers for _, e in main_memory_extents(l)] + [a + s for a, s in outs]
    return Model(layers=layers, flags=flags, max_start_address=min(starts) if starts else KPU_RAM_LINES,
                 main_mem_usage=max(mm_ends) if mm_ends else 0, outputs=outs)


# ---------------------------------------------------------------------------------------------
# Serialize
# ---------------------------------------------------------------------------------------------

def _pad_to(buf, a):
    buf.extend(b"\0" * (align(len(buf), a) - len(buf)))


def _conv_body(buf, layer, bytes_per_weight):
    """Append a K210_CONV body at len(buf) (absolute file offsets)."""
    start = len(buf)
    oc = layer.regs.o_ch_num + 1
    if len(layer.bn) != oc:
        raise PicofaceError("conv layer has %d BN entries for %d output channels" % (len(layer.bn), oc),
                            "give one BN entry per output channel")
    exp = layer.expected_weight_bytes(bytes_per_weight)
    if len(layer.weights) != exp:
        raise PicofaceError("conv layer has %d weight bytes, its registers need %d" % (len(layer.weights), exp),
                            "check the weights' shape (OIHW, or OHW for depthwise)")
    buf.extend(b"\0" * 24)
    _pad_to(buf, 8)
    layer_off = len(buf)
    buf.extend(layer.regs.pack())
    _pad_to(buf, 128)
    w_off = len(buf)
    buf.extend(layer.weights)
    _pad_to(buf, 128)
    bn_off = len(buf)
    buf.extend(struct.pack("<%dQ" % oc, *[b.pack_word() for b in layer.bn]))
    _pad_to(buf, 256)
    act_off = len(buf)
    buf.extend(layer.act.pack())
    struct.pack_into("<6I", buf, start, layer.flags, layer.main_mem_out_address, layer_off, w_off, bn_off, act_off)


def _body_bytes(layer):
    if isinstance(layer, RawLayer):
        return layer.body
    if type(layer) in SIMPLE_LAYERS.values():
        return struct.pack(layer._fmt, *[getattr(layer, n) for n in layer._names])
    if isinstance(layer, RequantizeLayer):
        return struct.pack("<4I", layer.flags, layer.main_mem_in_address, layer.main_mem_out_address,
                           layer.count) + layer.table
    if isinstance(layer, ChannelOpLayer):
        return struct.pack("<4I", layer.flags, layer.main_mem_in_address, layer.main_mem_out_address,
                           layer.channels)
    if isinstance(layer, ConcatLayer):
        return struct.pack("<3I", layer.flags, layer.main_mem_out_address, len(layer.inputs)) + b"".join(
            struct.pack("<2I", s, n) for s, n in layer.inputs)
    if isinstance(layer, FullyConnectedLayer):
        if len(layer.weights) != 4 * layer.in_channels * layer.out_channels or len(layer.bias) != 4 * layer.out_channels:
            raise PicofaceError("FULLY_CONNECTED weights/bias sizes do not match its channels", "fix the layer")
        return struct.pack("<6I", layer.flags, layer.main_mem_in_address, layer.main_mem_out_address,
                           layer.in_channels, layer.out_channels, layer.act) + layer.weights + layer.bias
    raise PicofaceError("cannot serialize layer object %r" % type(layer).__name__, "use the v3 layer classes")


def serialize(model):
    """The file bytes of a Model (nncase 0.1 layout rules)."""
    layers = model.layers
    buf = bytearray(struct.pack("<7I", model.version, model.flags, model.arch, len(layers),
                                model.max_start_address, model.main_mem_usage, len(model.outputs)))
    for o in model.outputs:
        buf.extend(struct.pack("<2I", o.address, o.size))
    hdr_at = len(buf)
    buf.extend(b"\0" * (8 * len(layers)))
    bpw = model.bytes_per_weight
    for i, layer in enumerate(layers):
        start = len(buf)
        if isinstance(layer, ConvLayer):
            _conv_body(buf, layer, bpw)
        else:
            buf.extend(_body_bytes(layer))
        _pad_to(buf, 8)
        struct.pack_into("<2I", buf, hdr_at + 8 * i, layer.type_id, len(buf) - start)
    buf.extend(model.trailer)
    return bytes(buf)


# ---------------------------------------------------------------------------------------------
# Parse
# ---------------------------------------------------------------------------------------------

def _u32s(data, off, n, what):
    if off + 4 * n > len(data):
        raise _err("kmodel truncated: %s at byte %d needs %d bytes, the file has %d" % (what, off, 4 * n, len(data)))
    return struct.unpack_from("<%dI" % n, data, off)


def _parse_conv(data, i, start, end, bytes_per_weight):
    flags, mm_out, layer_off, w_off, bn_off, act_off = _u32s(data, start, 6, "layer %d conv header" % i)

    def check(off, size, what):
        if off < start or off + size > end:
            raise _err("layer %d (K210_CONV): %s at %d..%d lies outside its body %d..%d"
                       % (i, what, off, off + size, start, end))

    check(layer_off, 96, "layer arguments")
    regs = Regs.unpack(data, layer_off)
    conv = ConvLayer(regs=regs, weights=b"", bn=[], act=ActTable([Segment(0, 0, 0, 0)] * 16),
                     flags=flags, main_mem_out_address=mm_out)
    nw = conv.expected_weight_bytes(bytes_per_weight)
    check(w_off, nw, "weights (%d bytes)" % nw)
    oc = regs.o_ch_num + 1
    check(bn_off, 8 * oc, "batch-norm table")
    check(act_off, ActTable.SIZE, "activation table")
    conv.weights = bytes(data[w_off:w_off + nw])
    words = struct.unpack_from("<%dQ" % oc, data, bn_off)
    if any(w & BN_RESERVED_MASK for w in words):
        raise _err("layer %d (K210_CONV): a batch-norm entry has reserved bits set" % i)
    conv.bn = [BN.from_word(w) for w in words]
    conv.act = ActTable.unpack(data, act_off)
    return conv


def _parse_body(data, i, type_id, start, end, bytes_per_weight):
    size = end - start
    if type_id == K210_CONV:
        return _parse_conv(data, i, start, end, bytes_per_weight)
    if type_id in SIMPLE_LAYERS:
        cls = SIMPLE_LAYERS[type_id]
        need = struct.calcsize(cls._fmt)
        if size < need:
            raise _err("layer %d (%s): body of %d bytes, needs %d" % (i, LAYER_TYPES[type_id], size, need))
        vals = dict(zip(cls._names, struct.unpack_from(cls._fmt, data, start)))
        layer = cls(**vals)
        if _body_bytes(layer) != bytes(data[start:start + need]):  # NaN floats etc.
            return RawLayer(type_id, bytes(data[start:start + need]))
        return layer
    if type_id == 13:
        if size < 272:
            raise _err("layer %d (REQUANTIZE): body of %d bytes, needs 272" % (i, size))
        f, a, b, n = struct.unpack_from("<4I", data, start)
        return RequantizeLayer(a, b, n, bytes(data[start + 16:start + 272]), f)
    if type_id in (14, 15, 25):
        if size < 16:
            raise _err("layer %d (%s): body too short" % (i, LAYER_TYPES[type_id]))
        f, a, b, c = struct.unpack_from("<4I", data, start)
        return ChannelOpLayer(type_id, a, b, c, f)
    if type_id in (16, 17):
        if size < 12:
            raise _err("layer %d (%s): body too short" % (i, LAYER_TYPES[type_id]))
        f, out, n = struct.unpack_from("<3I", data, start)
        if 12 + 8 * n > size:
            raise _err("layer %d (%s): %d inputs do not fit its %d-byte body" % (i, LAYER_TYPES[type_id], n, size))
        ins = [struct.unpack_from("<2I", data, start + 12 + 8 * k) for k in range(n)]
        return ConcatLayer(out, ins, f, type_id)
    if type_id == 18:
        if size < 24:
            raise _err("layer %d (FULLY_CONNECTED): body too short" % i)
        f, a, b, ic, oc, act = struct.unpack_from("<6I", data, start)
        nw, nb = 4 * ic * oc, 4 * oc
        if 24 + nw + nb > size:
            raise _err("layer %d (FULLY_CONNECTED): %dx%d weights do not fit its %d-byte body" % (i, oc, ic, size))
        p = start + 24
        return FullyConnectedLayer(a, b, ic, oc, act, bytes(data[p:p + nw]), bytes(data[p + nw:p + nw + nb]), f)
    # Known but undecoded: keep the body, minus the zero padding the serializer re-adds.
    body = bytes(data[start:end])
    stripped = body.rstrip(b"\0")
    keep = len(stripped)
    # keep enough bytes that re-padding from the same position reproduces the body exactly
    while align(start + keep, 8) - start != size and keep < size:
        keep += 1
    return RawLayer(type_id, body[:keep])


def parse(data):
    """Parse kmodel v3 bytes into a Model. Raises PicofaceError for anything malformed."""
    data = bytes(data)
    if len(data) < HEADER_SIZE:
        raise _err("kmodel truncated: %d bytes, a v3 header alone is %d" % (len(data), HEADER_SIZE))
    version, flags, arch, n_layers, max_start, mm_usage, n_out = struct.unpack_from("<7I", data, 0)
    if version != 3 or arch != 0:
        from picoface.kmodel import detect_version

        ver = detect_version(data)  # raises for garbage
        raise PicofaceError("this is a kmodel v%d file, not v3" % ver, "use a v3 model or convert it")
    table_end = HEADER_SIZE + 8 * n_out + 8 * n_layers
    if n_layers == 0:
        raise _err("kmodel has no layers")
    if table_end > len(data):
        raise _err("kmodel truncated: header promises %d outputs and %d layers (tables end at byte %d), "
                   "the file has %d bytes" % (n_out, n_layers, table_end, len(data)))
    outs = [Output(*struct.unpack_from("<2I", data, HEADER_SIZE + 8 * k)) for k in range(n_out)]
    hdr = HEADER_SIZE + 8 * n_out
    bpw = 1 if flags & 1 else 2
    layers = []
    pos = table_end
    for i in range(n_layers):
        type_id, body_size = struct.unpack_from("<2I", data, hdr + 8 * i)
        if type_id not in LAYER_TYPES or type_id == 0:
            raise _err("layer %d has unknown layer type %d" % (i, type_id),
                       "this is not a kmodel v3 file picoface understands (corrupt or a newer format)")
        end = pos + body_size
        if end > len(data):
            raise _err("kmodel truncated: layer %d (%s) body ends at byte %d, the file has %d bytes"
                       % (i, LAYER_TYPES[type_id], end, len(data)))
        layers.append(_parse_body(data, i, type_id, pos, end, bpw))
        pos = end
    return Model(layers=layers, flags=flags, max_start_address=max_start, main_mem_usage=mm_usage,
                 outputs=outs, version=version, arch=arch, trailer=data[pos:])


def load(path):
    """Parse a v3 kmodel file."""
    from picoface.kmodel import read_file

    return parse(read_file(path))


__all__ = [
    "Model", "ConvLayer", "Regs", "BN", "Segment", "ActTable", "DequantizeLayer", "QuantizeLayer",
    "RequantizeLayer", "UploadLayer", "AddPaddingLayer", "RemovePaddingLayer", "GlobalAveragePoolLayer",
    "QuantizedAddLayer", "ConcatLayer", "ChannelOpLayer", "FullyConnectedLayer", "RawLayer", "Output",
    "parse", "serialize", "load", "build_model", "conv_regs", "kpu_layout", "kpu_lines", "align",
    "weight_load_fields", "LAYER_TYPES", "KLF_MAIN_MEM_OUT",
]
