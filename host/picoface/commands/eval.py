"""picoface eval MODEL --data SPEC: AP, PR curve, recall by face size and AP by regime of a model.

Each photo is framed as the QVGA camera would frame the scene (``--framing``) before the model
sees it; faces under the size rule (``--size-rule``, ``--min-size``: the bench's defaults) are
ignore regions. ``--data holdout``: the val mix of a training config (``picoface.train.val``).
A multi-class model (model.json output.labels) is also scored per class on data whose boxes carry
labels (``--class-map``, ``picoface.evaluate.classes``): results.json "per_class", a table in summary.md.
Writes results.json, pr.png and summary.md into --out (atomically) and prints a short table.
"""

import json
import sys
from pathlib import Path

from picoface.data.loader import SIZE_RULES
from picoface.errors import PicofaceError
from picoface.evaluate.classes import DEFAULT_CLASS_MAP
from picoface.evaluate.regimes import FRAMINGS


def add_arguments(p):
    p.add_argument("model", help="model file: .keras, .tflite (float or int8) or .kmodel (v3), or a model folder "
                                 "(the artifact its model.json names)")
    p.add_argument("--data", required=True, metavar="SPEC",
                   help="dataset (folder with annotations.jsonl, WIDER txt, VOC/YOLO folder, COCO json, "
                        "or a shared set name such as widerface_val), or 'holdout': the photos a training "
                        "config holds out of training (its data.holdout), as its val sees them")
    p.add_argument("--config", metavar="TRAIN.yaml",
                   help="training config of --data holdout (default: train.yaml in the model's folder)")
    p.add_argument("--iou", type=float, nargs="+", default=[0.5, 0.3], help="IoU thresholds (default 0.5 0.3)")
    p.add_argument("--framing", choices=FRAMINGS, default=None,
                   help="photo -> camera frame: letterbox (default; a photo whose aspect is not 4:3 is padded "
                        "to 4:3 with black bars, boxes shifted with it) or stretch (the photo as it is). "
                        "With --data holdout the default is the config's data.val_framing")
    p.add_argument("--size-rule", choices=SIZE_RULES, default="min-side",
                   help="face size for --min-size: min(w, h) (default, as picoface bench) or sqrt(w*h)")
    p.add_argument("--min-size", type=float, default=None,
                   help="faces smaller than this (px, see --size-rule) become ignore regions (default 20, as "
                        "picoface bench; with --data holdout none: its faces under 12 camera px are ignored)")
    p.add_argument("--fddb-box", choices=("bbox", "csem"), default="bbox",
                   help="FDDB ellipse -> box: tight bounding box or the CSEM paper's square box")
    p.add_argument("--out", help="output folder (default: ./eval-<model name>)")
    p.add_argument("--limit", type=int, help="evaluate only the first N images")
    p.add_argument("--threshold", type=float, default=None,
                   help="decode score threshold (default 0.01, for a complete PR curve)")
    p.add_argument("--score", type=float, default=None,
                   help="deployment score threshold for the operating point (default: model.json's)")
    p.add_argument("--anchors", help="anchors w,h,... in grid cells (when no model.json)")
    p.add_argument("--grid", type=int, nargs=2, metavar=("W", "H"), help="output grid (when no model.json)")
    p.add_argument("--fit", choices=("stretch", "crop", "letterbox"), help="image -> net input fit")
    p.add_argument("--preset", choices=("maixpy-face", "canaan-mask"),
                   help="facts of a known model without model.json (picoface.detectors.kmodel_det.PRESETS)")
    p.add_argument("--threads", type=int, default=1, help="TFLite interpreter threads (default 1)")
    p.add_argument("--name", help="name shown in the results")
    p.add_argument("--compare", nargs="+", default=[], metavar="RESULTS",
                   help="earlier results.json files (or their folders) to draw on the same pr.png")
    p.add_argument("--examples", type=int, default=8, metavar="N",
                   help="draw the first N images with faces (green), ignore regions (grey) and detections "
                        "at the deployment threshold (red) into examples.png (0: none; default 8)")
    p.add_argument("--against", metavar="FLOAT_MODEL",
                   help="the float model MODEL was quantised from: also report where MODEL loses AP@0.5 "
                        "against it (each output group of MODEL swapped into the float outputs in turn)")
    p.add_argument("--class-map", metavar="MAP", default=None,
                   help="multi-class models (model.json output.labels, e.g. mask / no_mask): data box label -> "
                        "model class for the per-class AP, as LABEL=CLASS,... ; CLASS '-' makes the faces of that "
                        "label ignore regions for every class. Default %s (facemask_kaggle's labels); a data label "
                        "equal to a class name maps to that class. Photos whose boxes carry no label of the map "
                        "are left out of the per-class figures" % DEFAULT_CLASS_MAP)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def model_file(path):
    """The artifact to evaluate: ``path`` itself, or for a model folder the file its model.json names."""
    p = Path(path)
    if p.is_dir():
        from picoface.contract import load_contract

        if not (p / "model.json").is_file():
            raise PicofaceError("model folder %s has no model.json" % p, "give the model file itself")
        p = p / load_contract(p / "model.json")["file"]
    if not p.is_file():
        raise PicofaceError("model not found: %s" % p, "give the path of a .keras, .tflite or .kmodel file or of a "
                                                       "model folder")
    return p


