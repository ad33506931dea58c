"""picoface kmodel info|run|convert|verify|pack: inspect, emulate and build K210 kmodels."""

import importlib
import json
from pathlib import Path

from picoface.errors import PicofaceError

# subcommand -> (module with add_arguments_<name> and run_<name>, help)
_DELEGATED = {
    "convert": ("picoface.kmodel.convert", "compile a trained model to kmodel v3 (nncase 1.9 + v5->v3 transcoding)"),
    "verify": ("picoface.kmodel.verify", "compare a kmodel's emulated outputs with its float model on images"),
    "pack": ("picoface.kmodel.pack", "build a .kfpkg for kflash (model at the board's flash address)"),
}


def _delegate_module(name):
    return importlib.import_module(_DELEGATED[name][0])


def add_arguments(p):
    sub = p.add_subparsers(dest="kmodel_command", metavar="SUBCOMMAND")
    sp = sub.add_parser("info", help="layers, sizes, KPU RAM and checks of a kmodel (v3, v4, v5)")
    sp.add_argument("file", help="a .kmodel file")
    sp.add_argument("--json", action="store_true", help="print the summary as JSON")

    sp = sub.add_parser("run", help="run one image through a kmodel (v3, or pure-KPU v4) on the KPU emulator")
    sp.add_argument("file", help="a kmodel v3 (or v4) file")
    sp.add_argument("image", help="an image file (any size; fitted to the model input)")
    sp.add_argument("--anchors", type=float, nargs="+", default=None,
                    help="anchor w h pairs in grid cells (default: model.json beside the model, "
                         "else the MaixPy face anchors for 5-anchor models)")
    sp.add_argument("--classes", type=int, default=None, help="classes per anchor (default: from the output size)")
    sp.add_argument("--threshold", type=float, default=0.5, help="score threshold (default 0.5)")
    sp.add_argument("--nms", type=float, default=0.3, help="NMS IoU threshold (default 0.3)")
    sp.add_argument("--rounding", choices=("even", "away"), default="even",
                    help="activation rounding: ties to even (nncase 1.9) or away from zero (SDK)")
    sp.add_argument("--fit", choices=("stretch", "crop", "letterbox"), default=None,
                    help="how the image becomes the net input (default: model.json, else stretch)")
    sp.add_argument("--out", default=None, help="write the image with the boxes drawn to this PNG")
    sp.add_argument("--json", action="store_true", help="print detections as JSON")

    for name, (_, help_text) in _DELEGATED.items():
        sp = sub.add_parser(name, help=help_text, description=help_text)
        getattr(_delegate_module(name), "add_arguments_" + name)(sp)


def run(args):
    cmd = getattr(args, "kmodel_command", None)
    if cmd == "info":
        return _info(args)
    if cmd == "run":
        return _run(args)
    if cmd in _DELEGATED:
        return getattr(_delegate_module(cmd), "run_" + cmd)(args)
    raise PicofaceError("missing subcommand", "use one of: info, run, convert, verify, pack (see --help)")


def _info(args):
    from picoface.kmodel import info

    d = info.summarize(args.file)
    if args.json:
        print(json.dumps(d, indent=2))
    else:
        print(info.format_text(d))
    return 0


def _anchors_for(model_path, n_channels, args):
    if args.anchors:
        if len(args.anchors) % 2:
            raise PicofaceError("--anchors needs w h pairs, got %d numbers" % len(args.anchors), "give an even count")
        return list(args.anchors), args.classes, "stretch"
    cfile = Path(model_path).with_name("model.json")
    if cfile.is_file():
        try:
            c = json.loads(cfile.read_text())
            out = c["output"]
            anchors = [v for pair in out["anchors"] for v in pair]
            classes = args.classes if args.classes is not None else int(out.get("classes", 1))
            return anchors, classes, c.get("input", {}).get("fit", "stretch")
        except (ValueError, KeyError, TypeError) as e:
            raise PicofaceError("cannot read anchors from %s (%s)" % (cfile, e), "fix model.json or pass --anchors")
    if n_channels == 30:  # 5 anchors x 6: the stock MaixPy face demo's anchors
        from picoface.kmodel import MAIXPY_FACE_ANCHORS

        return list(MAIXPY_FACE_ANCHORS), 1, "stretch"
    raise PicofaceError("no anchors for a %d-channel output" % n_channels,
                        "pass --anchors w1 h1 w2 h2 ... (grid-cell units) and --classes")


