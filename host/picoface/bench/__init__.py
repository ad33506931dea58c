"""``picoface bench``: picoface's models and reference face detectors side by side.

``run_bench(...)`` evaluates every row on the same samples with ``picoface.evaluate`` and writes
bench.md (table + notes), bench.png (PR curves + AP vs bytes) and bench.json atomically. Photos
are framed as the QVGA camera frames a scene (letterbox by default), faces are also scored by
regime (far / mid / close, ``picoface.evaluate.regimes``), and a second, close-range set (a
training config's held-out photos) runs in the same bench. Rows that tell classes apart (a
multi-class model: mask / no_mask) are also scored per class on a labelled set (``classes``:
``picoface bench --classes-data``, by default the close-range set), in a table of their own.
Modules: rows (what is compared), run (evaluation + latency), macs (MAC counting),
report (Markdown / PNG / JSON), render (BENCH.md, the README table and the model cards' bench
blocks from a bench.json: ``picoface bench --render-only``).
"""

import os
import platform
from pathlib import Path

from picoface.bench.rows import REFERENCE, Row, anchor_rows, default_anchors, model_rows, select
from picoface.data.loader import SIZE_RULES
from picoface.errors import PicofaceError
from picoface.evaluate.classes import DEFAULT_CLASS_MAP
from picoface.paths import REPO_ROOT, display_path, shared_dir

__all__ = ["run_bench", "load_samples", "SIZE_RULES", "all_rows", "default_data", "Row", "REFERENCE",
           "STRICT_MIN_SIZE", "CLOSE_CONFIG", "default_close"]

STRICT_MIN_SIZE = 32.0  # the second size rule of the main set (WIDER at ~640 px wide: >= 16 camera px)
CLOSE_CONFIG = REPO_ROOT / "models" / "picoface_k210_320x240" / "train.yaml"


def default_data():
    """../shared/data/widerface_val beside the repo (PICOFACE_DATA overrides the data root)."""
    from picoface.data import data_root

    return Path(data_root()) / "widerface_val"


def default_close():
    """(spec, config) of the default close-range set: the K210 model's held-out photos, when its
    training config and ../shared are here; else None."""
    if CLOSE_CONFIG.is_file() and shared_dir().is_dir():
        return "holdout", CLOSE_CONFIG
    return None


def load_samples(data=None, min_size=20, limit=None, size_rule="min-side", framing=None):
    """(path, samples): faces smaller than ``min_size`` px become ignore regions. ``size_rule``:
    "geomean" — sqrt(w*h), picoface's face size; "min-side" — min(w, h), i.e. both sides must
    reach ``min_size`` (a stricter filter: fewer small faces). ``framing``: each photo framed to
    the camera's 4:3 ("letterbox" or "stretch", ``regimes.frame_samples``; None: not framed)."""
    from picoface.data import apply_min_size, load_dataset
    from picoface.evaluate.regimes import frame_samples

    if size_rule not in SIZE_RULES:
        raise PicofaceError("unknown face size rule %r" % size_rule, "use one of: %s" % ", ".join(SIZE_RULES))

    path = Path(data) if data else default_data()
    if not path.exists():
        raise PicofaceError("bench data %s not found" % path,
                            "pass --data PATH (a WIDER FACE val folder with annotations.jsonl), or put "
                            "../shared beside the repo")
    samples = load_dataset(path)
    if limit:
        samples = samples[: int(limit)]
    apply_min_size(samples, min_size, size_rule)
    if framing:
        samples = frame_samples(samples, framing)
    return path, samples


def all_rows(anchors=None, models=None, use_anchors=True):
    rows = []
    if use_anchors:
        rows += anchor_rows(anchors or default_anchors())
    rows += model_rows(models)
    return rows


def run_bench(out, data=None, anchors=None, models=None, only=None, limit=None, min_size=20,
              reference=REFERENCE, progress=True, debug=False, rows=None, size_rule="min-side",
              framing="letterbox", close=None, close_framing=None, classes=None, class_map=None):
    """Run the bench and write its reports into ``out``; returns (results, table rows).

    ``close``: (spec, config) of the close-range set (``picoface.evaluate.sets.close_set``; None:
    none), framed by ``close_framing`` (default: a holdout config's data.val_framing, else
    letterbox); ``limit`` applies to every set. ``classes``: the labelled set the rows with classes
    (multi-class models) are scored on per class (``class_map``, ``picoface.evaluate.classes``): "close"
    (the close-range set, no second run), (spec, config) as ``close`` (read like the close-range set), or
    None (no per-class figures)."""
    import cv2

    from picoface.bench import report
    from picoface.bench.run import bench_rows, with_min_size

    data_path, samples = load_samples(data, min_size, limit, size_rule, framing)
    strict = with_min_size(samples, STRICT_MIN_SIZE, size_rule)
    if rows is None:
        rows = all_rows(anchors, models)
    rows = select(rows, only)
    if not rows:
        raise PicofaceError("nothing to bench", "check --only / --models")
    close_es = None
    if close is not None:
        from picoface.evaluate.sets import close_set

        close_es = close_set(close[0], close[1], close_framing, limit)
        if not close_es.samples:
            raise PicofaceError("the close-range set %s has no images" % close[0], "check it, or pass --no-close")
    classes_es, classes_spec = None, None
    if classes == "close" or (classes is not None and close is not None and tuple(classes) == tuple(close)):
        if close_es is None:
            raise PicofaceError("the per-class set 'close' needs the close-range set, and this run has none",
                                "drop --no-close, or give --classes-data a labelled data set")
        classes_es, classes_spec = close_es, close[0]
    elif classes is not None:
        from picoface.evaluate.sets import close_set

        classes_es, classes_spec = close_set(classes[0], classes[1], close_framing, limit), classes[0]
        if not classes_es.samples:
            raise PicofaceError("the per-class set %s has no images" % classes[0], "check --classes-data")
    prev = cv2.getNumThreads()
    cv2.setNumThreads(1)  # every runtime single-threaded: fair latency on a shared machine
    try:
        results = bench_rows(rows, samples, progress=progress, debug=debug, strict=strict, close=close_es,
                             classes=classes_es, class_map=class_map)
    finally:
        cv2.setNumThreads(prev)
    close_info = None
    if close_es is not None:
        close_info = dict(close_es.info, framing=close_es.framing, note=close_es.note, images=len(close_es.samples),
                          faces=close_es.faces())
    info = {"data": display_path(data_path), "images": len(samples), "min_size": min_size, "size_rule": size_rule,
            "strict_min_size": STRICT_MIN_SIZE, "framing": framing, "close": close_info, "reference": reference,
            "host": "%s, %s, %d CPUs" % (platform.machine(), platform.python_version(), os.cpu_count() or 0)}
    if classes_es is not None and any("classes" in r for r in results):   # no row with classes: info as before
        info["classes"] = dict(classes_es.info, data=str(classes_spec), framing=classes_es.framing,
                               note=classes_es.note, images=len(classes_es.samples), faces=classes_es.faces(),
                               same_as_close=classes_es is close_es,
                               class_map=class_map if class_map is not None else DEFAULT_CLASS_MAP)
    out = Path(out)
    table = report.write_markdown(out / "bench.md", results, info, reference)
    report.write_png(out / "bench.png", results)
    report.write_json(out / "bench.json", results, info)
    return results, table
