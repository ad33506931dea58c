"""pfcore.align under CPython and MicroPython: prints the 2x3 matrix of a fixed 5-point fit and the
bytes of a small bilinear and nearest warp as JSON lines; tests/test_recog_align.py compares them."""

import json

from pfcore import align

LM = [(30.5, 41.25), (61.0, 38.5), (47.75, 58.0), (35.0, 76.5), (60.25, 74.0)]
m = align.align_matrix(LM, 64)
print(json.dumps({"case": "matrix", "out": m}))

W, H, C = 23, 17, 3
src = bytearray(W * H * C)
for i in range(W * H * C):
    src[i] = (i * 37 + (i // 7) * 11) % 256
wm = [[0.8, -0.3, 4.0], [0.3, 0.8, -2.5]]
for mode in ("bilinear", "nearest"):
    out = align.warp(src, W, H, C, wm, 20, 15, mode)
    print(json.dumps({"case": "warp/" + mode, "out": list(out)}))
print("done")
