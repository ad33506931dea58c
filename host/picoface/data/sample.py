"""The one in-memory record of an annotated image, shared by every reader."""

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


def as_boxes(values):
    """A list of [x, y, w, h] (or an array) -> float32 array of shape (N, 4)."""
    a = np.asarray(values if values is not None else [], dtype=np.float32)
    if a.size == 0:
        return np.zeros((0, 4), np.float32)
    return a.reshape(-1, 4)


def face_size(boxes):
    """Face size in pixels: the geometric mean of width and height (robust to stretched sets)."""
    b = as_boxes(boxes)
    return np.sqrt(np.clip(b[:, 2], 0, None) * np.clip(b[:, 3], 0, None))


@dataclass
class Sample:
    """One annotated image. Boxes and ignore regions are [x, y, w, h] in pixels of the image.

    ``width``/``height`` may be None when the annotation does not say and the image is absent
    (FDDB without its photos). ``meta`` holds reader extras: ``file``/``line`` of the annotation
    record, ``box_lines`` (per box, when boxes have their own lines), ``labels``, ``attrs``,
    ``scores``, ``fold`` ...
    """

    image_path: Path
    width: int | None
    height: int | None
    boxes: np.ndarray
    ignore: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    source: str = ""
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        self.image_path = Path(self.image_path)
        self.boxes = as_boxes(self.boxes)
        self.ignore = as_boxes(self.ignore)

    @property
    def where(self):
        """``file:line`` of the annotation record (for messages)."""
        f = self.meta.get("file", "?")
        line = self.meta.get("line")
        return "%s:%s" % (f, line) if line else str(f)

    def box_where(self, i):
        lines = self.meta.get("box_lines")
        if lines and i < len(lines):
            return "%s:%s" % (self.meta.get("file", "?"), lines[i])
        return self.where


def finite_box(b):
    return all(math.isfinite(float(v)) for v in b)


def move_to_ignore(sample, mask):
    """Move boxes where ``mask`` is True to the ignore regions (in place); returns the sample.

    Per-box meta lists (labels, attrs, scores, box_lines) stay aligned with ``boxes``.
    """
    mask = np.asarray(mask, bool)
    if not mask.any():
        return sample
    keep = ~mask
    sample.ignore = np.concatenate([sample.ignore, sample.boxes[mask]]).astype(np.float32)
    sample.boxes = sample.boxes[keep]
    for key in ("labels", "attrs", "scores", "box_lines", "ellipses"):
        v = sample.meta.get(key)
        if isinstance(v, list) and len(v) == len(mask):
            sample.meta[key] = [x for x, k in zip(v, keep) if k]
    return sample


# Face size buckets (px, geometric mean of w and h) used by stats and recall-by-size.
SIZE_EDGES = (0, 20, 40, 80, 160, float("inf"))


def bucket_labels(edges=SIZE_EDGES):
    out = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        if lo == 0:
            out.append("<%g" % hi)
        elif hi == float("inf"):
            out.append(">=%g" % lo)
        else:
            out.append("%g-%g" % (lo, hi))
    return out
