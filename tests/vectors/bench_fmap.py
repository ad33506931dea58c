"""MaixPy forward path, per frame: decode a kpu_fmap through memoryview(fmap) as device/hal_maixpy.py
does (pfcore.region.postprocess: objectness read a row at a time, candidates ranked by score,
boxes decoded best first into NMS until max_faces are kept, camera pixels), for the shipped K210
model's output shape, 20x15 x 5 anchors x 6 (float32 NCHW, 9000 values), on scenes with 0, 1,
10 and 35 faces (the crowd: more than run_yolo2's 10 results), and for reference the 40x30
grid of the stride-8 model. Runs on MicroPython (wasm runner or a board) and CPython:

    node host/picoface/mprun/mp_runner.mjs tests/vectors/bench_fmap.py 50
    mpremote run tests/vectors/bench_fmap.py       (pfcore copied to the board's /lib first)

The fmap stand-in is an array('f'): like kpu_fmap it has the buffer protocol with typecode 'f',
and memoryview() of it is the zero-copy float view the HAL decodes (on the board the buffer is
the KPU's, outside the GC heap; here it is allocated before the measurement).

Heap (MicroPython only): "alloc_bytes" is the gc.mem_alloc() delta over one frame with the
collector off, garbage included (each value read from the view is a new boxed float), so it
bounds the frame's peak from above. (The wasm runner never collects inside a script anyway.)
"old_tuple_bytes": what fmap[:] (the old HAL) allocates for the same output. Objects are about
twice as large on the K210 (RV64: 32-byte GC blocks, 8-byte pointers; wasm: 16 and 4).
Prints one JSON line per case; ms are medians of 10-frame block means (the wasm clock ticks in
whole ms), host figures, not the board's.
"""

import array
import gc
import sys

try:
    import ujson as json
except ImportError:
    import json

from pfcore import geom, region
from pfcore.compat import ticks_diff, ticks_us

ANCHORS = [[1.889, 2.5245], [2.9465, 3.94056], [3.99987, 5.3658], [5.155437, 6.92275], [6.718375, 9.01025]]
NA, NE = 5, 6
SCORE, NMS, MAX_FACES = 0.5, 0.3, 10


def make_fmap(gw, gh, faces):
    """Background well below the threshold; `faces` faces, each firing in anchors 1 and 2 (NMS
    removes one of each pair), laid out on a coarse lattice (at most gw * gh / 6 faces)."""
    hw = gw * gh
    out = array.array("f", bytearray(4 * hw * NA * NE))
    mv = memoryview(out)
    for a in range(NA):
        for e in range(NE):
            base = (a * NE + e) * hw
            for c in range(hw):
                mv[base + c] = -4.0 if e == 4 else 0.1 * ((c * 7 + a * 3 + e) % 11 - 5)
    spots = []
    for row in range(1, gh, 3):
        for col in range(1, gw, 2):
            spots.append((row, col))
    for f in range(faces):
        row, col = spots[f]
        for a in (1, 2):
            base = a * NE * hw + row * gw + col
            mv[base + 2 * hw] = -0.7      # tw, th: small boxes, so neighbours do not overlap
            mv[base + 3 * hw] = -0.7
            mv[base + 4 * hw] = 3.0 - 0.05 * f - 0.5 * (a - 1)
    return out


def median(v):
    v = sorted(v)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def heap(fn):
    """Bytes fn allocates with the collector off (None on CPython)."""
    if not hasattr(gc, "mem_alloc"):
        fn()
        return None
    gc.collect()
    base = gc.mem_alloc()
    gc.disable()
    try:
        fn()
        return gc.mem_alloc() - base
    finally:
        gc.enable()


def ms_per_frame(fn, iters, block=10):
    res = []
    for _ in range(max(1, iters // block)):
        gc.collect()
        t0 = ticks_us()
        for _ in range(block):
            fn()
        res.append(ticks_diff(ticks_us(), t0) / 1000.0 / block)
    return median(res)


def scene(gw, gh, faces, iters):
    fmap = make_fmap(gw, gh, faces)
    spec = {"grid_w": gw, "grid_h": gh, "anchors": ANCHORS, "classes": 1, "layout": "NCHW",
            "dtype": "float32", "scale": 1.0, "zero_point": 0}
    fit = geom.Fit(320, 240, 320, 240, "stretch")

    def frame():
        return region.postprocess(memoryview(fmap), spec, fit, SCORE, NMS, MAX_FACES)

    found = frame()
    cands = len(region.decode(memoryview(fmap), gw, gh, ANCHORS, 1, "NCHW", SCORE))
    alloc = heap(frame)
    return {"grid": "%dx%dx%dx%d" % (gw, gh, NA, NE), "faces_in_scene": faces, "candidates": cands,
            "faces": len(found), "alloc_bytes": alloc,
            "ms": ms_per_frame(frame, iters), "impl": sys.implementation.name}


def old_path(gw, gh):
    """What the old HAL's fmap[:] allocated: a tuple of every value, each a boxed float."""
    fmap = make_fmap(gw, gh, 0)

    def copy():
        return tuple(memoryview(fmap))     # kpu_fmap's slice: mp_obj_new_tuple + a float per item

    alloc = heap(copy)
    return {"grid": "%dx%dx%dx%d" % (gw, gh, NA, NE), "old_tuple_bytes": alloc, "values": gw * gh * NA * NE,
            "impl": sys.implementation.name}


def main(iters):
    for faces in (0, 1, 10, 35):
        print(json.dumps(scene(20, 15, faces, iters)))
    print(json.dumps(scene(40, 30, 10, iters)))
    print(json.dumps(old_path(20, 15)))
    print(json.dumps(old_path(40, 30)))


args = globals().get("ARGV") or getattr(sys, "argv", [])
main(int(args[1]) if len(args) > 1 else 50)
