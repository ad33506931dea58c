"""Face recognition on the board (mode "recognise"): the readouts of the two nets, the crop and
alignment geometry, matching against the gallery, known/stranger events with hysteresis, and
enrolment. The host's evaluation (picoface.recog) uses the same functions, so what the bench
measures is what the board computes.

Per frame the app takes the largest face only: on the K210 one face costs two more KPU runs and
two 64x64 Python loops (crop, align); identifying every face would divide the frame rate by the
number of faces, and a door or a kiosk has one person in front of it.

The pipeline: detector box -> ``crop_roi`` (a square of ``box_scale`` x the longer side around
the box, kept inside the frame) -> 64x64 -> landmark net -> ``points`` (5 points, fractions of
the crop) -> ``to_frame`` -> ``pfcore.align.align_matrix`` -> ``warp_nearest`` (the aligned 64x64
face, sampled from the frame) -> embedding net -> ``embedding`` -> ``Matcher.best``.

Output maps reach these functions flat: ``chw`` True for the K210 (planar, as the KPU writes
them), False for TFLite (HWC). Pure Python, MicroPython 1.11 compatible.
"""

from pfcore import align

STRANGER = "?"


def embedding(flat, grid, dim, chw):
    """L2-normalised mean over the grid's positions of a (grid x grid x dim) map."""
    n = grid * grid
    e = [0.0] * dim
    if chw:
        for c in range(dim):
            s = 0.0
            b = c * n
            for p in range(n):
                s += flat[b + p]
            e[c] = s
    else:
        for p in range(n):
            b = p * dim
            for c in range(dim):
                e[c] += flat[b + c]
    return normalise(e)


def normalise(e):
    s = 0.0
    for v in e:
        s += v * v
    s = s ** 0.5
    if s <= 0.0:
        return [0.0] * len(e)
    return [v / s for v in e]


def mean_unit(vectors):
    """The L2-normalised sum (so the direction of the mean) of equal-length vectors."""
    d = len(vectors[0])
    m = [0.0] * d
    for v in vectors:
        for i in range(d):
            m[i] += v[i]
    return normalise(m)


def points(flat, grid, chw, n_points=5):
    """The landmark net's 5 (x, y) as fractions of its crop: coordinate k is the sum over the
    positions p of channel k * grid^2 + p at p."""
    n = grid * grid
    ch = 2 * n_points * n
    v = []
    for k in range(2 * n_points):
        s = 0.0
        for p in range(n):
            c = k * n + p
            s += flat[c * n + p] if chw else flat[p * ch + c]
        v.append(s)
    return [(v[2 * i], v[2 * i + 1]) for i in range(n_points)]


def crop_roi(box, scale, cam_w, cam_h):
    """(x, y, w, h) integers: the square of scale x the box's longer side around its centre, moved
    inside the frame, and cut by the frame when it is larger."""
    x, y, w, h = box[0], box[1], box[2], box[3]
    s = scale * (w if w > h else h)
    x0 = x + w / 2.0 - s / 2.0
    y0 = y + h / 2.0 - s / 2.0
    side = int(s + 0.5)
    rw = side if side < cam_w else cam_w
    rh = side if side < cam_h else cam_h
    rx = int(x0 + 0.5)
    ry = int(y0 + 0.5)
    if rx < 0:
        rx = 0
    if ry < 0:
        ry = 0
    if rx + rw > cam_w:
        rx = cam_w - rw
    if ry + rh > cam_h:
        ry = cam_h - rh
    if rw < 8 or rh < 8:
        return None
    return rx, ry, rw, rh


def to_frame(pts, roi):
    """Points as fractions of the crop -> frame pixels."""
    return [(roi[0] + px * roi[2], roi[1] + py * roi[3]) for px, py in pts]


def align_matrix(pts, size):
    return align.align_matrix(pts, size)


def warp_nearest(get, sw, sh, m, size, put):
    """The aligned size x size face: put(u, v, rgb) for every output pixel, rgb = get(x, y) at the
    source pixel nearest to inverse(m)(u, v), (0, 0, 0) outside the frame (as pfcore.align.warp's
    "nearest" mode and cv2.warpAffine INTER_NEAREST with a black border)."""
    inv = align.invert(m)
    a, b, c = inv[0][0], inv[0][1], inv[0][2]
    d, e, f = inv[1][0], inv[1][1], inv[1][2]
    black = (0, 0, 0)
    for v in range(size):
        xr = b * v + c
        yr = e * v + f
        for u in range(size):
            x = int(a * u + xr + 0.5 + 4096) - 4096    # floor(v + 0.5) for negatives too
            y = int(d * u + yr + 0.5 + 4096) - 4096
            if 0 <= x < sw and 0 <= y < sh:
                put(u, v, get(x, y))
            else:
                put(u, v, black)


