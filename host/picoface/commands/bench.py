"""``picoface bench``: one table of picoface's models and other face detectors on the same data."""

from pathlib import Path


def add_arguments(parser):
    parser.add_argument("--data", default=None,
                        help="evaluation set (default: ../shared/data/widerface_val beside the repo)")
    parser.add_argument("--anchors", default=None,
                        help="folder of reference models (default: ../shared/anchors beside the repo)")
    parser.add_argument("--min-size", type=float, default=20.0,
                        help="faces smaller than this (px, see --size-rule) are ignored (default 20)")
    parser.add_argument("--size-rule", choices=("geomean", "min-side"), default="min-side",
                        help="face size for --min-size: min(w, h) (default; the protocol of the issue's reference figures) or sqrt(w*h) (as picoface eval)")
    parser.add_argument("--models", nargs="*", default=None, metavar="PATH",
                        help="picoface model files or folders (default: the repo's models/*/)")
    parser.add_argument("--no-anchors", action="store_true", help="only picoface's models, no reference rows")
    parser.add_argument("--only", action="append", default=None, metavar="NAMES",
                        help="comma-separated row names or patterns (e.g. 'yunet-*,haar-frontalface')")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N images")
    parser.add_argument("--out", default="runs/bench", help="output folder for bench.md/png/json (default ./runs/bench)")
    parser.add_argument("--reference", default=None, help="row the latency ratio refers to (default yunet-n-320)")
    parser.add_argument("--list", action="store_true", help="list the rows and exit")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args):
    from picoface.bench import REFERENCE, all_rows, run_bench
    from picoface.bench.report import text_table
    from picoface.errors import PicofaceError

    if args.limit is not None and args.limit < 1:
        raise PicofaceError("--limit must be at least 1", "give a positive number of images")
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
                               size_rule=args.size_rule)
    print(text_table(table))
    print()
    print("wrote %s, %s, %s" % tuple(str(Path(args.out) / n) for n in ("bench.md", "bench.png", "bench.json")))
    return 0
