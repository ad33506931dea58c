"""``picoface bench``: picoface's models and reference face detectors side by side.

``run_bench(...)`` evaluates every row on the same samples with ``picoface.evaluate`` and writes
bench.md (table + notes), bench.png (PR curves + AP vs bytes) and bench.json atomically.
Modules: rows (what is compared), run (evaluation + latency), macs (MAC counting),
report (Markdown / PNG / JSON).
"""

import os
import platform
from pathlib import Path

from picoface.bench.rows import REFERENCE, Row, anchor_rows, default_anchors, model_rows, select
from picoface.data.loader import SIZE_RULES
from picoface.errors import PicofaceError

__all__ = ["run_bench", "load_samples", "SIZE_RULES", "all_rows", "default_data", "Row", "REFERENCE"]


def default_data():
    """../shared/data/widerface_val beside the repo (PICOFACE_DATA overrides the data root)."""
    from picoface.data import data_root

    return Path(data_root()) / "widerface_val"


def load_samples(data=None, min_size=20, limit=None, size_rule="min-side"):
    """(path, samples): faces smaller than ``min_size`` px become ignore regions. ``size_rule``:
    "geomean" — sqrt(w*h), picoface's face size (as in ``picoface eval``); "min-side" —
    min(w, h), i.e. both sides must reach ``min_size`` (a stricter filter: fewer small faces)."""
    from picoface.data import apply_min_size, load_dataset

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
    return path, samples


def all_rows(anchors=None, models=None, use_anchors=True):
    rows = []
    if use_anchors:
        rows += anchor_rows(anchors or default_anchors())
    rows += model_rows(models)
    return rows


def run_bench(out, data=None, anchors=None, models=None, only=None, limit=None, min_size=20,
              reference=REFERENCE, progress=True, debug=False, rows=None, size_rule="min-side"):
    """Run the bench and write its reports into ``out``; returns (results, table rows)."""
    import cv2

    from picoface.bench import report
    from picoface.bench.run import bench_rows

    data_path, samples = load_samples(data, min_size, limit, size_rule)
    if rows is None:
        rows = all_rows(anchors, models)
    rows = select(rows, only)
    if not rows:
        raise PicofaceError("nothing to bench", "check --only / --models")
    prev = cv2.getNumThreads()
    cv2.setNumThreads(1)  # every runtime single-threaded: fair latency on a shared machine
    try:
        results = bench_rows(rows, samples, progress=progress, debug=debug)
    finally:
        cv2.setNumThreads(prev)
    info = {"data": str(data_path), "images": len(samples), "min_size": min_size, "size_rule": size_rule,
            "reference": reference, "host": "%s, %s, %d CPUs" % (platform.machine(), platform.python_version(),
                                                                  os.cpu_count() or 0)}
    out = Path(out)
    table = report.write_markdown(out / "bench.md", results, info, reference)
    report.write_png(out / "bench.png", results)
    report.write_json(out / "bench.json", results, info)
    return results, table
