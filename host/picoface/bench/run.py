"""Run bench rows over the same samples with the same evaluator (picoface.evaluate)."""

import sys
import time

import numpy as np

from picoface.errors import PicofaceError
from picoface.paths import display_path


class TimedDetector:
    """Wraps a detector: same attributes, records the wall time of every ``detect`` call and
    advances a progress bar (the bench measures host latency in the same run as AP)."""

    def __init__(self, det, bar=None):
        self.det = det
        self.bar = bar
        self.times = []
        for k in ("name", "kind", "bytes", "deploy_threshold", "labels"):
            if hasattr(det, k):
                setattr(self, k, getattr(det, k))
        self.macs = None  # filled in by the bench (counting may import TensorFlow: not per call)

    def detect(self, rgb, **kw):
        t = time.perf_counter()
        out = self.det.detect(rgb, **kw)
        self.times.append(time.perf_counter() - t)
        if self.bar is not None:
            self.bar.update(1)
        return out


def _reason(e):
    if isinstance(e, PicofaceError):
        return str(e)
    return "%s: %s" % (type(e).__name__, str(e).strip().splitlines()[0] if str(e).strip() else "")


def row_macs(det, path=None):
    """(MACs, None), or (None, why not): the detector's MACs, counted from the model file when the
    detector does not know them. A MAC count never fails a row; its reason goes in the report."""
    from picoface.bench import macs

    try:
        m = getattr(det, "macs", None)  # some detectors count on first access
        if m is None and path is not None:
            p = str(path)
            if p.endswith(".kmodel"):
                m = macs.kmodel_macs(p)
            elif p.endswith(".tflite"):
                m = macs.tflite_macs(p)
    except Exception as e:
        return None, "MACs not counted: %s" % _reason(e)
    if m is None:
        return None, getattr(det, "macs_error", None)
    return int(m), None


def with_min_size(samples, min_size, rule):
    """Copies of ``samples`` with the faces under ``min_size`` px (``rule``) moved to ignore as
    well (the originals are left as they are): a stricter size rule on the same detections."""
    import copy

    from picoface.data import apply_min_size

    out = []
    for s in samples:
        c = copy.copy(s)
        c.meta = dict(s.meta)
        out.append(c)
    return apply_min_size(out, min_size, rule)


def has_classes(det):
    """True for a detector that tells classes apart (a multi-class model: ``labels``)."""
    return det is not None and bool(getattr(det, "labels", None)) and getattr(det, "kind", "box") != "centroid"


def bench_rows(rows, samples, iou=(0.5, 0.3), progress=True, debug=False, strict=None, close=None, classes=None,
               class_map=None):
    """Evaluate every row on ``samples`` -> list of result dicts (one per row, in row order).

    Each detector is built once and runs once per image of each set: ``samples`` (timed), then
    ``close`` (an ``EvalSet``, optional; its figures under "close"). ``strict``: the same samples
    under the stricter size rule (``with_min_size``, 32 px), scored on the same detections
    ("ap50_min32"). ``classes``: a labelled ``EvalSet`` on which every row that tells classes apart
    (``has_classes``) is scored per class (``picoface.evaluate.classes``, ``class_map``; its figures under
    "classes"); when it is ``close`` itself, the close-range run gives them (no second run).
    A row whose detector cannot be built is "not available: <reason>"; one that fails while
    running is "failed: <reason>". Neither stops the bench (unless ``debug``)."""
    from picoface.evaluate import evaluate
    from picoface.evaluate.regimes import sample_image

    if not samples:
        raise PicofaceError("the bench data set has no images", "check --data / --limit")
    built = []
    for row in rows:
        entry = {"name": row.name, "group": row.group, "what": row.what, "status": "ok",
                 "path": display_path(row.path) if row.path else None}
        try:
            det = row.build()
            entry["name"] = row.name
            entry["kind"] = getattr(det, "kind", "box")
            entry["bytes"] = getattr(det, "bytes", None)
            entry["macs"], entry["macs_error"] = row_macs(det, getattr(det, "path", None))
            entry["deploy_threshold"] = getattr(det, "deploy_threshold", None)
            det.detect(sample_image(samples[0]))  # warm-up (lazy init, delegates), untimed
        except Exception as e:
            if debug and not isinstance(e, PicofaceError):
                raise
            entry["status"] = "not available: %s" % _reason(e)
            det = None
        built.append((entry, det))

    n_run = sum(1 for _, d in built if d is not None)
    n_close = len(close.samples) if close is not None else 0
    n_classes = len(classes.samples) if classes is not None and classes is not close else 0
    n_multi = sum(1 for _, d in built if has_classes(d))
    bar = None
    if progress and n_run:
        from tqdm import tqdm

        bar = tqdm(total=n_run * (len(samples) + n_close) + n_multi * n_classes, unit="img", desc="bench",
                   file=sys.stderr, leave=False)
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
                    if strict is not None:
                        entry["ap50_min32"] = _strict_ap(res, strict)
                    entry["_result"] = res
                except Exception as e:
                    if debug and not isinstance(e, PicofaceError):
                        raise
                    entry["status"] = "failed: %s" % _reason(e)
                    if bar is not None:
                        bar.update(len(samples) + n_close - len(timed.times))
                    det = None
            same = classes is not None and classes is close and has_classes(det)
            if det is not None and close is not None:
                entry["close"] = _close(det, close, iou, bar, debug, same, class_map)
                if same:
                    entry["classes"] = entry["close"].pop("per_class", None) or {"status": entry["close"]["status"]}
            if has_classes(det) and classes is not None and not same:
                entry["classes"] = _classes(det, classes, iou, bar, debug, class_map)
            results.append(entry)
    finally:
        if bar is not None:
            bar.close()
    return results


