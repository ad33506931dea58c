"""``picoface recog``: train the landmark and embedding nets (``train``), write their board artifacts
(``export``), evaluate on LFW View 2 (verification and open-set identification) one embedder
(``eval``) or every embedder that runs here (``bench``), and measure the time and memory a
recognised face costs and the gallery's size per board (``cost``)."""

DEFAULT_SETS = ("facemask_kaggle", "roboflow_thesis_faces", "roboflow_face_mik1i", "pseudo_facemask_cdeb")

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
    sp.add_argument("--model", default=None, metavar="DIR",
                    help="picoface's recognition export for the picoface-* embedders (default models/picoface_recog)")
    sp.add_argument("--workers", type=int, default=2,
                    help="processes for the dlib, canaan-k210 and picoface-* embedders (default 2)")
    sp.add_argument("--no-progress", action="store_true", help="no progress bars")


def _train_args(sub):
    sp = sub.add_parser("train", help="collect faces + teacher embeddings, train the landmark and embedding nets")
    sp.add_argument("--source", action="append", default=[], metavar="DIR",
                    help="a face source: a detection set (annotations.jsonl) or a folder of face photos; repeat "
                         "(default: the four detection training sets in ../shared/data). LFW sets are refused")
    sp.add_argument("--identity", action="append", default=[], metavar="DIR",
                    help="a source whose photos sit in one folder per person (also used as a source); its "
                         "held-out photos pick the epoch and the open-set threshold")
    sp.add_argument("--out", default="runs/recog", help="run folder (default runs/recog): faces.npz, the nets, histories")
    sp.add_argument("--nets", default="landmarks,embed", help="which nets (default landmarks,embed)")
    sp.add_argument("--epochs", type=int, default=30, help="epochs of the embedding net (default 30)")
    sp.add_argument("--landmark-epochs", type=int, default=12, help="epochs of the landmark net (default 12)")
    sp.add_argument("--budget", type=float, default=None, metavar="MIN", help="minutes per net (fewer epochs if needed)")
    sp.add_argument("--batch", type=int, default=96, help="batch size (default 96)")
    sp.add_argument("--lr", type=float, default=2e-3, help="peak learning rate, cosine-decayed (default 2e-3)")
    sp.add_argument("--map-penalty", type=float, default=None, metavar="W",
                    help="landmarks: weight of the output map's mean square in the loss, which keeps int8 "
                         "quantisation of the map fine (default %g)" % 0.05)
    sp.add_argument("--raw-teacher", action="store_true",
                    help="embedding net: distil dlib's embeddings as they are instead of centred on their mean "
                         "over the training faces (the default; see docs/TRAINING.md)")
    sp.add_argument("--init", default=None, metavar="DIR",
                    help="start each net from DIR/<net>.keras (an earlier run) instead of from scratch")
    sp.add_argument("--holdout", type=float, default=0.1, help="share of each source's photos held out (default 0.1)")
    sp.add_argument("--workers", type=int, default=2, help="processes collecting faces (default 2)")
    sp.add_argument("--yunet", default=None, metavar="ONNX", help="YuNet model for the landmarks")
    sp.add_argument("--no-progress", action="store_true", help="no progress bars")
    sp = sub.add_parser("export", help="int8 TFLite + kmodel v3 of the trained nets, model.json with the threshold")
    sp.add_argument("--run", default="runs/recog", help="the train run folder (default runs/recog)")
    sp.add_argument("--out", default="models/picoface_recog", help="output folder (default models/picoface_recog)")
    sp.add_argument("--no-kmodel", action="store_true", help="skip the K210 kmodels (no nncase here)")
    sp.add_argument("--landmarks-from", default=None, metavar="DIR",
                    help="reuse the landmark net of an earlier export DIR (files and held-out figures) and export "
                         "only the run's embedding net, e.g. when that landmark net scored better on the held-out faces")
    sp.add_argument("--no-progress", action="store_true", help="no progress bars")


def _scene_args(sub):
    sp = sub.add_parser("scene", help="frames of people coming and going (LFW photos) for `picoface sim --mode recognise`")
    sp.add_argument("--data", default=None, help="LFW kit (default ../shared/data/lfw_pairs)")
    sp.add_argument("--people", required=True, metavar="NAME[,NAME...]",
                    help="LFW people in order of appearance, e.g. George_W_Bush,Colin_Powell")
    sp.add_argument("--frames", type=int, default=30, help="frames per visit (default 30)")
    sp.add_argument("--gap", type=int, default=10, help="empty frames between visits (default 10)")
    sp.add_argument("--out", required=True, help="output folder (frame_NNNNN.png + scene.json)")
    sp.add_argument("--seed", type=int, default=0, help="jitter and noise seed")


