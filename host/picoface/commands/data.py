"""picoface data check|stats|show: validate, summarise or draw face datasets."""

import json
import sys
from pathlib import Path

from picoface.errors import PicofaceError


def _common(p):
    p.add_argument("specs", nargs="+", metavar="SPEC",
                   help="dataset: folder with annotations.jsonl, .jsonl, WIDER txt, FDDB ellipse list, "
                        "VOC folder, YOLO folder, COCO json (prefix fmt: to force), or a shared set name")
    p.add_argument("--images", help="image root folder (formats whose annotations do not locate images)")
    p.add_argument("--fddb-box", choices=("bbox", "csem"), default="bbox",
                   help="FDDB ellipse -> box: tight bounding box or the CSEM paper's square box")


def add_arguments(parser):
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = sub.add_parser("check", help="list every defect as file:line: problem; exit 1 if any")
    _common(p)
    p.add_argument("--quick", action="store_true", help="read image headers only (no full decode)")
    p = sub.add_parser("stats", help="counts, face-size histogram (PNG) and a Markdown summary")
    _common(p)
    p.add_argument("--out", default="data-stats", help="output folder (default: ./data-stats)")
    p = sub.add_parser("show", help="PNG grid of samples: faces green, ignore regions grey")
    _common(p)
    p.add_argument("--out", default="data-show.png", help="PNG to write (default: ./data-show.png)")
    p.add_argument("-n", type=int, default=16, help="number of images (default 16)")
    p.add_argument("--cols", type=int, default=4)
    p.add_argument("--tile", type=int, default=256, help="tile size in px")
    p.add_argument("--seed", type=int, default=0, help="random pick seed (-1: the first N in order)")
    _add_convention(sub)


def _add_convention(sub):
    p = sub.add_parser("convention", help="measure each set's box convention against WIDER FACE's "
                                          "(prints data.box_adjust for a training config)")
    _common(p)
    p.add_argument("--reference", default="widerface_val",
                   help="set whose convention the others are mapped to (default widerface_val)")
    p.add_argument("--detector", default="../shared/anchors/ultralight_1mb/version-RFB-320.onnx",
                   help="a detector trained on the reference convention: Ultra-Light .onnx or a picoface model "
                        "(default: Ultra-Light RFB-320 in ../shared/anchors)")
    p.add_argument("--min-size", type=float, default=20.0,
                   help="reference faces smaller than this (or marked invalid) are left out (default 20)")
    p.add_argument("-n", type=int, default=120, help="images per set (default 120)")
    p.add_argument("--reference-n", type=int, default=200, help="reference images (default 200)")


def _opts(args):
    o = {"fddb_box": args.fddb_box}
    if args.images:
        o["images"] = args.images
    return o


def _load_all(args):
    from picoface.data import load_dataset

    out = []
    for spec in args.specs:
        out += load_dataset(spec, **_opts(args))
    return out


def run(args):
    return {"check": _check, "stats": _stats, "show": _show, "convention": _convention}[args.action](args)


def _convention(args):
    from picoface.data import load_dataset, widerface_eval_set
    from picoface.data.convention import measure, to_reference
    from picoface.detectors import open_reference
    from picoface.paths import shared_path

    det = open_reference(shared_path(args.detector))
    ref_samples = widerface_eval_set(args.reference, min_size=args.min_size)
    ref = measure(ref_samples, det, n=args.reference_n)
    if ref["pairs"] < 20:
        raise PicofaceError("the detector matched only %d faces of %s" % (ref["pairs"], args.reference),
                            "use a detector trained on that set's convention, or a larger -n")
    print("| set | pairs | dx | dy | sw | sh | box_adjust |")
    print("|---|---|---|---|---|---|---|")
    print("| %s (reference) | %d | %.3f | %.3f | %.3f | %.3f | — |" % (
        args.reference, ref["pairs"], ref["dx"], ref["dy"], ref["sw"], ref["sh"]))
    adjust = {}
    for spec in args.specs:
        m = measure(load_dataset(spec, **_opts(args)), det, n=args.n)
        if m["pairs"] < 20:
            print("| %s | %d | too few matched faces to measure | | | | — |" % (spec, m["pairs"]))
            continue
        adjust[Path(spec).name] = to_reference(m, ref)
        print("| %s | %d | %.3f | %.3f | %.3f | %.3f | %s |" % (spec, m["pairs"], m["dx"], m["dy"], m["sw"], m["sh"],
                                                             adjust[Path(spec).name]))
    print("\ndata:\n  box_adjust:")
    for k, v in adjust.items():
        print("    %s: %s" % (k, v))
    return 0


def _check(args):
    from tqdm import tqdm

    from picoface.data.check import check_dataset
    from picoface.monitor import plural

    total_p, total_s = 0, 0
    seen = {}  # duplicates are found across all the given datasets
    for spec in args.specs:
        def bar(it, spec=spec):
            return tqdm(it, desc="check %s" % spec, unit="img", file=sys.stderr, leave=False)

        samples, problems = check_dataset(spec, decode=not args.quick, progress=bar, seen=seen, **_opts(args))
        for p in problems:
            print(p)
        total_p += len(problems)
        total_s += len(samples)
        print("%s: %s, %s, %s" % (spec, plural(len(samples), "image"),
                                  plural(sum(len(s.boxes) for s in samples), "face"),
                                  plural(len(problems), "problem")), file=sys.stderr)
    return 1 if total_p else 0


def _stats(args):
    from picoface.atomic import write_text
    from picoface.data.stats import compute_stats, plot_sizes, stats_markdown

    samples = _load_all(args)
    if not samples:
        raise PicofaceError("no images in %s" % ", ".join(args.specs), "check the dataset path")
    st, _ = compute_stats(samples)
    out = Path(args.out)
    plot_sizes(samples, out / "face_sizes.png")
    md = stats_markdown(st, "Dataset summary: " + ", ".join(args.specs), "face_sizes.png")
    write_text(out / "stats.json", json.dumps(st, indent=2) + "\n")
    write_text(out / "stats.md", md)
    print(md, end="")
    print("wrote %s, %s, %s" % (out / "stats.md", out / "stats.json", out / "face_sizes.png"), file=sys.stderr)
    return 0


def _show(args):
    import random

    from picoface.data.show import grid_png

    samples = _load_all(args)
    if not samples:
        raise PicofaceError("no images in %s" % ", ".join(args.specs), "check the dataset path")
    n = max(1, args.n)
    if args.seed >= 0 and len(samples) > n:
        pick = random.Random(args.seed).sample(samples, n)
    else:
        pick = samples[:n]
    h, w = grid_png(pick, args.out, cols=args.cols, tile=args.tile)
    print("wrote %s (%d images, %dx%d)" % (args.out, len(pick), w, h))
    return 0
