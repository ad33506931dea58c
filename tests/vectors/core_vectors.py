"""Deterministic test vectors for the device core; runs unchanged on CPython and MicroPython.

    python tests/vectors/core_vectors.py            (with device/ on sys.path)
    node host/picoface/mprun/mp_runner.mjs tests/vectors/core_vectors.py
Prints one JSON object per line: {"case": name, "out": result}. tests/test_micropython.py
runs both and compares (protocol lines byte for byte, numbers to 6 significant digits).
"""

try:
    import ujson as json
except ImportError:
    import json

from pfcore import commands, config, gallery, gate, geom, nms, presence, protocol, region

ANCHORS = [[1.889, 2.5245], [2.9465, 3.94056], [3.99987, 5.3658], [5.155437, 6.92275], [6.718375, 9.01025]]


class Rng:
    """Tiny LCG: the same numbers on every Python."""

    def __init__(self, seed):
        self.x = seed

    def next(self):
        self.x = (self.x * 1103515245 + 12345) & 0x7FFFFFFF
        return self.x

    def uniform(self, lo, hi):
        return lo + (hi - lo) * (self.next() / 2147483648.0)

    def below(self, n):
        return (self.next() >> 8) % n


def emit(case, out):
    print(json.dumps({"case": case, "out": out}))


def decode_cases(rng):
    k = 0
    for layout in ("NCHW", "NHWC"):
        for classes in (1, 3):
            for kind in ("float", "int8", "uint8"):
                gw = 3 + rng.below(18)
                gh = 2 + rng.below(14)
                na = 1 + rng.below(5)
                n = gw * gh * na * (5 + classes)
                thr = rng.uniform(0.2, 0.8)
                if kind == "float":
                    out = [rng.uniform(-6.0, 3.0) for _ in range(n)]
                    dets = region.decode(out, gw, gh, ANCHORS[:na], classes, layout, thr, with_class=True)
                else:
                    out = bytes([rng.below(256) for _ in range(n)])
                    scale = rng.uniform(0.03, 0.1)
                    zp = rng.below(40) - 20
                    dets = region.decode(out, gw, gh, ANCHORS[:na], classes, layout, thr,
                                         scale, zp, kind, True)
                emit("decode/%d/%s/%d/%s" % (k, layout, classes, kind), dets)
                fit = geom.Fit(320, 240, 8 * gw, 8 * gh, geom.MODES[k % 3])
                cam = fit.map(dets)
                emit("map/%d" % k, cam)
                kept = nms.nms(cam, rng.uniform(0.1, 0.6), rng.below(6))
                emit("nms/%d" % k, kept)
                if classes == 1:
                    cam = [c[:5] for c in cam]          # a 1-class face has no class item
                # 3 classes: the label after the score (one escaped, one without a name: its index)
                labels = ["mask", "n\u00f8 mask"] if classes > 1 else None
                emit("frame/%d" % k, protocol.encode_frame(k * 1000 + 7, 123456 + k, rng.uniform(0, 60), cam,
                                                           labels))
                k += 1


def geom_cases(rng):
    for mode in geom.MODES:
        for cw, ch, nw, nh in ((320, 240, 224, 224), (240, 320, 224, 224), (640, 480, 320, 240), (320, 240, 96, 96)):
            f = geom.Fit(cw, ch, nw, nh, mode)
            boxes = [[rng.uniform(-0.1, 1.1), rng.uniform(-0.1, 1.1), rng.uniform(0.01, 0.6),
                      rng.uniform(0.01, 0.6)] for _ in range(5)]
            emit("geom/%s/%dx%d/%dx%d" % (mode, cw, ch, nw, nh),
                 [list(f.cam_rect()), list(f.content_rect())] + [f.net_to_cam(b) for b in boxes]
                 + [f.cam_to_net([10.0, 20.0, 30.0, 40.0])])


