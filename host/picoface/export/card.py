"""MODEL_CARD.md for a shipped model: what it is, sizes, training, curves, AP, how to reproduce."""

from picoface import atomic
from picoface.train.pretrained import frozen_blocks


def _kb(n):
    """Exact bytes, then the size as BENCH.md writes it (one size rule: ``bench.report.fmt_bytes``)."""
    from picoface.bench.report import fmt_bytes

    return "%s B (%s)" % ("{:,}".format(int(n)), fmt_bytes(n)) if n is not None else "n/a"


def _is_kmodel_board(name):
    from picoface.boards import load_board

    return load_board(name).model_format == "kmodel-v3"


def _small_faces(cfg):
    """How the val set's small faces are defined, in words."""
    if cfg.data.val_size_rule == "min-side":
        return "whose width or height is under %g px" % cfg.data.val_min_size
    return "under %g px (sqrt of width x height)" % cfg.data.val_min_size


def _compute_note(result, cfg):
    """Whether the run was still improving when it stopped, read from its history."""
    hist = [h for h in (getattr(result, "history", []) or []) if h.get("val_ap") not in (None, "")]
    if cfg.model.pretrained:
        n = frozen_blocks(cfg.model)
        text = ("stem and first %d blocks start from `%s`%s, the rest is trained from scratch, on a 2-core CPU"
                % (cfg.model.pretrained_blocks, cfg.model.pretrained.rsplit("/", 1)[-1],
                   " (the first %d frozen)" % n if n else ""))
    else:
        text = "trained from scratch (no pretrained weights) on a 2-core CPU"
    if cfg.train.budget_minutes:
        text += " within a %g-minute wall-clock budget" % cfg.train.budget_minutes
    if len(hist) >= 4:
        tail = max(2, len(hist) // 5)
        before = max(h["val_ap"] for h in hist[:-tail])
        last = max(h["val_ap"] for h in hist[-tail:])
        if last - before >= 0.01:
            return text + ("; val AP still rose by %.3f in the last %d epochs (stopped by: %s), so a longer "
                           "`train.budget_minutes` would likely give a better model (see the curves)."
                           % (last - before, tail, result.stopped))
        return text + ("; val AP had levelled off (%+.3f in the last %d epochs, stopped by: %s), so more "
                       "time alone would not help much (see the curves)." % (last - before, tail, result.stopped))
    return text + "."


def _cell_note(face_px, stride):
    """How the median val face compares with one grid cell."""
    med = face_px[2]
    if med <= stride:
        return ", so half of them span about one grid cell or less"
    return ", so the median face spans %.1f grid cells" % (med / float(stride))


def _frozen_text(m):
    n = frozen_blocks(m)
    if not n:
        return "fine-tuned"
    if n == m.pretrained_blocks:
        return "kept frozen during training (`model.pretrained_frozen`)"
    return ("the stem and the first %d kept frozen during training, the other %d fine-tuned "
            "(`model.pretrained_frozen_blocks`)" % (n, m.pretrained_blocks - n))


def _classes_text(m):
    """What the head detects: one class (face), or its labels."""
    if m.classes == 1:
        return "one class (face)"
    return "%d classes (%s; a face's score is objectness x its class's softmax probability)" % (
        m.classes, ", ".join(m.labels))


def _class_lines(cfg):
    """Model card lines on where a multi-class model's training classes came from (data.classes)."""
    if cfg.model.classes == 1:
        return []
    rules = "; ".join("%s: %s" % (name, ", ".join("%s -> %s" % (r, lab) for r, lab in rs.items()))
                      for name, rs in cfg.data.classes.items())
    return ["- classes (`data.classes`, picoface.train.classes): %s; every other face trains the box and "
            "objectness but not the class (`-`: no known class); class term weight %g (`loss.cls`)"
            % (rules or "none", cfg.loss.cls)]


def _start_lines(cfg):
    """Model card lines on what the run started from: pretrained blocks, model.init, unlabelled faces."""
    lines = []
    if cfg.model.pretrained:
        lines.append("- initial weights: the stem and first %d depthwise-separable blocks are copied from `%s` "
                     "(`model.pretrained`; its licence and training data: the comment at the top of `train.yaml`); "
                     "%s; %s" % (
                         cfg.model.pretrained_blocks, cfg.model.pretrained, _frozen_text(cfg.model),
                         "then every layer is set from `%s` (`model.init`)" % cfg.model.init if cfg.model.init else
                         "the later blocks and the region head start from random weights"))
    elif cfg.model.init:
        lines.append("- initial weights: every layer from `%s` (`model.init`)" % cfg.model.init)
    if cfg.model.init and cfg.model.classes > 1:
        lines.append("- the region head's box and objectness entries come from `%s`; the class entries start at zero"
                     % cfg.model.init)
    lines += _class_lines(cfg)
    if cfg.data.unlabelled:
        fs = cfg.data.unlabelled_face_score
        lines.append("- unlabelled faces: in %s, faces that `%s` finds (score >= %g) and that overlap no label are "
                     "ignore regions, neither positives nor negatives (`data.unlabelled`)%s" % (
                         ", ".join(cfg.data.unlabelled), cfg.data.unlabelled_detector, cfg.data.unlabelled_score,
                         "; those scoring >= %g are trained as faces (`data.unlabelled_face_score`)" % fs if fs else ""))
    L = cfg.loss
    extra = []
    if L.rescore:
        extra.append("objectness target (1 - %g) + %g x IoU of the predicted box (`loss.rescore`)" % (L.rescore, L.rescore))
    if L.box:
        extra.append("a 1 - DIoU box term, weight %g (`loss.box`)" % L.box)
    if L.extra_anchor_iou:
        extra.append("every anchor of a face's cell with shape IoU >= %g trained on it (`loss.extra_anchor_iou`)"
                     % L.extra_anchor_iou)
    if extra:
        lines.append("- loss: YOLOv2 region loss with " + "; ".join(extra))
    if cfg.train.ema:
        lines.append("- weights: val, the best checkpoint and these files use a moving average of the trained "
                     "weights (decay %g per step, `train.ema`)" % cfg.train.ema)
    return lines


def _fmt(v, nd=3):
    return ("%%.%df" % nd) % v if isinstance(v, (int, float)) else "n/a"


def _regime_lines(cfg, s, par, result):
    """The val mix (photos held out of training) and the figures per regime at the deployed score."""
    vm = s.get("val_mix") or {}
    sets = ", ".join("%s %d %% (%s photos)" % (k, round(100 * v), vm.get("images", {}).get(k, "?"))
                     for k, v in sorted(cfg.data.holdout.items()))
    lines = [
        "Validation mix (`data.val: holdout`): the photos of %s held out of training, chosen by a hash of "
        "the file name (`picoface.data.holdout`, the same on every machine and run); each is framed as a QVGA "
        "camera frames the scene (`data.val_framing: %s`: padded to 4:3), its boxes mapped to WIDER's "
        "convention (`data.box_adjust`), faces under 12 camera pixels ignored. No bench image is in it. "
        "The best epoch is the one with the best mean AP@0.5 of the three regimes, and the deployed score "
        "threshold the one with the best mean F1 of the regimes (int8 TFLite): every regime counts alike."
        % (sets, cfg.data.val_framing),
        "",
        "Regimes by a face's shorter side in camera pixels (320x240): far 12-40, mid 40-100, close >= 100. "
        "Measured at export on the TFLite models with the device's preprocessing; P / R / F1 at the "
        "deployed score %s:" % _fmt(par.get("deployed_score")),
        "",
        "| regime | faces | AP@0.5 float | AP@0.5 int8 | AP@0.3 int8 | P / R / F1 @0.5 int8 | P / R / F1 @0.3 int8 |",
        "|---|---|---|---|---|---|---|",
    ]
    rf = (par.get("regimes_float") or {}).get("0.5", {})
    rq = (par.get("regimes_int8") or {}).get("0.5", {})
    rq3 = (par.get("regimes_int8") or {}).get("0.3", {})
    for name in ("far", "mid", "close"):
        q, q3 = rq.get(name) or {}, rq3.get(name) or {}
        a, a3 = q.get("at_threshold") or {}, q3.get("at_threshold") or {}
        lines.append("| %s | %s | %s | %s | %s | %s / %s / %s | %s / %s / %s |" % (
            name, q.get("faces", "n/a"), _fmt((rf.get(name) or {}).get("ap")), _fmt(q.get("ap")), _fmt(q3.get("ap")),
            _fmt(a.get("precision")), _fmt(a.get("recall")), _fmt(a.get("f1")),
            _fmt(a3.get("precision")), _fmt(a3.get("recall")), _fmt(a3.get("f1"))))
    lines += [
        "| mean of the regimes | | %s | %s | %s | | |" % (_fmt(rf.get("mean_ap")), _fmt(rq.get("mean_ap")),
                                                         _fmt(rq3.get("mean_ap"))),
        "",
        "Best val figure during training (Keras float, mean regime AP@0.5): %.4f at epoch %d. The bench "
        "(`models/BENCH.md`) has widerface_val and the kmodel." % (result.best_ap, result.best_epoch),
    ]
    return lines


def write_card(cfg, result, summary, out):
    s = summary or {}
    par = s.get("parity") or {}
    files = s.get("files") or {}
    hist = getattr(result, "history", []) or []
    tp = getattr(result, "throughput", {}) or {}
    lines = [
        "# %s" % cfg.name,
        "",
        "Face detector of the picoface family: depthwise-separable (MobileNetV1-style) backbone, "
        "YOLOv2 region head (%d anchors x %d), %s. KPU-friendly: only 1x1/3x3 convs, "
        "stride-2 layers with symmetric ZeroPadding((1,1)) + 'valid', %s, BN folded at export, "
        "no Add/UpSampling/GlobalPool." % (cfg.model.anchors, 5 + cfg.model.classes, _classes_text(cfg.model),
                                           "ReLU6" if cfg.model.activation == "relu6" else "ReLU"),
        "",
    ]
    ta = s.get("trained_at")
    if ta and tuple(ta) != (cfg.input.w, cfg.input.h):
        lines += ["The weights were trained on %dx%d frames (config `%s`) and are exported here at %dx%d: the "
                  "network is fully convolutional and the anchors are in grid cells, so the same weights see "
                  "faces %.2fx larger in pixels." % (ta[0], ta[1], "train.yaml", cfg.input.w, cfg.input.h,
                                                      cfg.input.w / float(ta[0])), ""]
    lines += [
        "## Interface",
        "",
        "| item | value |",
        "|---|---|",
        "| input | %dx%d RGB, fit `%s` (pfcore.geom.Fit) |" % (cfg.input.w, cfg.input.h, cfg.input.fit),
        "| output | %dx%d grid x %d channels, NHWC (channel = a*%d+e: tx, ty, tw, th, obj, %s) |" % (
            (s.get("grid") or [0, 0])[0], (s.get("grid") or [0, 0])[1], cfg.model.anchors * (5 + cfg.model.classes),
            5 + cfg.model.classes, ", ".join(cfg.model.labels) if cfg.model.classes > 1 else "cls"),
        "| anchors (grid units) | %s |" % s.get("anchors"),
        "| parameters (= int8 weight bytes) | %s |" % ("{:,}".format(s["params"]) if "params" in s else "n/a"),
        "| MACs per frame | %s |" % ("{:,}".format(s["macs"]) if "macs" in s else "n/a"),
        "| thresholds | score %.3f%s, NMS IoU %.2f |" % (
            s.get("score_threshold", cfg.export.score),
            " (best F1 of the int8 model on val)" if cfg.export.score <= 0 else "", cfg.export.nms),
        "",
        "## Artifacts",
        "",
        "| file | format | bytes |",
        "|---|---|---|",
    ]
    for fmt, f in files.items():
        lines.append("| `%s` | %s | %s |" % (f["file"], fmt, _kb(f.get("bytes"))))
    kmodel_board = cfg.export.board and _is_kmodel_board(cfg.export.board)
    lines += [
        "",
        ("`picoface_float.json` / `picoface_int8.json` describe each TFLite; `model.json` describes the "
         "kmodel that `make train` converts from `picoface_float.tflite` (section below)." if kmodel_board else
         "`model.json` is the contract of the deployable int8 TFLite; `picoface_float.json` / "
         "`picoface_int8.json` describe each TFLite."),
        "",
        "- TFLite Micro arena (int8, measured with tflite-micro by bisection): %s" % _kb(s.get("arena_bytes")),
    ]
    if s.get("board"):
        lines.append("- checked against board `%s` budget (boards/%s.toml)" % (s["board"], s["board"]))
    if cfg.export.clip_output:
        lines.append("- the TFLite outputs are clamped to [%g, %g] (`export.clip_output`), so the int8 output scale "
                     "covers the values that decode to a detection" % tuple(cfg.export.clip_output))
    if s.get("qat"):
        q = s["qat"]
        lines.append("- before conversion the BN-folded net was fine-tuned %d epochs (%d steps, learning rate %g) with "
                     "int8 rounding in its forward pass (`export.qat_epochs`); `picoface.keras` is that net, "
                     "the TFLites and the kmodel are made from it" % (q["epochs"], q["steps"], cfg.export.qat_lr))
    lines += ["", "## Accuracy", ""]
    if par.get("metric") == "regimes":
        lines += _regime_lines(cfg, s, par, result)
    else:
        lines += [
            "AP@0.5 on `%s` (invalid faces and faces %s ignored), measured at export on the TFLite models "
            "with the same preprocessing as the device:" % (cfg.data.val, _small_faces(cfg)),
            "",
            "| model | AP@0.5 |",
            "|---|---|",
            "| float TFLite | %s |" % par.get("ap_float", "n/a"),
            "| int8 TFLite | %s |" % par.get("ap_int8", "n/a"),
            "",
            "Best val AP during training (Keras float): %.4f at epoch %d." % (result.best_ap, result.best_epoch),
        ]
    if cfg.model.classes > 1:
        lines += ["", "The figures above count faces whatever their class. AP per class (%s) and the class accuracy of "
                  "the faces found, on the same held-out photos: `eval_holdout/summary.md` (`picoface eval %s "
                  "--data holdout --config %s/train.yaml --out %s/eval_holdout`, the last step of `make train-mask`)."
                  % (", ".join(cfg.model.labels), cfg.out or "models/" + cfg.name, cfg.out or "models/" + cfg.name,
                     cfg.out or "models/" + cfg.name)]
    lines += [
        "",
        "## Training",
        "",
        "- data: %s (widerface_val is never trained on%s); per-source weights %s" % (
            ", ".join(cfg.data.train),
            "; the val photos of `data.holdout` are not trained on either" if cfg.data.holdout else "",
            cfg.data.weights or "equal"),
    ]
    lines += _start_lines(cfg)
    lines += [
        "- %d epochs run (stopped by: %s) in %.1f min on this machine's CPU; median %.0f img/s "
        "training, input pipeline alone %.0f img/s, image cache %.0f MB decoded in %.0f s" % (
            result.epochs_done, result.stopped, result.seconds / 60.0, tp.get("train_img_per_s", 0),
            tp.get("pipeline_img_per_s", 0), tp.get("cache_mb", 0), tp.get("cache_seconds", 0)),
        "- config: `train.yaml`; this run's resolved config is `train.resolved.yaml` (hash `%s`, seed %d, "
        "budget %g min, %d TF threads, batch %d, lr %g%s)" % (
            s.get("config_hash", "?"), cfg.seed, cfg.train.budget_minutes, cfg.train.threads, cfg.train.batch_size,
            cfg.train.lr, ", %dx%d %s for the first %.0f%% of the run" % (
                cfg.train.warm_size[0], cfg.train.warm_size[1],
                "windows of full-size frames" if cfg.train.warm_crop else "(smaller) frames",
                100 * cfg.train.warm_fraction) if cfg.train.warm_size else ""),
        "- curves: `curves.png`, per-epoch log: `log.csv`",
        "",
        "![training curves](curves.png)",
        "",
        "## Reproduce",
        "",
        "```",
        "make train          # every shipped model",
        "# or just this one:",
        ".venv/bin/picoface train --config %s/train.yaml" % (cfg.out or "models/" + cfg.name),
        "```",
        "",
        "Training has a wall-clock budget (`train.budget_minutes`), so the number of epochs, and "
        "with it the AP, depends on the machine's speed and load.",
        "",
    ]
    fp = s.get("val_face_px")
    weights = ("{:,}".format(s["params"]) if "params" in s else "n/a") + " int8 weights"
    if cfg.export.max_weight_bytes and "params" in s:
        weights += " (%.0f %% of the %s allowed)" % (100.0 * s["params"] / cfg.export.max_weight_bytes,
                                                     "{:,}".format(cfg.export.max_weight_bytes))
    lines += ["## What limits accuracy", "", "- Compute: " + _compute_note(result, cfg)]
    if fp:
        lines.append("- Face size: the val faces (>= %g px in the photo) are %s px at the %dx%d net input "
                     "(10/25/50/75/90th percentile, sqrt of area); the output stride is %d px%s." % (
                         cfg.data.val_min_size, "/".join(str(v) for v in fp), cfg.input.w, cfg.input.h,
                         cfg.model.stride, _cell_note(fp, cfg.model.stride)))
    lines += [
        "- Data: the training photos mostly hold one or a few large faces (LFW, portraits, mask "
        "datasets; two sets are machine-labelled by YuNet), unlike WIDER's crowds of small, blurred, "
        "occluded faces; %s augmentation brings faces down to WIDER sizes but not its scenes." % (
            "mosaic (%.0f %% of frames) and zoom-out" % (100 * cfg.augment.mosaic) if cfg.augment.mosaic
            else "zoom-out"),
        "- Capacity: %s, one output scale (no feature pyramid: KPU-friendly nets have "
        "no Add or UpSampling)." % weights,
        "",
    ]
    if hist:
        lines += ["## Last epochs", "", "| epoch | loss | val AP | img/s |", "|---|---|---|---|"]
        for h in hist[-5:]:
            lines.append("| %s | %s | %s | %s |" % (h["epoch"], h["loss"], h["val_ap"], h["img_per_s"]))
        lines.append("")
    text = "\n".join(lines)
    # the card's bench block is rendered from models/bench.json (picoface bench --render-only), not by
    # this run: a card written again keeps it
    from picoface.bench.render import block_of, replace_block

    old = (out / "MODEL_CARD.md").read_text() if (out / "MODEL_CARD.md").is_file() else ""
    if block_of(old):
        text = replace_block(text, block_of(old), where="## Training", what=str(out / "MODEL_CARD.md"))
    atomic.write_text(out / "MODEL_CARD.md", text)
