"""Float vs int8 parity: AP@0.5 of each TFLite model on the validation set, as ``picoface eval``
measures it (``picoface.train.val``), before the files are written."""

from picoface.errors import PicofaceError


def parity(float_bytes, int8_bytes, contract, valset, tolerance=0.01, raise_on_fail=True):
    """{'ap_float', 'ap_int8', 'delta', 'ok', 'tolerance', 'best_f1_score'} for the two TFLite
    models (bytes) read with ``contract`` (``picoface.train.val.val_contract``); PicofaceError
    when |delta| > tolerance and ``raise_on_fail``."""
    from picoface.detectors.tflite_det import TFLiteDetector
    from picoface.train.val import detections, val_score

    ap_f = val_score(detections(TFLiteDetector(None, contract, data=float_bytes), valset), valset)[0]
    ap_q, best_f1 = val_score(detections(TFLiteDetector(None, contract, data=int8_bytes), valset), valset)
    res = {"ap_float": round(ap_f, 4), "ap_int8": round(ap_q, 4), "delta": round(ap_q - ap_f, 4),
           "ok": abs(ap_q - ap_f) <= tolerance, "tolerance": tolerance, "best_f1_score": best_f1}
    if raise_on_fail and not res["ok"]:
        raise PicofaceError("int8 AP %.4f differs from float AP %.4f by more than %.3f"
                            % (ap_q, ap_f, tolerance), "use more/better calibration images (--calib)")
    return res