def presence_cases(rng):
    for enter, leave in ((1, 1), (2, 5), (3, 2)):
        p = presence.Presence(enter, leave)
        emit("presence/%d/%d" % (enter, leave), [p.update(rng.below(3) if rng.below(4) else 0) for _ in range(80)])


def gate_cases(rng):
    """mode gate: when the detector runs, over random gate probabilities and detector results."""
    for th, on, off, every in ((0.5, 1, 10, 15), (0.3, 2, 3, 0), (0.7, 1, 1, 4)):
        g = gate.Gate(th, on, off, every)
        seq = []
        for _ in range(120):
            p = rng.uniform(0.0, 1.0) if rng.below(3) else 0.05
            run = g.update(p)
            if run:
                g.found(1 if rng.below(4) == 0 else 0)
            seq.append([run, g.open])
        emit("gate/%d/%d/%d" % (on, off, every), [seq, g.runs, g.frames])
    emit("gate/score", [gate.score([rng.uniform(-5.0, 5.0) for _ in range(36)]),
                        gate.score(bytearray([120, 130, 140]), 0.05, 128), gate.score([100.0]), gate.score([-100.0])])
    try:
        gate.score([])
        emit("gate/empty", None)
    except ValueError as e:
        emit("gate/empty", str(e))


def config_cases():
    texts = ['{}', '{"score": 0.7, "nms": 1, "max_faces": 4, "lcd": false}',
             '{"score": 2, "max_faces": true, "baud": 1234, "led": {"kind": "gpio", "r": 400}, "zzz": 1}',
             '{"camera": {"w": 640, "h": "x"}, "model": {"fit": "crop", "anchors": [[1, 2]], "w": -1}}',
             'not json', '[1]', '{"mode": "gate", "gate": {"w": 96, "h": 96, "threshold": 0.4, "path": "/flash/g"}}',
             '{"mode": "gate", "gate": {"w": 96}}', '{"mode": "gated", "gate_every": -1}',
             '{"model": {"classes": 2, "labels": ["mask", "no_mask"]}}',
             '{"model": {"classes": 2, "labels": ["mask"]}}',
             '{"model": {"classes": 3, "labels": ["a", "a", "b"]}}',
             '{"model": {"classes": 2, "labels": ["mask", "a,b"]}}',
             '{"model": {"classes": 2, "labels": ["mask", "much_too_long_x"]}}',
             '{"model": {"classes": 2, "labels": "mask,no_mask"}}',
             '{"model": {"classes": 2, "labels": ["mask", "m\\u00e1scara"]}}']
    for i, t in enumerate(texts):
        cfg, problems = config.load(t)
        problems.sort()
        emit("config/%d" % i, [cfg, problems])


