"""Read kmodel v5 (nncase 1.x) far enough to lift a pure-KPU graph out of it.

``parse(data) -> Model`` reads the container (header, modules, mempools, functions, sections).
``kpu_program(model) -> KpuProgram`` checks that the graph is what a v3 file can hold — one
stackvm entry function doing CALL(k210 function) -> DEQUANTIZE, and one k210 function doing
kpu_upload -> N x kpu_conv2d -> kpu_download — and returns the conv layers with their 96-byte
register blocks and weight/BN/activation bytes. Anything else raises PicofaceError naming the
cause. Byte layout: ../shared/docs/KMODEL.md §5.
"""

import struct
from dataclasses import asdict, dataclass, field

from picoface.errors import PicofaceError
from picoface.kmodel import v3

MAGIC = 0x4B4D444C  # "LDMK" on disk
LOC_INPUT, LOC_OUTPUT, LOC_RDATA, LOC_DATA, LOC_SHARED, LOC_KPU = 0, 1, 2, 3, 4, 64
DT_UINT8, DT_FLOAT32 = 4, 9
KPU_RAM_BYTES = 2 * 1024 * 1024

_TODO = "compile with nncase 1.9 for target k210 (picoface kmodel convert)"
_PURE = ("design the net so nncase 1.9 puts it all on the KPU: ReLU/ReLU6, 1x1/3x3 convs, "
         "ZeroPadding2D((1,1),(1,1)) + 'valid' stride-2 convs, every stride-2 input size even")


@dataclass
class MemoryRange:
    location: int
    datatype: int
    shared_module: int
    start: int
    size: int

    @property
    def end(self):
        return self.start + self.size


@dataclass
class Function:
    input_pool_size: int
    output_pool_size: int
    inputs: list        # [(MemoryRange, shape tuple)]
    outputs: list
    entrypoint: int
    text: bytes


@dataclass
class Module:
    type: str
    version: int
    mempools: list      # [(location, size)]
    shared_mempools: list
    functions: list
    sections: dict      # name -> bytes (merged sections resolved against .rdata)


@dataclass
class Model:
    version: int
    flags: int
    alignment: int
    modules: list
    entry_module: int
    entry_function: int
    size: int


class _Reader:
    def __init__(self, data, what="kmodel v5"):
        self.data = data
        self.what = what

    def unpack(self, fmt, off):
        n = struct.calcsize(fmt)
        if off < 0 or off + n > len(self.data):
            raise PicofaceError("%s is truncated (need %d bytes at offset %d, file has %d)"
                                % (self.what, n, off, len(self.data)), _TODO)
        return struct.unpack_from(fmt, self.data, off)

    def bytes(self, off, n):
        if off < 0 or n < 0 or off + n > len(self.data):
            raise PicofaceError("%s is truncated (need %d bytes at offset %d)" % (self.what, n, off), _TODO)
        return self.data[off:off + n]


def _memory_range(r, off):
    loc, dt, shared, start, size = r.unpack("<BBHII", off)
    return MemoryRange(loc, dt, shared, start, size)


def parse(data):
    """Parse the v5 container. Raises PicofaceError on a wrong magic/version or truncation."""
    data = bytes(data)
    r = _Reader(data)
    magic, version, header_size, flags, alignment, n_modules, entry_module, entry_function = r.unpack("<8I", 0)
    if magic != MAGIC:
        raise PicofaceError("not a kmodel v5 (identifier 0x%08x, expected 'LDMK')" % magic, _TODO)
    if version != 5:
        raise PicofaceError("kmodel version %d, expected 5" % version, _TODO)
    off = header_size
    modules = []
    for _ in range(n_modules):
        modules.append(_parse_module(r, off))
        size = r.unpack("<I", off + 24)[0]
        if size < 48:
            raise PicofaceError("kmodel v5 module at %d has size %d" % (off, size), _TODO)
        off += size
    if off != len(data):
        raise PicofaceError("kmodel v5: modules end at %d but the file has %d bytes" % (off, len(data)), _TODO)
    if not (entry_module < len(modules) and entry_function < len(modules[entry_module].functions)):
        raise PicofaceError("kmodel v5: entry point (%d, %d) does not exist" % (entry_module, entry_function), _TODO)
    return Model(version, flags, alignment, modules, entry_module, entry_function, len(data))


