"""Model contract: the ``model.json`` written beside every model artifact (ARCHITECTURE §4).

``write_contract(path, dict)`` validates and writes atomically (it fills ``contract``; and
``bytes``/``sha256`` from the artifact when the file exists beside it); ``load_contract(path)``
reads and validates. ``path`` may be the JSON file, a folder holding ``model.json``, or an
artifact (then ``<artifact stem>.json`` beside it, else ``model.json`` if its ``file`` is that
artifact). A shipped folder has one JSON per artifact (``picoface_int8.json`` ...) and a
``model.json`` for the board's deployable artifact.
"""

import hashlib
import json
import math
from pathlib import Path

from picoface import atomic
from picoface.errors import PicofaceError
from picoface.paths import REPO_ROOT

CONTRACT_VERSION = 1
FORMATS = ("kmodel-v3", "kmodel-v4", "kmodel-v5", "tflite-int8", "tflite-float", "keras")
LAYOUTS = ("NHWC", "NCHW")
FITS = ("stretch", "crop", "letterbox")


def _fail(where, what, todo="fix or regenerate it (picoface export)"):
    raise PicofaceError("%s: %s" % (where, what), todo)


def _num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def validate_contract(c, where="model.json"):
    """Raise PicofaceError naming the first problem; return the dict unchanged."""
    if not isinstance(c, dict):
        _fail(where, "the contract must be a JSON object")
    required = ("contract", "name", "format", "file", "bytes", "sha256", "input", "output", "thresholds")
    for k in required:
        if k not in c:
            _fail(where, "missing key %r" % k)
    if c["contract"] != CONTRACT_VERSION:
        _fail(where, "contract version %r is not %d" % (c["contract"], CONTRACT_VERSION), "update picoface")
    if c["format"] not in FORMATS:
        _fail(where, "format %r is not one of %s" % (c["format"], ", ".join(FORMATS)))
    if not isinstance(c["name"], str) or not c["name"]:
        _fail(where, "name must be a non-empty string")
    if not isinstance(c["file"], str) or "/" in c["file"] or not c["file"]:
        _fail(where, "file must be a plain file name beside model.json")
    if not _int(c["bytes"]) or c["bytes"] <= 0:
        _fail(where, "bytes must be a positive integer")
    if not isinstance(c["sha256"], str) or len(c["sha256"]) != 64:
        _fail(where, "sha256 must be 64 hex digits")
    i = c["input"]
    if not isinstance(i, dict):
        _fail(where, "input must be an object")
    for k in ("w", "h", "channels"):
        if not _int(i.get(k)) or i[k] <= 0:
            _fail(where, "input.%s must be a positive integer" % k)
    if i.get("order", "RGB") not in ("RGB", "GRAY"):
        _fail(where, "input.order must be RGB or GRAY")
    if i.get("layout") not in LAYOUTS:
        _fail(where, "input.layout must be NHWC or NCHW")
    if i.get("dtype") not in ("uint8", "float32", "int8"):
        _fail(where, "input.dtype must be uint8, int8 or float32")
    if not _num(i.get("scale")) or i["scale"] <= 0 or not _int(i.get("zero_point")):
        _fail(where, "input.scale must be > 0 and input.zero_point an integer")
    if i.get("fit") not in FITS:
        _fail(where, "input.fit must be one of %s" % ", ".join(FITS))
    o = c["output"]
    if not isinstance(o, dict):
        _fail(where, "output must be an object")
    for k in ("grid_w", "grid_h", "classes"):
        if not _int(o.get(k)) or o[k] <= 0:
            _fail(where, "output.%s must be a positive integer" % k)
    anchors = o.get("anchors")
    if (not isinstance(anchors, list) or not anchors
            or any(not isinstance(a, list) or len(a) != 2 or not all(_num(v) and v > 0 for v in a) for a in anchors)):
        _fail(where, "output.anchors must be a list of [w, h] pairs (grid units, > 0)")
    if o.get("layout") not in LAYOUTS:
        _fail(where, "output.layout must be NHWC or NCHW")
    if o.get("dtype") not in ("float32", "int8", "uint8"):
        _fail(where, "output.dtype must be float32, int8 or uint8")
    if not _num(o.get("scale")) or o["scale"] <= 0 or not _int(o.get("zero_point")):
        _fail(where, "output.scale must be > 0 and output.zero_point an integer")
    t = c["thresholds"]
    if not isinstance(t, dict) or not all(_num(t.get(k)) and 0 <= t[k] <= 1 for k in ("score", "nms")):
        _fail(where, "thresholds.score and thresholds.nms must be numbers in 0..1")
    tr = c.get("training")
    if tr is not None:
        if not isinstance(tr, dict) or not all(isinstance(tr.get(k), str) for k in ("config_hash", "commit", "config")):
            _fail(where, "training must hold config_hash, commit and config strings")
    for k in ("arena_bytes", "kpu_ram_bytes", "macs"):
        if k in c and c[k] is not None and (not _int(c[k]) or c[k] < 0):
            _fail(where, "%s must be a non-negative integer" % k)
    return c


