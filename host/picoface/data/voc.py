"""Reader for Pascal VOC XML folders (one .xml per image; ``difficult`` objects -> ignore).

Layouts: ``DIR/Annotations/*.xml`` + ``DIR/JPEGImages``, ``DIR/annotations`` + ``DIR/images``,
or XML files beside their images. Boxes are ``[xmin, ymin, xmax - xmin, ymax - ymin]``.
"""

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from picoface.data.images import IMAGE_EXTS
from picoface.data.jsonl import check_boxes
from picoface.data.problems import Problems, where
from picoface.data.sample import Sample


def xml_files(path):
    path = Path(path)
    for sub in ("Annotations", "annotations", "."):
        files = sorted((path / sub).glob("*.xml"))
        if files:
            return files
    return []


def _image_dirs(path, xml_dir):
    return [path / "JPEGImages", path / "images", xml_dir, path]


def _find_image(name, stem, dirs):
    for d in dirs:
        if name and (d / name).is_file():
            return d / name
        for ext in IMAGE_EXTS:
            if (d / (stem + ext)).is_file():
                return d / (stem + ext)
    return dirs[0] / (name or stem + ".jpg")


def _num(node, tag):
    t = node.findtext(tag)
    return float(t) if t is not None and t.strip() else None


def read_voc(path, problems=None, images=None, classes=None, source=None, **_):
    path = Path(path)
    problems = problems or Problems()
    files = xml_files(path)
    source = source or path.name
    out = []
    for f in files:
        text = f.read_text(encoding="utf-8", errors="replace")
        obj_lines = [text.count("\n", 0, m.start()) + 1 for m in re.finditer(r"<object[\s>]", text)]
        try:
            root = ET.fromstring(text)
        except ET.ParseError as e:
            line = e.position[0] if getattr(e, "position", None) else 1
            problems.add(where(f, line), "malformed XML (%s)" % e)
            continue
        fname = (root.findtext("filename") or "").strip()
        dirs = [Path(images)] if images else _image_dirs(path, f.parent)
        img = _find_image(fname, f.stem, dirs)
        w = h = None
        size = root.find("size")
        try:
            if size is not None:
                w, h = int(float(size.findtext("width"))), int(float(size.findtext("height")))
                if w <= 0 or h <= 0:
                    w = h = None
        except (TypeError, ValueError):
            problems.add(where(f, 1), "<size> has no numeric width/height")
        boxes, ignore, labels, box_lines = [], [], [], []
        for k, obj in enumerate(root.findall("object")):
            ln = obj_lines[k] if k < len(obj_lines) else 1
            label = (obj.findtext("name") or "").strip()
            if classes and label not in classes:
                continue
            bb = obj.find("bndbox")
            try:
                x1, y1, x2, y2 = (_num(bb, t) for t in ("xmin", "ymin", "xmax", "ymax"))
                raw = [x1, y1, x2 - x1, y2 - y1]
            except (TypeError, ValueError, AttributeError):
                problems.add(where(f, ln), "object has no numeric <bndbox>")
                continue
            b, _ = check_boxes([raw], "object", where(f, ln), problems)
            if not b:
                continue
            if (obj.findtext("difficult") or "0").strip() == "1":
                ignore.append(b[0])
            else:
                boxes.append(b[0])
                labels.append(label)
                box_lines.append(ln)
        meta = {"file": str(f), "line": 1, "labels": labels, "box_lines": box_lines}
        out.append(Sample(img, w, h, boxes, ignore, source, meta))
    return out
