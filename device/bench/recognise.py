"""Per-face CPU cost of mode recognise: the steps device/main.py's Recognition runs on the largest
face (embed, then frame), without what the firmware does in C (the two KPU runs, the landmark
crop's copy/resize, pix_to_ai). Per face: the landmark readout (recognise.points on a flat
4x4x160 map), crop_roi, to_frame, align_matrix, the 64x64 warp_nearest through get_pixel /
set_pixel, recognise.embedding of a flat 4x4x128 map (normalise included; normalise alone is
timed too), Track.add, Matcher.best against G = 1, 10, 100 gallery faces, Identity.update.

The maps are float lists as CanMV's run_with_output(getlist=True) hands them over (MaixPy's are
float32 memoryviews), planar (chw) as the KPU writes them. The 320x240 frame and the 64x64 face
are Python objects over an RGB565 bytearray with the firmware's get_pixel / set_pixel (C on a
board, so the warp costs less there).

Heap (gc.mem_alloc; None on CPython): what each step and one whole face allocate with the
collector off, garbage included (the GC pressure; None when the heap runs out first); what
Gallery.load() and a Matcher rebuild allocate; and what a loaded 100-face gallery keeps (its
rows, the Matcher's int8 arrays), built here without garbage so that the bytes allocated are
the bytes kept (the wasm runner never collects while a script runs). Also timed: Gallery.save()
and load() of 100 faces (dim 128, 24-byte names) and a Matcher rebuild.

Runs on MicroPython (the wasm port, or a board) and CPython:

    picoface recog cost                                  (the wasm port, through picoface.mprun)
    mpremote run device/bench/recognise.py      (pfcore copied to the board's /lib first)
    PYTHONPATH=device python3 device/bench/recognise.py [BLOCKS] [BLOCK_MS] [DIR]

BLOCKS (default 5): each figure is the median of BLOCKS block means; a block repeats its step for
at least BLOCK_MS (default 20) ms, as the wasm port's clock ticks in whole ms. DIR: the folder the
gallery files (bench_gallery.a, .b) are written to and removed from (default /tmp, else /flash on
a board, else .). Prints one JSON line.
"""

import gc
import os
import sys

from pfcore import gallery, recognise
from pfcore.compat import json, ticks_diff, ticks_us

try:
    from array import array
except ImportError:     # MicroPython ports that name it uarray
    from uarray import array

CAM_W, CAM_H = 320, 240
SIZE, GRID, DIM, POINTS = 64, 4, 128, 5
BOX = [120.0, 70.0, 80.0, 100.0]        # the largest face in the frame: x, y, w, h
BOX_SCALE = 1.25                        # model.json landmarks.box_scale
THRESHOLD = 0.98                        # about the export's; only picks the label
GALLERIES = (1, 10, 100)
NAME_BYTES = 24                         # gallery.MAX_NAME: the longest names
# the 5 points (fractions of the crop) the landmark map below reads out to
FACE_POINTS = ((0.36, 0.40), (0.64, 0.40), (0.50, 0.56), (0.39, 0.72), (0.61, 0.72))


class Image:
    """A w x h RGB565 image (2 bytes a pixel, as the camera's frame) with the firmware's
    get_pixel(x, y) -> (r, g, b) and set_pixel(x, y, rgb)."""

    def __init__(self, w, h):
        self.w = w
        self.buf = bytearray(w * h * 2)
        pattern = bytes(range(256))
        for i in range(0, len(self.buf), 256):
            self.buf[i:i + 256] = pattern[:len(self.buf) - i]

    def get_pixel(self, x, y):
        i = 2 * (y * self.w + x)
        v = self.buf[i] | (self.buf[i + 1] << 8)
        return ((v >> 8) & 0xF8, (v >> 3) & 0xFC, (v << 3) & 0xF8)

    def set_pixel(self, x, y, rgb):
        i = 2 * (y * self.w + x)
        v = ((rgb[0] & 0xF8) << 8) | ((rgb[1] & 0xFC) << 3) | (rgb[2] >> 3)
        self.buf[i] = v & 0xFF
        self.buf[i + 1] = v >> 8


