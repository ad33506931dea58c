"""kmodel v5 (nncase 1.9) -> kmodel v3 (what stock MaixPy/CanMV load), KMODEL.md §5.4.

The KPU layers are copied unchanged (same 96-byte registers, weights, BN and activation tables,
same KPU RAM addresses); the loader-filled address fields are zeroed; the last conv streams its
uint8 output to main memory (KLF_MAIN_MEM_OUT) and a DEQUANTIZE with nncase's scale/bias turns it
into the float32 CHW tensor that MaixPy's run_yolo2 reads. The image upload disappears: the v3
runtime itself puts the camera's planar RGB at the first conv's image_src_addr.
"""

import struct
from dataclasses import replace

from picoface.errors import PicofaceError
from picoface.kmodel import v3, v5


_LOW60 = (1 << 60) - 1


def _clear_act_reserved(table):
    """The 144-byte activation table with the 4 reserved top bits of its 16 segment words cleared."""
    words = struct.unpack_from("<16Q", table, 0)
    return struct.pack("<16Q", *[w & _LOW60 for w in words]) + bytes(table[128:144])


def transcode(v5_data):
    """v5 bytes (or a parsed v5.Model / v5.KpuProgram) -> (v3.Model, v5.KpuProgram)."""
    prog = v5_data if isinstance(v5_data, v5.KpuProgram) else v5.kpu_program(
        v5_data if isinstance(v5_data, v5.Model) else v5.parse(v5_data))
    layers = []
    n = len(prog.convs)
    for i, c in enumerate(prog.convs):
        regs = v3.Regs.unpack(c.regs)
        # the SDK loader writes these three addresses and the two run-time bits itself; nncase
        # 1.9 leaves uninitialised bits in reserved fields, which nncase 0.1 (stock v3) zeroes
        regs = replace(regs, para_start_addr=0, bwsx_base_addr=0, active_addr=0, int_en=0, send_data_out=0,
                       reserved=(0,) * 12)
        oc = regs.o_ch_num + 1
        bn = [v3.BN.from_word(w & _LOW60) for w in struct.unpack("<%dQ" % oc, c.batch_norm)]
        act = v3.ActTable.unpack(_clear_act_reserved(c.activation))
        last = i == n - 1
        layer = v3.ConvLayer(regs=regs, weights=b"", bn=bn, act=act,
                             flags=v3.KLF_MAIN_MEM_OUT if last else 0, main_mem_out_address=0)
        need = layer.expected_weight_bytes(1)
        if len(c.weights) < need:
            raise PicofaceError("KPU layer %d carries %d weight bytes, its registers need %d"
                                % (i, len(c.weights), need),
                                "recompile the model with nncase 1.9")
        layer.weights = c.weights[:need]
        layers.append(layer)
    w, h, ch = layers[-1].regs.out_shape
    count = w * h * ch
    layers.append(v3.DequantizeLayer(main_mem_in_address=0, main_mem_out_address=v3.align(count, 8), count=count,
                                     scale=prog.scale, bias=prog.bias, flags=v3.KLF_MAIN_MEM_OUT))
    model = v3.build_model(layers, flags=1)
    return model, prog


def transcode_bytes(v5_data):
    """v5 bytes -> v3 bytes."""
    model, _ = transcode(v5_data)
    return model.serialize()
