"""``picoface recog``: face-recognition evaluation on LFW View 2 (verification and open-set
identification) of one embedder (``eval``) or of every embedder that runs here (``bench``)."""

from pathlib import Path


def _common(sp, out_default):
    sp.add_argument("--data", default=None,
                    help="LFW View-2 kit: pairs.txt + images/ (default ../shared/data/lfw_pairs beside the repo)")
    sp.add_argument("--out", default=out_default, help="output folder (default %s); embeddings are cached in "
                                                       "OUT/cache so an interrupted run resumes" % out_default)
    sp.add_argument("--limit-folds", type=int, default=None, metavar="N", help="use only the first N folds")
    sp.add_argument("--landmarks", choices=("yunet", "centre"), default="yunet",
                    help="5 landmarks from YuNet (default; fixed centre landmarks when it finds no face) or the fixed "
                         "centre landmarks for every image")
    sp.add_argument("--yunet", default=None, metavar="ONNX",
                    help="YuNet model (default ../shared/anchors/yunet/yunet_n_320_320.onnx)")
    sp.add_argument("--seed", type=int, default=0, help="seed of the open-set gallery/probe split (default 0)")
    sp.add_argument("--no-progress", action="store_true", help="no progress bars")


def add_arguments(p):
    from picoface.recog.embedders import EMBEDDERS

    sub = p.add_subparsers(dest="recog_command", metavar="SUBCOMMAND")
    sp = sub.add_parser("eval", help="LFW accuracy, TAR at FAR, open-set DIR and ROC of one embedder")
    sp.add_argument("--embedder", required=True, choices=sorted(EMBEDDERS), help="which embedder")
    _common(sp, "runs/recog-eval")
    sp = sub.add_parser("bench", help="every embedder that runs here, one table (recog.json/.md, recog_roc.png)")
    sp.add_argument("--embedders", default=None, metavar="NAMES",
                    help="comma-separated embedders (default: every one whose packages are installed)")
    _common(sp, "runs/recog-bench")


def run(args):
    from picoface.errors import PicofaceError
    from picoface.paths import shared_dir
    from picoface.recog import embedders, report
    from picoface.recog.run import run as run_recog

    cmd = getattr(args, "recog_command", None)
    if cmd not in ("eval", "bench"):
        raise PicofaceError("picoface recog needs a subcommand", "use 'picoface recog eval' or 'picoface recog bench'")
    data = Path(args.data) if args.data else shared_dir() / "data" / "lfw_pairs"
    out = Path(args.out)
    yunet = Path(args.yunet) if args.yunet else None
    if cmd == "eval":
        names, skipped = [args.embedder], {}
    else:
        avail = embedders.available()
        if args.embedders:
            names = [n.strip() for n in args.embedders.split(",") if n.strip()]
            for n in names:
                if n not in avail:
                    embedders.make(n)  # raises the unknown-embedder error
                if avail[n]:
                    raise PicofaceError("embedder %s cannot run here: %s" % (n, avail[n]), "drop it from --embedders")
        else:
            names = [n for n, why in avail.items() if why is None]
        skipped = {n: why for n, why in avail.items() if why and n not in names}
        skipped.update(embedders.UNAVAILABLE)
    lfw, marks, results = run_recog(data, names, out, args.limit_folds, args.landmarks, yunet, args.seed,
                                    progress=not args.no_progress)
    if cmd == "eval":
        report.write_eval(out, results[0], marks, data, lfw.n_folds)
        rows = [report.row(results[0])]
        files = ("recog_eval.json", "recog_eval.md", "roc.png")
    else:
        rows = report.write_bench(out, results, marks, data, lfw.n_folds, skipped)
        files = ("recog.json", "recog.md", "recog_roc.png")
    print(report.text_table(rows))
    print("landmarks: %d of %d images found, %d fallback" % (marks["found"], marks["images"], marks["fallback"]))
    for n, why in skipped.items():
        print("not run: %s (%s)" % (n, why.split(";")[0]))
    print("wrote %s" % ", ".join(str(out / f) for f in files))
    return 0
