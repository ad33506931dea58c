"""Reader for WIDER FACE ground-truth text files (``wider_face_val_bbx_gt.txt`` style).

Per image: the image path (relative to ``WIDER_val/images``), the face count, then one line per
face ``x1 y1 w h blur expression illumination invalid occlusion pose`` (an image with 0 faces
has one all-zero line). Faces flagged invalid become ignore regions.
"""

from pathlib import Path

from picoface.data.images import image_size
from picoface.data.jsonl import check_boxes
from picoface.data.problems import Problems, where
from picoface.data.sample import Sample

ATTRS = ("blur", "expression", "illumination", "invalid", "occlusion", "pose")


def looks_like_wider(lines):
    """True when the first lines look like a WIDER gt file (image path with extension, count)."""
    lines = [ln.strip() for ln in lines if ln.strip()]
    return (len(lines) >= 2 and "." in lines[0].rsplit("/", 1)[-1]
            and lines[1].isdigit())


def _image_root(path, first_image, images):
    if images:
        return Path(images)
    d = path.parent
    cands = [d / "images", d.parent / "WIDER_val" / "images", d / "WIDER_val" / "images",
             d.parent / "images", d]
    for c in cands:
        if first_image and (c / first_image).is_file():
            return c
    return cands[0]


def read_wider(path, problems=None, images=None, source=None, **_):
    path = Path(path)
    problems = problems or Problems()
    source = source or path.stem
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    first = next((ln.strip() for ln in lines if ln.strip()), None)
    root = _image_root(path, first, images)
    out = []
    i = 0
    while i < len(lines):
        name = lines[i].strip()
        rec_line = i + 1
        i += 1
        if not name:
            continue
        if i >= len(lines) or not lines[i].strip().isdigit():
            problems.add(where(path, i + 1), "expected the face count after image %r" % name)
            continue
        count = int(lines[i].strip())
        i += 1
        nrows = max(count, 1)
        raw, attrs, box_lines = [], [], []
        for k in range(nrows):
            if i >= len(lines):
                problems.add(where(path, i), "file ends inside the faces of %r" % name)
                break
            parts = lines[i].split()
            ln = i + 1
            i += 1
            if count == 0:
                continue  # the placeholder zero line
            try:
                vals = [float(v) for v in parts]
            except ValueError:
                problems.add(where(path, ln), "face line is not numbers: %r" % lines[ln - 1].strip())
                continue
            if len(vals) < 4:
                problems.add(where(path, ln), "face line needs x y w h (+6 attributes)")
                continue
            b, kept = check_boxes([vals[:4]], "face", where(path, ln), problems)
            if b:
                raw.append(b[0])
                attrs.append({a: int(v) for a, v in zip(ATTRS, vals[4:10])})
                box_lines.append(ln)
        inv = [bool(a.get("invalid")) for a in attrs]
        boxes = [b for b, f in zip(raw, inv) if not f]
        ignore = [b for b, f in zip(raw, inv) if f]
        img = root / name
        size = image_size(img) if img.is_file() else None
        meta = {"file": str(path), "line": rec_line,
                "attrs": [a for a, f in zip(attrs, inv) if not f],
                "box_lines": [b for b, f in zip(box_lines, inv) if not f]}
        out.append(Sample(img, size[0] if size else None, size[1] if size else None,
                          boxes, ignore, source, meta))
    return out
