"""kmodel v4 (nncase 0.2 runtime, magic 'KMDL' version 4): header, tensors and node list.

Layout (nncase 0.2 ``interpreter_base::try_load_model``): a 40-byte header {identifier, version,
flags, target (0 CPU, 1 K210), constants (bytes), main_mem (bytes), nodes, inputs, outputs,
reserved0}; inputs x memory_range (16 B: u32 memory_type 0 const/1 main/2 kpu, u32 datatype
0 float32/1 uint8, u32 start, u32 size); inputs x runtime_shape_t (4 x i32, NCHW); outputs x
memory_range; the constants blob; nodes x {u32 opcode, u32 body_size}; then the node bodies back to
back.

K210 KPU nodes are decoded (``kpu_conv2d`` 0x2002: main_mem_output range, batches, reserved, the
96-byte register block, then BN/activation/weights each preceded by the alignment padding whose
length the file stores in bwsx_base_addr/active_addr/para_start_addr; ``kpu_upload`` 0x2001).
Other nodes are listed by opcode and body size only. ``to_v3(data)`` lifts a pure-KPU graph
([pad] -> kpu_upload -> KPU convs -> dequantize, what nncase 0.2 emits for an all-KPU net) into
v3 objects plus the leading pad, so the KPU emulator can run it. Graphs with CPU nodes between
their KPU layers run node by node in ``picoface.kmodel.v4_runtime``.
"""

import struct
from dataclasses import dataclass, field

from picoface.errors import PicofaceError
from picoface.kmodel import KMDL_IDENTIFIER
from picoface.kmodel.v3 import ActTable, Regs

HEADER = "<10I"
HEADER_SIZE = 40

# nncase 0.2 runtime opcodes (runtime_op.def); display names only.
OPCODES = {
    0: "binary", 1: "concat", 2: "conv2d", 3: "dequantize", 4: "matmul", 5: "pad", 6: "quantize",
    7: "reduce", 8: "reduce_window2d", 9: "memory_copy", 10: "resize_image", 11: "softmax",
    12: "transpose", 13: "strided_slice", 14: "unary", 15: "quantized_conv2d", 16: "quantized_matmul",
    17: "quantized_binary", 18: "table_lookup1d", 19: "conv2d_transpose", 20: "nnil_unary_method",
    0x2001: "kpu_upload", 0x2002: "kpu_conv2d",
}
KPU_UPLOAD, KPU_CONV2D = 0x2001, 0x2002
MEMORY_TYPES = {0: "const", 1: "main", 2: "kpu"}
DATATYPES = {0: "float32", 1: "uint8"}


@dataclass
class MemoryRange:
    memory_type: int
    datatype: int
    start: int
    size: int

    def describe(self):
        return "%s %s @%d +%d" % (MEMORY_TYPES.get(self.memory_type, "mem%d" % self.memory_type),
                                  DATATYPES.get(self.datatype, "dt%d" % self.datatype), self.start, self.size)


@dataclass
class Node:
    opcode: int
    offset: int
    body_size: int
    regs: Regs = None  # kpu_conv2d only
    weights_bytes: int = 0
    main_mem_output: MemoryRange = None
    in_shape: tuple = None  # kpu_upload only
    act: ActTable = None  # kpu_conv2d only

    @property
    def name(self):
        return OPCODES.get(self.opcode, "op_0x%x" % self.opcode)


@dataclass
class ModelV4:
    flags: int
    target: int
    constants_size: int
    main_mem: int
    reserved0: int
    inputs: list = field(default_factory=list)  # [(MemoryRange, shape)]
    outputs: list = field(default_factory=list)  # [MemoryRange]
    nodes: list = field(default_factory=list)
    size: int = 0

    @property
    def target_name(self):
        return {0: "cpu", 1: "k210"}.get(self.target, "target%d" % self.target)


def _err(what):
    return PicofaceError(what, "the file is truncated or corrupt; re-export or re-download it")


