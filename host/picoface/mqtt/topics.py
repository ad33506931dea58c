"""Topic names and payloads: what a board publishes under ``PREFIX/<board-id>/``.

=========  ========  =====================================================================
topic      retained  payload
=========  ========  =====================================================================
state      yes       JSON {"state": "online"|"offline", board, firmware, app, model, ...};
                     the connection's last will sets {"state": "offline"}
presence   yes       ON / OFF (enter / leave events)
event      no        JSON {"kind": "enter"|"leave"|"known"|"stranger", "n", "seq", "ms"[, "name"]}: every event
faces      yes       the face count ("0", "2"), on change, at most N messages/s
frame      no        JSON {"seq", "ms", "fps", "n", "faces": [[x, y, w, h, score], ...]}, opt-in; a face
                     of a model with classes has its label after the score: [x, y, w, h, score, label]
error      no        JSON {"code", "text"}: a board's error line
=========  ========  =====================================================================
"""

import json
import re

ONLINE, OFFLINE = "online", "offline"
ON, OFF = "ON", "OFF"
MAX_ID = 48

HELLO_FIELDS = ("board", "firmware", "app", "model", "model_hash", "model_bytes")


def sanitise(text, fallback="board"):
    """A board id usable as one topic level and in HA unique ids: a-z 0-9 _ - only."""
    s = re.sub(r"[^a-z0-9_-]+", "_", str(text or "").lower()).strip("_-")[:MAX_ID]
    return s or fallback


def topic(prefix, board_id, leaf):
    return "%s/%s/%s" % (prefix, board_id, leaf)


def dumps(obj):
    return json.dumps(obj, separators=(",", ":"), sort_keys=True)


def state_payload(state, hello=None, source=None):
    d = {"state": state}
    if hello:
        d.update({k: hello[k] for k in HELLO_FIELDS if k in hello})
    if source:
        d["source"] = source
    return dumps(d)


def will_payload():
    return dumps({"state": OFFLINE})


def presence_payload(kind):
    return ON if kind == "enter" else OFF


def event_payload(msg):
    out = {"kind": msg["kind"], "n": msg["n"], "seq": msg["seq"], "ms": msg["ms"]}
    if "name" in msg:
        out["name"] = msg["name"]       # a "known" event (mode recognise)
    return dumps(out)


def faces_payload(n):
    return str(int(n))


def frame_payload(msg):
    classes = msg.get("classes") or []
    faces = []
    for i, f in enumerate(msg["faces"]):
        x, y, w, h, s = f[:5]
        face = [int(x), int(y), int(w), int(h), round(s, 3)]
        if i < len(classes) and classes[i] is not None:
            face.append(classes[i])         # the face's class (a multi-class model: "mask", "no_mask")
        faces.append(face)
    return dumps({"seq": msg["seq"], "ms": msg["ms"], "fps": msg["fps"], "n": msg["n"], "faces": faces})


def error_payload(msg):
    return dumps({"code": msg.get("code", ""), "text": msg.get("text", "")})
