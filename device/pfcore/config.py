"""Device settings: DEFAULTS, and load() that checks every value and never raises.

load(text_or_dict) -> (cfg, problems). A bad value falls back to its default and adds one
problem string; an unknown key is dropped with a problem. The input is JSON text (the
/flash/picoface.json written by `picoface flash`, see picoface.boards.device_config), a
dict, bytes, or None (all defaults).
"""

from pfcore import protocol
from pfcore.compat import json

DEFAULTS = {
    "board": "",              # board name, for the hello line
    "camera": {"w": 320, "h": 240, "framesize": "QVGA", "pixformat": "RGB565"},
    "model": {},              # model subset (placement, size, output spec, fit); see MODEL_KEYS
    "mode": "detect",         # detect: the detector every frame; gate: only while the gate sees a face
    "gate": {},               # the gate model (mode gate): placement, size, output spec, threshold; GATE_KEYS
    "gate_on_frames": 2,      # frames at or above the gate threshold before the detector runs every frame
    "gate_off_frames": 5,     # frames below it (and no face found) before it stops again
    "gate_every": 15,         # while the gate is closed the detector still runs every N frames (0 = never)
    "recog": {},              # the recognition nets (mode recognise): paths, input, grid, dim, threshold; RECOG_KEYS
    "known_frames": 3,        # frames naming the same enrolled person before a "known" event
    "stranger_frames": 5,     # frames of a face matching nobody before a "stranger" event
    "forget_frames": 10,      # frames without a face before the current identity is forgotten
    "track_frames": 5,        # embeddings of the largest face averaged before matching (pfcore.recognise.Track)
    "enrol_shots": 5,         # embeddings averaged per enrolment by the button
    "enrol_timeout_ms": 10000,  # an enrolment without a face for this long ends with an error
    "score": 0.5,             # detection score threshold
    "nms": 0.3,               # NMS IoU threshold
    "max_faces": 10,          # faces kept and sent per frame (protocol MAX_FACES is the cap)
    "enter_frames": 2,        # frames with faces before an "enter" event
    "leave_frames": 5,        # frames without faces before a "leave" event
    "led": True,              # LED on/off, or the board's LED description (dict)
    "lcd": True,              # draw on the LCD when the board has one
    "button": True,           # the user button: True (the HAL's default), False (none) or {pin, active_low}
    "baud": 115200,           # serial baud of the protocol UART
    "send_frames": True,      # send a frame line per frame (events and errors are always sent)
    "frame_every": 1,         # ... every N-th frame
    "report_fps": True,       # measure and report frames per second
    "fps_window": 10,         # frames averaged for the fps figure
    "watchdog_ms": 0,         # hardware watchdog timeout, 0 = off
    "debug": False,           # print extra text (not protocol) on the console
}

BAUDS = (9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600, 1500000, 2000000)

# key: (kind, lo, hi) for numbers, (kind, choices) for str, (kind,) otherwise
_RULES = {
    "board": ("str",),
    "camera": ("dict",),
    "model": ("dict",),
    "mode": ("choice", ("detect", "gate", "recognise")),
    "recog": ("dict",),
    "known_frames": ("int", 1, 1000),
    "stranger_frames": ("int", 1, 1000),
    "forget_frames": ("int", 1, 100000),
    "track_frames": ("int", 1, 30),
    "enrol_shots": ("int", 1, 20),
    "enrol_timeout_ms": ("int", 1000, 600000),
    "gate": ("dict",),
    "gate_on_frames": ("int", 1, 1000),
    "gate_off_frames": ("int", 1, 1000),
    "gate_every": ("int", 0, 100000),
    "score": ("float", 0.0, 1.0),
    "nms": ("float", 0.0, 1.0),
    "max_faces": ("int", 1, 10),
    "enter_frames": ("int", 1, 1000),
    "leave_frames": ("int", 1, 1000),
    "led": ("bool_or_dict",),
    "lcd": ("bool",),
    "button": ("bool_or_dict",),
    "baud": ("int", 1200, 4000000),
    "send_frames": ("bool",),
    "frame_every": ("int", 1, 1000),
    "report_fps": ("bool",),
    "fps_window": ("int", 1, 1000),
    "watchdog_ms": ("int", 0, 600000),
    "debug": ("bool",),
}

CAMERA_KEYS = {"w": ("int", 1, 4096), "h": ("int", 1, 4096), "framesize": ("str",),
               "pixformat": ("str",)}
LED_KEYS = {"kind": ("str",), "r": ("int", 0, 255), "g": ("int", 0, 255), "b": ("int", 0, 255),
            "active_low": ("bool",), "enabled": ("bool",)}