def detect_image(model, rgb, anchors, classes=None, threshold=0.5, nms=0.3, rounding="even", fit="stretch"):
    """Emulate one RGB image (any size; ``fit`` as in pfcore.geom: stretch, crop or letterbox)
    and decode its YOLOv2 output. Returns float32 (N, 5) [x, y, w, h, score] in ``rgb`` pixels."""
    import numpy as np

    from picoface.detect import fit as fitmod
    from picoface.detect import region
    from picoface.kmodel import emulator, v3

    emu = model if isinstance(model, emulator.Emulator) else emulator.Emulator(model, rounding=rounding)
    c, h, w = emu.input_shape
    try:
        f = fitmod.fit_for(rgb.shape[1], rgb.shape[0], w, h, fit)
    except ValueError as e:
        raise PicofaceError("bad fit %r (%s)" % (fit, e), "use stretch, crop or letterbox") from None
    net = fitmod.fit_image(rgb, f)
    out = emu.run(emulator.hwc_to_chw(net))[0]
    last = [l for l in emu.model.layers if isinstance(l, v3.ConvLayer)][-1]
    gw, gh, gc = last.regs.out_shape
    na = len(anchors) // 2
    if classes is None:
        if not na or gc % na:
            raise PicofaceError("%d output channels are not a multiple of %d anchors" % (gc, na), "check --anchors")
        classes = gc // na - 5
    if na * (5 + classes) != gc:
        raise PicofaceError("%d anchors x (5 + %d classes) != %d output channels" % (na, classes, gc),
                            "check --anchors/--classes")
    d = region.decode(np.asarray(out, np.float64), gw, gh, anchors, classes=classes, layout="NCHW",
                      threshold=threshold)
    pad = emu.input_pad
    if pad is not None and len(d):  # boxes are relative to the padded net input: undo the pad
        (_, _), (_, _), (top, bottom), (left, right) = pad.paddings
        ph, pw = pad.out_shape[2], pad.out_shape[3]
        d = d.copy()
        d[:, 0] = (d[:, 0] * pw - left) / w
        d[:, 1] = (d[:, 1] * ph - top) / h
        d[:, 2] *= pw / w
        d[:, 3] *= ph / h
    dets = region.nms(region.to_camera(d, f), nms) if len(d) else np.zeros((0, 5))
    return np.asarray(dets, np.float32).reshape(-1, 5)


def _run(args):
    import cv2

    from picoface import atomic
    from picoface.kmodel import emulator, v3

    emu = emulator.Emulator(args.file, rounding=args.rounding)
    img = cv2.imread(str(args.image), cv2.IMREAD_COLOR)
    if img is None:
        raise PicofaceError("cannot read image %s" % args.image, "pass a JPEG/PNG file")
    rgb = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    last = [l for l in emu.model.layers if isinstance(l, v3.ConvLayer)][-1]
    anchors, classes, fit = _anchors_for(args.file, last.regs.out_shape[2], args)
    dets = detect_image(emu, rgb, anchors, classes, args.threshold, args.nms, fit=args.fit or fit)
    if args.json:
        print(json.dumps([[round(float(v), 2) for v in d] for d in dets]))
    else:
        print("%d detection(s) in %s (%dx%d)" % (len(dets), args.image, rgb.shape[1], rgb.shape[0]))
        for x, y, w, h, s in dets:
            print("  x=%.0f y=%.0f w=%.0f h=%.0f score=%.2f" % (x, y, w, h, s))
    if args.out:
        for x, y, w, h, s in dets:
            cv2.rectangle(img, (int(round(x)), int(round(y))), (int(round(x + w)), int(round(y + h))), (0, 255, 0), 2)
            cv2.putText(img, "%.2f" % s, (int(x), max(10, int(y) - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 255, 0), 1)
        ok, buf = cv2.imencode(".png", img)
        if not ok:
            raise PicofaceError("could not encode the output image", "check --out")
        atomic.write_bytes(args.out, buf.tobytes())
        print("wrote %s" % args.out)
    return 0
