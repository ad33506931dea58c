"""Ship a trained gate: BN-folded float TFLite, int8 TFLite (OpenMV), kmodel v3 (K210), each with its
own contract (``gate_int8.json``, ``gate_kmodel.json``) and threshold, scored on the val frames.

The threshold of each artifact is the highest gate probability that keeps ``gate.target_tpr`` of the
val faces (a gate that misses a face costs a detection; one that passes a background frame costs
only a detector run). Every figure of the card comes from export.json, written here.
"""

import hashlib
import json
import time
from pathlib import Path

import numpy as np

from picoface import atomic
from picoface.errors import PicofaceError

FILES = {"tflite-float": "gate_float.tflite", "tflite-int8": "gate_int8.tflite", "kmodel-v3": "gate.kmodel"}
CONTRACTS = {"tflite-int8": "gate_int8.json", "kmodel-v3": "gate_kmodel.json"}
# face height in a 240-line camera frame: far / mid / close regimes of the val frames
REGIMES = (("far", 0, 48), ("mid", 48, 96), ("close", 96, 10000))
CAM_W, CAM_H = 320, 240     # the QVGA frame both boards' apps squash for the gate


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))


def _int8_logits(data, frames):
    from picoface.export.tflite import TFLiteRunner

    run = TFLiteRunner(data)
    return np.array([float(np.mean(run(f))) for f in frames])


def _score(logits, labels, fracs, target_tpr):
    from picoface.gate.metrics import summary, threshold_at_tpr

    p = _sigmoid(logits)
    th, _, _ = threshold_at_tpr(p, labels, target_tpr)
    th = np.floor(th * 1e4) / 1e4       # the contract's 4 decimals, rounded down: every figure is at it
    s = summary(p, labels, th)
    px = np.asarray(fracs) * CAM_H
    pos = np.asarray(labels) > 0.5
    s["tpr_by_regime"] = {}
    for name, lo, hi in REGIMES:
        m = pos & (px >= lo) & (px < hi)
        s["tpr_by_regime"][name] = {"faces": int(m.sum()),
                                    "tpr": round(float((p[m] >= th).mean()), 4) if m.any() else None}
    s["threshold"] = float(th)
    return s


def _contract(cfg, fmt, data, out_name, io, threshold):
    return {"contract": 1, "kind": "gate", "name": cfg.name, "format": fmt, "file": out_name,
            "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(),
            "input": dict({"w": cfg.input.w, "h": cfg.input.h, "channels": cfg.input.channels,
                           "order": "GRAY" if cfg.input.channels == 1 else "RGB", "fit": "stretch"}, **io["input"]),
            "output": dict({"reduce": "mean", "activation": "sigmoid"}, **io["output"]),
            "thresholds": {"gate": threshold}}


