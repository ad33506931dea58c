"""``picoface bench``: one table of picoface's models and other face detectors on the same data."""

from pathlib import Path

from picoface.evaluate.classes import DEFAULT_CLASS_MAP


def add_arguments(parser):
    parser.add_argument("--data", default=None,
                        help="evaluation set (default: ../shared/data/widerface_val beside the repo)")
    parser.add_argument("--anchors", default=None,
                        help="folder of reference models (default: ../shared/anchors beside the repo)")
    parser.add_argument("--min-size", type=float, default=20.0,
                        help="faces smaller than this (px, see --size-rule) are ignored (default 20)")
    parser.add_argument("--size-rule", choices=("geomean", "min-side"), default="min-side",
                        help="face size for --min-size: min(w, h) (default; the protocol of the issue's reference "
                             "figures) or sqrt(w*h)")
    parser.add_argument("--framing", choices=("letterbox", "stretch"), default=None,
                        help="photo -> camera frame: letterbox (default; photos padded to 4:3 with black bars before "
                             "a detector sees them) or stretch (photos as they are); for --close-data holdout the "
                             "default is its config's data.val_framing")
    parser.add_argument("--close-data", default=None, metavar="SPEC",
                        help="close-range set run in the same bench: 'holdout' (the photos --config holds out of "
                             "training) or a dataset folder (default: holdout of "
                             "models/picoface_k210_320x240/train.yaml when it and ../shared are here)")
    parser.add_argument("--config", default=None, metavar="TRAIN.yaml",
                        help="training config of --close-data holdout "
                             "(default models/picoface_k210_320x240/train.yaml)")
    parser.add_argument("--no-close", action="store_true", help="no close-range set")
    parser.add_argument("--classes-data", default=None, metavar="SPEC",
                        help="labelled set on which rows that tell classes apart (multi-class models, model.json "
                             "output.labels, e.g. mask / no_mask) are scored per class (AP per class, class accuracy "
                             "of the faces found): 'close' (default: the close-range set, scored in the same run; "
                             "its facemask_kaggle photos carry mask labels), 'holdout' (the photos --config holds "
                             "out of training), a dataset folder or shared set name whose boxes carry labels, or "
                             "'none'. Never a set the model was trained on (e.g. all of facemask_kaggle)")
    parser.add_argument("--class-map", default=None, metavar="MAP",
                        help="data box label -> model class for --classes-data, LABEL=CLASS,... ('-': ignore the "
                             "faces of that label; default %s)" % DEFAULT_CLASS_MAP)
    parser.add_argument("--models", nargs="*", default=None, metavar="PATH",
                        help="picoface model files or folders (default: the repo's models/*/)")
    parser.add_argument("--no-anchors", action="store_true", help="only picoface's models, no reference rows")
    parser.add_argument("--only", action="append", default=None, metavar="NAMES",
                        help="comma-separated row names or patterns (e.g. 'yunet-*,haar-frontalface')")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N images")
    parser.add_argument("--out", default="runs/bench", help="output folder for bench.md/png/json (default ./runs/bench)")
    parser.add_argument("--reference", default=None, help="row the latency ratio refers to (default yunet-n-320)")
    parser.add_argument("--list", action="store_true", help="list the rows and exit")
    parser.add_argument("--render-only", action="store_true",
                        help="run nothing: regenerate BENCH.md beside --from and, for models/bench.json, the bench "
                             "blocks of README.md and of each shipped model card")
    parser.add_argument("--from", dest="render_from", default=None, metavar="BENCH.json",
                        help="bench result --render-only renders (default models/bench.json)")
    parser.add_argument("--check", action="store_true",
                        help="with --render-only: write nothing, exit 1 when a rendered file differs")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def close_choice(args):
    """(spec, config) of the close-range set the arguments ask for, or None."""
    from picoface.bench import CLOSE_CONFIG, default_close
    from picoface.errors import PicofaceError

    if args.no_close:
        if args.close_data or args.config:
            raise PicofaceError("--no-close with --close-data/--config", "drop one of them")
        return None
    if args.close_data is None:
        if args.config:
            return "holdout", Path(args.config)
        return default_close()
    if args.close_data == "holdout":
        return "holdout", Path(args.config) if args.config else CLOSE_CONFIG
    if args.config:
        raise PicofaceError("--config is for --close-data holdout", "drop --config")
    return args.close_data, None


