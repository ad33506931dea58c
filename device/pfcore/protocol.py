"""Serial protocol v2 (docs/protocol.md): one ASCII line per message.

    @PF <version> <type> <fields...>*<CRC>

CRC is CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF) of every byte from "@" up to the "*",
as 4 upper-case hex digits. The frame ("@PF ", version, "*XXXX") never changes between
versions; only the body does. Types: H hello, F frame, E event, X error (board -> host, v1
and v2), C command (host -> board) and A its acknowledgement (board -> host), v2 only.
The device encodes, the host decodes, both with this file; decode() reads v1 and v2 lines.
"""

VERSION = 2
VERSIONS = (1, 2)     # what decode() reads: a v2 board's H/F/E/X bodies are v1's
MARKER = "@PF"
MAX_FACES = 10        # faces per frame line; the worst-case line is 293 bytes + "\r\n"
WORST_FRAME = 293     # bytes of the longest frame line (10 faces), without the line end
MAX_LABEL = 12        # bytes of a class label on the wire (escaped; pfcore.config checks the labels)
WORST_LABELLED = 423  # ... when each face carries a class label: 293 + 10 x (1 + MAX_LABEL)
MAX_NAME = 72         # bytes of an escaped gallery name (1-24 bytes of UTF-8, each at most %XX)
WORST_LINE = 501      # ... and the largest face a name and its similarity: 423 + 1 + 72 + 5
MAX_TEXT = 60         # characters of free text kept in error lines and hello values
MAX_COORD = 9999
MAX_LINE = 512        # no valid line of v1 or v2 is longer (WORST_LINE)
WRAP = 1 << 30        # seq and ms are sent modulo 2**30 (ticks_ms wraps there too)
HASH_CHARS = 16       # hello sends the first 16 hex digits of the model's sha256

EVENTS = ("enter", "leave", "known", "stranger")   # known/stranger: mode recognise (v2)
TYPES = {"H": "hello", "F": "frame", "E": "event", "X": "error", "C": "command", "A": "ack"}
V2_TYPES = ("command", "ack")
MAX_COMMAND = 120     # bytes of the longest command line (the board's input buffer holds one)
MAX_ARGS = 4          # arguments of a command
MAX_ID = 9999         # command ids: the host numbers its commands, the ack echoes the number
ACK_STATUS = ("ok", "err")
# hello keys on the wire -> decoded names (values are escaped text unless typed below)
HELLO_KEYS = (("board", "board"), ("fw", "firmware"), ("app", "app"), ("model", "model"),
              ("bytes", "model_bytes"), ("hash", "model_hash"), ("in", "input"),
              ("cam", "camera"), ("score", "score"), ("nms", "nms"))
_SAFE = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-+/:()#,"
_HEX = "0123456789ABCDEF"


class ProtocolError(ValueError):
    """A framed (@PF) line that is corrupt. kind: "checksum", "version", "field" or "frame"."""

    def __init__(self, kind, message, version=None):
        super().__init__("%s: %s" % (kind, message))
        self.kind = kind
        self.version = version


def _make_table():
    t = []
    for i in range(256):
        c = i << 8
        for _ in range(8):
            c = ((c << 1) ^ 0x1021) if c & 0x8000 else (c << 1)
        t.append(c & 0xFFFF)
    return t


_CRC_TABLE = _make_table()


def crc16(data, crc=0xFFFF):
    """CRC-16/CCITT-FALSE of bytes (or an ASCII str)."""
    t = _CRC_TABLE
    if isinstance(data, str):
        data = data.encode()
    for b in data:
        crc = ((crc << 8) & 0xFFFF) ^ t[(crc >> 8) ^ b]
    return crc


def _frame(body):
    s = MARKER + " " + str(VERSION) + " " + body
    return s + "*%04X" % crc16(s)


# ---- field helpers -------------------------------------------------------------------------