def landmark_map():
    """A planar 4x4x160 map whose readout is FACE_POINTS (channel k*16 + p at position p sums to
    coordinate k), small values elsewhere."""
    n = GRID * GRID
    flat = [0.001 * ((i * 7) % 13 - 6) for i in range(2 * POINTS * n * n)]
    for k in range(2 * POINTS):
        for p in range(n):
            flat[(k * n + p) * n + p] = FACE_POINTS[k // 2][k % 2] / n
    return flat


def unit(seed):
    return recognise.normalise([float((i * (seed + 3)) % 17 - 8) for i in range(DIM)])


def entries(count):
    """count gallery rows as the gallery stores them: a 24-byte name and DIM int8 values."""
    return [["person%018d" % j, recognise.quantise(unit(j))] for j in range(count)]


def median(v):
    v = sorted(v)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def timed(fn, blocks, block_ms):
    """Median over blocks of the mean ms of fn in a block that lasts at least block_ms."""
    out = []
    for _ in range(blocks):
        gc.collect()          # every block starts from the same heap state
        n = 0
        t0 = ticks_us()
        while n == 0 or ticks_diff(ticks_us(), t0) < block_ms * 1000:
            fn()
            n += 1
        out.append(ticks_diff(ticks_us(), t0) / 1000.0 / n)
    return median(out)


def allocated(fn):
    """Heap bytes fn allocates (garbage included), the collector off; None without gc.mem_alloc
    (CPython) or when the heap runs out first."""
    if not hasattr(gc, "mem_alloc"):
        return None
    gc.collect()
    gc.disable()
    try:
        a = gc.mem_alloc()
        fn()
        return gc.mem_alloc() - a
    except MemoryError:
        return None
    finally:
        gc.enable()


def folder(arg):
    for d in ([arg] if arg else ["/tmp", "/flash", "."]):
        try:
            os.stat(d)
            return d
        except OSError:
            pass
    raise OSError("no folder for the gallery files: %s" % arg)


def kept_rows(rows):
    """What Gallery.load keeps of rows, built without garbage (so its allocation is what stays):
    a [name, bytes] list per face (the name a new str, the values a new bytes)."""
    names = [n.encode() for n, _ in rows]
    raw = [bytearray(v) for _, v in rows]
    return lambda: [[names[i].decode(), bytes(raw[i])] for i in range(len(rows))]


def kept_matcher(rows):
    """What a Matcher keeps of rows, built without garbage: the names list, an array('b') of int8
    values a face and one array('f') of scales (arrays made from bytes copy them, element by element
    they would box each value)."""
    raws = [bytes(v) for _, v in rows]
    scale = bytes(recognise.Matcher(rows).scale)

    def build():
        m = recognise.Matcher([])
        m.names = [n for n, _ in rows]
        m.rows = [array("b", r) for r in raws]
        m.scale = array("f", scale)
        return m
    return build


def main(blocks, block_ms, where):
    lm = landmark_map()
    em = [0.01 * ((i * 37) % 101 - 50) for i in range(GRID * GRID * DIM)]
    raw = [float(v) for v in em[:DIM]]
    frame, face = Image(CAM_W, CAM_H), Image(SIZE, SIZE)
    matchers = {}
    for g in GALLERIES:
        matchers[g] = recognise.Matcher(entries(g))
    track = recognise.Track(5)
    ident = recognise.Identity(3, 5, 10)
    roi = recognise.crop_roi(BOX, BOX_SCALE, CAM_W, CAM_H)
    pts = recognise.points(lm, GRID, True, POINTS)
    fpts = recognise.to_frame(pts, roi)
    m = recognise.align_matrix(fpts, SIZE)
    e = recognise.embedding(em, GRID, DIM, True)
    label = "person%018d" % 0

    def one_face(matcher):
        # Recognition.embed, then Recognition.frame's match and hysteresis
        r = recognise.crop_roi(BOX, BOX_SCALE, CAM_W, CAM_H)
        p = recognise.to_frame(recognise.points(lm, GRID, True, POINTS), r)
        a = recognise.align_matrix(p, SIZE)
        recognise.warp_nearest(frame.get_pixel, CAM_W, CAM_H, a, SIZE, face.set_pixel)
        v = recognise.embedding(em, GRID, DIM, True)
        name, sim = matcher.best(track.add(BOX, v))
        return ident.update(name if sim > THRESHOLD else recognise.STRANGER)

    stages = (
        ("points", lambda: recognise.points(lm, GRID, True, POINTS)),
        ("crop_roi", lambda: recognise.crop_roi(BOX, BOX_SCALE, CAM_W, CAM_H)),
        ("to_frame", lambda: recognise.to_frame(pts, roi)),
        ("align_matrix", lambda: recognise.align_matrix(fpts, SIZE)),
        ("warp", lambda: recognise.warp_nearest(frame.get_pixel, CAM_W, CAM_H, m, SIZE, face.set_pixel)),
        ("embedding", lambda: recognise.embedding(em, GRID, DIM, True)),
        ("normalise", lambda: recognise.normalise(raw)),
        ("track_add", lambda: track.add(BOX, e)),
        ("identity", lambda: ident.update(label)),
    )
    faces = []
    for g in GALLERIES:
        faces.append((str(g), lambda mt=matchers[g]: mt.best(e), lambda mt=matchers[g]: one_face(mt)))
    for _ in range(track.n):            # the track holds its 5 embeddings from here on
        track.add(BOX, e)
    one_face(matchers[GALLERIES[-1]])   # warm up
    res = {"impl": sys.implementation.name, "version": ".".join([str(v) for v in sys.implementation.version[:3]]),
           "blocks": blocks, "block_ms": block_ms, "chw": True,
           "heap_free_bytes": gc.mem_free() if hasattr(gc, "mem_free") else None}

    # times first (the heap figures below run with the collector off)
    res["stage_ms"], res["match_ms"], res["face_ms"] = {}, {}, {}
    for name, fn in stages:
        res["stage_ms"][name] = timed(fn, blocks, block_ms)
    for g, match, whole in faces:
        res["match_ms"][g] = timed(match, blocks, block_ms)
        res["face_ms"][g] = timed(whole, blocks, block_ms)

    # the gallery: file bytes, save / load / Matcher of the largest in DIR
    d = folder(where)
    paths = (d + "/bench_gallery.a", d + "/bench_gallery.b")
    rows = entries(GALLERIES[-1])
    gal = {"dim": DIM, "name_bytes": NAME_BYTES, "faces": GALLERIES[-1], "folder": d, "file_bytes": {}}
    for g in GALLERIES:
        gal["file_bytes"][str(g)] = len(gallery.pack(1, DIM, rows[:g]))
    db = gallery.Gallery(DIM, GALLERIES[-1], paths)
    db.entries = rows
    db.save()                           # both slots hold a copy from here on, as after any two saves
    gal["save_ms"] = timed(db.save, blocks, block_ms)
    gal["saved_bytes"] = os.stat(paths[db.slot])[6]
    gal["load_ms"] = timed(lambda: gallery.Gallery(DIM, GALLERIES[-1], paths).load(), blocks, block_ms)
    gal["matcher_ms"] = timed(lambda: recognise.Matcher(rows), blocks, block_ms)

    # heap: what each step and one whole face allocate (garbage included: the GC pressure), what a
    # load and a Matcher rebuild allocate, and what the loaded rows and the Matcher's keep
    res["stage_heap_bytes"], res["face_heap_bytes"] = {}, {}
    for name, fn in stages:
        res["stage_heap_bytes"][name] = allocated(fn)
    for g, match, whole in faces:
        res["face_heap_bytes"][g] = allocated(whole)
    gal["load_heap_bytes"] = allocated(lambda: gallery.Gallery(DIM, GALLERIES[-1], paths).load())
    gal["matcher_heap_bytes"] = allocated(lambda: recognise.Matcher(rows))
    gal["rows_kept_bytes"] = allocated(kept_rows(rows))
    gal["matcher_kept_bytes"] = allocated(kept_matcher(rows))
    for p in paths:
        try:
            os.remove(p)
        except OSError:
            pass
    res["gallery"] = gal
    print(json.dumps(res))


args = globals().get("ARGV") or getattr(sys, "argv", [])
main(int(args[1]) if len(args) > 1 else 5, int(args[2]) if len(args) > 2 else 20,
     args[3] if len(args) > 3 else None)
