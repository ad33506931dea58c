"""``picoface study quant``: one trained model in every number format picoface can ship or simulate.

Points (nothing is trained except the optional QAT point): float32 TFLite, float16 weights, int8
post-training quantisation with per-tensor and per-channel weight scales, int8 after a short
quantisation-aware fine-tune (``export.qat``), Q-format fixed point (``study.qformat``) at 8 bits
(best m per layer, the paper's uniform m, and one m per output channel of the weights), 6 and 4 bits (16
bits: the simulator's own check), and the K210 kmodel beside the model
when the base config's board runs kmodels. Each is scored on the config's val set like training
validation and ``picoface bench``; the Keras model is prepared as ``export`` prepares it (BN folded,
cross-layer equalisation when ``export.equalize``, outputs clamped to ``export.clip_output``).
"""

from pathlib import Path

from picoface.errors import PicofaceError

# (id, bits, weight formats: "layer" (best m per layer), "uniform" (the paper's one m), "channel" (per output channel))
Q_POINTS = (("q16", 16, "layer"), ("q8", 8, "layer"), ("q8-uniform", 8, "uniform"), ("q8-channel", 8, "channel"),
            ("q6", 6, "layer"), ("q6-channel", 6, "channel"), ("q4", 4, "layer"), ("q4-channel", 4, "channel"))


def point_ids(ctx):
    """The ids of this study's points, in table order (the first is the base of the ms ratio)."""
    ids = ["float32", "fp16", "int8-tensor", "int8-channel"]
    if ctx.budget_s > 0 and ctx.cfg.export.clip_output:
        ids.append("int8-qat")
    ids += [p[0] for p in Q_POINTS]
    if ctx.kmodel is not None:
        ids.append("kmodel")
    return ids


def notes(ctx, ids):
    if "int8-qat" in ids:
        return ["int8-qat: quantisation-aware fine-tuning (picoface.export.qat) for the study's budget "
                "(%g min of steps, after the training photos are loaded)." % (ctx.budget_s / 60.0)]
    return ["no QAT point: %s." % ("--budget 0" if ctx.budget_s <= 0 else "export.clip_output is not set")]


def _quiet(convert, *args):
    """A TFLite conversion without the "Saved artifact at ..." listing Keras prints on stdout."""
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        return convert(*args)


def _int8(model, calib, per_channel):
    import tensorflow as tf

    from picoface.export import tflite

    if per_channel:
        return tflite.to_int8(model, calib)
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = tflite.representative(calib)
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.uint8
    conv.inference_output_type = tf.int8
    conv._experimental_disable_per_channel = True
    return bytes(conv.convert())


def _fp16(model):
    import tensorflow as tf

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.target_spec.supported_types = [tf.float16]
    return bytes(conv.convert())


def _tflite_point(ctx, blob, fmt, label):
    from picoface.bench.macs import tflite_macs
    from picoface.detectors.tflite_det import TFLiteDetector

    det = TFLiteDetector(None, ctx.contract, data=blob, name=label)
    info = {"format": fmt, "bytes": len(blob), "macs": int(tflite_macs(blob)), "arena_bytes": None,
            "kpu_ram_bytes": None}
    dtype = "float32"
    if fmt == "tflite-int8":
        from picoface.export.arena import measure_arena

        info["arena_bytes"] = int(measure_arena(blob))
        dtype = "int8"
    info["limits"] = ctx.limits(fmt, dtype, len(blob), info["arena_bytes"])
    return det, info


def _qat_model(ctx):
    """The folded net fine-tuned with int8 rounding (``export.qat``) for the study's whole budget (the
    only point of this kind that trains), its outputs clamped as export clamps them."""
    import time

    import keras

    from picoface.export import qat, tflite

    tuned = keras.models.clone_model(ctx.folded)
    tuned.set_weights(ctx.folded.get_weights())
    epochs = max(1, ctx.cfg.export.qat_epochs)
    summary = qat.finetune(ctx.cfg, tuned, ctx.anchors, ctx.grid, ctx.calib, epochs, ctx.cfg.export.qat_lr or 1e-4,
                           cache=ctx.train_cache(), progress=ctx.progress, log=ctx.log,
                           deadline=time.monotonic() + ctx.budget_s)
    return tflite.clip_output(tuned, *ctx.cfg.export.clip_output), summary