def export_gate(cfg, keras_path, out_dir, k210_board="maix_dock", tflite_board="openmv_h7_plus",
                log=print, progress=True, kmodel=True, detector="models/picoface_k210_320x240/picoface.kmodel"):
    """Write the gate's artifacts, contracts, export.json and MODEL_CARD.md into out_dir. ``detector``:
    the K210 detector the gate runs beside (its heap is added to the gate's in the report)."""
    import keras

    from picoface.boards import load_board
    from picoface.export import arena
    from picoface.export.shipping import calibration_images
    from picoface.export.tflite import fold, io_details, to_float, to_int8
    from picoface.gate.board_input import rgb565, rgb888
    from picoface.gate.crops import frame_crops
    from picoface.train.classifier import predict
    from picoface.train.model import count_macs
    from picoface.train.val import load_valset

    if cfg.model.arch != "gate" and not cfg.gate.frames:
        raise PicofaceError("%s is a %s model, not a gate" % (cfg.name, cfg.model.arch),
                            "pass a gate config (model.arch gate, or gate.frames true)")
    from picoface.paths import resolve_path

    t0 = time.time()
    detector = resolve_path(detector) if detector else None
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model = keras.models.load_model(str(keras_path), compile=False)
    folded = fold(model, cfg.model) if cfg.model.arch == "gate" else model    # tinyface: no BatchNorm
    calib = calibration_images(cfg, cfg.export.calib_images)
    v = load_valset(cfg)
    if v is None:
        raise PicofaceError("the gate config has no val set", "set data.val (holdout)")
    vx, vy, vf = frame_crops(v.images, [s.boxes for s in v.samples], [s.ignore for s in v.samples],
                             cfg.gate.val_crops, cfg.input.w, cfg.input.h, np.random.default_rng(12345), cfg.gate,
                             channels=cfg.input.channels, train=False, sizes=True)
    log("gate val: %d frames from %d held-out photos" % (len(vx), len(v.samples)))
    # the same frames at the camera's size (RGB565), for squashing them as each board does
    cam = frame_crops(v.images, [s.boxes for s in v.samples], [s.ignore for s in v.samples], cfg.gate.val_crops,
                      CAM_W, CAM_H, np.random.default_rng(12345), cfg.gate, train=False)[0]
    cam = rgb888(rgb565(cam))
    rep = {"name": cfg.name, "input": [cfg.input.w, cfg.input.h, cfg.input.channels], "params": int(model.count_params()),
           "macs": count_macs(folded), "grid": _grid(folded.output_shape), "arch": cfg.model.arch, "val": {"frames": int(len(vx)), "photos": len(v.samples), "source": cfg.data.val},
           "target_tpr": cfg.gate.target_tpr, "formats": {}}
    rep["formats"]["keras-float"] = {"val": _score(predict(model, vx), vy, vf, cfg.gate.target_tpr)}
    blobs = {"tflite-float": to_float(folded), "tflite-int8": to_int8(folded, calib)}
    i8 = blobs["tflite-int8"]
    board = load_board(tflite_board)
    arena_bytes = arena.measure_arena(i8)
    arena.check_board_budget(board, len(i8), arena_bytes)
    s = _score(_int8_logits(i8, _board_frames(cam, "openmv", cfg)), vy, vf, cfg.gate.target_tpr)
    rep["formats"]["tflite-int8"] = {"bytes": len(i8), "tflm_arena_bytes": arena_bytes, "board": board.name, "val": s}
    contracts = {"tflite-int8": _contract(cfg, "tflite-int8", i8, FILES["tflite-int8"], _io_tflite(io_details(i8)),
                                          s["threshold"])}
    for fmt in ("tflite-float", "tflite-int8"):
        atomic.write_bytes(out_dir / FILES[fmt], blobs[fmt])
    if kmodel and cfg.input.channels != 3:
        rep["kmodel_not_shipped"] = "a grayscale net; the K210 app feeds the KPU the camera's planar RGB"
        kmodel = False
    if kmodel:
        from picoface.kmodel.map_model import emulate_logits, k210_heap, to_kmodel

        kb = load_board(k210_board)
        try:
            km, kdata, krep = to_kmodel(blobs["tflite-float"], calib, kb, out_dir / FILES["kmodel-v3"],
                                        progress=log)
        except PicofaceError as e:       # what nncase / the K210 checks said, in the report
            rep["kmodel_not_shipped"] = str(e)
            kmodel = False
    if kmodel:
        s = _score(emulate_logits(km, _board_frames(cam, "k210", cfg), progress=progress), vy, vf,
                   cfg.gate.target_tpr)
        b = krep["budget"]
        rep["formats"]["kmodel-v3"] = {"bytes": len(kdata), "board": kb.name, "kpu_ram_bytes": b["kpu_ram_bytes"],
                                       "main_mem_bytes": b["main_mem_bytes"],
                                       "emulator_vs_simulator_lsb": krep["emulator_vs_simulator"]["max_lsb"],
                                       "val": s}
        rep["formats"]["kmodel-v3"]["heap"] = k210_heap({"gate": km}, detector)
        w, h, c = km.convs[-1].regs.out_shape
        contracts["kmodel-v3"] = _contract(cfg, "kmodel-v3", kdata, FILES["kmodel-v3"], {
            "input": {"layout": "NCHW", "dtype": "uint8", "scale": 1 / 255.0, "zero_point": 0},
            "output": {"grid_w": w, "grid_h": h, "channels": c, "layout": "NCHW", "dtype": "float32",
                       "scale": 1.0, "zero_point": 0}}, s["threshold"])
    for fmt, c in contracts.items():
        atomic.write_text(out_dir / CONTRACTS[fmt], json.dumps(c, indent=2) + "\n")
    rep["seconds"] = round(time.time() - t0, 1)
    atomic.write_text(out_dir / "export.json", json.dumps(rep, indent=2) + "\n")
    from picoface.gate.card import write_card

    write_card(cfg, rep, out_dir)
    return rep


def _board_frames(cam, family, cfg):
    """The val frames as the board's app squashes its camera frame for the gate (gate.board_input)."""
    from picoface.gate.board_input import k210_gate_input, openmv_gate_input

    squash = k210_gate_input if family == "k210" else openmv_gate_input
    out = np.stack([squash(f, cfg.input.w, cfg.input.h) for f in cam])
    if cfg.input.channels == 1:
        from picoface.detect.fit import luminance

        out = np.stack([luminance(f) for f in out])
    return out


def _grid(shape):
    return [int(shape[2]), int(shape[1])] if len(shape) == 4 else [1, 1]


def _io_tflite(info):
    i, o = info["input"], info["output"]
    if len(o["shape"]) == 2:        # a pooled head: one logit
        o = dict(o, shape=[o["shape"][0], 1, 1, o["shape"][1]])
    return {"input": {"layout": "NHWC", "dtype": i["dtype"], "scale": i["scale"], "zero_point": i["zero_point"]},
            "output": {"grid_h": o["shape"][1], "grid_w": o["shape"][2], "channels": o["shape"][3],
                       "layout": "NHWC", "dtype": o["dtype"], "scale": o["scale"], "zero_point": o["zero_point"]}}
