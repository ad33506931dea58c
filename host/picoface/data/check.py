"""Validate a dataset: every defect as a Problem located at ``file:line``.

Found: malformed records (reader), NaN / non-positive boxes (reader), missing or unreadable
images, annotation size != image size, boxes outside the image, duplicate boxes in one image,
the same image annotated twice (same path, or same bytes under another path).
"""

import hashlib

import numpy as np

from picoface.data.loader import load_dataset
from picoface.data.problems import Problem

OUTSIDE_TOL = 1.0  # px a box may poke out of the image (rounding of converted boxes)
DUP_TOL = 0.5  # px: boxes closer than this in every coordinate are duplicates


def _fmt(b):
    return "[%s]" % ", ".join("%g" % round(float(v), 2) for v in b)


def check_samples(samples, decode=True, progress=None, seen=None):
    """Problems of loaded samples. ``decode``: fully decode each image (else header only).
    ``seen``: a dict shared between calls to find duplicate images across datasets too."""
    from picoface.data.images import image_size, read_image
    from picoface.errors import PicofaceError

    out = []
    seen = {} if seen is None else seen
    seen_path = seen.setdefault("path", {})
    seen_hash = seen.setdefault("hash", {})
    it = progress(samples) if progress else samples
    for s in it:
        key = str(s.image_path.resolve()) if s.image_path.exists() else str(s.image_path)
        if key in seen_path:
            out.append(Problem(s.where, "image %s is annotated again (first at %s)" % (s.image_path, seen_path[key])))
        else:
            seen_path[key] = s.where
        size = None
        if not s.image_path.is_file():
            out.append(Problem(s.where, "image not found: %s" % s.image_path))
        else:
            data = s.image_path.read_bytes()
            digest = hashlib.sha1(data).hexdigest()
            if digest in seen_hash and seen_hash[digest][0] != key:
                out.append(Problem(s.where, "image %s has the same bytes as %s (annotated at %s)"
                                   % (s.image_path, seen_hash[digest][1], seen_hash[digest][2])))
            else:
                seen_hash.setdefault(digest, (key, s.image_path, s.where))
            if decode:
                try:
                    img = read_image(s.image_path)
                    size = (img.shape[1], img.shape[0])
                except PicofaceError:
                    pass
            else:
                size = image_size(s.image_path)
            if size is None:
                out.append(Problem(s.where, "image %s is unreadable (not a decodable image)" % s.image_path))
        if size and s.width is not None and s.height is not None and (s.width, s.height) != tuple(size):
            out.append(Problem(s.where, "annotation says %dx%d but image %s is %dx%d"
                               % (s.width, s.height, s.image_path.name, size[0], size[1])))
        W, H = size if size else (s.width, s.height)
        if W and H:
            for kind, arr in (("box", s.boxes), ("ignore region", s.ignore)):
                for i, b in enumerate(arr):
                    x, y, w, h = (float(v) for v in b)
                    if x < -OUTSIDE_TOL or y < -OUTSIDE_TOL or x + w > W + OUTSIDE_TOL or y + h > H + OUTSIDE_TOL:
                        loc = s.box_where(i) if kind == "box" else s.where
                        out.append(Problem(loc, "%s %s extends outside the %dx%d image" % (kind, _fmt(b), W, H)))
        b = s.boxes
        if len(b) > 1:
            d = np.abs(b[:, None, :] - b[None, :, :]).max(axis=2)
            for i, j in zip(*np.nonzero(np.triu(d <= DUP_TOL, 1))):
                out.append(Problem(s.box_where(int(j)), "box %s duplicates box %s (same image)"
                                   % (_fmt(b[j]), _fmt(b[i]))))
    return out


def check_dataset(spec, decode=True, progress=None, seen=None, **options):
    """(samples, problems) for one spec: reader problems first, then per-sample ones.
    Pass the same ``seen`` dict for several specs to report images shared between them."""
    problems = []
    samples = load_dataset(spec, problems=problems, **options)
    problems += check_samples(samples, decode=decode, progress=progress, seen=seen)
    if not samples and not problems:
        problems.append(Problem(str(spec), "no images: the annotations list none (an empty set trains and "
                                           "evaluates nothing)"))
    return samples, problems
