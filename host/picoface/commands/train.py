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


def run(args):
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from picoface.train.config import load_config

    cfg = load_config(args.config, args.overrides)
    if args.profile:
        import json

        from picoface.train.profile import profile

        print(json.dumps(profile(cfg, args.profile), indent=2))
        return 0
    from picoface.train.trainer import result_from_run, train

    if args.ship_only:
        if not cfg.out:
            from picoface.errors import PicofaceError

            raise PicofaceError("the config has no out folder", "set out: models/<name> or pass out=DIR")
        res = result_from_run(cfg)
    else:
        res = train(cfg, resume=args.resume, progress=not args.quiet)
    if cfg.out and not args.no_export and cfg.model.arch == "picoface":
        from picoface.export.shipping import ship

        out = ship(cfg, res, log=print)
        print("artifacts in %s" % out)
    return 0
