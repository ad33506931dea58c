"""pfcore.recognise under CPython and MicroPython: readouts, crop, warp, matching, hysteresis and
enrolment on fixed inputs, printed as JSON lines; tests/test_recognise_core.py compares them, and
measures the per-face Python work (time and heap) under MicroPython."""

import gc
import json
import time

from pfcore import recognise

G, D = 4, 8
N = G * G
flat_e = [((i * 37) % 23 - 11) / 7.0 for i in range(N * D)]
flat_p = [((i * 53) % 31 - 15) / 40.0 for i in range(N * 10 * N)]
print(json.dumps({"case": "embed_chw", "out": recognise.embedding(flat_e, G, D, True)}))
print(json.dumps({"case": "embed_hwc", "out": recognise.embedding(flat_e, G, D, False)}))
print(json.dumps({"case": "points_chw", "out": recognise.points(flat_p, G, True)}))
print(json.dumps({"case": "points_hwc", "out": recognise.points(flat_p, G, False)}))
print(json.dumps({"case": "roi", "out": [recognise.crop_roi(b, 1.25, 320, 240) for b in
                                         ([100, 60, 80, 100], [-10, -5, 60, 60], [280, 200, 50, 50], [0, 0, 300, 260], [5, 5, 4, 4])]}))
W, H = 40, 30
px = {}


def get(x, y):
    return ((x * 7 + y) % 256, (x + y * 5) % 256, (x * y) % 256)


out = []


def put(u, v, rgb):
    out.append(rgb[0] + rgb[1] + rgb[2])


m = recognise.align_matrix([(12.0, 10.5), (26.0, 11.0), (19.5, 17.0), (14.0, 23.0), (25.0, 22.5)], 16)
recognise.warp_nearest(get, W, H, m, 16, put)
print(json.dumps({"case": "warp", "out": out}))
# a face turned by 150 degrees over the frame's corner: negative coefficients and positions (>> floors
# them), half the face outside the frame (black); a matrix beyond warp_fixed's range: all black
for case, mx in (("warp_turned", [[-0.5, 0.3, 6.0], [-0.3, -0.5, 9.0]]),
                 ("warp_far", [[1e-4, 0.0, 0.0], [0.0, 1e-4, 0.0]])):
    out = []
    recognise.warp_nearest(get, W, H, mx, 16, put)
    print(json.dumps({"case": case, "out": [recognise.warp_fixed(mx, 16), out]}))
q = recognise.quantise(recognise.embedding(flat_e, G, D, True))
print(json.dumps({"case": "quantise", "out": list(q)}))
mt = recognise.Matcher([["ann", q], ["bob", recognise.quantise(recognise.embedding(flat_e[::-1], G, D, True))]])
print(json.dumps({"case": "match", "out": list(mt.best(recognise.embedding(flat_e, G, D, False)))}))
wide = [recognise.normalise([float((i * (j + 3)) % 17 - 8) for i in range(512)]) for j in range(5)]
mw = recognise.Matcher([["w%d" % j, recognise.quantise(wide[j])] for j in range(5)])
print(json.dumps({"case": "match_512", "out": [list(mw.best(wide[3])), list(mw.best(recognise.mean_unit(wide[1:3])))]}))
idn = recognise.Identity(3, 5, 4)
ev = []
for lab in ["ann", "ann", "ann", "ann", "?", "?", "?", "?", "?", None, None, None, None, "ann", "ann", "ann"]:
    ev.append(idn.update(lab))
print(json.dumps({"case": "events", "out": ev}))
en = recognise.Enrolment("ann", 2, 7, 0, 1000)
en.offer([1.0, 0.0], 10)
en.offer([0.0, 1.0], 20)
print(json.dumps({"case": "enrol", "out": [en.done(), en.mean(), en.expired(999), en.expired(1000)]}))
print(json.dumps({"case": "free", "out": recognise.free_name(["face1", "face3", "bob"])}))
# the per-face Python work of the board at the shipped sizes: readouts of a 4x4x160 and a
# 4x4x128 map, a 64x64 nearest warp, matching against a full gallery of 100
big_p = [0.001 * (i % 97) for i in range(16 * 160)]
big_e = [0.01 * ((i * 13) % 29 - 14) for i in range(16 * 128)]
gal = [["p%d" % i, recognise.quantise(recognise.embedding(big_e[i:] + big_e[:i], 4, 128, True))] for i in range(100)]
def now():
    return time.ticks_ms() if hasattr(time, "ticks_ms") else int(time.time() * 1000)


def alloc():
    return gc.mem_alloc() if hasattr(gc, "mem_alloc") else 0


gc.collect()
a0 = alloc()
t0 = now()
mt = recognise.Matcher(gal)
t1 = now()
a1 = alloc()
pts = recognise.points(big_p, 4, True)
mm = recognise.align_matrix(recognise.to_frame(pts, (100, 50, 100, 100)), 64)
buf = bytearray(64 * 64 * 3)


def put3(u, v, rgb):
    i = (v * 64 + u) * 3
    buf[i] = rgb[0]
    buf[i + 1] = rgb[1]
    buf[i + 2] = rgb[2]


t2 = now()
recognise.warp_nearest(get, 320, 240, mm, 64, put3)
t3 = now()
e = recognise.embedding(big_e, 4, 128, True)
best = mt.best(e)
t4 = now()
a2 = alloc()
print(json.dumps({"case": "per_face", "out": {"gallery_ms": t1 - t0, "gallery_heap": a1 - a0, "warp_ms": t3 - t2,
                                               "readout_match_ms": (t2 - t1) + (t4 - t3), "face_alloc": a2 - a1,
                                               "best": best[0]}}))
print("done")
