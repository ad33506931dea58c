"""``picoface study KIND --base CONFIG [--model M.keras] [--budget MIN] [--out DIR] [--name NAME] [--resume]``:
variants of one model scored like ``picoface bench`` -> NAME.md, NAME.json, NAME.png (default NAME: study)."""


def add_arguments(parser):
    parser.add_argument("kind", metavar="KIND", help="what varies: quant (number formats of one trained model), "
                        "prune (pruned and channel-pruned variants of it, each fine-tuned), "
                        "width (the base config trained at other width multipliers), input (... at other input sizes), "
                        "search (a bounded grid or random sample over width x input x anchors x head)")
    parser.add_argument("--base", required=True, help="the base training config (e.g. models/picoface_k210_320x240/train.yaml)")
    parser.add_argument("--model", default=None, help="the trained .keras model (default: picoface.keras in the "
                        "config's out folder); anchors.json must be beside it")
    parser.add_argument("--budget", type=float, default=10.0, metavar="MIN",
                        help="minutes of training, split over the points that train (quant: the QAT point, "
                        "0 leaves it out; prune: every point's fine-tune; width, input: every point's training run)")
    parser.add_argument("--sparsities", default="0,30,50,70,90", help="prune: percentages of weights pruned")
    parser.add_argument("--rules", default="abs,layer,neuron", help="prune: selection rules (abs, layer, neuron)")
    parser.add_argument("--channels", default="25,50", help="prune: percentages of pointwise channels removed "
                        "(structured; '' for none)")
    parser.add_argument("--widths", default=None, help="width, search: the multipliers trained (width default: "
                        "0.25,0.5,0.75,1.0; search default: the base's)")
    parser.add_argument("--inputs", default=None, help="input, search: the WxH sizes trained (input default: "
                        "160x128,224x160,256x192,320x224; search default: the base's)")
    parser.add_argument("--anchors", default=None, help="search: anchor counts (e.g. 3,5; default: the base's)")
    parser.add_argument("--heads", default=None, help="search: head channels, an extra depthwise-separable block "
                        "before the region conv (e.g. 0,64; 0 = none; default: the base's)")
    parser.add_argument("--points", type=int, default=None, help="search: at most this many points, drawn at random "
                        "from the grid when it is larger (default: 6)")
    parser.add_argument("--seed", type=int, default=0, help="search: seed of that draw (default: 0)")
    parser.add_argument("--out", default=None, help="output folder (default: runs/study-KIND-NAME)")
    parser.add_argument("--name", default="study", help="file names of the report: the table, JSON and plot are "
                        "NAME + .md, .json, .png, the finished points NAME-points/ (default: study)")
    parser.add_argument("--resume", action="store_true", help="keep the finished points in --out and run the rest")
    parser.add_argument("--calib", default=None, help="photos for int8 / Q-format calibration (default: the training sets)")
    parser.add_argument("--kmodel", default=None, help="a kmodel to add as a row (default: picoface.kmodel beside the "
                        "model when the config's board runs kmodels)")
    parser.add_argument("--val", default=None, help="val set (default: the config's data.val)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def _search_opts(args):
    from picoface.study import search, sweep
    from picoface.train.config import load_config

    cfg = load_config(args.base)
    points = search.DEFAULT_POINTS if args.points is None else args.points
    chosen, n_grid = search.grid(
        cfg, widths=sweep.parse_widths(args.widths) if args.widths is not None else None,
        inputs=sweep.parse_inputs(args.inputs) if args.inputs is not None else None,
        anchors=search.parse_ints(args.anchors, "--anchors", 1, 9) if args.anchors is not None else None,
        heads=search.parse_ints(args.heads, "--heads", 0, 1024) if args.heads is not None else None,
        points=points, seed=args.seed)
    return {"points": chosen, "grid": n_grid, "seed": args.seed, "drawn": search.describe(n_grid, chosen, args.seed)}


def run(args):
    import shlex
    import sys
    from pathlib import Path

    from picoface.errors import PicofaceError
    from picoface.paths import resolve_path
    from picoface.study import KINDS

    if args.kind not in KINDS:
        raise PicofaceError("unknown study kind %r" % args.kind, "use one of: %s" % ", ".join(KINDS))
    if not Path(args.base).is_file():
        raise PicofaceError("config %s not found" % args.base, "pass --base with a training config (train.yaml)")
    opts = {}
    if args.kind == "prune":
        from picoface.study.prune import parse_percents
        from picoface.study.sparsity import RULES

        rules = [r.strip() for r in args.rules.split(",") if r.strip()]
        bad = [r for r in rules if r not in RULES]
        if bad or not rules:
            raise PicofaceError("unknown pruning rule %s" % ", ".join(repr(r) for r in bad or [args.rules]),
                                "use some of: %s" % ",".join(RULES))
        opts = {"sparsities": parse_percents(args.sparsities, "--sparsities", 99), "rules": rules,
                "channels": parse_percents(args.channels, "--channels", 90) if args.channels.strip() else []}
    from picoface.study import sweep

    allowed = {"width": ("widths",), "input": ("inputs",),
               "search": ("widths", "inputs", "anchors", "heads", "points")}.get(args.kind, ())
    for flag in ("widths", "inputs", "anchors", "heads", "points"):
        if getattr(args, flag) is not None and flag not in allowed:
            raise PicofaceError("--%s is not an option of study %s" % (flag, args.kind), "drop it")
    if args.kind == "search":
        opts = _search_opts(args)
    elif args.kind == "width":
        opts = {"widths": sweep.parse_widths(sweep.DEFAULT_WIDTHS if args.widths is None else args.widths)}
    elif args.kind == "input":
        opts = {"inputs": sweep.parse_inputs(sweep.DEFAULT_INPUTS if args.inputs is None else args.inputs)}
    from picoface.study.run import run_study

    out = Path(args.out) if args.out else resolve_path("runs/study-%s-%s" % (args.kind, Path(args.base).parent.name))
    command = "picoface " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:2] == ["study"] else \
        "picoface study %s --base %s" % (args.kind, args.base)
    points = run_study(args.kind, args.base, out, model=args.model, budget_min=args.budget, resume=args.resume,
                       calib=args.calib, kmodel=args.kmodel, val=args.val, progress=not args.quiet, command=command, name=args.name,
                       opts=opts)
    print("%d point%s in %s (%s.md, .json, .png)" % (len(points), "" if len(points) == 1 else "s", out, args.name))
    return 0
