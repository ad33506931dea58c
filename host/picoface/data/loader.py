"""``load_dataset(spec)``: any supported annotation format -> list of Sample; mixtures; eval sets.

A spec is a path (folder or file), optionally prefixed with its format (``voc:DIR``), or the
name of a folder under the shared data root (``widerface_val``; see ``data_root()``).
"""

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from picoface.data.problems import Problems
from picoface.data.sample import face_size, move_to_ignore
from picoface.errors import PicofaceError

FORMATS = ("jsonl", "wider", "fddb", "voc", "yolo", "coco")


def data_root():
    """Where named datasets live: $PICOFACE_DATA, else $PICOFACE_SHARED/data, else ../shared/data
    beside the repository (the tests' ``data_root`` fixture uses the same rule)."""
    env = os.environ.get("PICOFACE_DATA")
    if env:
        return Path(env)
    from picoface.paths import shared_dir

    return shared_dir() / "data"


def _head(path, n=4):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return [f.readline() for _ in range(n)]
    except OSError:
        return []


def detect_format(path):
    """Guess the annotation format of ``path`` (file or folder); None if unknown."""
    from picoface.data.fddb import is_ellipse_list
    from picoface.data.wider import looks_like_wider

    path = Path(path)
    if path.is_dir():
        if (path / "annotations.jsonl").is_file():
            return "jsonl"
        if list(path.glob("*ellipseList.txt")) or list(path.glob("FDDB-folds/*ellipseList.txt")):
            return "fddb"
        if (path / "Annotations").is_dir() or (path / "annotations").is_dir() and list(
                (path / "annotations").glob("*.xml")) or list(path.glob("*.xml")):
            return "voc"
        for j in sorted(path.glob("*.json")):
            if j.stat().st_size < 200_000_000 and _is_coco(j):
                return "coco"
        from picoface.data.yolo import is_yolo_folder

        if is_yolo_folder(path):
            return "yolo"
        return None
    suf = path.suffix.lower()
    if suf == ".jsonl":
        return "jsonl"
    if suf == ".json":
        return "coco"
    if suf == ".txt":
        head = _head(path)
        if looks_like_wider(head):
            return "wider"
        if is_ellipse_list(head):
            return "fddb"
    return None


def _is_coco(path):
    try:
        with open(path, encoding="utf-8") as f:
            start = f.read(4096)
        return '"images"' in start or '"annotations"' in start
    except OSError:
        return False


def resolve_spec(spec):
    """spec -> (format or None, Path). Raises PicofaceError when nothing is there."""
    spec = str(spec)
    fmt = None
    head, sep, rest = spec.partition(":")
    if sep and head in FORMATS:
        fmt, spec = head, rest
    path = Path(spec).expanduser()
    if not path.exists() and "/" not in spec and (data_root() / spec).exists():
        path = data_root() / spec
    if not path.exists():
        raise PicofaceError("dataset not found: %s" % spec,
                            "give a folder with annotations.jsonl, an annotation file, or a name under %s"
                            % data_root())
    return fmt, path


def load_dataset(spec, fmt=None, problems=None, **options):
    """Load a dataset -> list of Sample.

    ``problems``: a list to collect every problem into (records with problems are skipped or
    trimmed); without it the first problem raises PicofaceError with its ``file:line``.
    Options by format: ``images=DIR`` (image root), ``fddb_box="bbox"|"csem"``,
    ``classes=[...]`` (VOC/COCO names, YOLO ids), ``source=NAME``.
    """
    from picoface.data import coco, fddb, jsonl, voc, wider, yolo

    pfmt, path = resolve_spec(spec)
    fmt = fmt or pfmt or detect_format(path)
    readers = {"jsonl": jsonl.read_jsonl, "wider": wider.read_wider, "fddb": fddb.read_fddb,
               "voc": voc.read_voc, "yolo": yolo.read_yolo, "coco": coco.read_coco}
    if fmt not in readers:
        raise PicofaceError("cannot tell the annotation format of %s" % path,
                            "prefix the spec with one of %s, e.g. voc:%s" % (", ".join(FORMATS), path))
    if fmt == "jsonl" and path.is_dir():
        path = path / "annotations.jsonl"
    if fmt in ("voc", "yolo") and not path.is_dir():
        raise PicofaceError("%s datasets are folders, %s is a file" % (fmt, path), "pass the folder")
    try:
        return readers[fmt](path, Problems(problems), **options)
    except (OSError, UnicodeDecodeError) as e:
        raise PicofaceError("cannot read dataset %s (%s)" % (path, e), "check the path and permissions") from e