def parse(data):
    data = bytes(data)
    if len(data) < HEADER_SIZE:
        raise _err("kmodel v4 truncated: %d bytes, the header alone is %d" % (len(data), HEADER_SIZE))
    ident, version, flags, target, consts, main_mem, n_nodes, n_in, n_out, res0 = struct.unpack_from(HEADER, data, 0)
    if ident != KMDL_IDENTIFIER or version != 4:
        raise PicofaceError("not a kmodel v4 file", "check the file")
    pos = HEADER_SIZE
    tables = 16 * n_in + 16 * n_in + 16 * n_out + consts + 8 * n_nodes
    if pos + tables > len(data):
        raise _err("kmodel v4 truncated: the header promises %d inputs, %d outputs, %d constant bytes and %d nodes"
                   " (%d bytes), the file has %d" % (n_in, n_out, consts, n_nodes, pos + tables, len(data)))
    m = ModelV4(flags=flags, target=target, constants_size=consts, main_mem=main_mem, reserved0=res0, size=len(data))
    ins = [MemoryRange(*struct.unpack_from("<4I", data, pos + 16 * i)) for i in range(n_in)]
    pos += 16 * n_in
    shapes = [struct.unpack_from("<4i", data, pos + 16 * i) for i in range(n_in)]
    pos += 16 * n_in
    m.inputs = list(zip(ins, shapes))
    m.outputs = [MemoryRange(*struct.unpack_from("<4I", data, pos + 16 * i)) for i in range(n_out)]
    pos += 16 * n_out + consts
    headers = [struct.unpack_from("<2I", data, pos + 8 * i) for i in range(n_nodes)]
    pos += 8 * n_nodes
    for i, (op, size) in enumerate(headers):
        if pos + size > len(data):
            raise _err("kmodel v4 truncated: node %d (%s) ends at byte %d, the file has %d"
                       % (i, OPCODES.get(op, op), pos + size, len(data)))
        node = Node(op, pos, size)
        if op == KPU_CONV2D and size >= 120:
            node.main_mem_output = MemoryRange(*struct.unpack_from("<4I", data, pos))
            node.regs = Regs.unpack(data, pos + 24)
            r = node.regs
            w, h, ic = r.in_shape
            oc = r.out_shape[2]
            node.weights_bytes = (oc if r.depthwise else oc * ic) * r.kernel ** 2
            # BN and activation follow the registers, each after a padding whose length the file
            # keeps in bwsx_base_addr / active_addr (nncase 0.2 kpu_conv2d_options::serialize)
            act_at = pos + 120 + r.bwsx_base_addr + 8 * oc + r.active_addr
            if act_at + ActTable.SIZE <= pos + size:
                try:
                    node.act = ActTable.unpack(data, act_at)
                except PicofaceError:
                    node.act = None
        elif op == KPU_UPLOAD and size >= 48:
            node.in_shape = struct.unpack_from("<4i", data, pos + 32)
        m.nodes.append(node)
        pos += size
    return m


# ---------------------------------------------------------------------------------------------
# Lifting a KPU-only v4 graph into v3 objects (so the emulator can run it)
# ---------------------------------------------------------------------------------------------

PAD, DEQUANTIZE = 5, 3


@dataclass
class InputPad:
    """A leading CPU pad node: pads (before, after) per NCHW axis with ``value``."""

    paddings: tuple
    value: int
    in_shape: tuple
    out_shape: tuple

    def apply(self, chw):
        import numpy as np

        pads = [tuple(p) for p in self.paddings[1:]]
        return np.pad(chw, pads, mode="constant", constant_values=self.value)


