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


# warp_nearest's fixed point: source positions in 1/65536 px (WARP_SHIFT bits), within WARP_LIMIT px
WARP_SHIFT = 16
WARP_LIMIT = 4096.0


def warp_fixed(m, size):
    """The integers warp_nearest samples with: [A, B, C, D, E, F], or None when some source position
    of the size x size output is WARP_LIMIT px or more from the frame's origin (or not finite).

    With the inverse of m as [[a, b, c], [d, e, f]] (frame pixel (x, y) = inverse(m)(u, v), u the
    output column, v the row), A = R(a * 2^16), B = R(b * 2^16), C = R(c * 2^16) + 2^15, the same
    for D, E, F from d, e, f, where R(t) = floor(t + 0.5). The output pixel (u, v) is the frame's
    pixel (x, y) = ((A*u + B*v + C) >> 16, (D*u + E*v + F) >> 16), an arithmetic shift (floor, for
    negatives too, on CPython, MicroPython and numpy's int64): the nearest pixel to the exact
    position within 1/65536 px per coefficient.

    Range: the exact positions at the corners u, v in {0, size} must be inside (-WARP_LIMIT,
    WARP_LIMIT) px (an affine map is at its extremes at the corners). Then every integer the warp
    forms (A*u + B*v + C for 0 <= u, v <= size: the loops add A and B to C, one step past the
    last pixel) is below 2^28 + 2^15 + size + 1 in magnitude, and |A|, |B|, |D|, |E| are below
    2^29 / size + 1: small ints on every MicroPython port (31-bit signed on 32-bit ones, |v| <
    2^30), so the loops' arithmetic allocates nothing. Any similarity the alignment gives for a
    face of 8 px or more in a frame up to 640x480 keeps the output within about 1,000 px of the
    frame, far inside the limit; a matrix beyond it (a broken landmark readout) gives None."""
    inv = align.invert(m)
    a, b, c = inv[0][0], inv[0][1], inv[0][2]
    d, e, f = inv[1][0], inv[1][1], inv[1][2]
    n = float(size)
    for t in (c, a * n + c, b * n + c, (a + b) * n + c, f, d * n + f, e * n + f, (d + e) * n + f):
        if not (-WARP_LIMIT < t < WARP_LIMIT):       # also false for nan
            return None
    one = float(1 << WARP_SHIFT)
    half = 1 << (WARP_SHIFT - 1)
    return [align._round(a * one), align._round(b * one), align._round(c * one) + half,
            align._round(d * one), align._round(e * one), align._round(f * one) + half]


def warp_nearest(get, sw, sh, m, size, put):
    """The aligned size x size face: put(u, v, rgb) for every output pixel, rgb = get(x, y) at the
    source pixel nearest to inverse(m)(u, v), (0, 0, 0) outside the frame (cv2.warpAffine's
    INTER_NEAREST with a black border, up to rounding at 1/65536 px). Pixel positions are integers:
    the rule and its range are ``warp_fixed``'s; all black when it gives None. The loops add ints
    only (no float per pixel: MicroPython boxes each float it makes)."""
    q = warp_fixed(m, size)
    black = (0, 0, 0)
    if q is None:
        for v in range(size):
            for u in range(size):
                put(u, v, black)
        return
    a, b, xr, d, e, yr = q
    for v in range(size):
        x = xr
        y = yr
        for u in range(size):
            px = x >> 16        # WARP_SHIFT
            py = y >> 16
            if 0 <= px < sw and 0 <= py < sh:
                put(u, v, get(px, py))
            else:
                put(u, v, black)
            x += a
            y += d
        xr += b
        yr += e


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


PROBE = 32767       # Matcher.best scales the unit probe to ints of at most this magnitude


class Matcher:
    """Cosine against every gallery entry; the best name and its similarity. Each entry is kept as
    its int8 values (an array('b') of the stored bytes: one byte a value, no boxed objects) and one
    float, 1 / (PROBE * |row|), in an array('f') beside the others. On the 32-bit wasm MicroPython
    (device/bench/recognise.py) 100 entries of 128 values keep about 16 KB and building
    them allocates about 21 KB (float rows: 57 KB kept, 990 KB allocated); best(e) allocates about
    12 KB whatever the gallery's size (scaling the probe: a few boxed floats a value) and two boxed
    floats an entry (float rows: about 6 KB an entry).

    best(e) rounds e * PROBE to ints once (half away from zero), then per entry sums the integer
    products with the row's int8 values and turns the sum into one float: sim = sum / (PROBE *
    |row|), the cosine of e and the dequantised, re-normalised row (what ``dequantise`` gives) up
    to the probe's rounding: about 1e-5, at worst 0.5 * sqrt(dim) / PROBE (1.7e-4 at dim 128).
    e is meant to be a unit vector (``embedding`` and ``mean_unit`` give them; sim is then
    e . row / |row|, as the float version gave); a longer e is scaled to unit length first. With
    |e| <= 1 each partial sum is a dot product of parts of the two vectors, so by Cauchy-Schwarz
    at most (PROBE + sqrt(dim) / 2) * 127 * sqrt(dim) in magnitude: 1.3e8 at the config's largest
    dim (1024), inside MicroPython's small ints (|v| < 2^30 on 32-bit ports) for any dim up to
    60,000."""

    def __init__(self, entries):
        self.names = []
        self.rows = []
        scale = []
        for name, raw in entries:
            g = array("b", raw if isinstance(raw, bytes) else bytes(raw))   # the bytes as int8, copied
            s = 0
            for v in g:
                s += v * v
            self.names.append(name)
            self.rows.append(g)
            scale.append(1.0 / (PROBE * s ** 0.5) if s else 0.0)
        self.scale = array("f", scale)

    def best(self, e):
        name, sim = None, -1.0
        if not self.rows:
            return name, sim
        n = 0.0
        for v in e:
            n += v * v
        k = float(PROBE) if n <= 1.0 else PROBE / n ** 0.5
        q = []
        for v in e:
            t = v * k
            q.append(int(t + 0.5) if t >= 0 else int(t - 0.5))
        d = len(q)
        rows = self.rows
        scale = self.scale
        for j in range(len(rows)):
            g = rows[j]
            s = 0
            for i in range(d):
                s += q[i] * g[i]
            s = s * scale[j]
            if s > sim:
                name, sim = self.names[j], s
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