def classes_choice(args, close):
    """What ``--classes-data`` asks for: None, "close" (the close-range set) or (spec, config)."""
    from picoface.bench import CLOSE_CONFIG
    from picoface.errors import PicofaceError

    spec = args.classes_data
    if spec is None:
        return "close" if close is not None else None
    if spec == "none":
        if args.class_map is not None:
            raise PicofaceError("--class-map with --classes-data none", "drop one of them")
        return None
    if spec == "close":
        if close is None:
            raise PicofaceError("--classes-data close needs the close-range set, and this run has none (--no-close)",
                                "drop --no-close, or give --classes-data holdout or a labelled data set")
        return "close"
    if spec == "holdout":
        return "holdout", Path(args.config) if args.config else CLOSE_CONFIG
    return spec, None


def render_only(args):
    """``--render-only``: BENCH.md, the README block and the model cards' blocks from a bench.json."""
    from picoface.bench.render import render
    from picoface.errors import PicofaceError
    from picoface.paths import REPO_ROOT, display_path

    src = Path(args.render_from) if args.render_from else REPO_ROOT / "models" / "bench.json"
    done = render(src, REPO_ROOT, check=args.check)
    for path, changed in done:
        print("%s %s" % (("differs" if args.check else "wrote") if changed else "unchanged", display_path(path)))
    if src.resolve() != (REPO_ROOT / "models" / "bench.json").resolve():
        print("README.md and the model cards are rendered only from models/bench.json: left as they are")
    stale = [display_path(p) for p, changed in done if changed]
    if args.check and stale:
        raise PicofaceError("%s not rendered from %s" % (", ".join(stale), display_path(src)),
                            "run picoface bench --render-only%s" % (" --from %s" % src if args.render_from else ""))
    return 0


def run(args):
    from picoface.bench import REFERENCE, all_rows, run_bench
    from picoface.bench.report import class_rows, close_rows, macs_notes, text_table
    from picoface.errors import PicofaceError

    if args.render_only:
        return render_only(args)
    if args.render_from or args.check:
        raise PicofaceError("--from and --check go with --render-only", "add --render-only")
    if args.limit is not None and args.limit < 1:
        raise PicofaceError("--limit must be at least 1", "give a positive number of images")
    close = close_choice(args)
    classes = classes_choice(args, close)
    if args.class_map is not None:
        from picoface.evaluate.classes import parse_class_map

        parse_class_map(args.class_map)   # a malformed map fails before any work
    rows = all_rows(args.anchors, args.models, use_anchors=not args.no_anchors)
    if args.list:
        for r in rows:
            print("%-28s %s" % (r.name, r.what))
        return 0
    if args.reference and args.reference not in [r.name for r in rows]:
        raise PicofaceError("no bench row named %r for --reference" % args.reference,
                            "rows: %s" % ", ".join(r.name for r in rows))
    results, table = run_bench(Path(args.out), data=args.data, only=args.only, limit=args.limit,
                               min_size=args.min_size, reference=args.reference or REFERENCE,
                               progress=not args.no_progress, debug=getattr(args, "debug", False), rows=rows,
                               size_rule=args.size_rule, framing=args.framing or "letterbox", close=close,
                               close_framing=args.framing, classes=classes, class_map=args.class_map)
    print(text_table(table))
    for note in macs_notes(results):
        print(note[2:])
    print()
    crows = close_rows(results)
    if crows:
        print("close range (%s):" % close[0])
        print(text_table(crows))
        print()
    prows = class_rows(results)
    if prows:
        print("per class (%s):" % (close[0] if classes == "close" else classes[0]))
        print(text_table(prows))
        print()
    print("wrote %s, %s, %s" % tuple(str(Path(args.out) / n) for n in ("bench.md", "bench.png", "bench.json")))
    print("to ship these figures: cp %s %s models/ && picoface bench --render-only  (models/BENCH.md, README.md, "
          "the model cards)" % (Path(args.out) / "bench.json", Path(args.out) / "bench.png"))
    return 0
