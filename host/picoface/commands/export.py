"""``picoface export MODEL --format tflite-int8|tflite-float [--board B] [--calib DIR] --out DIR``.

MODEL is a trained ``.keras`` file (a run's ``best.keras`` or a shipped ``picoface.keras``) or a
folder holding one. Its training config is found beside it (``config.yaml`` of a run,
``train.resolved.yaml`` of a shipped folder) unless ``--config`` is given; anchors come from
``anchors.json`` beside it.
"""

from pathlib import Path


def add_arguments(parser):
    parser.add_argument("model", help="trained .keras model, or a folder with best.keras / picoface.keras")
    parser.add_argument("--format", action="append", choices=["tflite-int8", "tflite-float"], dest="formats",
                        help="artifact(s) to write (repeatable; default: the config's export.formats)")
    parser.add_argument("--board", default=None, help="check the model against this board's budget and the "
                        "limits of its firmware families (default: the config's export.board)")
    parser.add_argument("--calib", default=None, help="folder of photos or a dataset for int8 calibration "
                        "(default: the training sets)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--config", default=None, help="training config (default: found beside MODEL)")
    parser.add_argument("--val", default=None, help="val dataset for the float/int8 AP parity check "
                        "(default: the config's data.val; 'none' skips it)")
    parser.add_argument("--input", default=None, metavar="WxH",
                        help="export the (fully convolutional) weights at another input size, e.g. 208x160")
    parser.add_argument("--tolerance", type=float, default=None, help="max |AP int8 - AP float| (default 0.01)")


def _find_model(p):
    from picoface.errors import PicofaceError

    p = Path(p)
    if p.is_dir():
        for name in ("best.keras", "picoface.keras"):
            if (p / name).is_file():
                return p / name
        raise PicofaceError("no best.keras or picoface.keras in %s" % p, "point at a trained model")
    if not p.is_file():
        raise PicofaceError("model %s not found" % p, "check the path")
    if p.suffix != ".keras":
        raise PicofaceError("%s is not a .keras model" % p, "export from the Keras model a training run wrote")
    return p


def _check_firmware(board_name, cfg, size, formats, model):
    """Refuse, before anything slow, a head the board's firmware families cannot decode: the grid at
    the export size (``export_model`` checks the loaded model's output again)."""
    from picoface.export.shipping import check_firmware

    w, h = size or (cfg.input.w, cfg.input.h)
    check_firmware(cfg, board_name, (w // cfg.model.stride, h // cfg.model.stride), formats,
                   "model %s exported at %dx%d" % (model.name, w, h))


def run(args):
    from picoface.errors import PicofaceError
    from picoface.train.config import load_config

    model = _find_model(args.model)
    cfg_path = args.config
    if cfg_path is None:
        for name in ("config.yaml", "train.resolved.yaml"):
            if (model.parent / name).is_file():
                cfg_path = model.parent / name
                break
    if cfg_path is None:
        raise PicofaceError("no training config beside %s" % model, "pass --config")
    cfg = load_config(cfg_path)
    size = None
    if args.input:
        try:
            size = tuple(int(v) for v in args.input.lower().split("x"))
            assert len(size) == 2
        except (ValueError, AssertionError):
            raise PicofaceError("--input %r is not WxH" % args.input, "write e.g. --input 208x160") from None
    _check_firmware(args.board, cfg, size,
                    args.formats or cfg.export.formats, model)
    from picoface.train.val import load_valset

    valset = load_valset(cfg, args.val)
    from picoface.export.shipping import export_model

    s = export_model(model, cfg, args.out, formats=args.formats, board=args.board, calib=args.calib,
                     valset=valset, parity_tolerance=args.tolerance, input_size=size,
                     progress=True)
    for fmt, f in s["files"].items():
        print("%-13s %s  %d B" % (fmt, Path(args.out) / f["file"], f["bytes"]))
    if "arena_bytes" in s:
        print("TFLM arena    %d B" % s["arena_bytes"])
    if "parity" in s:
        p = s["parity"]
        print("val AP@0.5    float %.4f  int8 %.4f  (delta %+.4f)" % (p["ap_float"], p["ap_int8"], p["delta"]))
    return 0
