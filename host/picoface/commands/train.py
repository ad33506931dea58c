"""``picoface train --config X.yaml [key=value ...] [--resume]``: train, then export artifacts."""


def add_arguments(parser):
    parser.add_argument("--config", required=True, help="experiment YAML (e.g. models/picoface_k210_320x240/train.yaml)")
    parser.add_argument("overrides", nargs="*", metavar="key=value",
                        help="override config keys, e.g. train.epochs=3 train.budget_minutes=20")
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint in the run dir")
    parser.add_argument("--no-export", action="store_true", help="train only; do not write the shipped artifacts")
    parser.add_argument("--ship-only", action="store_true",
                        help="do not train: export the finished run's best model into the config's out folder")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--profile", type=int, default=0, metavar="BATCHES",
                        help="only measure throughput (cache, input pipeline, train step) over BATCHES batches")


def missing_inputs(cfg):
    """Every input path the config names that is not there, as "key value (path looked at)": the
    training sets, the val set, the held-out sets, the unlabelled-face detector and the pretrained
    backbone. Checked before anything is created or TensorFlow starts."""
    from pathlib import Path

    from picoface.paths import shared_path
    from picoface.train.config import data_root

    d = cfg.data
    root = data_root(cfg)
    out = []
    if not root.is_dir():
        out.append("data.root %s (%s)" % (d.root, root))

    def need_set(key, name):
        folder = Path(name) if str(name).startswith("/") else root / name
        if root.is_dir() and not folder.exists():
            out.append("%s %s (%s)" % (key, name, folder))

    for i, name in enumerate(d.train):
        need_set("data.train[%d]" % i, name)
    for name in d.holdout:
        if name not in d.train:
            need_set("data.holdout", name)
    if d.val and d.val not in ("none", "holdout") and not Path(d.val).exists():
        need_set("data.val", d.val)
    if d.unlabelled and not shared_path(d.unlabelled_detector).is_file():
        out.append("data.unlabelled_detector %s (%s)" % (d.unlabelled_detector, shared_path(d.unlabelled_detector)))
    if cfg.model.pretrained and not shared_path(cfg.model.pretrained).is_file():
        out.append("model.pretrained %s (%s)" % (cfg.model.pretrained, shared_path(cfg.model.pretrained)))
    return out


def run(args):
    from picoface import atomic
    from picoface.errors import PicofaceError
    from picoface.train.config import load_config

    cfg = load_config(args.config, args.overrides)
    missing = missing_inputs(cfg)
    if missing:
        raise PicofaceError("%s: %d input path%s not found: %s" % (args.config, len(missing),
                                                                 "" if len(missing) == 1 else "s", "; ".join(missing)),
                            "put ../shared beside the repository (data and reference models), or point these keys "
                            "at your data (key=value after --config)")
    if args.profile:
        import json

        from picoface.train.profile import profile

        print(json.dumps(profile(cfg, args.profile), indent=2))
        return 0
    from picoface.train.trainer import result_from_run, train

    if args.ship_only:
        if not cfg.out:
            raise PicofaceError("the config has no out folder", "set out: models/<name> or pass out=DIR")
        res = result_from_run(cfg)
    else:
        res = train(cfg, resume=args.resume, progress=not args.quiet)
    if cfg.out and not args.no_export and (cfg.model.arch == "gate" or cfg.gate.frames):
        from picoface.gate.export import export_gate
        from picoface.paths import resolve_path

        out = resolve_path(cfg.out)
        export_gate(cfg, res.model_path, out, log=print, progress=not args.quiet)
        for f in ("curves.png", "log.csv"):
            src = res.run_dir / f
            if src.is_file():
                atomic.write_bytes(out / f, src.read_bytes())
        print("artifacts in %s" % out)
    if cfg.out and not args.no_export and cfg.model.arch == "picoface":
        from picoface.export.shipping import ship

        out = ship(cfg, res, log=print)
        print("artifacts in %s" % out)
    return 0