def _cost_args(sub):
    sp = sub.add_parser("cost", help="time and memory per recognised face, gallery size per board "
                                     "(recog_cost.json/.md)")
    sp.add_argument("--model", default="models/picoface_recog", metavar="DIR",
                    help="the recognition export (default models/picoface_recog)")
    sp.add_argument("--out", default="docs/recog", help="output folder (default docs/recog)")
    sp.add_argument("--faces", type=int, default=50, metavar="N",
                    help="inputs each net runs on in the KPU emulator and LiteRT (default 50)")
    sp.add_argument("--blocks", type=int, default=5, metavar="N",
                    help="MicroPython: each figure is the median of N timed blocks (default 5)")
    sp.add_argument("--no-progress", action="store_true", help="no progress bars")


def run_cost(args):
    from picoface.recog import cost

    rep = cost.measure(args.model, faces=args.faces, blocks=args.blocks, progress=not args.no_progress)
    md = cost.write(Path(args.out), rep)
    print(md, end="")
    print("wrote %s, %s" % (Path(args.out) / "recog_cost.json", Path(args.out) / "recog_cost.md"))
    return 0


def run_scene(args):
    from picoface.errors import PicofaceError
    from picoface.paths import shared_dir
    from picoface.recog import scene

    data = Path(args.data) if args.data else shared_dir() / "data" / "lfw_pairs"
    script = []
    for name in [n.strip() for n in args.people.split(",") if n.strip()]:
        photos = sorted((data / "images").glob("%s_[0-9][0-9][0-9][0-9].jpg" % name))
        if not photos:
            raise PicofaceError("no photo of %s in %s" % (name, data / "images"),
                                "use names as in the kit's file names (Firstname_Lastname)")
        if script:
            script.append((None, [], args.gap))
        script.append((name, photos, args.frames))
    if not script:
        raise PicofaceError("--people names nobody", "give one or more LFW names")
    visits = scene.make(script, Path(args.out), seed=args.seed)
    print("wrote %d frames, %d visits to %s" % (sum(v["frames"] for v in visits), len([v for v in visits if v["label"]]),
                                                 args.out))
    return 0


def _sources(args):
    from picoface.paths import shared_dir
    from picoface.recog.faces import Source

    dirs = list(args.source) or [str(shared_dir() / "data" / n) for n in DEFAULT_SETS]
    dirs += [d for d in args.identity if d not in dirs]
    return [Source(d, holdout=args.holdout) for d in dirs], {Path(d).name: Path(d) for d in args.identity}


def _run_meta(out):
    import json

    p = out / "sources.json"
    if not p.is_file():
        from picoface.errors import PicofaceError

        raise PicofaceError("%s has no sources.json" % out, "run `picoface recog train --out %s` first" % out)
    return json.loads(p.read_text())


def run_train(args):
    import json

    from picoface import atomic
    from picoface.errors import PicofaceError
    from picoface.recog import faces, train

    out = Path(args.out)
    nets = [n.strip() for n in args.nets.split(",") if n.strip()]
    bad = [n for n in nets if n not in ("landmarks", "embed")]
    if bad or not nets:
        raise PicofaceError("unknown net %r" % (bad[0] if bad else args.nets), "use --nets landmarks,embed")
    sources, roots = _sources(args)
    out.mkdir(parents=True, exist_ok=True)
    data = faces.build(sources, out / "faces.npz", yunet=args.yunet, workers=args.workers,
                       progress=not args.no_progress)
    meta = {"sources": [str(s.path) for s in sources], "identity": {k: str(v) for k, v in roots.items()},
            "holdout": args.holdout}
    atomic.write_text(out / "sources.json", json.dumps(meta, indent=2) + "\n")
    ident = train.identities(data, roots)
    print("faces: %d (%d held out, %d with an identity)" % (len(data["crops"]), int(data["val"].sum()),
                                                              int((ident != "").sum())))
    for kind in nets:
        epochs = args.epochs if kind == "embed" else args.landmark_epochs
        if epochs < 1:
            continue        # 0 epochs: only collect the faces (the cache the next runs share)
        best = train.train(kind, data, out, epochs=epochs, budget_min=args.budget, batch=args.batch, lr=args.lr,
                           ident=ident, progress=not args.no_progress,
                           init=(Path(args.init) / ("%s.keras" % kind)) if args.init else None,
                           map_penalty=train.MAP_PENALTY if args.map_penalty is None else args.map_penalty,
                           centre=not args.raw_teacher)
        print("%s: best epoch %d %s" % (kind, best["epoch"], json.dumps({k: v for k, v in best.items() if k != "epoch"})))
    return 0


