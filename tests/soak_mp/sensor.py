# Soak `sensor` for MicroPython (tests/test_soak.py): the minimal stub's calls, a fault schedule
# (soak_state), one "SOAK ..." line per fault, per pass not preceded by exactly one watchdog feed,
# and gc.mem_free / gc.mem_alloc after a collection at the frames in soak_state.MEM_AT.
# After soak_state.FRAMES snapshots the run ends with exit status 3.
import gc

import image
import soak_state as S

RGB565 = 2
GRAYSCALE = 1
QVGA = 1
_ready = [False]


def reset(freq=24000000, set_regs=True, dual_buff=False):
    _ready[0] = True


def set_pixformat(format):
    if not _ready[0]:
        raise RuntimeError("Sensor control failed.")


def set_framesize(framesize):
    if framesize != QVGA:
        raise ValueError("Invalid Frame Size")


def skip_frames(n=10, time=None):
    pass


def run(enable):
    pass


def snapshot():
    i = S.snapshots[0]
    S.snapshots[0] = i + 1
    if S.feeds[0] != 1:
        print("SOAK feeds %d at %d" % (S.feeds[0], i))
    S.feeds[0] = 0
    if i >= S.FRAMES:
        raise SystemExit(3)
    if i in S.MEM_AT:
        gc.collect()
        print("SOAK mem %d %d %d" % (i, gc.mem_free(), gc.mem_alloc()))
    kind = S.kind_at(i)
    if kind is not None:
        print("SOAK fault %s" % kind)
    if kind == "camera":
        raise RuntimeError("Sensor Timeout!!")
    if kind in ("kpu", "memory"):
        S.pending_infer[0] = kind
    elif kind == "restart":
        S.pending_restart[0] = True
    if not _ready[0]:
        raise RuntimeError("Sensor control failed.")
    return image.Image(size=(320, 240))
