"""Run a study: prepare the base, then for each point not finished yet build it, score it on the val
set, save it (atomic) and rewrite the report."""

import hashlib
from pathlib import Path

from picoface.errors import PicofaceError


def _sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def run_study(kind, config_path, out, model=None, budget_min=10.0, resume=False, calib=None, kmodel=None, val=None,
              progress=True, log=print, command="", name="study", opts=None):
    """Run (or resume) a study into ``out`` (NAME.md, NAME.json, NAME.png, NAME-points/); returns the
    finished points in table order."""
    from picoface.paths import display_path
    from picoface.study import KINDS, prune, quant, report, score, sweep
    from picoface.study.context import Context, find_model
    from picoface.study.store import Store
    from picoface.train.config import config_hash, load_config
    from picoface.train.val import load_valset

    if kind not in KINDS:
        raise PicofaceError("unknown study kind %r" % kind, "use one of: %s" % ", ".join(KINDS))
    if budget_min < 0:
        raise PicofaceError("--budget %g is negative" % budget_min, "give minutes >= 0 (0: no training point)")
    if not name or not all(c.isalnum() or c in "-_." for c in name) or name.startswith("."):
        raise PicofaceError("--name %r is not a plain file name" % name, "use letters, digits, '-', '_' or '.'")
    trains = kind in sweep.KINDS
    if trains and model:
        raise PicofaceError("--model is not used by a %s study (every point trains)" % kind, "drop --model")
    if trains and budget_min <= 0:
        raise PicofaceError("--budget %g leaves a %s study nothing to train" % (budget_min, kind),
                            "give minutes > 0, split over the points")
    cfg = load_config(config_path)
    model_path = None if trains else find_model(cfg, model)
    kpath = quant.find_kmodel(cfg, model_path, kmodel) if kind == "quant" else None
    mod = {"quant": quant, "prune": prune, "width": sweep, "input": sweep, "search": sweep}[kind]
    opts = dict(opts or {})
    identity = {"kind": kind, "config_hash": config_hash(cfg), "model_sha256": _sha256(model_path) if model_path else None,
                "kmodel_sha256": _sha256(kpath) if kpath else None, "budget_minutes": budget_min, "options": opts}
    store = Store(out, identity, resume, name)
    if trains:   # every point's config is validated here, before anything trains or is written
        ctx = sweep.SweepContext(kind, cfg, config_path, budget_min * 60.0, Path(out), name, calib=calib,
                                 progress=progress, log=log, opts=opts)
    valset = load_valset(cfg, val)
    if valset is None:
        raise PicofaceError("%s names no val set" % config_path, "set data.val in the config (or pass --val)")
    log("val set: %s" % valset.describe())
    if not trains:
        ctx = Context(cfg, config_path, model_path, budget_min * 60.0, calib=calib, kmodel=kpath, progress=progress,
                      log=log, opts=opts)
    ids = ctx.ids = mod.point_ids(ctx)
    notes = [
        "AP is AP@0.5 as training validation and `picoface bench` compute it (picoface.train.val, "
        "picoface.evaluate): far / mid / close regimes in camera pixels (12-40, 40-100, >= 100) and their mean "
        "(the val metric); AP all: every face. The plot's y axis is %s." % _metric_label(valset),
        "bytes: the file (TFLite flatbuffer, kmodel); for Q-format points the weights packed at their bit width "
        "plus int32 biases (no file format exists for them). MACs as the target computes them: TFLite ops' "
        "shapes (picoface.bench.macs.tflite_macs), the KPU's convolutions at input resolution for the kmodel "
        "(kmodel_macs), the folded Keras convolutions for Q-format.",
        "arena: the smallest tflite-micro arena that runs the int8 model (export.arena.measure_arena); KPU RAM: "
        "the kmodel's (picoface.kmodel.heap). Float TFLite points are not measured (no picoface board runs them).",
        "host ms: per val image on this host, inference + decode + NMS, each form in its own runtime (LiteRT, "
        "the Q-format simulator in float64 TensorFlow, the KPU emulator), as a ratio to the first point.",
        "Q-format: Qm.n with a sign bit (bits = m + n + 1); round to nearest, ties toward +infinity "
        "(floor(x * 2^n + 0.5)), saturate to [-2^(bits-1), 2^(bits-1) - 1]; sums exact, biases int32 at the "
        "accumulator's scale, one rounding per layer output (picoface.study.qformat). 'best m per layer': the n "
        "with the least squared error on the layer's weights and on its outputs over 16 calibration photos.",
        "The Keras model is prepared as `picoface export` prepares it: BatchNorm folded%s%s." % (
            ", cross-layer equalisation" if cfg.export.equalize else "",
            ", outputs clamped to [%g, %g]" % tuple(cfg.export.clip_output) if cfg.export.clip_output else ""),
    ]
    notes += mod.notes(ctx, ids)
    study = {"kind": kind, "name": cfg.name, "config": display_path(config_path),
             "model": display_path(model_path) if model_path else "one trained per point",
             "val": valset.describe(), "metric_label": _metric_label(valset), "command": command, "points": ids,
             "base_point": ids[0], "notes": notes, "budget_minutes": budget_min}
    refs, ref_note = report.references(cfg)
    study["notes"].append(ref_note)
    for i, pid in enumerate(ids):
        if store.done(pid):
            log("point %s: finished before, skipped" % pid)
            continue
        log("point %d/%d: %s" % (i + 1, len(ids), pid))
        det, info = mod.build_point(ctx, pid)
        dets, ms = score.run_detections(det, valset, pid, progress=progress)
        store.save(dict(info, id=pid, score=score.score(dets, valset), ms=round(ms, 2)))
        report.write(out, study, store.ordered(ids), refs, name)
    report.write(out, study, store.ordered(ids), refs, name)
    return store.ordered(ids)


def _metric_label(valset):
    if getattr(valset, "metric", "ap") == "regimes":
        return "mean AP@0.5 of the far / mid / close regimes"
    return "AP@0.5"
