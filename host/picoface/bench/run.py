"""Run bench rows over the same samples with the same evaluator (picoface.evaluate)."""

import sys
import time

import numpy as np

from picoface.errors import PicofaceError


class TimedDetector:
    """Wraps a detector: same attributes, records the wall time of every ``detect`` call and
    advances a progress bar (the bench measures host latency in the same run as AP)."""

    def __init__(self, det, bar=None):
        self.det = det
        self.bar = bar
        self.times = []
        for k in ("name", "kind", "bytes", "deploy_threshold"):
            if hasattr(det, k):
                setattr(self, k, getattr(det, k))
        self.macs = None  # filled in by the bench (counting may import TensorFlow: not per call)

    def detect(self, rgb):
        t = time.perf_counter()
        out = self.det.detect(rgb)
        self.times.append(time.perf_counter() - t)
        if self.bar is not None:
            self.bar.update(1)
        return out


def _reason(e):
    if isinstance(e, PicofaceError):
        return str(e)
    return "%s: %s" % (type(e).__name__, str(e).strip().splitlines()[0] if str(e).strip() else "")


def row_macs(det, path=None):
    """The detector's MACs, counted from the model file when the detector does not know them."""
    m = getattr(det, "macs", None)
    if m is None and path is not None:
        from picoface.bench import macs

        p = str(path)
        try:
            if p.endswith(".kmodel"):
                m = macs.kmodel_macs(p)
            elif p.endswith(".tflite"):
                m = macs.tflite_macs(p)
        except Exception:  # a MAC count is a nice-to-have: never fail a row over it
            m = None
    return int(m) if m is not None else None


def bench_rows(rows, samples, iou=(0.5, 0.3), progress=True, debug=False):
    """Evaluate every row on ``samples`` -> list of result dicts (one per row, in row order).

    A row whose detector cannot be built is "not available: <reason>"; one that fails while
    running is "failed: <reason>". Neither stops the bench (unless ``debug``)."""
    from picoface.data.images import read_image
    from picoface.evaluate import evaluate

    if not samples:
        raise PicofaceError("the bench data set has no images", "check --data / --limit")
    built = []
    for row in rows:
        entry = {"name": row.name, "group": row.group, "what": row.what, "status": "ok",
                 "path": str(row.path) if row.path else None}
        try:
            det = row.build()
            entry["name"] = row.name
            entry["kind"] = getattr(det, "kind", "box")
            entry["bytes"] = getattr(det, "bytes", None)
            entry["macs"] = row_macs(det, getattr(det, "path", None))
            det.detect(read_image(samples[0].image_path))  # warm-up (lazy init, delegates), untimed
        except Exception as e:
            if debug and not isinstance(e, PicofaceError):
                raise
            entry["status"] = "not available: %s" % _reason(e)
            det = None
        built.append((entry, det))

    n_run = sum(1 for _, d in built if d is not None)
    bar = None
    if progress and n_run:
        from tqdm import tqdm

        bar = tqdm(total=n_run * len(samples), unit="img", desc="bench", file=sys.stderr, leave=False)
    results = []
    try:
        for entry, det in built:
            if det is not None:
                if bar is not None:
                    bar.set_description("bench %s" % entry["name"])
                timed = TimedDetector(det, bar)
                timed.macs = entry["macs"]
                try:
                    res = evaluate(timed, samples, iou=iou, progress=False)
                    entry.update(_summary(res, timed.times))
                    entry["_result"] = res
                except Exception as e:
                    if debug and not isinstance(e, PicofaceError):
                        raise
                    entry["status"] = "failed: %s" % _reason(e)
                    if bar is not None:
                        bar.update(len(samples) - len(timed.times))
            results.append(entry)
    finally:
        if bar is not None:
            bar.close()
    return results


def _summary(res, times):
    out = {"metric": res.get("metric", "box"), "ap": dict(res.get("ap", {})),
           "ms_median": float(np.median(times) * 1000) if times else None,
           "ms_mean": float(np.mean(times) * 1000) if times else None,
           "counts": res.get("counts", {})}
    if out["metric"] == "centroid":
        r = res["results"].get("centroid", {})
        out["ap50"] = out["ap30"] = None
        out["ap_centroid"] = r.get("ap")
    else:
        out["ap50"] = res["ap"].get("0.5")
        out["ap30"] = res["ap"].get("0.3")
        out["ap_centroid"] = None
    return out
