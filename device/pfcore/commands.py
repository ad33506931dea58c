"""Commands the host sends while the app runs (protocol v2, docs/protocol.md "Commands").

Commands(cfg).handle(cmd) -> (ok, text, todo): cmd is a decoded command line
(pfcore.protocol.LineReader); ok and text go back in the ack; todo names what the app must do
after the ack: "" (nothing), "hello" (send the hello line again), "model" (reload the model:
the firmware decoders take their thresholds when the model is loaded), "presence" (the
enter/leave counts changed), "enrol" (start an enrolment: self.enrol_request holds
(command id, name, shots); the app sends this command's ack itself when the enrolment ends,
"NAME K" or an err text, and sends none now). A change lasts until the board restarts:
/flash/picoface.json stays as `picoface flash` wrote it. Never raises on any input.
"""

from pfcore import config, gallery

# settable at run time -> what the app must do after the change
SETTABLE = {"score": "model", "nms": "model", "max_faces": "", "enter_frames": "presence",
            "leave_frames": "presence", "send_frames": "", "frame_every": "", "fps_window": "", "debug": ""}
VERBS = ("ping", "hello", "get", "set", "gallery_list", "gallery_rm", "gallery_rename", "gallery_get",
         "gallery_put", "enrol")
# An ack's text is cut there (pfcore.protocol.MAX_TEXT, applied by escape() to every text field),
# so gallery_list and gallery_get page. Kept for acks too: a longer ack needs a protocol change
# (encode_ack cuts at MAX_TEXT for every board already flashed), and acks share the serial line's
# per-frame budget with the frame lines (docs/protocol.md, "Line budget"); hex is all _SAFE
# characters, so 60 characters carry (60 - len("DIM TOTAL ")) / 2 embedding bytes a page.
LIST_TEXT = 60
MAX_DIM = 1024      # bytes of one embedding gallery_put stages in RAM
MAX_SHOTS = 20      # embeddings one enrolment collects
_HEXDIGITS = "0123456789abcdefABCDEF"


def parse_value(text):
    """A setting's value from command text: true/false, an integer, a number, else None."""
    if text == "true":
        return True
    if text == "false":
        return False
    try:
        return int(text)
    except ValueError:
        pass
    try:
        v = float(text)
    except ValueError:
        return None
    return v if v == v else None


def show(v):
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, float):
        return "%.3f" % v
    return str(v)


