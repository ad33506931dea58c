"""Export a trained picoface model into a shipped folder (``models/<name>/``).

``export_model(keras_path, cfg_or_none, formats, out_dir, ...)`` is what ``picoface export``
and the end of ``picoface train`` call. It folds BN, writes the float and/or int8 TFLite,
measures the TFLM arena of the int8 model, checks the board budget (PicofaceError when over),
runs the float-vs-int8 AP parity check, and writes one contract per artifact
(``picoface_float.json``, ``picoface_int8.json``) plus ``model.json`` (the int8 TFLite, the
deployable artifact of TFLite boards; the K210 kmodel exporter makes its own from the float
TFLite), the resolved training config and a MODEL_CARD.md.
"""

import json
import shutil
from pathlib import Path

import numpy as np

from picoface import atomic
from picoface.contract import git_commit, write_contract
from picoface.errors import PicofaceError

FILES = {"tflite-float": "picoface_float.tflite", "tflite-int8": "picoface_int8.tflite", "keras": "picoface.keras"}


def calibration_images(cfg, n, seed=0, calib=None):
    """n uint8 net-size images (HxWx1 luminance for a grayscale net): from a folder/dataset ``calib``
    or the training sets (never val)."""
    from picoface.detect.fit import luminance
    from picoface.train.geometry import preprocess
    from picoface.train.samples import load_samples, read_image

    paths = []
    if calib:
        p = Path(calib)
        if p.is_dir() and not (p / "annotations.jsonl").is_file():
            paths = sorted(x for x in p.rglob("*") if x.suffix.lower() in (".jpg", ".jpeg", ".png", ".bmp"))
        else:
            paths = [s.image_path for s in load_samples(p)]
    else:   # the training photos only: never the ones data.holdout keeps for validation
        from picoface.train.trainset import train_samples

        paths = [s.image_path for s in train_samples(cfg)]
    paths = [p for p in paths if Path(p).is_file()]
    if not paths:
        raise PicofaceError("no calibration images found%s" % (" in %s" % calib if calib else ""),
                            "pass --calib with a folder of photos or a dataset")
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(paths), size=min(n, len(paths)), replace=False)
    out = []
    for i in sorted(pick):
        x, _ = preprocess(read_image(paths[i]), cfg.input.w, cfg.input.h, cfg.input.fit)
        out.append(luminance(x) if cfg.input.grayscale else x)
    return out


def _contract(cfg, fmt, fname, anchors, io, chash, grid, extra, score=0.5):
    gray = cfg.input.grayscale
    c = {
        "contract": 1, "name": cfg.name, "format": fmt, "file": fname, "bytes": 1, "sha256": "0" * 64,
        "input": {"w": cfg.input.w, "h": cfg.input.h, "channels": 1 if gray else 3, "order": "GRAY" if gray else "RGB",
                  "layout": "NHWC", "dtype": io["input"]["dtype"], "scale": io["input"]["scale"],
                  "zero_point": io["input"]["zero_point"], "fit": cfg.input.fit},
        "output": {"grid_w": grid[0], "grid_h": grid[1], "anchors": [[round(float(a), 4), round(float(b), 4)] for a, b in anchors],
                   "classes": cfg.model.classes, "layout": "NHWC", "dtype": io["output"]["dtype"],
                   "scale": io["output"]["scale"], "zero_point": io["output"]["zero_point"]},
        "thresholds": {"score": score, "nms": cfg.export.nms},
        "training": {"config_hash": chash, "commit": git_commit(), "config": "train.yaml"},
    }
    if cfg.model.classes > 1:
        c["output"]["labels"] = list(cfg.model.labels)
    if fmt == "tflite-float":
        c["input"].update(dtype="float32", scale=1.0 / 255.0, zero_point=0)
    c.update(extra)
    return c


