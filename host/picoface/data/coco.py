"""Reader for COCO-style JSON (``images``, ``annotations`` with ``bbox`` [x, y, w, h],
``categories``). ``iscrowd`` annotations become ignore regions. Image files are looked up
beside the JSON, in ``images/`` beside it, or under ``images=``.
"""

import json
from pathlib import Path

from picoface.data.jsonl import check_boxes
from picoface.data.problems import Problems
from picoface.data.sample import Sample, as_boxes


def looks_like_coco(obj):
    return isinstance(obj, dict) and isinstance(obj.get("images"), list) and "annotations" in obj


def _root(path, first, images):
    if images:
        return Path(images)
    d = path.parent
    cands = [d / "images", d, d.parent / "images"]
    for c in cands:
        if first and (c / first).is_file():
            return c
    return cands[0]


def read_coco(path, problems=None, images=None, classes=None, source=None, **_):
    path = Path(path)
    problems = problems or Problems()
    source = source or path.stem
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as e:
        problems.add("%s:%d" % (path, getattr(e, "lineno", 1)), "malformed JSON (%s)" % e)
        return []
    if not looks_like_coco(doc):
        problems.add(str(path), "not a COCO file (needs \"images\" and \"annotations\" lists)")
        return []
    cats = {c.get("id"): c.get("name") for c in doc.get("categories", []) if isinstance(c, dict)}
    first = next((im.get("file_name") for im in doc["images"] if isinstance(im, dict)), None)
    root = _root(path, first, images)
    by_id, order = {}, []
    for k, im in enumerate(doc["images"]):
        if not isinstance(im, dict) or "id" not in im or not im.get("file_name"):
            problems.add("%s: images[%d]" % (path, k), "image entry needs id and file_name")
            continue
        meta = {"file": str(path), "line": None, "coco_id": im["id"], "labels": [], "box_lines": []}
        s = Sample(root / im["file_name"], im.get("width"), im.get("height"), [], [], source, meta)
        by_id[im["id"]] = (s, [], [])
        order.append(im["id"])
    for k, ann in enumerate(doc.get("annotations") or []):
        loc = "%s: annotation id %s" % (path, ann.get("id", "#%d" % k) if isinstance(ann, dict) else "#%d" % k)
        if not isinstance(ann, dict) or ann.get("image_id") not in by_id:
            problems.add(loc, "annotation refers to no known image")
            continue
        name = cats.get(ann.get("category_id"))
        if classes and name not in classes:
            continue
        b, _ = check_boxes([ann.get("bbox")], "bbox", loc, problems)
        if not b:
            continue
        s, boxes, ignore = by_id[ann["image_id"]]
        if ann.get("iscrowd"):
            ignore.append(b[0])
        else:
            boxes.append(b[0])
            s.meta["labels"].append(name)
            s.meta["box_lines"].append("annotation id %s" % ann.get("id"))
    out = []
    for i in order:
        s, boxes, ignore = by_id[i]
        s.boxes, s.ignore = as_boxes(boxes), as_boxes(ignore)
        out.append(s)
    return out