def contract_path(artifact, strict=True):
    """The contract of an artifact: ``<stem>.json`` or ``model.json`` beside it whose ``file`` names
    this artifact (``picoface.kmodel`` and ``picoface.keras`` share a stem, so the name decides);
    else a ``<stem>.json`` or ``model.json`` without a ``file`` key; None when there is none. An
    unreadable model.json raises PicofaceError (``strict``) or is passed over; an unreadable
    ``<stem>.json`` is returned, for the loader to report."""
    p = Path(artifact)
    loose = []
    for cand in (p.with_suffix(".json"), p.parent / "model.json"):
        if not cand.is_file() or cand == p:
            continue
        try:
            c = json.loads(cand.read_text())
            named = c.get("file")
        except (ValueError, AttributeError):
            if cand.name != "model.json":
                return cand
            if strict:
                raise PicofaceError("%s is not a valid model contract" % cand, "re-export the model") from None
            continue
        if named == p.name:
            return cand
        if not named:
            loose.append(cand)
    return loose[0] if loose else None


def contract_for(artifact):
    """The validated contract beside ``artifact`` (``contract_path``), or None when there is none."""
    path = contract_path(artifact)
    return load_contract(path) if path is not None else None


def _resolve(path):
    p = Path(path)
    if p.is_dir():
        return p / "model.json"
    if p.suffix == ".json":
        return p
    return contract_path(p, strict=False) or p.with_suffix(".json")


def load_contract(path, check_file=False):
    """Read and validate a contract. ``check_file`` also checks the artifact's size and sha256."""
    jp = _resolve(path)
    try:
        c = json.loads(jp.read_text())
    except FileNotFoundError:
        raise PicofaceError("no model contract at %s" % jp, "export the model with picoface export") from None
    except json.JSONDecodeError as e:
        raise PicofaceError("%s is not valid JSON: %s" % (jp, e), "regenerate it with picoface export") from None
    validate_contract(c, str(jp))
    if check_file:
        art = jp.parent / c["file"]
        if not art.is_file():
            _fail(jp, "artifact %s is missing" % art)
        data = art.read_bytes()
        if len(data) != c["bytes"] or hashlib.sha256(data).hexdigest() != c["sha256"]:
            _fail(jp, "artifact %s does not match its size/sha256" % art, "re-export the model")
    return c


def write_contract(path, contract):
    """Validate and write atomically. Fills ``contract``, ``bytes`` and ``sha256`` from the artifact."""
    c = dict(contract)
    c.setdefault("contract", CONTRACT_VERSION)
    jp = Path(path)
    if jp.is_dir():
        jp = jp / "model.json"
    art = jp.parent / str(c.get("file", ""))
    if c.get("file") and art.is_file():
        data = art.read_bytes()
        c["bytes"] = len(data)
        c["sha256"] = hashlib.sha256(data).hexdigest()
    validate_contract(c, str(jp))
    atomic.write_text(jp, json.dumps(c, indent=2) + "\n")
    return c


def git_commit(root=None):
    """The repository HEAD sha, or 'unknown'."""
    import subprocess

    root = root or REPO_ROOT
    try:
        r = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        return r.stdout.strip() if r.returncode == 0 and r.stdout.strip() else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"