# known model keys are checked; other model keys (contract extras) pass through unchecked
MODEL_KEYS = {
    "format": ("str",), "placement": ("str",), "name": ("str",), "path": ("str",),
    "address": ("int", 0, 0x3FFFFFFF), "bytes": ("int", 0, 0x3FFFFFFF), "sha256": ("str",),
    "w": ("int", 1, 4096), "h": ("int", 1, 4096), "grid_w": ("int", 1, 1024),
    "grid_h": ("int", 1, 1024), "classes": ("int", 1, 1000), "anchors": ("anchors",),
    "layout": ("choice", ("NCHW", "NHWC")), "fit": ("choice", ("stretch", "crop", "letterbox")),
    "dtype": ("choice", ("float32", "int8", "uint8")), "scale": ("float", 1e-12, 1e12),
    "zero_point": ("int", -255, 255), "labels": ("labels",),
}
# model.labels: one name per class (model.classes of them), each sent with its faces (protocol
# frame line), at most protocol.MAX_LABEL bytes once escaped, so the longest frame line stays
# within protocol.MAX_LINE; no control characters and no "," (the host writes class lists as "a,b")

GATE_KEYS = {
    "format": ("str",), "placement": ("str",), "name": ("str",), "path": ("str",),
    "address": ("int", 0, 0x3FFFFFFF), "bytes": ("int", 0, 0x3FFFFFFF), "sha256": ("str",),
    "w": ("int", 1, 4096), "h": ("int", 1, 4096), "channels": ("int", 1, 3),
    "grid_w": ("int", 1, 1024), "grid_h": ("int", 1, 1024),
    "layout": ("choice", ("NCHW", "NHWC")), "dtype": ("choice", ("float32", "int8", "uint8")),
    "scale": ("float", 1e-12, 1e12), "zero_point": ("int", -255, 255), "threshold": ("float", 0.0, 1.0),
}

RECOG_KEYS = {
    "name": ("str",), "landmarks_path": ("str",), "embed_path": ("str",), "format": ("str",),
    "input": ("int", 8, 1024), "grid": ("int", 1, 64), "dim": ("int", 1, 1024), "points": ("int", 5, 5),
    "box_scale": ("float", 1.0, 4.0), "threshold": ("float", -1.0, 1.0), "max_entries": ("int", 1, 10000),
}
RECOG_NEEDS = ("landmarks_path", "embed_path", "input", "grid", "dim", "threshold")


def _is_bool(v):
    return v is True or v is False


def _is_num(v):
    return not _is_bool(v) and isinstance(v, (int, float))


def _check(name, v, rule):
    """None when v satisfies rule, else a problem text."""
    kind = rule[0]
    if kind == "bool":
        return None if _is_bool(v) else "%s must be true or false, got %r" % (name, v)
    if kind == "str":
        return None if isinstance(v, str) else "%s must be a string, got %r" % (name, v)
    if kind == "dict":
        return None if isinstance(v, dict) else "%s must be an object, got %r" % (name, v)
    if kind == "bool_or_dict":
        if _is_bool(v) or isinstance(v, dict):
            return None
        return "%s must be true, false or an object, got %r" % (name, v)
    if kind == "choice":
        if isinstance(v, str) and v in rule[1]:
            return None
        return "%s must be one of %s, got %r" % (name, "/".join(rule[1]), v)
    if kind == "anchors":
        ok = isinstance(v, (list, tuple)) and len(v) > 0
        if ok:
            for a in v:
                if not (isinstance(a, (list, tuple)) and len(a) == 2 and _is_num(a[0])
                        and _is_num(a[1]) and a[0] > 0 and a[1] > 0):
                    ok = False
        return None if ok else "%s must be a list of [w, h] pairs > 0, got %r" % (name, v)
    if kind == "labels":
        return _check_labels(name, v)
    if kind == "int":
        if _is_bool(v) or not isinstance(v, int):
            return "%s must be an integer, got %r" % (name, v)
    elif not _is_num(v) or v != v:
        return "%s must be a number, got %r" % (name, v)
    if v < rule[1] or v > rule[2]:
        return "%s=%r is out of range %r..%r" % (name, v, rule[1], rule[2])
    return None


def _check_labels(name, v):
    if not isinstance(v, (list, tuple)) or not v:
        return "%s must be a list of class names, got %r" % (name, v)
    for i in range(len(v)):
        t = v[i]
        if not isinstance(t, str) or not t:
            return "%s[%d] must be a non-empty string, got %r" % (name, i, t)
        for c in t:
            if ord(c) < 32 or ord(c) == 127 or c == ",":
                return "%s[%d] %r has a control character or a comma" % (name, i, t)
        if len(protocol.token(t)) > protocol.MAX_LABEL:
            return "%s[%d] %r is longer than %d bytes on the wire" % (name, i, t, protocol.MAX_LABEL)
        for k in range(i):
            if v[k] == t:
                return "%s[%d] %r repeats a label" % (name, i, t)
    return None