def protocol_cases(rng):
    lines = [
        protocol.encode_hello(board="maix_dock", firmware="MaixPy v0.6.2 \u00e9", app="0.1.0", model="pf 320",
                              model_bytes=388776, model_hash="9f86d081884c7d659a2feaa0c55ad015", input_w=320,
                              input_h=240, score=0.5, nms=0.3, cam_w=320, cam_h=240, gen="old"),
        protocol.encode_event(7, 99, "enter", 3),
        protocol.encode_event(2 ** 30 + 5, 2 ** 31, "leave", [1, 2]),
        protocol.encode_error("model_load", "ERR 2002 * @PF = 100% -> \u20ac"),
        protocol.encode_error("", "-"),
    ]
    for i in range(30):
        faces = [[rng.uniform(-5, 400), rng.uniform(-5, 300), rng.uniform(0, 200), rng.uniform(0, 200),
                  rng.uniform(-0.1, 1.1)] for _ in range(rng.below(13))]
        lines.append(protocol.encode_frame(rng.below(2 ** 30), rng.below(2 ** 30), rng.uniform(0, 1200), faces))
    emit("protocol/lines", lines)
    emit("protocol/decoded", [protocol.decode(l) for l in lines])
    kinds = []
    for l in lines[:6]:
        for i in range(0, len(l), 3):
            bad = l[:i] + ("#" if l[i] != "#" else "$") + l[i + 1:]
            try:
                r = protocol.decode(bad)
                kinds.append("none" if r is None else "DECODED")
            except protocol.ProtocolError as e:
                kinds.append(e.kind)
    emit("protocol/corrupt", kinds)
    emit("protocol/crc", [protocol.crc16(b"123456789"), protocol.crc16(bytes(range(256)))])
    # protocol v2: commands in, acks out, through the board's line reader in chunks of every size
    cmd_lines = [protocol.encode_command(1, "ping"), protocol.encode_command(2, "set", ["score", "0.62"]),
                 protocol.encode_command(3, "set", ["max_faces", "11"]), protocol.encode_command(4, "get", ["nms"]),
                 protocol.encode_command(5, "hello"), protocol.encode_command(6, "set", ["debug", "true"]),
                 protocol.encode_command(7, "enrol", ["Ann * Lee \u00e9"])]
    stream = ("junk\r\n" + "\r\n".join(cmd_lines) + "\n@PF" + "z" * 200 + "\n" +
              cmd_lines[1].replace("0.62", "0.63") + "\n").encode()
    cfg, _ = config.load({})
    handler = commands.Commands(cfg)
    for size in (1, 3, 17, 1000):
        reader = protocol.LineReader()
        acks = []
        for i in range(0, len(stream), size):
            for c in reader.feed(stream[i:i + size]):
                ok, text, todo = handler.handle(c)
                acks.append([protocol.encode_ack(c["id"], ok, text), todo])
        emit("commands/%d" % size, [acks, reader.overlong, reader.corrupt, cfg["score"], cfg["debug"]])
    emit("protocol/commands", cmd_lines)


class _Disk:
    """Files in memory; a write may be cut after ``cut`` bytes (a power cut: the bytes written so
    far stay, then OSError)."""

    def __init__(self):
        self.files = {}
        self.cut = None

    def open(self, path, mode="rb"):
        return _File(self, path, mode)


class _File:
    def __init__(self, disk, path, mode):
        self.disk, self.path, self.mode = disk, path, mode
        if "r" in mode and path not in disk.files:
            raise OSError(2)
        if "w" in mode:
            disk.files[path] = b""

    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False

    def read(self):
        return self.disk.files[self.path]

    def write(self, data):
        cut = self.disk.cut
        if cut is not None and cut < len(data):
            self.disk.files[self.path] = bytes(data[:cut])
            raise OSError(5)
        self.disk.files[self.path] = bytes(data)
        return len(data)


def gallery_cases(rng):
    """Enrol, rename, remove, reload; then a save cut at every byte: the gallery that loads is
    always the last complete one."""
    disk = _Disk()
    g = gallery.Gallery(8, max_entries=4, opener=disk.open)
    emb = [bytes([rng.below(256) for _ in range(8)]) for _ in range(5)]
    out = [g.load(), g.add("alice", emb[0]), g.add("bob", emb[1]), g.add("alice", emb[2])]
    g.save()
    out += [g.add("b" * 25, emb[3]), g.add("x\ny", emb[3]), g.add("carol", emb[3][:7]), g.add("carol", emb[3]),
            g.add("dave", emb[4]), g.rename("bob", "robert"), g.rename("bob", ""), g.remove("alice")]
    g.save()
    h = gallery.Gallery(8, opener=disk.open)
    out += [h.load(), h.names(), h.seq, h.slot, [e[1] == emb[1] for e in h.entries]]
    before = h.names()
    whole = len(gallery.pack(h.seq + 1, 8, h.entries + [["erin", emb[4]]]))
    kept = []
    for cut in range(whole):
        d2 = _Disk()
        d2.files = dict(disk.files)
        d2.cut = cut
        k = gallery.Gallery(8, opener=d2.open)
        k.load()
        k.add("erin", emb[4])
        try:
            k.save()
            kept.append("saved")
        except OSError:
            r = gallery.Gallery(8, opener=d2.open)
            problem = r.load()
            kept.append(r.names() == before and problem is not None)
    out.append([whole, kept.count(True), len(kept)])
    d3 = _Disk()
    d3.files = dict(disk.files)
    d3.files[gallery.PATHS[0]] = d3.files[gallery.PATHS[0]][:-1] + b"?"
    d3.files[gallery.PATHS[1]] = b"PFG1 garbage"
    z = gallery.Gallery(8, opener=d3.open)
    out += [z.load(), z.names()]
    emit("gallery", out)