def escape(text):
    """Free text -> one token: unsafe bytes as %XX, "" as "-", at most MAX_TEXT characters."""
    if not isinstance(text, str):
        text = str(text)
    if len(text) > MAX_TEXT:
        text = text[:MAX_TEXT]
    if not text:
        return "-"
    out = []
    for b in text.encode():
        c = chr(b)
        if b < 128 and c in _SAFE:
            out.append(c)
        else:
            out.append("%" + _HEX[b >> 4] + _HEX[b & 15])
    s = "".join(out)
    return "%2D" if s == "-" else s


def unescape(tok):
    if tok == "-":
        return ""
    if "%" not in tok:
        return tok
    out = bytearray()
    i = 0
    n = len(tok)
    while i < n:
        c = tok[i]
        if c == "%":
            h = tok[i + 1:i + 3]
            if len(h) != 2 or h[0] not in _HEX or h[1] not in _HEX:
                raise ProtocolError("field", "bad escape in %r" % (tok,))
            out.append(int(h, 16))
            i += 3
        else:
            out.append(ord(c))
            i += 1
    try:
        return bytes(out).decode("utf-8")
    except Exception:
        raise ProtocolError("field", "escaped text is not UTF-8: %r" % (tok,))


def _uint(v, hi):
    """Round a number half up into 0..hi (NaN -> 0); ints stay exact."""
    if isinstance(v, int):
        return 0 if v < 0 else (hi if v > hi else v)
    if not (v > 0):
        return 0
    if v >= hi:
        return hi
    return int(v + 0.5)


def _wrap(v):
    """seq and ms wrap at 2**30 like MicroPython's ticks_ms (small ints on every port)."""
    return int(v) & (WRAP - 1)


