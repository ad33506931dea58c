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
VERBS = ("ping", "hello", "get", "set")


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
    def __init__(self, cfg):
        self.cfg = cfg

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
        return False, "unknown command %r; known: %s" % (verb, ",".join(VERBS)), ""