def at_size(cfg, size, name=None):
    """A copy of the config for exporting the same weights at another input size."""
    import copy

    from picoface.train.model import check_input

    c = copy.deepcopy(cfg)
    c.input.w, c.input.h = int(size[0]), int(size[1])
    check_input(c.input.w, c.input.h, c.model.stride)
    if name:
        c.name = name
    return c


def export_model(keras_path, cfg, out_dir, formats=None, board=None, calib=None, anchors=None, valset=None,
                 parity_tolerance=None, log=print, input_size=None, progress=False):
    """Write the artifacts; return a summary dict (sizes, arena, parity APs).

    ``input_size`` (w, h): export the fully convolutional weights at another input size
    (``cfg`` then describes the training run; the artifacts describe the new size)."""
    import keras

    from picoface.boards import load_board
    from picoface.export import arena as arena_mod
    from picoface.export import tflite
    from picoface.train.config import config_hash
    from picoface.train.model import count_macs

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    formats = list(formats or cfg.export.formats)
    if parity_tolerance is None:
        parity_tolerance = cfg.export.parity_tolerance
    model = keras.models.load_model(str(keras_path), compile=False)
    trained_at = (cfg.input.w, cfg.input.h)
    train_cfg = cfg
    if input_size and tuple(input_size) != trained_at:
        from picoface.train.model import build_model

        cfg = at_size(cfg, input_size, cfg.name if Path(out_dir).name == cfg.name else Path(out_dir).name)
        resized = build_model(cfg.model, cfg.input.w, cfg.input.h, channels=cfg.input.channels)
        resized.set_weights(model.get_weights())
        model = resized
    if anchors is None:
        aj = Path(keras_path).parent / "anchors.json"
        if not aj.is_file():
            raise PicofaceError("no anchors.json beside %s" % keras_path, "export from a training run directory")
        anchors = json.loads(aj.read_text())
    anchors = np.asarray(anchors, np.float32)
    grid = (cfg.input.w // cfg.model.stride, cfg.input.h // cfg.model.stride)
    oshape = model.output_shape
    if (oshape[2], oshape[1]) != grid or oshape[3] != len(anchors) * (5 + cfg.model.classes):
        raise PicofaceError("model output %s does not match the config grid %s" % (oshape, grid),
                            "export with the config the model was trained with")
    check_firmware(cfg, board, grid, formats, "model %s" % Path(keras_path).name, channels=int(oshape[3]))
    calib_imgs = None
    if "tflite-int8" in formats or cfg.export.equalize or cfg.export.qat_epochs:
        calib_imgs = calibration_images(cfg, cfg.export.calib_images, seed=cfg.seed, calib=calib)
    folded = tflite.fold(model, cfg.model)
    if cfg.export.equalize:
        n = tflite.equalize(folded, calib_imgs)
        log("cross-layer equalisation: %d activations rescaled (outputs checked unchanged)" % n)
    qat_summary = None
    if cfg.export.qat_epochs:
        from picoface.export import qat

        qat_summary = qat.finetune(cfg, folded, anchors, grid, calib_imgs, cfg.export.qat_epochs, cfg.export.qat_lr,
                                   progress=progress, log=log)
    macs = count_macs(folded)
    if cfg.export.clip_output:
        folded = tflite.clip_output(folded, *cfg.export.clip_output)
        log("outputs clamped to [%g, %g] (export.clip_output)" % tuple(cfg.export.clip_output))
    chash = config_hash(train_cfg)
    summary = {"name": cfg.name, "trained_at": list(trained_at), "params": int(folded.count_params()), "macs": macs, "grid": list(grid),
               "anchors": np.round(anchors.astype(float), 4).tolist(), "config_hash": chash, "files": {}}
    if qat_summary is not None:
        summary["qat"] = qat_summary
    blobs = {}
    # the Keras float model always ships (fine-tuning, kmodel path, bench), with its contract;
    # after quantisation-aware fine-tuning it is the fine-tuned (BN-folded) net the TFLites are made from
    if qat_summary is None and (cfg.input.w, cfg.input.h) == trained_at:
        shutil.copyfile(keras_path, out / FILES["keras"])
    else:  # the fine-tuned net (without the clamp), or the resized copy: the Keras file matches its contract
        shipped = keras.Model(folded.input, folded.layers[-1].output, name=folded.name) if qat_summary else model
        atomic.save_model(out / FILES["keras"], shipped)
    kio = {"input": {"dtype": "float32", "scale": 1.0 / 255.0, "zero_point": 0},
           "output": {"dtype": "float32", "scale": 1.0, "zero_point": 0}}
    if "tflite-float" in formats or "tflite-int8" in formats:
        blobs["tflite-float"] = tflite.to_float(folded)
    if "tflite-int8" in formats:
        log("int8 calibration on %d images" % len(calib_imgs))
        blobs["tflite-int8"] = tflite.to_int8(folded, calib_imgs)
    arena = None
    if "tflite-int8" in blobs:
        arena = arena_mod.measure_arena(blobs["tflite-int8"])
        summary["arena_bytes"] = arena
        log("int8 %d B, TFLM arena %d B" % (len(blobs["tflite-int8"]), arena))
    board_name = board if board is not None else cfg.export.board
    if board_name:
        b = load_board(board_name)
        if b.model_format == "tflite-int8" and "tflite-int8" in blobs:
            arena_mod.check_board_budget(b, len(blobs["tflite-int8"]), arena)
        summary["board"] = b.name
    if cfg.export.max_weight_bytes and summary["params"] > cfg.export.max_weight_bytes:
        raise PicofaceError("%d int8 weights > export.max_weight_bytes %d" % (summary["params"], cfg.export.max_weight_bytes),
                            "use a smaller width or fewer blocks")
    par = None
    if valset is not None and "tflite-int8" in blobs:
        par = _parity_safe(blobs, anchors, valset, cfg, parity_tolerance, grid, macs)
        summary["parity"] = par
        if getattr(valset, "metric", "ap") == "regimes":
            summary["val_mix"] = {"images": {k: sum(1 for x in valset.samples if x.source == k)
                                             for k in sorted(cfg.data.holdout)}}
        log("val AP@0.5 float %.4f, int8 %.4f (delta %+.4f)" % (par["ap_float"], par["ap_int8"], par["delta"]))
    score = cfg.export.score
    if score <= 0:
        from picoface.export.parity import deployed_score

        auto = (par or {}).get("best_f1_score")
        score = deployed_score(auto)
        log("deployed score threshold %.3f (%s)" % (score, "default" if auto is None else
                                                      "best mean F1 of the regimes, int8 on val" if par.get("metric") == "regimes"
                                                      else "best F1 of int8 on val"))
    summary["score_threshold"] = score
    kc = write_contract(out / "picoface.json",
                        _contract(cfg, "keras", FILES["keras"], anchors, kio, chash, grid, {"macs": macs}, score))
    summary["files"]["keras"] = {"file": FILES["keras"], "bytes": kc["bytes"], "sha256": kc["sha256"]}
    for fmt, data in blobs.items():
        if fmt not in formats:
            continue
        fname = FILES[fmt]
        atomic.write_bytes(out / fname, data)
        io = tflite.io_details(data)
        extra = {"macs": macs}
        if fmt == "tflite-int8" and arena is not None:
            extra["arena_bytes"] = int(arena)
        if par is not None:
            extra["metrics"] = {"val": cfg.data.val, "val_ap50": par["ap_int8" if fmt == "tflite-int8" else "ap_float"]}
        c = write_contract(out / (Path(fname).stem + ".json"),
                           _contract(cfg, fmt, fname, anchors, io, chash, grid, extra, score))
        summary["files"][fmt] = {"file": fname, "bytes": c["bytes"], "sha256": c["sha256"]}
        if fmt == "tflite-int8" or ("tflite-int8" not in formats and fmt == "tflite-float"):
            write_contract(out / "model.json", c)
    from picoface.train.config import save_config

    save_config(train_cfg, out / "train.resolved.yaml")
    atomic.write_text(out / "export.json", json.dumps(summary, indent=2) + "\n")
    if par is not None and not par["ok"]:
        raise PicofaceError("int8 AP %.4f differs from float AP %.4f by more than %.3f (artifacts written to %s)"
                            % (par["ap_int8"], par["ap_float"], parity_tolerance, out),
                            "use more or better calibration images (--calib)")
    return summary


def check_firmware(cfg, board, grid, formats, subject, channels=None):
    """Refuse a head that the firmware families of ``board`` (a name, or None for the config's
    export.board) cannot decode (boards/firmware.toml): the grid, the config's anchors and classes,
    the NHWC TFLite output (``channels`` per cell, when the model is at hand)."""
    from picoface import firmware
    from picoface.boards import load_board

    name = board if board is not None else cfg.export.board
    if not name:
        return
    firmware.check_board(load_board(name), grid_w=grid[0], grid_h=grid[1], anchors=cfg.model.anchors,
                         classes=cfg.model.classes,
                         output_values=grid[0] * grid[1] * channels if channels is not None else None,
                         layout="NHWC", dtype="int8" if "tflite-int8" in formats else "float32", subject=subject)


def _parity_safe(blobs, anchors, valset, cfg, tol, grid, macs):
    from picoface.export.parity import parity
    from picoface.train.val import val_contract

    return parity(blobs["tflite-float"], blobs["tflite-int8"], val_contract(cfg, anchors, grid, macs), valset, tol,
                  raise_on_fail=False, score=cfg.export.score)


def _face_sizes(samples, cfg):
    """Percentiles (10/25/50/75/90) of val face sizes in net-input pixels (sqrt of area)."""
    sz = [np.sqrt(s.boxes[:, 2] * cfg.input.w / s.width * s.boxes[:, 3] * cfg.input.h / s.height)
          for s in samples if len(s.boxes) and s.width and s.height]
    if not sz:
        return None
    return [round(float(v), 1) for v in np.percentile(np.concatenate(sz), [10, 25, 50, 75, 90])]


def ship(cfg, result, log=print):
    """After training: export into cfg.out, copy curves/log, write the model card."""
    from picoface.paths import resolve_path
    from picoface.train.val import load_valset
    from picoface.export.card import write_card

    out = resolve_path(cfg.out)
    valset = load_valset(cfg)
    vs = valset.samples if valset is not None else []
    summary = None
    err = None
    size = list(cfg.export.input) or None
    ecfg = at_size(cfg, size) if size else cfg      # what the shipped artifacts run at
    try:
        summary = export_model(result.model_path, cfg, out, valset=valset, log=log, input_size=size)
    except PicofaceError as e:
        err = e
        ej = out / "export.json"
        summary = json.loads(ej.read_text()) if ej.is_file() else {}
    for f in ("curves.png", "log.csv", "anchors.json"):
        src = Path(result.run_dir) / f
        if src.is_file():
            shutil.copyfile(src, out / f)
    summary = dict(summary or {})
    summary["val_face_px"] = _face_sizes(vs, ecfg)
    write_card(ecfg, result, summary, out)
    for folder, size in getattr(cfg.export, "variants", {}).items():
        vout = resolve_path(folder)
        vcfg = at_size(cfg, size, vout.name)
        try:
            vsum = export_model(result.model_path, cfg, vout, valset=valset, log=log, input_size=size)
        except PicofaceError as e:
            log("variant %s (%dx%d) not shipped: %s" % (folder, size[0], size[1], e))
            continue
        for src in [Path(result.run_dir) / f for f in ("curves.png", "log.csv", "anchors.json")] + [out / "train.yaml"]:
            if src.is_file():
                shutil.copyfile(src, vout / src.name)
        vsum["val_face_px"] = _face_sizes(vs, vcfg)
        write_card(vcfg, result, vsum, vout)
    if err is not None:
        raise err
    return out
