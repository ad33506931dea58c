"""Fake MaixPy `KPU` module (PLATFORM.md A1, KMODEL.md §1.5): load / init_yolo2 / run_yolo2 /
forward / deinit. The region layer is the firmware's C decoder re-implemented in _yolo2.py.
run_yolo2 stops the simulated board (FirmwareFault) where sipeed_yolo2.c overflows: more region
boxes than its stack array holds, or more than 10 results (boards/firmware.toml, maixpy).
forward returns a kpu_fmap as Maix_kpu.c builds it (``_Fmap`` below: buffer protocol 'f',
bounds-checked int subscripts, slices that build a tuple on the GC heap and raise MemoryError
past it). Per generation (picoface.sim.generations): kpu.forward takes dma= from v0.5.1
(``forward_dma``); on v0.5.0 the fmap's size is the output's bytes + 1 (Maix_kpu.c:1202
``count + 1``, ``fmap_size_extra``; a float memoryview still has count / 4 items). run_yolo2 and
init_yolo2 are in every MaixPy release (v0.5.0 Maix_kpu.c:1554, v0.6.2 :1821)."""
import array

import numpy as np

from picoface.sim.fakes import _common, _k210, _yolo2
from picoface.sim.fakes._yolo2 import RegionLayer


def _err(code, text):
    return ValueError("[MAIXPY]kpu: load error:%d, %s" % (code, text))


def _check_fmt():
    return ValueError("[MAIXPY]kpu: check img format err!")


class _Task:
    def __init__(self, runner, src):
        self.runner = runner
        self.src = src
        self.rl = None
        self.alive = True

    def __repr__(self):
        return "<kpu_net model_addr=%r>" % (self.src,)


class _Obj:
    """A run_yolo2 result object."""

    def __init__(self, x, y, w, h, classid, value, index, objnum):
        self._r = (x, y, w, h)
        self._c, self._v, self._i, self._n = classid, value, index, objnum

    def rect(self):
        return self._r

    def x(self):
        return self._r[0]

    def y(self):
        return self._r[1]

    def w(self):
        return self._r[2]

    def h(self):
        return self._r[3]

    def value(self):
        return self._v

    def classid(self):
        return self._c

    def index(self):
        return self._i

    def objnum(self):
        return self._n


# kpu_fmap (sipeed/MaixPy-v1@d8901fd2272f components/micropython/port/src/Maix/Maix_kpu.c): the
# object kpu.forward returns points at the KPU's output buffer (:1396, no copy). Typecode 'f'
# after a DEQUANTIZE last layer (:1417; lib_sipeed_kpu.a's layer_type_dtype table). It has the
# buffer protocol (:1084-1092, :1245), so memoryview(fmap) is a zero-copy float view; an int
# subscript returns one float, bounds-checked (:1131-1133); a slice builds a tuple of new floats
# (:1119-1130; step must be 1, :1122); no len(). w() is the byte count (get_typecode_size has no
# break, :1251-1263) and typecode() reads memory at the typecode's value as an address (:1218).
# MicroPython v1.11 on RV64 (components/micropython/core ced340d7): a boxed float takes one
# 32-byte GC block, a tuple 8 bytes an item plus its header.
FMAP_FLOAT_BYTES = 32
FMAP_TUPLE_ITEM_BYTES = 8
FMAP_TUPLE_HEAD_BYTES = 16