def check_model_labels(labels, classes):
    """None when labels suit a model of `classes` classes (MODEL_KEYS "labels", one a class),
    else a problem text."""
    p = _check_labels("model.labels", labels)
    if p is None and len(labels) != classes:
        p = "model.labels has %d name(s) for %d classes (model.classes)" % (len(labels), classes)
    return p


RULES = _RULES


def check_value(key, v):
    """None when v is a valid value of top-level setting key, else a problem text."""
    rule = _RULES.get(key)
    if rule is None:
        return "unknown key %r" % (key,)
    return _check(key, v, rule)


def _sub(name, given, default, rules, strict, problems):
    out = {}
    for k in default:
        out[k] = default[k]
    for k in given:
        v = given[k]
        rule = rules.get(k)
        if rule is None:
            if strict:
                problems.append("unknown key %s.%s ignored" % (name, k))
            else:
                out[k] = v
            continue
        p = _check(name + "." + k, v, rule)
        if p is None:
            out[k] = float(v) if rule[0] == "float" else v
        else:
            problems.append(p + ("; using default" if k in default else "; ignored"))
    return out


def defaults():
    """A fresh copy of DEFAULTS (nested dicts copied too)."""
    cfg = {}
    for k in DEFAULTS:
        v = DEFAULTS[k]
        cfg[k] = dict(v) if isinstance(v, dict) else v
    return cfg


def load(text_or_dict=None):
    cfg = defaults()
    problems = []
    given = text_or_dict
    if given is None:
        return cfg, problems
    if isinstance(given, (bytes, bytearray)):
        try:
            given = bytes(given).decode("utf-8")
        except Exception:
            return cfg, ["config is not UTF-8 text; using all defaults"]
    if isinstance(given, str):
        try:
            given = json.loads(given)
        except Exception:
            return cfg, ["config is not valid JSON; using all defaults"]
    if not isinstance(given, dict):
        return cfg, ["config must be a JSON object, got %r; using all defaults" % (type(given).__name__,)]
    for k in given:
        v = given[k]
        rule = _RULES.get(k)
        if rule is None:
            problems.append("unknown key %r ignored" % (k,))
            continue
        p = _check(k, v, rule)
        if p is not None:
            problems.append(p + "; using default %r" % (DEFAULTS[k],))
            continue
        if k == "camera":
            v = _sub(k, v, DEFAULTS[k], CAMERA_KEYS, True, problems)
        elif k == "model":
            v = _sub(k, v, DEFAULTS[k], MODEL_KEYS, False, problems)
            if "labels" in v:
                # each name was checked with the other keys (_sub, MODEL_KEYS); here their count
                if len(v["labels"]) == v.get("classes", 1):
                    v["labels"] = list(v["labels"])
                else:
                    problems.append("model.labels has %d name(s) for %d classes (model.classes); ignored"
                                    % (len(v["labels"]), v.get("classes", 1)))
                    del v["labels"]
        elif k == "gate":
            v = _sub(k, v, DEFAULTS[k], GATE_KEYS, False, problems)
        elif k == "recog":
            v = _sub(k, v, DEFAULTS[k], RECOG_KEYS, False, problems)
        elif k == "led" and isinstance(v, dict):
            v = _sub(k, v, {"enabled": True}, LED_KEYS, True, problems)
        elif rule[0] == "float":
            v = float(v)
        cfg[k] = v
    if cfg["baud"] not in BAUDS:
        problems.append("baud=%r is not a standard rate (%s); using %d" % (
            cfg["baud"], ", ".join([str(b) for b in BAUDS]), DEFAULTS["baud"]))
        cfg["baud"] = DEFAULTS["baud"]
    if cfg["mode"] == "gate":
        for k in ("w", "h", "threshold"):
            if k not in cfg["gate"]:
                problems.append("mode gate needs gate.%s; the detector runs every frame" % k)
                cfg["mode"] = "detect"
                break
        if cfg["mode"] == "gate" and "path" not in cfg["gate"] and "address" not in cfg["gate"]:
            problems.append("mode gate needs gate.path or gate.address; the detector runs every frame")
            cfg["mode"] = "detect"
    if cfg["mode"] == "recognise":
        for k in RECOG_NEEDS:
            if k not in cfg["recog"]:
                problems.append("mode recognise needs recog.%s; the app only detects" % k)
                cfg["mode"] = "detect"
                break
    return cfg, problems


def led_enabled(cfg):
    led = cfg.get("led", True)
    if isinstance(led, dict):
        return led.get("enabled", True) is True
    return led is True
