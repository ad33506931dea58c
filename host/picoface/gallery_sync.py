"""Copy a board's gallery of enrolled faces to a JSON file and back (``picoface gallery pull|push``),
through the protocol v2 commands ``gallery_get`` and ``gallery_put`` (docs/protocol.md, "Commands").

The file::

    {"format": "picoface-gallery", "version": 1, "dim": 128,
     "board": {"board": "maix_dock", "firmware": ..., "model": ..., ...},   # the board's hello
     "faces": [{"name": "ana", "embeddings": [[-3, 17, ...], ...]}, ...]}   # int8 values

An ack carries at most 60 characters of text and a command line at most 120 bytes, so both
directions page: a pull asks for each name's bytes from an offset until it has them all, a push
sends each embedding in slices that fit one command line.
"""

import json

from picoface.errors import PicofaceError
from pfcore import gallery as pfgallery
from pfcore.protocol import MAX_COMMAND, MAX_TEXT, encode_command

FORMAT = "picoface-gallery"
VERSION = 1
MAX_DIM = 1024          # pfcore.commands.MAX_DIM: the board stages one embedding in RAM


def _signed(b):
    return b - 256 if b > 127 else b


def pull(t, ask, names, hello, timeout=3.0):
    """The gallery as the file's dict. ``ask(t, verb, args, timeout)`` -> ack text (raises on err);
    ``names``: [(name, count)] from gallery_list; ``hello``: the board's decoded hello."""
    dim = None
    faces = []
    for name, _ in names:
        data = bytearray()
        total = None
        while total is None or len(data) < total:
            d, tot, hexed = (ask(t, "gallery_get", [name, str(len(data))], timeout).split(" ") + ["", ""])[:3]
            chunk = bytes.fromhex(hexed)
            if not chunk:
                raise PicofaceError("the board sent no bytes of %r from offset %d" % (name, len(data)),
                                    "update the app on the board (`picoface flash`)")
            d, total = int(d), int(tot)
            data += chunk
        if dim is not None and d != dim:
            raise PicofaceError("the board's faces have %d and %d values" % (dim, d),
                                "its gallery is damaged: remove %r and enrol again" % name)
        dim = d
        embs = [[_signed(b) for b in data[i:i + d]] for i in range(0, len(data), d)]
        faces.append({"name": name, "embeddings": embs})
    info = {k: v for k, v in (hello or {}).items() if k not in ("type", "v")}
    return {"format": FORMAT, "version": VERSION, "dim": dim or 0, "board": info, "faces": faces}


def check(doc, where):
    """The file's (dim, [(name, [bytes, ...])]); PicofaceError naming the first problem."""
    def bad(what):
        return PicofaceError("%s: %s" % (where, what), "write it with `picoface gallery pull` (format %s "
                                                       "version %d)" % (FORMAT, VERSION))

    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise bad("not a picoface gallery file (no \"format\": \"%s\")" % FORMAT)
    if doc.get("version") != VERSION:
        raise bad("version %r, this picoface reads %d" % (doc.get("version"), VERSION))
    dim = doc.get("dim")
    faces = doc.get("faces")
    if not isinstance(faces, list):
        raise bad("\"faces\" must be a list")
    if faces and (isinstance(dim, bool) or not isinstance(dim, int) or not 1 <= dim <= MAX_DIM):
        raise bad("\"dim\" must be 1-%d, got %r" % (MAX_DIM, dim))
    out = []
    seen = set()
    for i, f in enumerate(faces):
        name = f.get("name") if isinstance(f, dict) else None
        problem = pfgallery.check_name(name)
        if problem:
            raise bad("face %d: %s" % (i, problem))
        if name in seen:
            raise bad("%r appears twice in \"faces\"" % name)
        seen.add(name)
        embs = f.get("embeddings")
        if not isinstance(embs, list) or not embs:
            raise bad("%r has no \"embeddings\" (a list of lists of %d integers)" % (name, dim))
        rows = []
        for k, e in enumerate(embs):
            ok = isinstance(e, list) and len(e) == dim and all(
                isinstance(v, int) and not isinstance(v, bool) and -128 <= v <= 127 for v in e)
            if not ok:
                raise bad("%r embedding %d must be %d integers in -128..127" % (name, k, dim))
            rows.append(bytes(v & 0xFF for v in e))
        out.append((name, rows))
    return dim, out


def load(path):
    """check() of a gallery JSON file; PicofaceError when it cannot be read."""
    try:
        text = open(path, encoding="utf-8").read()
    except OSError as e:
        raise PicofaceError("cannot read %s: %s" % (path, e.strerror or e), "check the path") from None
    try:
        doc = json.loads(text)
    except ValueError as e:
        raise PicofaceError("%s is not valid JSON: %s" % (path, e), "write it with `picoface gallery pull`") from None
    return check(doc, path)


def slice_bytes(name, dim, off):
    """How many bytes of one gallery_put slice fit a command line (MAX_COMMAND) for this name,
    dim and offset: the hex costs two characters a byte, and an argument is cut at MAX_TEXT."""
    base = len(encode_command(9999, "gallery_put", [name, str(dim), str(off), "00"])) - 2
    n = min((MAX_COMMAND - base) // 2, MAX_TEXT // 2)
    if n < 1:
        raise PicofaceError("name %r is too long to send (escaped it leaves no room in a %d-byte command line)"
                            % (name, MAX_COMMAND), "rename it shorter, in ASCII, in the file")
    return n


def push(t, ask, dim, faces, timeout=3.0, progress=None):
    """Send every (name, [embedding bytes]) to the board with gallery_put; the board replaces what each
    name had once its first embedding is complete. Returns the number of faces sent."""
    sent = 0
    for name, rows in faces:
        off = 0
        data = b"".join(rows)
        while off < len(data):
            end_of_emb = (off // dim + 1) * dim
            n = min(slice_bytes(name, dim, off), end_of_emb - off)
            text = ask(t, "gallery_put", [name, str(dim), str(off), data[off:off + n].hex()], timeout)
            nxt = int(text.split(" ")[0])
            if nxt != off + n:
                raise PicofaceError("the board took %r up to byte %d, not %d" % (name, nxt, off + n),
                                    "push again; update the app on the board if it repeats")
            off += n
        sent += len(rows)
        if progress is not None:
            progress(name, len(rows))
    return sent