def train_config(model, config=None):
    """The training config for --data holdout: ``config``, else train.yaml beside the model."""
    if config is not None:
        return Path(config)
    p = Path(model).parent / "train.yaml"
    if not p.is_file():
        raise PicofaceError("--data holdout needs the training config whose held-out photos to use, and %s has "
                            "no train.yaml" % Path(model).parent,
                            "pass --config TRAIN.yaml (e.g. models/picoface_k210_320x240/train.yaml)")
    return p


def run(args):
    from picoface.atomic import write_text
    from picoface.data import apply_min_size
    from picoface.detectors import open_model
    from picoface.evaluate import evaluate, plot_pr, to_json
    from picoface.evaluate.regimes import sample_image
    from picoface.evaluate.report import markdown, summary_table
    from picoface.evaluate.sets import HOLDOUT, camera_set, holdout_set

    model = model_file(args.model)
    if args.limit is not None and args.limit < 1:
        raise PicofaceError("--limit must be >= 1", "drop --limit to evaluate every image")
    if any(not 0 < t <= 1 for t in args.iou):
        raise PicofaceError("IoU thresholds must be in (0, 1], got %s" % args.iou, "e.g. --iou 0.5 0.3")
    others = [_load_results(p) for p in args.compare]
    if args.class_map is not None:
        from picoface.evaluate.classes import parse_class_map

        parse_class_map(args.class_map)   # a malformed map fails before any work
    if args.data == HOLDOUT:
        # the val mix of a training config: its own size rule (faces under 12 camera px ignored)
        es = holdout_set(train_config(model, args.config), args.framing, args.limit)
        min_size = args.min_size
        apply_min_size(es.samples, min_size, args.size_rule)
    else:
        if args.config:
            raise PicofaceError("--config is for --data holdout", "drop --config, or pass --data holdout")
        min_size = 20.0 if args.min_size is None else args.min_size
        es = camera_set(args.data, args.framing or "letterbox", min_size, args.size_rule, args.limit,
                        fddb_box=args.fddb_box)
    samples, images = es.samples, es.images
    if not samples:
        raise PicofaceError("dataset %s has no images" % args.data, "check the dataset")
    reference = None
    if args.against:
        if not Path(args.against).is_file():
            raise PicofaceError("float model not found: %s" % args.against,
                                "give --against the .tflite or .keras file MODEL was exported from")
        reference = open_model(Path(args.against), threshold=args.threshold, fit=args.fit)
    det = open_model(model, preset=args.preset, anchors=args.anchors, grid=args.grid, fit=args.fit,
                     threshold=args.threshold, name=args.name,
                     **({"num_threads": args.threads} if model.suffix.lower() == ".tflite" else {}))
    if args.class_map is not None and not getattr(det, "labels", None):
        raise PicofaceError("--class-map is for a multi-class model, and %s has no class labels (model.json "
                            "output.classes is 1)" % det.name, "drop --class-map")
    res = evaluate(det, samples, iou=tuple(args.iou), progress=not args.no_progress, score_threshold=args.score,
                   images=images, class_map=args.class_map)
    res.update(model=str(model), data=str(args.data), min_size=min_size, size_rule=args.size_rule,
               framing=es.framing, limit=args.limit)
    if es.note:
        res.update(config=es.info.get("config"), data_note=es.note)
    if reference is not None:
        from picoface.evaluate import quant

        rows = quant.breakdown(reference, det, samples, progress=not args.no_progress)
        res["quantisation"] = {"against": str(args.against), "iou": 0.5, "rows": rows}
    out = Path(args.out or "eval-%s" % det.name)
    plot_pr([res] + others, out / "pr.png", title="%s on %s" % (det.name, args.data))
    write_text(out / "results.json", json.dumps(to_json(res), indent=1) + "\n")
    written = [out / "results.json", out / "pr.png", out / "summary.md"]
    md = markdown(res, data_spec=args.data)
    if args.examples > 0:
        from picoface.data.show import grid_png

        n = min(args.examples, len(samples))
        thr = res.get("score_threshold") or 0.0
        shown = images[:n] if images is not None else [sample_image(s) for s in samples[:n]]
        grid_png(samples[:n], out / "examples.png", detections=res["_detections"][:n], min_score=thr, images=shown)
        md += "\nFirst %d images: faces green, ignore regions grey, detections with score >= %g red.\n\n" \
              "![examples](examples.png)\n" % (n, thr)
        written.append(out / "examples.png")
    if reference is not None:
        qt = quant.table(res["quantisation"]["rows"])
        md += "\n## Against the float model\n\n`%s`: each group of this model's outputs swapped into the float " \
              "model's outputs in turn.\n\n%s\n" % (args.against, qt)
    write_text(out / "summary.md", md)
    print(summary_table(res))
    if reference is not None:
        print(qt)
    print("wrote " + ", ".join(str(p) for p in written), file=sys.stderr)
    return 0


def _load_results(path):
    p = Path(path)
    if p.is_dir():
        p = p / "results.json"
    try:
        r = json.loads(p.read_text())
    except (OSError, ValueError) as e:
        raise PicofaceError("cannot read results %s (%s)" % (p, e), "pass a results.json written by picoface eval") from None
    if not isinstance(r, dict) or "results" not in r:
        raise PicofaceError("%s is not a picoface eval results.json" % p, "pass a results.json written by picoface eval")
    return r
