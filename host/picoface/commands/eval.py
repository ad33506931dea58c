"""picoface eval MODEL --data SPEC: AP, PR curve and recall by face size of a model.

Writes results.json, pr.png and summary.md into --out (atomically) and prints a short table.
"""

import json
import sys
from pathlib import Path

from picoface.errors import PicofaceError


def add_arguments(p):
    p.add_argument("model", help="model file: .keras, .tflite (float or int8) or .kmodel (v3)")
    p.add_argument("--data", required=True, metavar="SPEC",
                   help="dataset (folder with annotations.jsonl, WIDER txt, VOC/YOLO folder, COCO json, "
                        "or a shared set name such as widerface_val)")
    p.add_argument("--iou", type=float, nargs="+", default=[0.5, 0.3], help="IoU thresholds (default 0.5 0.3)")
    p.add_argument("--min-size", type=float, default=20.0,
                   help="faces smaller than this (px, sqrt(w*h)) become ignore regions (default 20)")
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
    p.add_argument("--preset", choices=("maixpy-face",), help="facts of a known model without model.json")
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
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args):
    from picoface.atomic import write_text
    from picoface.data import apply_min_size, load_dataset
    from picoface.detectors import open_model
    from picoface.evaluate import evaluate, plot_pr, to_json
    from picoface.evaluate.report import markdown, summary_table

    model = Path(args.model)
    if not model.is_file():
        raise PicofaceError("model not found: %s" % model, "give the path of a .keras, .tflite or .kmodel file")
    if args.limit is not None and args.limit < 1:
        raise PicofaceError("--limit must be >= 1", "drop --limit to evaluate every image")
    if any(not 0 < t <= 1 for t in args.iou):
        raise PicofaceError("IoU thresholds must be in (0, 1], got %s" % args.iou, "e.g. --iou 0.5 0.3")
    others = [_load_results(p) for p in args.compare]
    samples = load_dataset(args.data, fddb_box=args.fddb_box)
    apply_min_size(samples, args.min_size)
    if args.limit:
        samples = samples[:args.limit]
    if not samples:
        raise PicofaceError("dataset %s has no images" % args.data, "check the dataset")
    missing = [s for s in samples if not s.image_path.is_file()]
    if missing:
        raise PicofaceError("%d of %d images of %s are missing (e.g. %s)" % (len(missing), len(samples), args.data,
                                                                             missing[0].image_path),
                            "evaluation needs the photos: put them in place or pick a dataset with images")
    reference = None
    if args.against:
        if not Path(args.against).is_file():
            raise PicofaceError("float model not found: %s" % args.against,
                                "give --against the .tflite or .keras file MODEL was exported from")
        reference = open_model(Path(args.against), threshold=args.threshold, fit=args.fit)
    det = open_model(model, preset=args.preset, anchors=args.anchors, grid=args.grid, fit=args.fit,
                     threshold=args.threshold, name=args.name,
                     **({"num_threads": args.threads} if model.suffix.lower() == ".tflite" else {}))
    res = evaluate(det, samples, iou=tuple(args.iou), progress=not args.no_progress, score_threshold=args.score)
    res.update(model=str(model), data=str(args.data), min_size=args.min_size, limit=args.limit)
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
        grid_png(samples[:n], out / "examples.png", detections=res["_detections"][:n], min_score=thr)
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
