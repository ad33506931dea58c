"""Float vs int8 parity: the val metric of each TFLite model on the validation set, as ``picoface
eval`` measures it (``picoface.train.val``), before the files are written; and the deployed score
threshold with the figures at it."""

import math

from picoface.errors import PicofaceError


def deployed_score(best_f1_score):
    """The shipped score threshold for a best-F1 score from val: within [0.1, 0.9], rounded down to
    3 decimals (rounding up could drop the detections that scored exactly the best-F1 score)."""
    if best_f1_score is None:
        return 0.5
    return min(0.9, max(0.1, math.floor(best_f1_score * 1000.0) / 1000.0))


def parity(float_bytes, int8_bytes, contract, valset, tolerance=0.01, raise_on_fail=True, score=0.0):
    """{'ap_float', 'ap_int8', 'delta', 'ok', 'tolerance', 'best_f1_score'} for the two TFLite
    models (bytes) read with ``contract`` (``picoface.train.val.val_contract``), plus for a val set
    scored by regime (``data.val: holdout``) 'regimes_float' / 'regimes_int8': AP per regime and
    precision / recall / F1 at the deployed score (``score``, or when it is 0 the one val picks).
    PicofaceError when |delta| > tolerance and ``raise_on_fail``."""
    from picoface.detectors.tflite_det import TFLiteDetector
    from picoface.train.val import detections, val_score

    dets_f = detections(TFLiteDetector(None, contract, data=float_bytes), valset)
    dets_q = detections(TFLiteDetector(None, contract, data=int8_bytes), valset)
    ap_f = val_score(dets_f, valset)[0]
    ap_q, best_f1 = val_score(dets_q, valset)
    res = {"ap_float": round(ap_f, 4), "ap_int8": round(ap_q, 4), "delta": round(ap_q - ap_f, 4),
           "ok": abs(ap_q - ap_f) <= tolerance, "tolerance": tolerance, "best_f1_score": best_f1,
           "metric": getattr(valset, "metric", "ap")}
    if res["metric"] == "regimes":
        from picoface.evaluate.regimes import score_ious

        thr = score if score > 0 else deployed_score(best_f1)
        res["deployed_score"] = thr
        for key, dets in (("regimes_float", dets_f), ("regimes_int8", dets_q)):
            res[key] = score_ious(dets, valset.samples, (0.5, 0.3), threshold=thr)
    if raise_on_fail and not res["ok"]:
        raise PicofaceError("int8 AP %.4f differs from float AP %.4f by more than %.3f"
                            % (ap_q, ap_f, tolerance), "use more/better calibration images (--calib)")
    return res