def _parse_module(r, start):
    mtype = r.bytes(start, 16).split(b"\0", 1)[0].decode("ascii", "replace")
    (version, header_size, size, n_pools, n_shared, n_sections, n_functions, _res) = r.unpack("<8I", start + 16)
    end = start + size
    off = start + header_size
    pools = []
    for _ in range(n_pools):
        loc, psize = r.unpack("<B3xI", off)
        pools.append((loc, psize))
        off += 8
    shared = []
    for _ in range(n_shared):
        shared.append(r.unpack("<II", off))
        off += 8
    raw_funcs = []
    for _ in range(n_functions):
        fh = r.unpack("<8I", off)
        f_header, f_size, in_pool, out_pool, n_in, n_out, entry, text_size = fh
        p = off + f_header
        inputs, outputs = [], []
        ranges = []
        for _ in range(n_in):
            ranges.append(_memory_range(r, p))
            p += 12
        for i in range(n_in):
            rank = r.unpack("<I", p)[0]
            inputs.append((ranges[i], r.unpack("<%dI" % rank, p + 4)))
            p += 4 + 4 * rank
        ranges = []
        for _ in range(n_out):
            ranges.append(_memory_range(r, p))
            p += 12
        for i in range(n_out):
            rank = r.unpack("<I", p)[0]
            outputs.append((ranges[i], r.unpack("<%dI" % rank, p + 4)))
            p += 4 + 4 * rank
        if p > off + f_size:
            raise PicofaceError("kmodel v5 function at %d overruns its size" % off, _TODO)
        raw_funcs.append((in_pool, out_pool, inputs, outputs, entry, text_size))
        off += f_size
    headers = []
    for _ in range(n_sections):
        name = r.bytes(off, 16).split(b"\0", 1)[0].decode("ascii", "replace")
        s_flags, body_start, body_size, _res = r.unpack("<4I", off + 16)
        off += 32
        if s_flags & 1:
            headers.append((name, True, body_start, body_size))
        else:
            headers.append((name, False, off + body_start, body_size))
            off += body_start + body_size
    if off > end or end - off >= 256:  # the module may be padded to the model alignment
        raise PicofaceError("kmodel v5 module %r: sections end at %d, module at %d" % (mtype, off, end), _TODO)
    sections = {}
    for name, merged, s, n in headers:
        if not merged:
            sections[name] = r.bytes(s, n)
    for name, merged, s, n in headers:
        if merged:
            rdata = sections.get(".rdata", b"")
            if s + n > len(rdata):
                raise PicofaceError("kmodel v5 section %s lies outside .rdata" % name, _TODO)
            sections[name] = rdata[s:s + n]
    text = sections.get(".text", b"")
    funcs = []
    for in_pool, out_pool, inputs, outputs, entry, text_size in raw_funcs:
        if entry + text_size > len(text):
            raise PicofaceError("kmodel v5 function text lies outside .text of %r" % mtype, _TODO)
        funcs.append(Function(in_pool, out_pool, inputs, outputs, entry, text[entry:entry + text_size]))
    return Module(mtype, version, pools, shared, funcs, sections)


# ---------------------------------------------------------------- k210 module: KPU ops

@dataclass
class KpuOp:
    kind: str               # "upload", "download", "conv2d", "copy"
    offset: int             # byte offset in the function's text
    input: MemoryRange = None
    output: MemoryRange = None
    shape: tuple = None     # NCHW (upload/download/copy)
    weights: MemoryRange = None
    batch_norm: MemoryRange = None
    activation: MemoryRange = None
    main_mem_output: MemoryRange = None
    batches: int = 1
    regs: bytes = None      # 96-byte kpu_layer_argument_t


_K210_SIZES = {0: 44, 1: 44, 2: 152, 3: 76}


