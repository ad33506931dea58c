"""Per-frame cost of the device core: decode a 20x15x30 output (5 anchors, 1 class, NCHW
floats in a list) with 10 faces, map to camera pixels, NMS, encode the frame line. (MaixPy's
path, a kpu_fmap read through memoryview, with its heap: tests/vectors/bench_fmap.py.)
Runs on MicroPython (wasm runner or a real board) and CPython:

    node host/picoface/mprun/mp_runner.mjs tests/vectors/bench_core.py 50
    mpremote run tests/vectors/bench_core.py       (pfcore copied to the board's /lib first)

Prints one JSON line: per-frame ms for each stage (median of 10-frame block means).
"""

import gc
import sys

try:
    import ujson as json
except ImportError:
    import json

from pfcore import geom, nms, protocol, region
from pfcore.compat import ticks_diff, ticks_us

ANCHORS = [[1.889, 2.5245], [2.9465, 3.94056], [3.99987, 5.3658], [5.155437, 6.92275], [6.718375, 9.01025]]
GW, GH, NA, NE = 20, 15, 5, 6


def make_output():
    """Background well below threshold; 10 faces, each firing in 2 anchors (NMS removes one)."""
    hw = GW * GH
    out = [-4.0] * (hw * NA * NE)
    for a in range(NA):
        for e in range(4):
            for c in range(hw):
                out[(a * NE + e) * hw + c] = 0.1 * ((c * 7 + a * 3 + e) % 11 - 5)
    for f in range(10):
        row = 1 + (f // 5) * 7
        col = 1 + (f % 5) * 4
        for a in (1, 2):
            base = a * NE * hw + row * GW + col
            out[base + 2 * hw] = 0.0       # tw
            out[base + 3 * hw] = 0.0       # th
            out[base + 4 * hw] = 3.0 - 0.1 * f - 0.5 * (a - 1)   # obj
    return out


def median(v):
    v = sorted(v)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def _block(fn, n):
    gc.collect()          # every block starts from the same heap state
    t0 = ticks_us()
    for _ in range(n):
        fn()
    return ticks_diff(ticks_us(), t0) / 1000.0 / n


def main(iters, block=10):
    """Median over iters // block blocks of the mean ms per frame in each block (the wasm
    port's clock ticks in whole ms, so single frames are timed too coarsely)."""
    out = make_output()
    fit = geom.Fit(320, 240, 320, 240, "stretch")
    state = {}

    def dec():
        state["dets"] = region.decode(out, GW, GH, ANCHORS, 1, "NCHW", 0.5)

    def post():
        state["faces"] = nms.nms(fit.map(state["dets"]), 0.3, 10)

    def enc():
        state["line"] = protocol.encode_frame(123456, 98765432, 29.9, state["faces"])

    def frame():
        dec()
        post()
        enc()

    frame()
    blocks = max(1, iters // block)
    res = {}
    for name, fn in (("decode_ms", dec), ("nms_map_ms", post), ("encode_ms", enc), ("total_ms", frame)):
        res[name] = median([_block(fn, block) for _ in range(blocks)])
    res["iterations"] = blocks * block
    res["candidates"] = len(state["dets"])
    res["faces"] = len(state["faces"])
    res["line_bytes"] = len(state["line"])
    res["impl"] = sys.implementation.name
    print(json.dumps(res))


args = globals().get("ARGV") or getattr(sys, "argv", [])
main(int(args[1]) if len(args) > 1 else 50)