def _render_card(model_dir, bench_json):
    """The recognition export's MODEL_CARD.md again, with this bench's LFW table."""
    import json

    from picoface.paths import resolve_path
    from picoface.recog.card import write_card

    d = resolve_path(model_dir or "models/picoface_recog")
    if not (d / "export.json").is_file():
        return
    sj = d / "sources.json"
    meta = json.loads(sj.read_text()) if sj.is_file() else {}
    write_card(json.loads((d / "export.json").read_text()), d, meta, bench_json)
    print("rendered %s with the LFW table" % (d / "MODEL_CARD.md"))


def run_export(args):
    import json

    from picoface.recog import export, faces, train

    run_dir = Path(args.run)
    meta = _run_meta(run_dir)
    data = faces.load(run_dir / "faces.npz")
    ident = train.identities(data, {k: Path(v) for k, v in meta["identity"].items()})
    rep = export.export(run_dir, data, Path(args.out), ident=ident, kmodel=not args.no_kmodel,
                        progress=not args.no_progress, landmarks_from=args.landmarks_from)
    from picoface.recog.card import write_card

    from picoface import atomic

    src = {"sources": [Path(s).name for s in meta["sources"]], "identity": sorted(meta["identity"])}
    atomic.write_text(Path(args.out) / "sources.json", json.dumps(src, indent=2) + "\n")
    write_card(rep, Path(args.out), src)
    print("wrote %s (model.json, export.json, MODEL_CARD.md)" % args.out)
    return 0


def add_arguments(p):
    from picoface.recog.embedders import EMBEDDERS

    sub = p.add_subparsers(dest="recog_command", metavar="SUBCOMMAND")
    _train_args(sub)
    _scene_args(sub)
    _cost_args(sub)
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
    if cmd == "train":
        return run_train(args)
    if cmd == "export":
        return run_export(args)
    if cmd == "scene":
        return run_scene(args)
    if cmd == "cost":
        return run_cost(args)
    if cmd not in ("eval", "bench"):
        raise PicofaceError("picoface recog needs a subcommand",
                            "use 'picoface recog train|export|eval|bench|scene|cost'")
    data = Path(args.data) if args.data else shared_dir() / "data" / "lfw_pairs"
    out = Path(args.out)
    yunet = Path(args.yunet) if args.yunet else None
    if cmd == "eval":
        names, skipped = [args.embedder], {}
    else:
        avail = embedders.available(args.model)
        if args.embedders:
            names = [n.strip() for n in args.embedders.split(",") if n.strip()]
            for n in names:
                if n not in avail:
                    embedders.make(n, args.model)  # raises the unknown-embedder error
                if avail[n]:
                    raise PicofaceError("embedder %s cannot run here: %s" % (n, avail[n]), "drop it from --embedders")
        else:
            names = [n for n, why in avail.items() if why is None]
        skipped = {n: why for n, why in avail.items() if why and n not in names}
        skipped.update(embedders.UNAVAILABLE)
    lfw, marks, results = run_recog(data, names, out, args.limit_folds, args.landmarks, yunet, args.seed,
                                    progress=not args.no_progress, workers=args.workers, model_dir=args.model)
    if cmd == "eval":
        report.write_eval(out, results[0], marks, data, lfw.n_folds)
        rows = [report.row(results[0])]
        files = ("recog_eval.json", "recog_eval.md", "roc.png")
    else:
        rows = report.write_bench(out, results, marks, data, lfw.n_folds, skipped)
        files = ("recog.json", "recog.md", "recog_roc.png")
    if cmd == "bench" and any(n.startswith("picoface-") for n in names):
        _render_card(args.model, out / "recog.json")
    print(report.text_table(rows))
    print("landmarks: %d of %d images found, %d fallback" % (marks["found"], marks["images"], marks["fallback"]))
    for n, why in skipped.items():
        print("not run: %s (%s)" % (n, why.split(";")[0]))
    print("wrote %s" % ", ".join(str(out / f) for f in files))
    return 0