def _fixed(v, digits, hi):
    """Number -> decimal text with `digits` decimals, at most hi units of the last digit,
    by integer arithmetic (same bytes on every port: no float formatting)."""
    m = 10 ** digits
    n = _uint(v * m, hi)
    f = str(n % m)
    return str(n // m) + "." + "0" * (digits - len(f)) + f


def _num(tok, what, hi):
    """Canonical non-negative decimal integer (no sign, no leading zeros) <= hi."""
    try:
        v = int(tok)
    except Exception:
        v = -1
    if v < 0 or str(v) != tok or v > hi:
        raise ProtocolError("field", "bad %s %r" % (what, tok))
    return v


def _dec(tok, digits, what, hi):
    """Decimal with exactly `digits` decimals, at most hi units of the last digit."""
    i = tok.find(".")
    f = tok[i + 1:]
    if i < 0 or len(f) != digits:
        raise ProtocolError("field", "bad %s %r" % (what, tok))
    for c in f:
        if c not in "0123456789":
            raise ProtocolError("field", "bad %s %r" % (what, tok))
    n = _num(tok[:i], what, hi) * 10 ** digits + int(f)
    if n > hi:
        raise ProtocolError("field", "bad %s %r" % (what, tok))
    return n / (10.0 ** digits)


def _size(tok, what):
    parts = tok.split("x")
    if len(parts) != 2:
        raise ProtocolError("field", "bad %s %r (want WxH)" % (what, tok))
    return [_num(parts[0], what, 65535), _num(parts[1], what, 65535)]


# ---- encoders (device) ---------------------------------------------------------------------

def encode_hello(board="", firmware="", app="", model="", model_bytes=0, model_hash="",
                 input_w=0, input_h=0, score=0.0, nms=0.0, cam_w=0, cam_h=0, **extra):
    """Boot line: board, detected firmware, app version, model name/bytes/hash, net input
    size, camera size, thresholds (model_hash: first HASH_CHARS characters). Extra keyword arguments ([a-z0-9_] names) are sent as
    text and decoded as strings."""
    f = ["H", "board=" + escape(board), "fw=" + escape(firmware), "app=" + escape(app),
         "model=" + escape(model), "bytes=%d" % _uint(model_bytes, WRAP - 1),
         "hash=" + escape(str(model_hash)[:HASH_CHARS]), "in=%dx%d" % (_uint(input_w, 65535), _uint(input_h, 65535)),
         "cam=%dx%d" % (_uint(cam_w, 65535), _uint(cam_h, 65535)),
         "score=" + _fixed(score, 3, 1000), "nms=" + _fixed(nms, 3, 1000)]
    keys = sorted(extra)
    for k in keys:
        f.append(_key(k) + "=" + escape(extra[k]))
    return _frame(" ".join(f))


def _key(k):
    for c in k:
        if c not in "abcdefghijklmnopqrstuvwxyz0123456789_":
            raise ValueError("hello key %r: use a-z, 0-9 and _" % (k,))
    for w, name in HELLO_KEYS:
        if k == w or k == name:
            raise ValueError("hello key %r is reserved" % (k,))
    if k == "type" or k == "v":
        raise ValueError("hello key %r is reserved" % (k,))
    if not k:
        raise ValueError("empty hello key")
    return k


def label_of(labels, c):
    """The name of class index c: labels[c], else the index as decimal text."""
    if labels and isinstance(c, int) and 0 <= c < len(labels):
        return labels[c]
    return str(c)


def token(text):
    """Free text as one item of a face token: escaped, and "," as %2C."""
    return escape(text).replace(",", "%2C")


def has_class(face):
    """True when a face carries a class index (item 5): [x, y, w, h, score, class] or
    [x, y, w, h, score, class, name, similarity]."""
    n = len(face)
    return n == 6 or n >= 8


def encode_frame(seq, ms, fps, faces, labels=None):
    """One frame: sequence number, device ms, fps, and up to MAX_FACES faces
    [x, y, w, h, score] in camera pixels (rounded to integers; score in thousandths). A face of
    a model with more than one class has its class index after the score, [..., class], sent
    as its label (labels[class]; the index as text without labels). A face the board identified
    (mode recognise) has two more items, [..., name, similarity]: the best gallery name ("?"
    for a stranger, "" for an empty gallery) and its cosine (thousandths, below 0 sent as 0).
    So a face has 5, 6 (class), 7 (name) or 8 (class and name) items, as its token on the wire."""
    n = len(faces)
    if n > MAX_FACES:
        n = MAX_FACES
    f = ["F", str(_wrap(seq)), str(_wrap(ms)), _fixed(fps, 1, 9999), str(n)]
    for i in range(n):
        d = faces[i]
        t = "%d,%d,%d,%d,%d" % (_uint(d[0], MAX_COORD), _uint(d[1], MAX_COORD),
                                 _uint(d[2], MAX_COORD), _uint(d[3], MAX_COORD),
                                 _uint(d[4] * 1000, 1000))
        j = 5
        if has_class(d):
            t += "," + token(label_of(labels, d[5]))
            j = 6
        if len(d) >= j + 2:
            t += "," + token(d[j]) + ",%d" % _uint(d[j + 1] * 1000, 1000)
        f.append(t)
    return _frame(" ".join(f))


def encode_event(seq, ms, kind, faces, name=""):
    """Presence change: kind "enter" or "leave"; faces is the face count (or the faces). Mode
    recognise adds "known" (with the person's name) and "stranger"."""
    if kind not in EVENTS:
        raise ValueError("event kind must be one of %s, not %r" % (", ".join(EVENTS), kind))
    if not isinstance(faces, int):
        faces = len(faces)
    body = "E %d %d %s %d" % (_wrap(seq), _wrap(ms), kind, _uint(faces, 999))
    if kind == "known":
        body += " " + escape(name)
    return _frame(body)


def encode_error(code, text=""):
    """An error the device hit: a short code (e.g. "model_load") and short free text."""
    return _frame("X " + escape(code) + " " + escape(text))


def _verb(v):
    if not v or len(v) > 16:
        raise ValueError("command verb must be 1-16 characters, got %r" % (v,))
    for c in v:
        if c not in "abcdefghijklmnopqrstuvwxyz_":
            raise ValueError("command verb %r: use a-z and _" % (v,))
    return v


def encode_command(cid, verb, args=()):
    """Host -> board: command number cid (0..MAX_ID), a verb ([a-z_]) and up to MAX_ARGS
    arguments (free text, escaped). ValueError when it would not fit MAX_COMMAND bytes."""
    if len(args) > MAX_ARGS:
        raise ValueError("at most %d command arguments, got %d" % (MAX_ARGS, len(args)))
    if not isinstance(cid, int) or cid < 0 or cid > MAX_ID:
        raise ValueError("command id %r is out of range 0..%d" % (cid, MAX_ID))
    f = ["C", str(cid), _verb(verb)]
    for a in args:
        f.append(escape(a))
    line = _frame(" ".join(f))
    if len(line) > MAX_COMMAND:
        raise ValueError("command line is %d bytes, the board reads at most %d" % (len(line), MAX_COMMAND))
    return line


def encode_ack(cid, ok, text=""):
    """Board -> host: the answer to command cid, "ok" or "err", and short free text (a value,
    or what was wrong)."""
    return _frame("A %d %s %s" % (_uint(cid, MAX_ID), "ok" if ok else "err", escape(text)))


# ---- decoder (host, and device self-tests) -------------------------------------------------

def decode(line):
    """dict with "type" (hello/frame/event/error) and "v"; None when the line is not protocol
    (no "@PF" marker); ProtocolError when a framed line is corrupt. Text before the last
    marker on the line (noise, a lost newline) is ignored."""
    if not isinstance(line, str):
        line = "".join([chr(b) for b in line])
    i = line.rfind(MARKER)
    if i < 0:
        return None
    s = line[i:]
    while s and s[-1] in "\r\n":
        s = s[:-1]
    j = s.rfind("*")
    if j < 0:
        raise ProtocolError("frame", "no checksum")
    tail = s[j + 1:]
    if len(tail) != 4 or tail[0] not in _HEX or tail[1] not in _HEX or tail[2] not in _HEX or tail[3] not in _HEX:
        raise ProtocolError("frame", "checksum must be 4 upper-case hex digits, got %r" % (tail,))
    body = s[:j]
    for c in body:
        if not (" " <= c <= "~"):
            raise ProtocolError("frame", "non-printable or non-ASCII character %r" % (c,))
    want = crc16(body)
    if int(tail, 16) != want:
        raise ProtocolError("checksum", "bad checksum %s (computed %04X)" % (tail, want))
    f = body.split(" ")
    if len(f) < 3 or f[0] != MARKER:
        raise ProtocolError("frame", "bad frame start")
    ver = _num(f[1], "version", 999999)
    if ver not in VERSIONS:
        raise ProtocolError("version", "protocol version %d, this side speaks %d" % (ver, VERSION), ver)
    t = TYPES.get(f[2])
    if t is None or (ver < 2 and t in V2_TYPES):
        raise ProtocolError("field", "unknown message type %r" % (f[2],))
    f = f[3:]
    if t == "frame":
        d = _dec_frame(f)
    elif t == "event":
        if len(f) < 3 or f[2] not in EVENTS or len(f) != (5 if f[2] == "known" else 4):
            raise ProtocolError("field", "bad event fields")
        d = {"type": t, "seq": _num(f[0], "seq", WRAP - 1),
             "ms": _num(f[1], "ms", WRAP - 1), "kind": f[2], "n": _num(f[3], "count", 999)}
        if f[2] == "known":
            d["name"] = unescape(f[4])
    elif t == "error":
        if len(f) != 2:
            raise ProtocolError("field", "bad error fields")
        d = {"type": t, "code": unescape(f[0]), "text": unescape(f[1])}
    elif t == "command":
        if len(f) < 2 or len(f) > 2 + MAX_ARGS:
            raise ProtocolError("field", "a command has an id, a verb and at most %d arguments" % MAX_ARGS)
        try:
            verb = _verb(f[1])
        except ValueError as e:
            raise ProtocolError("field", str(e))
        d = {"type": t, "id": _num(f[0], "id", MAX_ID), "verb": verb, "args": [unescape(a) for a in f[2:]]}
    elif t == "ack":
        if len(f) != 3 or f[1] not in ACK_STATUS:
            raise ProtocolError("field", "bad ack fields")
        d = {"type": t, "id": _num(f[0], "id", MAX_ID), "ok": f[1] == "ok", "text": unescape(f[2])}
    else:
        d = _dec_hello(f)
    d["v"] = ver
    return d


class LineReader:
    """Board side: bytes the host sends, in chunks of any size, to whole command lines.

    feed(data) -> list of decoded commands (dicts of decode()); a line is at most MAX_COMMAND
    bytes (a longer one is dropped whole and counted in .overlong), text without the marker is
    ignored, a corrupt line is counted in .corrupt and its error kept in .last_error; nothing
    received is ever evaluated. Holds at most MAX_COMMAND + 1 bytes between calls."""

    def __init__(self):
        self.buf = bytearray()
        self.skip = False       # inside a line that grew past MAX_COMMAND: drop to its end
        self.overlong = 0
        self.corrupt = 0
        self.last_error = ""

    def feed(self, data):
        out = []
        for b in data:
            if b == 10 or b == 13:
                if self.skip:
                    self.skip = False
                elif self.buf:
                    self._line(bytes(self.buf), out)
                self.buf = bytearray()
            elif not self.skip:
                if len(self.buf) >= MAX_COMMAND:
                    self.buf = bytearray()
                    self.skip = True
                    self.overlong += 1
                else:
                    self.buf.append(b)
        return out

    def _line(self, raw, out):
        try:
            d = decode(raw)
        except ProtocolError as e:
            self.corrupt += 1
            self.last_error = str(e)
            return
        if d is not None and d["type"] == "command":
            out.append(d)
        elif d is not None:
            self.corrupt += 1
            self.last_error = "field: a %s line is not a command" % d["type"]


def _dec_frame(f):
    if len(f) < 4:
        raise ProtocolError("field", "frame needs seq, ms, fps, count")
    n = _num(f[3], "face count", MAX_FACES)
    if len(f) != 4 + n:
        raise ProtocolError("field", "frame says %d faces but has %d" % (n, len(f) - 4))
    faces = []
    classes = []
    labelled = False
    for tok in f[4:]:
        p = tok.split(",")
        k = len(p)
        if k < 5 or k > 8:
            raise ProtocolError("field", "bad face %r" % (tok,))
        face = [_num(p[0], "x", MAX_COORD), _num(p[1], "y", MAX_COORD),
                _num(p[2], "w", MAX_COORD), _num(p[3], "h", MAX_COORD),
                _num(p[4], "score", 1000) / 1000.0]
        label = None
        j = 5
        if k == 6 or k == 8:
            label = _text(p[5], "label", tok)
            labelled = True
            j = 6
        if k >= 7:
            face += [_text(p[j], "name", tok), _num(p[j + 1], "similarity", 1000) / 1000.0]
        faces.append(face)
        classes.append(label)
    d = {"type": "frame", "seq": _num(f[0], "seq", WRAP - 1),
         "ms": _num(f[1], "ms", WRAP - 1), "fps": _dec(f[2], 1, "fps", 9999),
         "n": n, "faces": faces}
    if labelled:
        d["classes"] = classes
    return d


def _text(tok, what, face):
    # an escaped text item of a face token; never empty on the wire ("" is sent as "-")
    if not tok:
        raise ProtocolError("field", "empty %s in face %r" % (what, face))
    return unescape(tok)


def _dec_hello(f):
    d = {"type": "hello"}
    names = {}
    for w, name in HELLO_KEYS:
        names[w] = name
    for tok in f:
        k = tok.find("=")
        if k <= 0:
            raise ProtocolError("field", "bad hello field %r" % (tok,))
        key = tok[:k]
        val = tok[k + 1:]
        name = names.get(key, key)
        if name in d:
            raise ProtocolError("field", "repeated hello field %r" % (key,))
        if key == "bytes":
            d[name] = _num(val, key, WRAP - 1)
        elif key == "in" or key == "cam":
            d[name] = _size(val, key)
        elif key == "score" or key == "nms":
            d[name] = _dec(val, 3, key, 1000)
        else:
            d[name] = unescape(val)
    for w, name in HELLO_KEYS:
        if name not in d:
            raise ProtocolError("field", "hello lacks %r" % (w,))
    return d
