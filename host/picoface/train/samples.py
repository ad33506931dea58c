"""Training/validation samples: ``picoface.data`` when present, else a minimal JSONL reader.

The fallback reads the shared ``annotations.jsonl`` layout into the same ``Sample`` shape as
ARCHITECTURE §8 (image_path, width, height, boxes (N,4) xywh, ignore (M,4) xywh, source, meta).
"""

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from picoface.errors import PicofaceError


@dataclass
class Sample:
    image_path: Path
    width: int
    height: int
    boxes: np.ndarray
    ignore: np.ndarray
    source: str
    meta: dict = field(default_factory=dict)


def _boxes(v):
    a = np.asarray(v if v else np.zeros((0, 4)), np.float32).reshape(-1, 4)
    return a


def read_jsonl(folder, source=None):
    folder = Path(folder)
    ann = folder / "annotations.jsonl" if folder.is_dir() else folder
    if not ann.is_file():
        raise PicofaceError("no annotations.jsonl in %s" % folder, "point data.root/data.train at a dataset folder")
    base = ann.parent
    out = []
    for i, line in enumerate(ann.read_text().splitlines()):
        if not line.strip():
            continue
        try:
            r = json.loads(line)
        except json.JSONDecodeError as e:
            raise PicofaceError("%s line %d: invalid JSON (%s)" % (ann, i + 1, e), "fix the file") from None
        meta = {k: v for k, v in r.items() if k not in ("image", "width", "height", "boxes", "ignore")}
        out.append(Sample(base / r["image"], r.get("width") or 0, r.get("height") or 0,
                          _boxes(r.get("boxes")), _boxes(r.get("ignore")), source or base.name, meta))
    return out


def load_samples(folder):
    """Samples of one dataset folder (picoface.data.load_dataset when available)."""
    try:
        from picoface.data import load_dataset
    except ImportError:
        load_dataset = None
    if load_dataset is not None:
        return list(load_dataset(folder))
    return read_jsonl(folder)


def load_eval_samples(folder, min_size=20.0, rule="geomean"):
    """WIDER-style evaluation set: invalid and < min_size faces (by ``rule``, see
    ``picoface.data.apply_min_size``) moved to ignore."""
    from picoface.data import widerface_eval_set

    return list(widerface_eval_set(folder, min_size=min_size, rule=rule))


def read_image(path):
    """RGB uint8 HxWx3."""
    try:
        from picoface.data import read_image as _read
    except ImportError:
        _read = None
    if _read is not None:
        return _read(path)
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise PicofaceError("cannot read image %s" % path, "check the file")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
