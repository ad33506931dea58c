"""Reader for the project's JSON-lines annotations (one image per line, see shared/data/*/SOURCE.md).

Fields: image, width, height, boxes [[x, y, w, h]...]; optional ignore, labels, attrs (WIDER
attributes: boxes with ``invalid`` = 1 become ignore regions), scores, ellipses (FDDB), and
any other key (kept in ``meta``).
"""

import json
import math
from pathlib import Path

from picoface.data.problems import Problems, where
from picoface.data.sample import Sample

PER_BOX = ("labels", "attrs", "scores", "ellipses")


def source_name(path):
    path = Path(path)
    return path.parent.name if path.name == "annotations.jsonl" else path.stem


def _box_ok(b):
    return isinstance(b, (list, tuple)) and len(b) == 4 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in b)


def check_boxes(raw, key, loc, problems):
    """Keep the well-formed boxes of list ``raw``; report the others. Returns (boxes, kept_idx)."""
    boxes, kept = [], []
    for i, b in enumerate(raw):
        if not _box_ok(b):
            problems.add(loc, "%s[%d] is not [x, y, w, h] numbers: %r" % (key, i, b))
        elif not all(math.isfinite(v) for v in b):
            problems.add(loc, "%s[%d] has a NaN or infinite value: %r" % (key, i, b))
        elif b[2] <= 0 or b[3] <= 0:
            problems.add(loc, "%s[%d] has a non-positive size: %r" % (key, i, b), fixable=True)
        else:
            boxes.append([float(v) for v in b])
            kept.append(i)
    return boxes, kept


def _dim(rec, key, loc, problems):
    v = rec.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0 or v != int(v):
        problems.add(loc, "%s must be a positive integer or null, got %r" % (key, v))
        return None
    return int(v)


def parse_record(rec, file, line, base, source, problems, fddb_box="bbox"):
    """One decoded JSON object -> Sample, or None when it is unusable."""
    loc = where(file, line)
    if not isinstance(rec, dict):
        problems.add(loc, "line is not a JSON object")
        return None
    img = rec.get("image")
    if not isinstance(img, str) or not img:
        problems.add(loc, "missing \"image\" (the image path)")
        return None
    raw = rec.get("boxes", [])
    if not isinstance(raw, list):
        problems.add(loc, "\"boxes\" is not a list")
        return None
    raw_ign = rec.get("ignore", []) or []
    if not isinstance(raw_ign, list):
        problems.add(loc, "\"ignore\" is not a list")
        raw_ign = []
    meta = {k: v for k, v in rec.items() if k not in ("image", "width", "height", "boxes", "ignore")}
    for key in PER_BOX:
        if key in meta and (not isinstance(meta[key], list) or len(meta[key]) != len(raw)):
            problems.add(loc, "\"%s\" must have one entry per box (%d boxes)" % (key, len(raw)))
            meta.pop(key)
    if fddb_box != "bbox" and isinstance(meta.get("ellipses"), list):
        from picoface.data.fddb import ellipse_to_box

        raw = [ellipse_to_box(*e[:5], mode=fddb_box) if isinstance(e, list) and len(e) >= 5 else None
               for e in meta["ellipses"]]
    if len(raw) == 1 and raw[0] == [0, 0, 0, 0]:
        raw = []  # WIDER FACE's placeholder for an image without faces
        for key in PER_BOX:
            if key in meta:
                meta[key] = []
    boxes, kept = check_boxes(raw, "boxes", loc, problems)
    ignore, _ = check_boxes(raw_ign, "ignore", loc, problems)
    for key in PER_BOX:
        if key in meta:
            meta[key] = [meta[key][i] for i in kept]
    # WIDER FACE: boxes flagged invalid are don't-care regions.
    attrs = meta.get("attrs")
    if attrs:
        inv = [isinstance(a, dict) and bool(a.get("invalid")) for a in attrs]
        if any(inv):
            ignore = ignore + [b for b, f in zip(boxes, inv) if f]
            boxes = [b for b, f in zip(boxes, inv) if not f]
            for key in PER_BOX:
                if key in meta:
                    meta[key] = [x for x, f in zip(meta[key], inv) if not f]
    meta["file"] = str(file)
    meta["line"] = line
    path = Path(img)
    if not path.is_absolute():
        path = base / path
    return Sample(path, _dim(rec, "width", loc, problems), _dim(rec, "height", loc, problems),
                  boxes, ignore, source, meta)


def read_jsonl(path, problems=None, fddb_box="bbox", source=None, **_):
    path = Path(path)
    problems = problems or Problems()
    source = source or source_name(path)
    out = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            loc = where(path, n)
            try:
                rec = json.loads(line)
            except ValueError as e:
                problems.add(loc, "malformed JSON (%s)" % e)
                continue
            s = parse_record(rec, path, n, path.parent, source, problems, fddb_box=fddb_box)
            if s is not None:
                out.append(s)
    return out
