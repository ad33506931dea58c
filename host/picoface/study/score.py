"""One study point's figures on the held-out val set, as training validation and ``picoface bench``
compute them (``picoface.train.val``, ``picoface.evaluate``): AP@0.5 per regime (far / mid / close)
and their mean (val sets scored by regime), AP@0.5 over all faces, and host ms per image."""

import time

import numpy as np


def run_detections(det, valset, label, progress=True, batch=8):
    """The detector on every val image, with a progress bar -> (list of (N, 5) arrays, ms per image)."""
    import sys

    from tqdm import tqdm

    dets = []
    t0 = time.perf_counter()
    with tqdm(total=len(valset.images), desc=label, unit="img", leave=False, file=sys.stderr,
              disable=not progress) as bar:
        for i in range(0, len(valset.images), batch):
            part = valset.images[i:i + batch]
            out = det.detect_many(part) if hasattr(det, "detect_many") else [det.detect(im) for im in part]
            dets += [np.asarray(d, np.float32).reshape(-1, 5) for d in out]
            bar.update(len(part))
    ms = (time.perf_counter() - t0) * 1000.0 / max(1, len(valset.images))
    return dets, ms


def score(dets, valset):
    """{"ap": {"far", "mid", "close", "mean"} or None, "ap_all": AP@0.5 of every face, "metric": the val
    metric training uses (mean regime AP for a holdout val set, else AP@0.5)}."""
    from picoface.evaluate import score as score_all
    from picoface.train.val import val_score

    metric = val_score(dets, valset)[0]
    res = score_all(dets, valset.samples, iou=(0.5,))["results"]["0.5"]
    out = {"metric": round(float(metric), 4), "ap_all": round(float(res["ap"] or 0.0), 4), "ap": None}
    if getattr(valset, "metric", "ap") == "regimes":
        from picoface.evaluate.regimes import score_regimes

        r = score_regimes(dets, valset.samples, 0.5)
        out["ap"] = {k: (None if r[k]["ap"] is None else round(float(r[k]["ap"]), 4)) for k in ("far", "mid", "close")}
        out["ap"]["mean"] = None if r["mean_ap"] is None else round(float(r["mean_ap"]), 4)
    return out
