"""Commands the host sends while the app runs (protocol v2, docs/protocol.md "Commands").

Commands(cfg).handle(cmd) -> (ok, text, todo): cmd is a decoded command line
(pfcore.protocol.LineReader); ok and text go back in the ack; todo names what the app must do
after the ack: "" (nothing), "hello" (send the hello line again), "model" (reload the model:
the firmware decoders take their thresholds when the model is loaded), "presence" (the
enter/leave counts changed). A change lasts until the board restarts: /flash/picoface.json
stays as `picoface flash` wrote it. Never raises on any input.
"""

from pfcore import config

# settable at run time -> what the app must do after the change
SETTABLE = {"score": "model", "nms": "model", "max_faces": "", "enter_frames": "presence",
            "leave_frames": "presence", "send_frames": "", "frame_every": "", "fps_window": "", "debug": ""}
VERBS = ("ping", "hello", "get", "set", "gallery_list", "gallery_rm", "gallery_rename")
LIST_TEXT = 60      # an ack's text is cut there (pfcore.protocol.MAX_TEXT): gallery_list pages


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

    def handle(self, cmd):
        try:
            return self._handle(cmd["verb"], cmd["args"])
        except Exception as e:          # a bug here must not stop the camera loop
            return False, "internal: %s" % (e,), ""

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