def parse_k210_text(text):
    r = _Reader(text, "k210 .text")
    ops = []
    off = 0
    while off < len(text):
        code = text[off]
        if code not in _K210_SIZES:
            raise PicofaceError("k210 function has an unknown op 0x%02x at text offset %d" % (code, off), _PURE)
        if code in (0, 1):
            shape = r.unpack("<4I", off + 28)
            ops.append(KpuOp("upload" if code == 0 else "download", off, _memory_range(r, off + 4),
                             _memory_range(r, off + 16), shape))
        elif code == 2:
            ops.append(KpuOp("conv2d", off, weights=_memory_range(r, off + 4),
                             batch_norm=_memory_range(r, off + 16), activation=_memory_range(r, off + 28),
                             main_mem_output=_memory_range(r, off + 40), batches=r.unpack("<I", off + 52)[0],
                             regs=r.bytes(off + 56, 96)))
        else:
            ops.append(KpuOp("copy", off, _memory_range(r, off + 4), _memory_range(r, off + 16),
                             r.unpack("<4I", off + 28)))
        off += _K210_SIZES[code]
    return ops


def decode_regs(regs):
    """The register fields of a 96-byte kpu_layer_argument_t as a dict (names of KMODEL.md §2)."""
    return asdict(v3.Regs.unpack(regs))


def fmap_lines(width, height, channels):
    """64-byte KPU RAM lines used by a W x H x C uint8 map (KMODEL.md §3)."""
    return v3.kpu_lines(width, height, channels)


# ---------------------------------------------------------------- stackvm entry function

_STACKVM_FIXED = {0x00: 1, 0x01: 1, 0x02: 5, 0x03: 1, 0x04: 1, 0x05: 5, 0x16: 6, 0x17: 7,
                  0x28: 5, 0x31: 3, 0x32: 3, 0x56: 5, 0x57: 5, 0x58: 5, 0x59: 1, 0x5A: 6, 0x5B: 2,
                  0x5C: 1, 0x5D: 1}
for _c in list(range(0x06, 0x16)) + list(range(0x18, 0x28)) + list(range(0x29, 0x31)) + list(range(0x33, 0x56)):
    _STACKVM_FIXED[_c] = 1
TENSOR = 0x5E
T_CALL, T_DEQUANTIZE = 0x0003, 0x000B


def decode_stackvm(text):
    """[(offset, opcode, args)] for the stackvm ops picoface understands; the tensor ops it knows
    are CALL (args: function_id, module_id, num_src, num_dst) and DEQUANTIZE (in_dt, out_dt).
    Any other tensor op is a CPU layer and raises PicofaceError."""
    r = _Reader(text, "stackvm .text")
    ops = []
    off = 0
    while off < len(text):
        code = text[off]
        if code == TENSOR:
            funct = r.unpack("<H", off + 1)[0]
            if funct == T_CALL:
                fid, mid, nsrc, ndst = r.unpack("<IHBB", off + 3)
                ops.append((off, "CALL", (fid, mid, nsrc, ndst)))
                off += 11
            elif funct == T_DEQUANTIZE:
                in_dt, out_dt = r.unpack("<BB", off + 3)
                ops.append((off, "DEQUANTIZE", (in_dt, out_dt)))
                off += 8
            else:
                raise PicofaceError("the graph has a CPU tensor op (stackvm tensor function 0x%04x) besides the "
                                    "KPU call and the final dequantize" % funct, _PURE)
            continue
        n = _STACKVM_FIXED.get(code)
        if n is None:
            raise PicofaceError("stackvm entry function has an unknown opcode 0x%02x at %d" % (code, off), _TODO)
        if code == 0x05:
            ops.append((off, "LDC_R4", r.unpack("<f", off + 1)))
        elif code in (0x5A, 0x5B, 0x56, 0x57, 0x58):
            ops.append((off, "CONTROL_0x%02x" % code, ()))
        off += n
    return ops


# ---------------------------------------------------------------- the pure-KPU program

@dataclass
class Conv:
    regs: bytes
    fields: dict
    weights: bytes
    batch_norm: bytes
    activation: bytes