def fmap_cases(rng):
    """MaixPy's forward path: a float32 buffer read through memoryview (array('f') stands in for
    kpu_fmap), decoded and postprocessed as device/hal_maixpy.py does, against the same values
    as a list."""
    import array

    for k in range(4):
        gw = 4 + rng.below(17)
        gh = 3 + rng.below(13)
        n = gw * gh * 5 * 6
        vals = [rng.uniform(-6.0, 2.5) for _ in range(n)]
        buf = array.array("f", vals)
        spec = {"grid_w": gw, "grid_h": gh, "anchors": ANCHORS, "classes": 1, "layout": "NCHW"}
        fit = geom.Fit(320, 240, 8 * gw, 8 * gh, geom.MODES[k % 2])
        thr = rng.uniform(0.3, 0.7)
        emit("fmap/%d/decode" % k, region.decode(memoryview(buf), gw, gh, ANCHORS, 1, "NCHW", thr))
        emit("fmap/%d/postprocess" % k, region.postprocess(memoryview(buf), spec, fit, thr, 0.3, 1 + k * 3))
        emit("fmap/%d/list" % k, region.postprocess(list(buf), spec, fit, thr, 0.3, 1 + k * 3))


def classes_cases(rng):
    """A 2-class model (mask / no_mask): postprocess gives [x, y, w, h, score, class], the class
    of the planted cells; the frame line carries the labels; recognition's 8-item face."""
    import array

    gw, gh, na = 6, 4, 2
    ne = 7
    labels = ["mask", "no_mask"]
    for k, layout in enumerate(("NCHW", "NHWC", "NCHW")):
        vals = [rng.uniform(-6.0, -3.0) for _ in range(gw * gh * na * ne)]
        for cell, cls, obj in ((3, 0, 3.0), (10, 1, 2.5), (17, 1, 2.0), (20, 0, 1.5)):
            a = cell % na
            for e, v in ((2, 0.5), (3, 0.5), (4, obj), (5, 2.0 if cls == 0 else -1.0),
                         (6, 2.0 if cls == 1 else -1.0)):
                if layout == "NCHW":
                    vals[(a * ne + e) * gw * gh + cell] = v
                else:
                    vals[cell * na * ne + a * ne + e] = v
        spec = {"grid_w": gw, "grid_h": gh, "anchors": [[0.6, 0.7], [0.9, 1.0]], "classes": 2, "layout": layout}
        fit = geom.Fit(320, 240, 8 * gw, 8 * gh, geom.MODES[k])
        out = memoryview(array.array("f", vals)) if k == 2 else vals
        emit("classes/%d/input" % k, [vals, spec, [320, 240, 8 * gw, 8 * gh, geom.MODES[k]]])
        faces = region.postprocess(out, spec, fit, 0.5, 0.3, 10)
        emit("classes/%d/postprocess" % k, faces)
        emit("classes/%d/frame" % k, protocol.encode_frame(9, 99, 12.5, faces, labels))
    emit("classes/recognised", protocol.encode_frame(1, 2, 3.0, [[1, 2, 3, 4, 0.5, 1, "ann", 0.75],
                                                                [5, 6, 7, 8, 0.25, 0]], labels))


rng = Rng(20240601)
decode_cases(rng)
geom_cases(rng)
presence_cases(rng)
config_cases()
protocol_cases(rng)
gallery_cases(rng)
fmap_cases(rng)
gate_cases(rng)
classes_cases(rng)
print("done")