def build_point(ctx, pid):
    """(detector, info) of one point: info has format, label, bytes, macs, arena_bytes, kpu_ram_bytes,
    limits (firmware and board checks) and details."""
    from picoface.export import tflite

    if pid == "float32":
        det, info = _tflite_point(ctx, _quiet(tflite.to_float, ctx.shipped), "tflite-float", pid)
        info["label"] = "float32 TFLite"
    elif pid == "fp16":
        det, info = _tflite_point(ctx, _quiet(_fp16, ctx.shipped), "tflite-fp16", pid)
        info["label"] = "float16 weights (TFLite float16 quantisation)"
    elif pid in ("int8-tensor", "int8-channel"):
        per_channel = pid == "int8-channel"
        det, info = _tflite_point(ctx, _quiet(_int8, ctx.shipped, ctx.calib, per_channel), "tflite-int8", pid)
        info["label"] = "int8 PTQ, per-%s weight scales" % ("channel" if per_channel else "tensor")
    elif pid == "int8-qat":
        tuned, summary = _qat_model(ctx)
        det, info = _tflite_point(ctx, _quiet(_int8, tuned, ctx.calib, True), "tflite-int8", pid)
        info["label"] = "int8 per-channel after %d QAT step%s" % (summary["steps"], "" if summary["steps"] == 1 else "s")
        info["details"] = {"qat": summary}
    elif pid in dict((p[0], p) for p in Q_POINTS):
        det, info = _q_point(ctx, pid)
    elif pid == "kmodel":
        det, info = _kmodel_point(ctx)
    else:
        raise PicofaceError("unknown quant point %r" % pid, "report this as a bug")
    info["id"] = pid
    return det, info


def _q_point(ctx, pid):
    from picoface.study.detector import QFormatDetector
    from picoface.study.qformat import QModel
    from picoface.train.model import count_macs

    _, bits, kind = dict((p[0], p) for p in Q_POINTS)[pid]
    q = QModel(ctx.folded, bits, ctx.calib[:16], per_layer=kind != "uniform", per_channel=kind == "channel",
               out_clip=ctx.cfg.export.clip_output)
    det = QFormatDetector(q, ctx.contract, pid)
    label = "Q-format %d-bit, %s" % (bits, {"layer": "best m per layer", "uniform": "one m for weights, one for activations",
                                            "channel": "weights: best m per output channel"}[kind])
    info = {"format": "q-format", "label": label, "bytes": q.weight_bytes(), "macs": count_macs(ctx.folded),
            "arena_bytes": None, "kpu_ram_bytes": None, "details": {"bits": bits, "formats": q.formats()},
            "limits": "simulated only (no firmware runs Q-format models)"}
    return det, info


def _kmodel_point(ctx):
    from picoface.bench.macs import kmodel_macs
    from picoface.contract import contract_for
    from picoface.detectors import open_model
    from picoface.kmodel.heap import runtime

    path = ctx.kmodel
    det = open_model(path)
    c = contract_for(path) or {}
    info = {"format": "kmodel-v3", "label": "K210 kmodel v3 (KPU emulator)", "bytes": path.stat().st_size,
            "macs": int(kmodel_macs(path)), "arena_bytes": None,
            "kpu_ram_bytes": int(runtime(path.read_bytes(), c)["kpu_ram_bytes"])}
    out = c.get("output") or {}
    info["limits"] = ctx.limits("kmodel-v3", out.get("dtype", "float32"), info["bytes"], None, out.get("layout", "NCHW"))
    return det, info


def find_kmodel(cfg, model_path, explicit=None):
    """The kmodel to add as a row: ``explicit``, else picoface.kmodel beside the model when the
    config's board runs kmodels; None otherwise."""
    from picoface.boards import load_board

    if explicit:
        p = Path(explicit)
        if not p.is_file():
            raise PicofaceError("kmodel %s not found" % p, "check --kmodel")
        return p
    if not cfg.export.board or load_board(cfg.export.board).model_format != "kmodel-v3":
        return None
    p = Path(model_path).parent / "picoface.kmodel"
    return p if p.is_file() else None