@dataclass
class KpuProgram:
    input_shape: tuple       # (1, 3, H, W) uint8
    output_shape: tuple      # (1, C, H, W) float32
    input_addr: int          # KPU RAM line the image is uploaded to
    convs: list = field(default_factory=list)
    scale: float = 1.0
    bias: float = 0.0
    kpu_ram_bytes: int = 0   # peak end of any KPU RAM map, bytes
    v5_bytes: int = 0


def kpu_program(model):
    """Check that ``model`` is one pure-KPU k210 function + dequantize, and lift it out."""
    if isinstance(model, (bytes, bytearray)):
        model = parse(model)
    types = [m.type for m in model.modules]
    entry = model.modules[model.entry_module]
    if entry.type != "stackvm":
        raise PicofaceError("kmodel v5 entry module is %r, expected 'stackvm'" % entry.type, _TODO)
    k210 = [i for i, t in enumerate(types) if t == "k210"]
    if len(k210) != 1 or len(types) != 2:
        raise PicofaceError("kmodel v5 has modules %s; expected one stackvm and one k210 module" % types, _PURE)
    kmod = model.modules[k210[0]]
    if len(kmod.functions) != 1:
        raise PicofaceError("nncase split the graph into %d KPU regions with CPU ops between them"
                            % len(kmod.functions), _PURE)
    efunc = entry.functions[model.entry_function]
    if len(efunc.inputs) != 1 or len(efunc.outputs) != 1:
        raise PicofaceError("the model has %d inputs and %d outputs; picoface needs one of each"
                            % (len(efunc.inputs), len(efunc.outputs)), "export a single-input single-output net")
    (in_range, in_shape), (out_range, out_shape) = efunc.inputs[0], efunc.outputs[0]
    if in_range.datatype != DT_UINT8 or len(in_shape) != 4 or in_shape[0] != 1:
        raise PicofaceError("model input is %s of datatype %d; expected uint8 (1, C, H, W)"
                            % (tuple(in_shape), in_range.datatype), "compile with input_type uint8, NCHW")
    if out_range.datatype != DT_FLOAT32 or len(out_shape) != 4:
        raise PicofaceError("model output is %s of datatype %d; expected float32 NCHW"
                            % (tuple(out_shape), out_range.datatype), "compile with output_layout NCHW")

    ops = decode_stackvm(efunc.text)
    calls = [a for _, name, a in ops if name == "CALL"]
    deqs = [i for i, (_, name, _) in enumerate(ops) if name == "DEQUANTIZE"]
    control = [name for _, name, _ in ops if name.startswith("CONTROL")]
    if control:
        raise PicofaceError("the stackvm entry function has control flow (%s)" % ", ".join(control), _PURE)
    if len(calls) != 1 or calls[0][1] != k210[0] or calls[0][0] != 0:
        raise PicofaceError("the entry function makes %d KPU calls; expected exactly one" % len(calls), _PURE)
    if len(deqs) != 1:
        raise PicofaceError("the entry function has %d dequantize ops; expected one" % len(deqs), _PURE)
    di = deqs[0]
    if di < 2 or ops[di - 1][1] != "LDC_R4" or ops[di - 2][1] != "LDC_R4":
        raise PicofaceError("dequantize is not preceded by its scale and bias constants", _TODO)
    if ops[di][2] != (DT_UINT8, DT_FLOAT32):
        raise PicofaceError("dequantize converts datatype %d -> %d; expected uint8 -> float32" % ops[di][2], _TODO)
    scale, bias = ops[di - 2][2][0], ops[di - 1][2][0]

    kfunc = kmod.functions[0]
    kops = parse_k210_text(kfunc.text)
    kinds = [o.kind for o in kops]
    if "copy" in kinds:
        raise PicofaceError("the KPU function contains a tensor copy, which v3 cannot express", _PURE)
    if len(kops) < 3 or kinds[0] != "upload" or kinds[-1] != "download" or set(kinds[1:-1]) != {"conv2d"}:
        raise PicofaceError("the KPU function is %s; expected upload, convs, download" % "/".join(kinds), _PURE)
    upload, download = kops[0], kops[-1]
    if upload.input.location != LOC_INPUT or upload.output.location != LOC_KPU:
        raise PicofaceError("the KPU function does not upload the model input to KPU RAM", _PURE)
    if tuple(upload.shape) != tuple(in_shape):
        raise PicofaceError("KPU upload shape %s differs from the model input %s" % (upload.shape, in_shape), _PURE)
    if upload.output.start % 64:
        raise PicofaceError("KPU upload address %d is not 64-byte aligned" % upload.output.start, _TODO)
    if download.input.location != LOC_KPU:
        raise PicofaceError("the KPU function does not end by downloading from KPU RAM", _PURE)

    rdata = kmod.sections.get(".rdata", b"")
    convs = []
    peak = upload.output.start + fmap_lines(in_shape[3], in_shape[2], in_shape[1]) * 64
    for i, op in enumerate(kops[1:-1]):
        f = decode_regs(op.regs)
        if op.batches != 1:
            raise PicofaceError("KPU layer %d has %d batches; v3 runs one image" % (i, op.batches), _TODO)
        if op.main_mem_output.size:
            raise PicofaceError("KPU layer %d streams to main memory mid-graph" % i, _PURE)
        for what, mr in (("weights", op.weights), ("batch norm", op.batch_norm), ("activation", op.activation)):
            if mr.location != LOC_RDATA or mr.end > len(rdata):
                raise PicofaceError("KPU layer %d %s lie outside the k210 .rdata" % (i, what), _TODO)
        o_ch = f["o_ch_num"] + 1
        if op.batch_norm.size != 8 * o_ch or op.activation.size != 144:
            raise PicofaceError("KPU layer %d has BN %d B / activation %d B, expected %d / 144"
                                % (i, op.batch_norm.size, op.activation.size, 8 * o_ch), _TODO)
        in_lines = fmap_lines(f["i_row_wid"] + 1, f["i_col_high"] + 1, f["i_ch_num"] + 1)
        out_lines = fmap_lines(f["o_row_wid"] + 1, f["o_col_high"] + 1, o_ch)
        peak = max(peak, (f["image_src_addr"] + in_lines) * 64, (f["image_dst_addr"] + out_lines) * 64)
        convs.append(Conv(op.regs, f, rdata[op.weights.start:op.weights.end],
                          rdata[op.batch_norm.start:op.batch_norm.end],
                          rdata[op.activation.start:op.activation.end]))
    first, last = convs[0].fields, convs[-1].fields
    if first["image_src_addr"] * 64 != upload.output.start:
        raise PicofaceError("the first KPU layer does not read the uploaded image", _PURE)
    if (first["i_ch_num"] + 1, first["i_col_high"] + 1, first["i_row_wid"] + 1) != tuple(in_shape[1:]):
        raise PicofaceError("the first KPU layer's input %dx%dx%d differs from the model input %s"
                            % (first["i_row_wid"] + 1, first["i_col_high"] + 1, first["i_ch_num"] + 1,
                               tuple(in_shape)), _PURE)
    for a, b in zip(convs, convs[1:]):
        if a.fields["image_dst_addr"] != b.fields["image_src_addr"]:
            raise PicofaceError("KPU layers are not a simple chain (a layer reads a map its predecessor did not "
                                "write: branches or concatenations)", _PURE)
    if download.input.start != last["image_dst_addr"] * 64:
        raise PicofaceError("the KPU download does not read the last layer's output", _PURE)
    o_shape = (1, last["o_ch_num"] + 1, last["o_col_high"] + 1, last["o_row_wid"] + 1)
    if tuple(download.shape) != o_shape or tuple(out_shape) != o_shape:
        raise PicofaceError("the model output %s is not the last KPU layer's output %s (a CPU reshape/transpose?)"
                            % (tuple(out_shape), o_shape), "compile with output_layout NCHW")
    return KpuProgram(tuple(in_shape), tuple(out_shape), upload.output.start // 64, convs, scale, bias,
                      peak, model.size)