def conv_layer(data, n, i, main_mem_out=False):
    """A v3.ConvLayer from kpu_conv2d node ``n`` (the i-th KPU layer) of v4 file ``data``: the
    registers with the three loader-set addresses zeroed, the BN table, the activation table and
    the weights, each read after the padding whose length the file keeps in that address field."""
    from picoface.kmodel import v3

    r = n.regs
    oc = r.o_ch_num + 1
    p = n.offset + 120 + r.bwsx_base_addr
    bn_words = struct.unpack_from("<%dQ" % oc, data, p)
    p += 8 * oc + r.active_addr
    act = ActTable.unpack(data, p)
    p += ActTable.SIZE + r.para_start_addr
    weights = data[p:p + n.weights_bytes]
    if p + n.weights_bytes > n.offset + n.body_size:
        raise _err("v4 kpu_conv2d node %d: weights run past its body" % i)
    regs = Regs(**{k: getattr(r, k) for k in r.__dataclass_fields__})
    regs.bwsx_base_addr = regs.active_addr = regs.para_start_addr = 0
    mm = n.main_mem_output
    return v3.ConvLayer(regs=regs, weights=weights, bn=[v3.BN.from_word(w) for w in bn_words], act=act,
                        flags=v3.KLF_MAIN_MEM_OUT if main_mem_out else 0,
                        main_mem_out_address=mm.start if main_mem_out else 0)


def to_v3(data):
    """(v3.Model, InputPad or None) for a v4 file made of [pad] -> kpu_upload -> KPU convs ->
    dequantize (what nncase 0.2 emits for a pure-KPU net). The dequantize's (q - zp) / scale
    becomes the v3 form q * (1/scale) + (-zp/scale), equal to float32 rounding."""
    from picoface.kmodel import v3

    data = bytes(data)
    m = parse(data)
    nodes = list(m.nodes)
    todo = "picoface runs only v4 graphs of [pad] -> kpu_upload -> KPU convs -> dequantize"
    pad = None
    if nodes and nodes[0].opcode == PAD:
        n = nodes.pop(0)
        if n.body_size < 88:
            raise PicofaceError("v4 pad node is %d bytes, expected 88" % n.body_size, todo)
        in_shape = struct.unpack_from("<4i", data, n.offset + 32)
        p = struct.unpack_from("<8i", data, n.offset + 48)
        paddings = tuple((p[2 * i], p[2 * i + 1]) for i in range(4))
        if paddings[0] != (0, 0) or any(a < 0 or b < 0 for a, b in paddings):
            raise PicofaceError("v4 pad node pads the batch axis or crops (%s)" % (paddings,), todo)
        value = data[n.offset + 84]  # scalar {u8 type, 3 pad, 4-byte value}: uint8 value in byte 0
        out_shape = tuple(s + a + b for s, (a, b) in zip(in_shape, paddings))
        pad = InputPad(paddings, value, in_shape, out_shape)
    kinds = [n.opcode for n in nodes]
    if (len(nodes) < 3 or kinds[0] != KPU_UPLOAD or kinds[-1] != DEQUANTIZE
            or set(kinds[1:-1]) != {KPU_CONV2D}):
        raise PicofaceError("this v4 graph (%s) has CPU ops between its KPU layers"
                            % ", ".join(OPCODES.get(k, str(k)) for k in kinds), todo)
    layers = []
    convs = nodes[1:-1]
    for i, n in enumerate(convs):
        last = i == len(convs) - 1
        mm = n.main_mem_output
        if last and not (mm and mm.size):
            raise PicofaceError("the last v4 KPU layer does not write main memory", todo)
        layers.append(conv_layer(data, n, i, main_mem_out=last))
    dq = nodes[-1]
    in_r = MemoryRange(*struct.unpack_from("<4I", data, dq.offset))
    out_r = MemoryRange(*struct.unpack_from("<4I", data, dq.offset + 16))
    zp, scale = struct.unpack_from("<if", data, dq.offset + 32)
    if scale == 0:
        raise _err("v4 dequantize has scale 0")
    layers.append(v3.DequantizeLayer(main_mem_in_address=in_r.start, main_mem_out_address=out_r.start,
                                     count=in_r.size, scale=1.0 / scale, bias=-zp / scale))
    model = v3.build_model(layers, flags=1, outputs=[(o.start, o.size) for o in m.outputs])
    return model, pad
