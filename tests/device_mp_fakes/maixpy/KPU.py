# Minimal MaixPy `KPU` without run_yolo2 (the HAL's forward path). forward() returns a kpu_fmap
# that behaves as Maix_kpu.c's does (sipeed/MaixPy-v1@d8901fd2272f, :1084-1133, :1245): it has
# the buffer protocol with typecode 'f' (memoryview(fmap) is a float view), an int subscript
# returns one float (bounds-checked), a slice builds a tuple of floats on the heap, no len().
# A slice costs what it costs on the board (MicroPython 1.11 on RV64: a 32-byte GC block per
# float, 8 bytes per tuple item): more than the 512 KiB GC heap raises MemoryError, as there
# (this runner's heap grows on demand, so it would not).
# The output has the config's grid (5 anchors x (5 + classes) entries, NCHW) with one confident box
# in anchor 0 at row grid_h // 2, column grid_w // 2 (20x15: row 7, column 10); with more than one
# class it is of class model.stub_class (a test-only config key, default 0).
# On the board the output sits in the KPU's buffer outside the GC heap; here it is an array
# on the heap (grid_w x grid_h x 30 x 4 bytes).
import array

try:
    import ujson as json
except ImportError:
    import json

A = 5
GC_HEAP = 524288


class _Fmap(array.array):
    def __getitem__(self, k):
        if isinstance(k, slice):
            part = memoryview(self)[k]
            cost = 16 + 40 * len(part)
            if cost > GC_HEAP:
                raise MemoryError("memory allocation failed, allocating %d bytes" % cost)
            return tuple(part)
        try:
            return memoryview(self)[k]
        except IndexError:
            raise IndexError("kpu_fmap index out of range")

    def __len__(self):
        raise TypeError("object of type 'kpu_fmap' has no len()")


_out = []


def load(src):
    if src != 0x300000:
        raise ValueError("[MAIXPY]kpu: load error:2005, ERR_READ_FILE: read file failed")
    with open("/flash/picoface.json") as f:
        m = json.loads(f.read())["model"]
    w, h = m["grid_w"], m["grid_h"]
    classes = m.get("classes", 1)
    E = 5 + classes
    out = _Fmap("f", bytearray(4 * w * h * A * E))
    mv = memoryview(out)
    for i in range(w * h * A * E):
        mv[i] = -8.0
    cell = (h // 2) * w + w // 2
    for e, v in ((0, 0.0), (1, 0.0), (2, 0.5), (3, 0.5), (4, 3.0)):
        mv[e * w * h + cell] = v
    if classes > 1:
        for k in range(classes):
            mv[(5 + k) * w * h + cell] = 4.0 if k == m.get("stub_class", 0) else -4.0
    del _out[:]
    _out.append(out)
    return "task"


def forward(task, img, out_index=0, dma=-1):
    return _out[0]


def fmap_free(fmap):
    pass


def deinit(task):
    return True