def quantise(e):
    """int8 bytes of a unit embedding (the gallery's storage)."""
    out = bytearray(len(e))
    for i in range(len(e)):
        q = int(e[i] * 127.0 + (0.5 if e[i] >= 0 else -0.5))
        if q > 127:
            q = 127
        if q < -127:
            q = -127
        out[i] = q & 0xFF
    return bytes(out)


def dequantise(raw):
    return normalise([(v - 256 if v > 127 else v) / 127.0 for v in raw])


try:
    from array import array
except ImportError:     # MicroPython ports that name it uarray
    from uarray import array


class Matcher:
    """Cosine against every gallery entry; the best name and its similarity. Each entry is kept as
    an array of 32-bit floats (4 bytes a value, where a list of floats costs a boxed object per
    value on the K210's MicroPython): 100 entries of 128 values are 51 KB of heap."""

    def __init__(self, entries):
        self.entries = [(name, array("f", dequantise(raw))) for name, raw in entries]

    def best(self, e):
        name, sim = None, -1.0
        for n, g in self.entries:
            s = 0.0
            for i in range(len(e)):
                s += e[i] * g[i]
            if s > sim:
                name, sim = n, s
        return name, sim


class Track:
    """The largest face's recent embeddings while it stays in place: add(box, e) returns the unit
    mean of the last ``n`` embeddings of the face (fewer after it appeared or jumped). One frame's
    embedding moves with the detector box and the landmarks; the mean over a few frames is what is
    matched (a face that moves more than half its width starts a new track)."""

    def __init__(self, n=5):
        self.n = n
        self.box = None
        self.recent = []

    def reset(self):
        self.box = None
        self.recent = []

    def add(self, box, e):
        b = self.box
        if b is not None:
            cx, cy = box[0] + box[2] / 2.0, box[1] + box[3] / 2.0
            px, py = b[0] + b[2] / 2.0, b[1] + b[3] / 2.0
            if abs(cx - px) > b[2] / 2.0 or abs(cy - py) > b[3] / 2.0:
                self.recent = []
        self.box = box
        self.recent.append(e)
        if len(self.recent) > self.n:
            self.recent.pop(0)
        return mean_unit(self.recent)


class Identity:
    """known/stranger events with hysteresis. update(label) per frame, label a name, STRANGER or
    None (no face): a label becomes the current one after ``known`` (a name) or ``stranger``
    frames in a row; an event (kind, name) is returned when the current label changes to a
    name or to STRANGER. ``clear`` frames without a face forget the current label."""

    def __init__(self, known=3, stranger=5, clear=10):
        self.need = {"known": known, "stranger": stranger}
        self.clear = clear
        self.current = None
        self.candidate = None
        self.count = 0
        self.empty = 0

    def update(self, label):
        if label is None:
            self.empty += 1
            if self.empty >= self.clear:
                self.current = None
            self.candidate = None
            self.count = 0
            return None
        self.empty = 0
        if label == self.candidate:
            self.count += 1
        else:
            self.candidate = label
            self.count = 1
        need = self.need["stranger" if label == STRANGER else "known"]
        if self.count >= need and label != self.current:
            self.current = label
            return ("stranger", "") if label == STRANGER else ("known", label)
        return None

    def hold(self):
        """A frame that must not count (a face being enrolled): the run of equal labels starts
        again after it, and no event fires."""
        self.candidate = None
        self.count = 0
        self.empty = 0


class Enrolment:
    """Collects ``shots`` embeddings of the largest face for ``name``; ``cid`` is the command id
    to ack (None: the button). Ends when it has them (``done``) or after ``timeout_ms`` without
    a face (``expired``)."""

    def __init__(self, name, shots, cid, now, timeout_ms=10000):
        self.name = name
        self.shots = shots
        self.cid = cid
        self.got = []
        self.last = now
        self.timeout_ms = timeout_ms

    def offer(self, e, now):
        self.got.append(e)
        self.last = now

    def done(self):
        return len(self.got) >= self.shots

    def expired(self, elapsed_ms):
        return elapsed_ms >= self.timeout_ms

    def mean(self):
        return mean_unit(self.got)


def free_name(names, prefix="face"):
    """The first of face1, face2, ... not in names (the button's enrolments; rename them later)."""
    have = {}
    for n in names:
        have[n] = 1
    i = 1
    while (prefix + str(i)) in have:
        i += 1
    return prefix + str(i)