class Commands:
    def __init__(self, cfg, faces=None):
        self.cfg = cfg
        self.faces = faces          # a pfcore.gallery.Gallery, loaded at the first gallery command
        self.loaded = False
        self.staged = None          # gallery_put in progress: [name, dim, next offset, bytearray]
        self.enrol_request = None   # (command id, name, shots) of the last accepted enrol; the app takes it

    def handle(self, cmd):
        try:
            if cmd["verb"] == "enrol":
                return self._enrol(cmd["id"], cmd["args"])
            return self._handle(cmd["verb"], cmd["args"])
        except Exception as e:          # a bug here must not stop the camera loop
            return False, "internal: %s" % (e,), ""

    def _enrol(self, cid, args):
        # "enrol NAME SHOTS": only in mode recognise, where the app collects SHOTS embeddings of the
        # face in view over the next frames and acks when that ends (pfcore.recognise, device/main.py)
        if self.cfg.get("mode") != "recognise":
            return False, "enrol needs mode recognise", ""
        if len(args) != 2:
            return False, "enrol NAME SHOTS", ""
        p = gallery.check_name(args[0])
        if p:
            return False, p, ""
        shots = parse_value(args[1])
        if not isinstance(shots, int) or isinstance(shots, bool) or not 1 <= shots <= MAX_SHOTS:
            return False, "shots must be 1-%d, got %r" % (MAX_SHOTS, args[1]), ""
        self.enrol_request = (cid, args[0], shots)
        return True, "", "enrol"

    def _handle(self, verb, args):
        if verb == "ping":
            return (True, "pong", "") if not args else (False, "ping takes no arguments", "")
        if verb == "hello":
            return (True, "", "hello") if not args else (False, "hello takes no arguments", "")
        if verb == "get":
            if len(args) != 1 or args[0] not in SETTABLE:
                return False, "get KEY, KEY one of " + ",".join(sorted(SETTABLE)), ""
            return True, "%s=%s" % (args[0], show(self.cfg[args[0]])), ""
        if verb == "set":
            if len(args) != 2 or args[0] not in SETTABLE:
                return False, "set KEY VALUE, KEY one of " + ",".join(sorted(SETTABLE)), ""
            key = args[0]
            v = parse_value(args[1])
            if v is None:
                return False, "%s: %r is not a value (a number, true or false)" % (key, args[1]), ""
            problem = config.check_value(key, v)
            if problem:
                return False, problem, ""
            if config.RULES[key][0] == "float":
                v = float(v)
            self.cfg[key] = v
            return True, "%s=%s" % (key, show(v)), SETTABLE[key]
        if verb.startswith("gallery_") and verb in VERBS:
            return self._gallery(verb, args)
        return False, "unknown command %r; known: %s" % (verb, ",".join(VERBS)), ""

    def _gallery(self, verb, args):
        g = self.faces
        if g is None:
            return False, "this app has no gallery", ""
        if not self.loaded:
            g.load()
            self.loaded = True
        if verb == "gallery_list":
            # "<count> <next> name:n,name:n...": as many names from START as fit one ack; the
            # host asks again from <next> until it equals <count>
            start = parse_value(args[0]) if args else 0
            names = g.names()
            if len(args) > 1 or not isinstance(start, int) or start < 0:
                return False, "gallery_list [START]", ""
            parts = []
            i = start
            while i < len(names):
                more = parts + ["%s:%d" % names[i]]
                if len("%d %d %s" % (len(names), i + 1, ",".join(more))) > LIST_TEXT:
                    break
                parts = more
                i += 1
            return True, "%d %d %s" % (len(names), max(i, start), ",".join(parts)), ""
        if verb == "gallery_get":
            return self._get(g, args)
        if verb == "gallery_put":
            return self._put(g, args)
        if verb == "gallery_rm":
            if len(args) != 1:
                return False, "gallery_rm NAME", ""
            n = g.remove(args[0])
        else:
            if len(args) != 2:
                return False, "gallery_rename OLD NEW", ""
            n = g.rename(args[0], args[1])
            if isinstance(n, str):
                return False, n, ""
        if n == 0:
            return False, "no face named %r" % args[0], ""
        try:
            g.save()
        except OSError as e:
            g.load()        # what /flash still holds
            return False, "gallery write failed (%s); the previous gallery is kept" % (e,), ""
        return True, "%d" % n, ""

    def _get(self, g, args):
        # "<dim> <total> <hex>": the int8 embeddings of every face enrolled as NAME, one after the
        # other (total = faces x dim bytes), as hex from byte OFFSET, as many bytes as fit one ack;
        # the host asks again from OFFSET + bytes received until it has total
        off = parse_value(args[1]) if len(args) == 2 else 0
        if not 1 <= len(args) <= 2 or not isinstance(off, int) or isinstance(off, bool) or off < 0:
            return False, "gallery_get NAME [OFFSET]", ""
        embs = [e[1] for e in g.entries if e[0] == args[0]]
        if not embs:
            return False, "no face named %r" % args[0], ""
        dim = len(embs[0])
        total = dim * len(embs)
        if off >= total:
            return False, "offset %d is past the %d bytes of %r" % (off, total, args[0]), ""
        head = "%d %d " % (dim, total)
        n = min((LIST_TEXT - len(head)) // 2, total - off)
        out = []
        for i in range(off, off + n):
            out.append("%02x" % embs[i // dim][i % dim])
        return True, head + "".join(out), ""

    def _put(self, g, args):
        # "gallery_put NAME DIM OFFSET HEX": bytes OFFSET.. of NAME's embeddings, one after the
        # other. OFFSET 0 starts NAME afresh; each time DIM bytes are complete the face is enrolled
        # and the gallery saved (the first one replaces the faces NAME had). Ack: "<next> <faces>".
        if len(args) != 4:
            return False, "gallery_put NAME DIM OFFSET HEX", ""
        name = args[0]
        p = gallery.check_name(name)
        if p:
            return False, p, ""
        dim = parse_value(args[1])
        off = parse_value(args[2])
        if not isinstance(dim, int) or isinstance(dim, bool) or not 1 <= dim <= MAX_DIM:
            return False, "dim must be 1-%d, got %r" % (MAX_DIM, args[1]), ""
        if not isinstance(off, int) or isinstance(off, bool) or off < 0:
            return False, "offset must be an integer >= 0, got %r" % (args[2],), ""
        h = args[3]
        if not h or len(h) % 2:
            return False, "the bytes must be hex, two digits a byte", ""
        for c in h:
            if c not in _HEXDIGITS:
                return False, "the bytes must be hex, two digits a byte", ""
        data = bytearray()
        for i in range(0, len(h), 2):
            data.append(int(h[i:i + 2], 16))
        others = [e for e in g.entries if e[0] != name]
        if g.dim and others and dim != g.dim:
            return False, "dim %d differs from the gallery's %d" % (dim, g.dim), ""
        st = self.staged
        if off == 0:
            if len(others) >= g.max_entries:
                self.staged = None
                return False, "gallery full (%d faces): remove someone first" % g.max_entries, ""
            st = self.staged = [name, dim, 0, bytearray(), True]
        elif st is None or st[0] != name or st[1] != dim or st[2] != off:
            want = "%d" % st[2] if (st is not None and st[0] == name and st[1] == dim) else "0"
            return False, "offset %d, expected %s: start again from 0" % (off, want), ""
        if off % dim + len(data) > dim:
            return False, "a gallery_put slice must not cross the end of an embedding", ""
        st[3].extend(data)
        st[2] = off + len(data)
        if len(st[3]) == dim:
            emb = bytes(st[3])
            st[3] = bytearray()
            if st[4]:
                g.remove(name)          # the first complete face replaces what NAME had
                st[4] = False
                if not g.entries:
                    g.dim = None        # an empty gallery takes the new dim
            p = g.add(name, emb)
            if p is None:
                try:
                    g.save()
                except OSError as e:
                    p = "gallery write failed (%s); the previous gallery is kept" % (e,)
            if p is not None:
                g.load()                # what /flash still holds
                self.staged = None
                return False, p, ""
        n = 0
        for e in g.entries:
            if e[0] == name:
                n += 1
        return True, "%d %d" % (st[2], n), ""
