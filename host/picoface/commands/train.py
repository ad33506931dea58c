"""``picoface train --config X.yaml [key=value ...] [--resume]``: train, then export artifacts."""


def add_arguments(parser):
    parser.add_argument("--config", required=True, help="experiment YAML (e.g. models/picoface_k210_320x240/train.yaml)")
    parser.add_argument("overrides", nargs="*", metavar="key=value",
                        help="override config keys, e.g. train.epochs=3 train.budget_minutes=20")
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint in the run dir")
    parser.add_argument("--no-export", action="store_true", help="train only; do not write the shipped artifacts")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args):
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from picoface.train.config import load_config

    cfg = load_config(args.config, args.overrides)
    from picoface.train.trainer import train

    res = train(cfg, resume=args.resume, progress=not args.quiet)
    if cfg.out and not args.no_export and cfg.model.arch == "picoface":
        from picoface.export.shipping import ship

        out = ship(cfg, res, log=print)
        print("artifacts in %s" % out)
    return 0
