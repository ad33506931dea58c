"""Reader for YOLO txt folders: ``images/x.jpg`` + ``labels/x.txt`` (any depth, e.g. Roboflow's
train/valid/test splits), or .txt files beside the images.

Label lines: ``class cx cy w h`` normalised to [0, 1], or a polygon ``class x1 y1 x2 y2 ...``
(normalised) whose bounding box is used. An image without a label file has no faces.
"""

from pathlib import Path

from picoface.data.images import IMAGE_EXTS, image_size
from picoface.data.jsonl import check_boxes
from picoface.data.problems import Problems, where
from picoface.data.sample import Sample


def _label_for(img):
    parts = list(img.parts)
    for k in range(len(parts) - 2, -1, -1):
        if parts[k] == "images":
            parts[k] = "labels"
            return Path(*parts).with_suffix(".txt")
    return img.with_suffix(".txt")


def _image_for(label):
    parts = list(label.parts)
    for k in range(len(parts) - 2, -1, -1):
        if parts[k] == "labels":
            parts[k] = "images"
            break
    base = Path(*parts)
    for ext in IMAGE_EXTS:
        if base.with_suffix(ext).is_file():
            return base.with_suffix(ext)
    return base.with_suffix(".jpg")


def is_yolo_folder(path):
    path = Path(path)
    return any(p.is_dir() for p in path.rglob("labels")) or (
        any(path.glob("*.txt")) and any(p.suffix.lower() in IMAGE_EXTS for p in path.iterdir()))


def read_yolo(path, problems=None, classes=None, source=None, **_):
    path = Path(path)
    problems = problems or Problems()
    source = source or path.name
    imgs = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_EXTS and p.is_file())
    labels = {_label_for(p): p for p in imgs}
    for lab in sorted(path.rglob("*.txt")):
        if lab not in labels and (lab.parent.name == "labels" or lab.parent == path) \
                and not lab.name.lower().startswith(("readme", "classes")):
            labels[lab] = _image_for(lab)  # a label without its image: reported by check
    out = []
    for lab, img in sorted(labels.items(), key=lambda kv: str(kv[1])):
        size = image_size(img) if img.is_file() else None
        W, H = size if size else (None, None)
        boxes, names, box_lines = [], [], []
        if lab.is_file():
            for n, line in enumerate(lab.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    vals = [float(v) for v in line.split()]
                except ValueError:
                    problems.add(where(lab, n), "label line is not numbers: %r" % line.strip())
                    continue
                if len(vals) == 5:
                    cls, cx, cy, w, h = vals
                    x, y = cx - w / 2, cy - h / 2
                elif len(vals) >= 7 and len(vals) % 2 == 1:
                    cls = vals[0]
                    xs, ys = vals[1::2], vals[2::2]
                    x, y, w, h = min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)
                else:
                    problems.add(where(lab, n), "label line needs class cx cy w h (or a polygon)")
                    continue
                if classes is not None and int(cls) not in classes:
                    continue
                if W is None:
                    problems.add(where(lab, n), "cannot convert normalised box: image %s is missing or unreadable" % img)
                    continue
                b, _ = check_boxes([[x * W, y * H, w * W, h * H]], "box", where(lab, n), problems)
                if b:
                    boxes.append(b[0])
                    names.append(int(cls))
                    box_lines.append(n)
        meta = {"file": str(lab), "line": 1, "labels": names, "box_lines": box_lines}
        out.append(Sample(img, W, H, boxes, [], source, meta))
    return out