class _Fmap(array.array):
    def __new__(cls, data, extra=0):
        a = super().__new__(cls, "f")
        a.frombytes(np.ascontiguousarray(data, dtype=np.float32).tobytes())
        a._extra = extra
        return a

    def __getitem__(self, k):
        n = super().__len__()
        if isinstance(k, slice):
            if k.step not in (None, 1):
                raise OSError("only slices with step=1 (aka None) are supported")
            start, stop, _ = k.indices(n)
            count = max(0, stop - start)
            cost = FMAP_TUPLE_HEAD_BYTES + count * (FMAP_TUPLE_ITEM_BYTES + FMAP_FLOAT_BYTES)
            w = _common.W()
            w.fmap_slice_bytes = max(getattr(w, "fmap_slice_bytes", 0), cost)
            heap = w.board.memory["gc_heap_bytes"]
            if cost > heap:
                raise MemoryError("memory allocation failed, allocating %d bytes (a tuple of %d floats "
                                  "from kpu_fmap[%d:%d]; the GC heap is %d B)" % (cost, count, start, stop, heap))
            return tuple(super().__getitem__(k))
        if isinstance(k, bool) or not isinstance(k, int):
            raise TypeError("kpu_fmap indices must be integers, not %s" % type(k).__name__)
        try:
            return super().__getitem__(k)
        except IndexError:
            raise IndexError("kpu_fmap index out of range") from None

    def __len__(self):
        raise TypeError("object of type 'kpu_fmap' has no len()")

    def __repr__(self):
        n = super().__len__()
        return '{"fmap": "data"=0x80000000, "size"=%d, "index": 0, "w": %d, "h": 1, "ch": 1, "typecode": f}' % (
            4 * n + self._extra, (4 * n) & 0xFFFF)

    def size(self):
        return 4 * super().__len__() + self._extra

    def index(self, *args):
        return 0

    def w(self):
        return (4 * super().__len__()) & 0xFFFF      # bytes, truncated to uint16 (Maix_kpu.c:1418)

    def h(self):
        return 1

    def ch(self):
        return 1

    def typecode(self):
        from picoface.sim.world import FirmwareFault

        raise FirmwareFault("kpu_fmap.typecode() passes the typecode 0x66 to mp_obj_new_str as a pointer: on the "
                            "board it reads memory at address 0x66 (sipeed/MaixPy-v1@d8901fd2272f "
                            "components/micropython/port/src/Maix/Maix_kpu.c:1218)",
                            todo="read the values through memoryview(fmap) instead")


def load(offset_or_path):
    data = _k210.read_model(offset_or_path, err=_err)
    runner = _k210.open_runner(data, _err)
    return _Task(runner, offset_or_path)


def _task(task):
    if not isinstance(task, _Task):
        raise TypeError("kpu: arg 1 must be a task from kpu.load")
    if not task.alive:
        raise ValueError("[MAIXPY]kpu: model deinit")
    return task


def init_yolo2(task, threshold, nms_value, anchor_num, anchor):
    task = _task(task)
    if not isinstance(anchor, (tuple, list)) or len(anchor) != 2 * anchor_num:
        raise ValueError("[MAIXPY]kpu: anchor length error")
    if not 0 < float(threshold) < 1 or not 0 < float(nms_value) < 1:
        raise ValueError("[MAIXPY]kpu: threshold/nms_value must be in (0, 1)")
    if anchor_num != 5:
        _common.W().warn("sipeed_yolo2.c assumes 5 anchors; anchor_num=%d decodes garbage" % anchor_num)
    gh, gw, ch = task.runner.output_shape
    iw, ih = task.runner.input_size
    task.rl = RegionLayer(anchor, anchor_num, threshold, nms_value, gw, gh, ch, iw, ih)
    return 0


def run_yolo2(task, img):
    task = _task(task)
    if task.rl is None:
        raise ValueError("[MAIXPY]kpu: region layer not init (call init_yolo2)")
    out = _k210.run_model(task.runner, img, _check_fmt)
    if out is None:
        _common.W().warn("run_yolo2 on an image without AI buffer (call pix_to_ai())")
        return None
    rl = task.rl
    _yolo2.region_boxes("maixpy", "KPU.run_yolo2", rl.lw, rl.lh, rl.anchor_num)   # do_nms_sort's stack array
    res = rl.run(out)
    _yolo2.results("maixpy", "KPU.run_yolo2", len(res))                          # static obj_info_t.obj[10]
    if not res:
        return None
    return [_Obj(x, y, w, h, c, p, i, len(res)) for i, (x, y, w, h, c, p) in enumerate(res)]


def forward(task, img, out_index=0, *args, **kw):
    # Maix_kpu.c:1294-1420: kpu_net, img (an image's AI buffer, or a list of floats), out_index, dma
    # (dma from v0.5.1; v0.5.0 Maix_kpu.c:1142-1148 takes kpu_net, img, out_index)
    names = ["dma"] if _common.W().fw["forward_dma"] else []
    if len(args) > len(names) or any(k not in names for k in kw):
        raise TypeError("extra keyword arguments given" if kw else "extra positional arguments given")
    task = _task(task)
    out = _k210.run_model(task.runner, img, _check_fmt)
    if out is None:
        _common.W().warn("forward on an image without AI buffer (call pix_to_ai())")
        gh, gw, ch = task.runner.output_shape
        out = [0.0] * (gh * gw * ch)
    return _Fmap(out, _common.W().fw["fmap_size_extra"])


def fmap_free(fmap):
    return None


def deinit(task):
    if isinstance(task, _Task):
        task.alive = False
    return True


def set_outputs(task, idx, w, h, ch):
    _common.W().warn("set_outputs is only needed for kmodel v4")


def memtest():
    print("memtest: simulated board")