def _strict_ap(res, strict):
    """AP@0.5 of the detections of ``res`` against the samples under the stricter size rule."""
    from picoface.evaluate import score

    if res.get("metric") == "centroid":
        return None
    return score(res["_detections"], strict, iou=(0.5,))["ap"]["0.5"]


def _close(det, es, iou, bar, debug, per_class=False, class_map=None):
    """The detector on the close-range set -> its figures (or {"status": "failed: ..."}); with
    ``per_class`` (the close-range set is the per-class set too) also "per_class": the per-class
    figures (``class_map``) with their "status" (a class map that does not fit the set fails those
    figures only)."""
    from picoface.evaluate import to_json
    from picoface.evaluate.classes import score_classes

    res, failed = _evaluate(det, es, iou, bar, debug)
    if failed:
        return failed
    out = _figures(res)
    out["status"] = "ok"
    out["regimes"] = to_json(res.get("regimes"))
    if per_class:
        try:
            pc = res["per_class"] if class_map is None else score_classes(
                res["_detections"], res["_classes"], es.samples, list(det.labels), class_map, iou,
                res["score_threshold"])
            out["per_class"] = dict(to_json(pc), status="ok")
        except PicofaceError as e:
            out["per_class"] = {"status": "failed: %s" % _reason(e)}
    return out


def _classes(det, es, iou, bar, debug, class_map=None):
    """The per-class figures of a detector with classes on the labelled set ``es`` (with "status")."""
    from picoface.evaluate import to_json

    res, failed = _evaluate(det, es, iou, bar, debug, class_map=class_map)
    return failed or dict(to_json(res["per_class"]), status="ok")


def _evaluate(det, es, iou, bar, debug, **options):
    """(evaluate's result, None), or (None, {"status": "failed: ..."}) when the detector fails on the
    set ``es`` (the progress bar still moves past its images); ``debug`` re-raises what is not a
    PicofaceError."""
    from picoface.evaluate import evaluate

    counted = TimedDetector(det, bar)
    try:
        return evaluate(counted, es.samples, iou=iou, progress=False, images=es.images, **options), None
    except Exception as e:
        if debug and not isinstance(e, PicofaceError):
            raise
        if bar is not None:
            bar.update(len(es.samples) - len(counted.times))
        return None, {"status": "failed: %s" % _reason(e)}


def _figures(res):
    if res.get("metric") == "centroid":
        ap50 = ap30 = None
        apc = res["results"].get("centroid", {}).get("ap")
    else:
        ap50, ap30, apc = res["ap"].get("0.5"), res["ap"].get("0.3"), None
    return {"metric": res.get("metric", "box"), "ap": dict(res.get("ap", {})), "ap50": ap50, "ap30": ap30,
            "ap_centroid": apc, "counts": res.get("counts", {})}


def _summary(res, times):
    from picoface.evaluate import to_json

    out = _figures(res)
    out.update(ms_median=float(np.median(times) * 1000) if times else None,
               ms_mean=float(np.mean(times) * 1000) if times else None)
    out["regimes"] = to_json(res.get("regimes"))
    key = "centroid" if out["metric"] == "centroid" else "0.5"
    out["recall_by_size"] = [{k: b.get(k) for k in ("bucket", "lo", "hi", "faces", "found_any_score",
                                                    "recall_any_score")}
                             for b in res["results"].get(key, {}).get("recall_by_size", [])]
    return out
