"""Reader for FDDB ellipse lists (``FDDB-fold-XX-ellipseList.txt``) and ellipse -> box.

Per image: the image path without extension (relative to ``originalPics``), the face count,
then ``major_radius minor_radius angle center_x center_y 1`` per face (angle in radians).
The photos are not always present: samples then have width/height None, and tools that need
pixels fail with a clear "image not found" error.
"""

import math
import re
from pathlib import Path

from picoface.data.images import image_size
from picoface.data.jsonl import check_boxes
from picoface.data.problems import Problems, where
from picoface.data.sample import Sample

# Square-box conversion of Narduzzi et al. (CSEM), "Adaptation of MobileNetV2 for Face
# Detection on Ultra-Low Power Platform", eq. (1)-(2), alpha = 1.3, beta = 0.26. The text copy
# we have lost the coefficients' places; we read it as side = alpha * r, cy' = cy + beta * r with
# r the major-axis radius (the vertical, forehead-to-chin half axis): this gives a square
# brow-to-chin box, the shape WIDER FACE boxes have.
CSEM_ALPHA = 1.3
CSEM_BETA = 0.26


def ellipse_to_box(major, minor, angle, cx, cy, mode="bbox"):
    """FDDB ellipse -> [x, y, w, h].

    mode "bbox": the tight axis-aligned box of the ellipse (what shared/data's FDDB jsonl holds).
    mode "csem": the CSEM paper's square, shifted box (comparable to WIDER-style boxes).
    """
    a, b, t = float(major), float(minor), float(angle)
    if mode == "bbox":
        hw = math.sqrt((a * math.cos(t)) ** 2 + (b * math.sin(t)) ** 2)
        hh = math.sqrt((a * math.sin(t)) ** 2 + (b * math.cos(t)) ** 2)
        return [cx - hw, cy - hh, 2 * hw, 2 * hh]
    if mode == "csem":
        side = CSEM_ALPHA * a
        return [cx - side / 2, cy + CSEM_BETA * a - side / 2, side, side]
    raise ValueError("unknown FDDB box mode %r (bbox or csem)" % mode)


def is_ellipse_list(lines):
    lines = [ln.strip() for ln in lines if ln.strip()]
    if len(lines) < 3 or not lines[1].isdigit():
        return False
    parts = lines[2].split()
    return len(parts) in (5, 6) and "." not in lines[0].rsplit("/", 1)[-1]


def ellipse_files(path):
    """The ellipse-list files of a spec: one file, or a folder of FDDB-fold-XX-ellipseList.txt."""
    path = Path(path)
    if path.is_file():
        return [path]
    files = sorted(path.glob("*ellipseList.txt")) or sorted(path.glob("FDDB-folds/*ellipseList.txt"))
    return files


def _image_root(path, images):
    if images:
        return Path(images)
    d = path.parent
    for c in (d / "images", d.parent / "images", d / "originalPics", d.parent / "originalPics"):
        if c.is_dir():
            return c
    return d.parent / "images" if d.name == "FDDB-folds" else d / "images"


def read_fddb(path, problems=None, images=None, fddb_box="bbox", source=None, **_):
    problems = problems or Problems()
    out = []
    for f in ellipse_files(path):
        out += _read_one(f, problems, images, fddb_box, source)
    return out


def _read_one(path, problems, images, mode, source):
    m = re.search(r"fold-(\d+)", path.name)
    fold = int(m.group(1)) if m else None
    root = _image_root(path, images)
    source = source or ("fddb" if fold else path.stem)
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    out, i = [], 0
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
        raw, ellipses, box_lines = [], [], []
        for _k in range(count):
            if i >= len(lines):
                problems.add(where(path, i), "file ends inside the faces of %r" % name)
                break
            ln = i + 1
            parts = lines[i].split()
            i += 1
            try:
                vals = [float(v) for v in parts]
            except ValueError:
                problems.add(where(path, ln), "ellipse line is not numbers: %r" % lines[ln - 1].strip())
                continue
            if len(vals) < 5:
                problems.add(where(path, ln), "ellipse line needs major minor angle cx cy")
                continue
            if not all(math.isfinite(v) for v in vals[:5]):
                problems.add(where(path, ln), "ellipse has a NaN or infinite value")
                continue
            b, _ = check_boxes([ellipse_to_box(*vals[:5], mode=mode)], "face", where(path, ln), problems)
            if b:
                raw.append(b[0])
                ellipses.append(vals[:5])
                box_lines.append(ln)
        img = root / (name if Path(name).suffix else name + ".jpg")
        size = image_size(img) if img.is_file() else None
        meta = {"file": str(path), "line": rec_line, "fold": fold, "ellipses": ellipses,
                "box_lines": box_lines}
        out.append(Sample(img, size[0] if size else None, size[1] if size else None,
                          raw, [], source, meta))
    return out