SIZE_RULES = ("geomean", "min-side")


def apply_min_size(samples, min_size, rule="geomean"):
    """Move faces smaller than ``min_size`` px to ignore, in place. ``rule``: "geomean" — sqrt(w*h),
    picoface's face size; "min-side" — min(w, h), both sides must reach ``min_size`` (the bench's rule)."""
    if rule not in SIZE_RULES:
        raise PicofaceError("unknown face size rule %r" % (rule,), "use one of: %s" % ", ".join(SIZE_RULES))
    if min_size and min_size > 0:
        for s in samples:
            b = s.boxes.reshape(-1, 4)
            small = face_size(b) < min_size if rule == "geomean" else (b[:, 2] < min_size) | (b[:, 3] < min_size)
            move_to_ignore(s, small)
    return samples


def widerface_eval_set(path, min_size=20, rule="geomean"):
    """WIDER FACE samples for evaluation: invalid faces (already ignore at load) and faces
    smaller than ``min_size`` px (by ``rule``) become ignore regions (neither missed nor matched)."""
    return apply_min_size(load_dataset(path), min_size, rule)


@dataclass
class Mixture:
    """Samples from several sources with per-sample draw probabilities (sum 1): each source
    gets ``weight / sum(weights)`` of the draws, spread evenly over its samples."""

    samples: list
    weights: np.ndarray
    sources: dict  # name -> {"count": n, "weight": w, "share": fraction of draws}

    def __len__(self):
        return len(self.samples)

    def __iter__(self):
        return iter(self.samples)

    def draw(self, n, rng=None):
        """``n`` samples drawn with replacement according to the weights."""
        rng = rng if rng is not None else np.random.default_rng()
        idx = rng.choice(len(self.samples), size=n, p=self.weights)
        return [self.samples[i] for i in idx]


def load_mixture(parts, **options):
    """``parts``: [(spec, weight), ...] -> Mixture. Weights are relative shares of the draws."""
    samples, weights, sources = [], [], {}
    parts = list(parts)
    total = 0.0
    loaded = []
    for spec, w in parts:
        w = float(w)
        if not w > 0:
            raise PicofaceError("mixture weight for %s must be > 0, got %r" % (spec, w), "fix the weight")
        ss = load_dataset(spec, **options)
        if not ss:
            raise PicofaceError("dataset %s has no images" % spec, "drop it from the mixture")
        name = ss[0].source or str(spec)
        while name in sources:
            name += "'"
        sources[name] = {"count": len(ss), "weight": w}
        loaded.append((name, ss, w))
        total += w
    for name, ss, w in loaded:
        share = w / total
        sources[name]["share"] = share
        samples += ss
        weights += [share / len(ss)] * len(ss)
    wa = np.asarray(weights, np.float64)
    return Mixture(samples, wa / wa.sum(), sources)


def parse_mixture(text):
    """``"a.jsonl:2,b"`` style -> [(spec, weight)] (weight after the last '@', default 1)."""
    out = []
    for part in [p for p in str(text).split(",") if p.strip()]:
        spec, sep, w = part.strip().rpartition("@")
        out.append((spec, float(w)) if sep else (part.strip(), 1.0))
    return out


def dump_jsonl(samples):
    """Samples -> JSONL text in the shared format (paths as stored)."""
    lines = []
    for s in samples:
        rec = {"image": str(s.image_path), "width": s.width, "height": s.height,
               "boxes": [[round(float(v), 2) for v in b] for b in s.boxes],
               "ignore": [[round(float(v), 2) for v in b] for b in s.ignore]}
        lines.append(json.dumps(rec))
    return "\n".join(lines) + ("\n" if lines else "")
