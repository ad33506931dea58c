"""The gallery of enrolled faces: names and int8 embeddings in a file on /flash that survives
reboots and a power cut in the middle of a write.

Two slots (gallery.a, gallery.b): a save writes the whole gallery into the slot that does not
hold the newest good copy, with a sequence number one higher and a CRC-16 over every byte, and
never touches the other slot. A load reads both and keeps the good one with the higher number,
so a write that was cut (power, reset, a full filesystem) leaves the previous gallery. No rename
is needed (not every firmware's filesystem has an atomic one).

Slot layout (little-endian): b"PFG1", seq u32, dim u16, count u16, then per entry a name length
u8, the name (UTF-8, 1..MAX_NAME bytes) and dim int8 values, then the CRC-16/CCITT-FALSE of all
that (u16; pfcore.protocol.crc16). Never raises on a bad file: load() reports it.
"""

from pfcore.protocol import crc16

MAGIC = b"PFG1"
MAX_NAME = 24
PATHS = ("/flash/gallery.a", "/flash/gallery.b")


def _u(data, i, n):
    v = 0
    for k in range(n):
        v |= data[i + k] << (8 * k)
    return v


def _le(v, n):
    return bytes([(v >> (8 * k)) & 0xFF for k in range(n)])


def check_name(name):
    """None when name can be enrolled, else what is wrong."""
    if not isinstance(name, str) or not name:
        return "a name must be 1-%d characters" % MAX_NAME
    raw = name.encode()
    if len(raw) > MAX_NAME:
        return "name %r is longer than %d bytes" % (name, MAX_NAME)
    for c in name:
        if c < " " or c == "\x7f":
            return "name %r has a control character" % (name,)
        if c in ",:":
            return "name %r has a ',' or ':' (they separate names in gallery_list)" % (name,)
    return None


def parse(data, dim=None):
    """(seq, dim, entries) of one slot's bytes, or None when they are not a whole good slot."""
    if data is None or len(data) < 14 or data[:4] != MAGIC:
        return None
    if _u(data, len(data) - 2, 2) != crc16(data[:-2]):
        return None
    seq, d, count = _u(data, 4, 4), _u(data, 8, 2), _u(data, 10, 2)
    if dim is not None and d != dim:
        return None
    i = 12
    entries = []
    for _ in range(count):
        if i >= len(data) - 2:
            return None
        n = data[i]
        i += 1
        if not 1 <= n <= MAX_NAME or i + n + d > len(data) - 2:
            return None
        try:
            name = bytes(data[i:i + n]).decode()
        except Exception:
            return None
        i += n
        entries.append([name, bytes(data[i:i + d])])
        i += d
    if i != len(data) - 2:
        return None
    return seq, d, entries


def pack(seq, dim, entries):
    out = bytearray(MAGIC)
    out += _le(seq, 4) + _le(dim, 2) + _le(len(entries), 2)
    for name, emb in entries:
        raw = name.encode()
        out += bytes([len(raw)]) + raw + bytes(emb)
    out += _le(crc16(bytes(out)), 2)
    return bytes(out)


class Gallery:
    """Enrolled faces in memory and on /flash. ``opener``: open() (tests pass one that fails)."""

    def __init__(self, dim=None, max_entries=100, paths=PATHS, opener=open):
        # dim None: whatever the file holds (the app before a recognition model is loaded)
        self.dim = dim
        self.max_entries = max_entries
        self.paths = paths
        self.opener = opener
        self.entries = []
        self.seq = 0
        self.slot = -1          # the slot holding self.seq's copy (-1: none yet)

    def _read(self, path):
        try:
            with self.opener(path, "rb") as f:
                return f.read()
        except OSError:
            return None

    def load(self):
        """Read the newest good slot; returns a problem text (a slot was bad) or None."""
        best = None
        bad = []
        for k in range(len(self.paths)):
            data = self._read(self.paths[k])
            if data is None:
                continue
            got = parse(data, self.dim)
            if got is None:
                bad.append(self.paths[k])
            elif best is None or got[0] > best[0]:
                best = (got[0], k, got[2], got[1])
        if best is None:
            self.entries, self.seq, self.slot = [], 0, -1
        else:
            self.seq, self.slot, self.entries = best[0], best[1], best[2]
            if self.dim is None:
                self.dim = best[3]
        if bad:
            return "gallery: %s unreadable (a write was cut?); %d faces from the other copy" % (
                ", ".join(bad), len(self.entries))
        return None

    def save(self):
        """Write the gallery into the other slot (raises OSError: the old copy stays good)."""
        k = 0 if self.slot != 0 else 1
        data = pack(self.seq + 1, self.dim or 0, self.entries)
        with self.opener(self.paths[k], "wb") as f:
            f.write(data)
        self.seq += 1
        self.slot = k

    def names(self):
        """[(name, count)] in name order."""
        counts = {}
        for name, _ in self.entries:
            counts[name] = counts.get(name, 0) + 1
        return sorted(counts.items())

    def add(self, name, emb):
        """Enrol one embedding (in memory; save() writes it). Returns a problem text or None."""
        p = check_name(name)
        if p:
            return p
        if self.dim is None:
            self.dim = len(emb)
        if len(emb) != self.dim:
            return "embedding has %d values, the gallery holds %d" % (len(emb), self.dim)
        if len(self.entries) >= self.max_entries:
            return "gallery full (%d faces): remove someone first" % self.max_entries
        self.entries.append([name, bytes(emb)])
        return None

    def remove(self, name):
        n = len(self.entries)
        self.entries = [e for e in self.entries if e[0] != name]
        return n - len(self.entries)

    def rename(self, old, new):
        """Number of entries renamed, or a problem text."""
        p = check_name(new)
        if p:
            return p
        n = 0
        for e in self.entries:
            if e[0] == old:
                e[0] = new
                n += 1
        return n
