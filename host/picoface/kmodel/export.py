"""Float TFLite/Keras -> K210 kmodel v3, with budgets and a verification that travels with it.

``keras_or_tflite_to_kmodel(float_model, calib_images, board, out_path, contract=None)``:
1. compile with nncase 1.9 (side venv, PTQ on the calibration images) -> kmodel v5;
2. lift its KPU layers into a kmodel v3 (``transcode``);
3. check the board budgets (``budget``) — refuse before writing anything;
4. verify: the v3 file run in picoface's KPU emulator vs nncase's Simulator on the v5 compile
   (should agree to the bit) and vs the float model (cosine, max abs error);
5. write X.kmodel, model.json, verify.json and verify.md beside it (atomically).

CLI (wired by picoface.commands.kmodel): ``kmodel convert``, ``kmodel verify``, ``kmodel pack``.
"""

import hashlib
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from picoface import atomic
from picoface.errors import PicofaceError

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".webp")
MAX_CALIB = 64
VERIFY_IMAGES = 4
# emulator vs Simulator: same integer pipeline, so outputs should be equal; allow one output LSB
SIM_TOLERANCE_LSB = 1.0


def _note(progress, msg):
    if progress:
        progress(msg)


# ---------------------------------------------------------------- inputs

def load_images(src, size, limit=MAX_CALIB):
    """uint8 (N, H, W, 3) RGB images resized (stretch) to ``size`` = (w, h).

    ``src``: a folder of images, one image file, a .npy (N,H,W,3) uint8, or an array."""
    w, h = size
    if isinstance(src, np.ndarray):
        arr = src
    else:
        p = Path(src)
        if p.suffix == ".npy":
            arr = np.load(p)
        else:
            import cv2

            files = sorted(f for f in p.rglob("*") if f.suffix.lower() in IMAGE_EXTS) if p.is_dir() else [p]
            if not p.exists():
                raise PicofaceError("calibration images %s not found" % p, "pass a folder of images")
            if not files:
                raise PicofaceError("no images in %s" % p, "pass a folder of .jpg/.png images")
            step = max(1, len(files) // limit)
            imgs = []
            for f in files[::step][:limit]:
                bgr = cv2.imread(str(f), cv2.IMREAD_COLOR)
                if bgr is None:
                    raise PicofaceError("cannot read image %s" % f, "remove or fix it")
                imgs.append(cv2.resize(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), (w, h), interpolation=cv2.INTER_AREA))
            arr = np.stack(imgs)
    arr = np.asarray(arr)
    if arr.dtype != np.uint8 or arr.ndim != 4 or arr.shape[3] != 3:
        raise PicofaceError("calibration images must be uint8 (N, H, W, 3), got %s %s" % (arr.dtype, arr.shape),
                            "pass RGB images")
    if arr.shape[1:3] != (h, w):
        import cv2

        arr = np.stack([cv2.resize(a, (w, h), interpolation=cv2.INTER_AREA) for a in arr])
    return np.ascontiguousarray(arr[:limit])


def float_tflite_bytes(model):
    """Float TFLite bytes from a .tflite path, a .keras/.h5 path or a Keras model object."""
    if isinstance(model, (bytes, bytearray)):
        return bytes(model)
    if isinstance(model, (str, Path)):
        p = Path(model)
        if not p.is_file():
            raise PicofaceError("model %s not found" % p, "check the path")
        if p.suffix == ".tflite":
            data = p.read_bytes()
            _check_float_tflite(data, p)
            return data
        if p.suffix not in (".keras", ".h5"):
            raise PicofaceError("cannot convert %s: expected a float .tflite or a .keras model" % p,
                                "export a float TFLite first (picoface export)")
        import tensorflow as tf

        model = tf.keras.models.load_model(p, compile=False)
    import tensorflow as tf

    return tf.lite.TFLiteConverter.from_keras_model(model).convert()


def _check_float_tflite(data, where):
    interp = _interpreter(data)
    d = interp.get_input_details()[0]
    if d["dtype"] != np.float32:
        raise PicofaceError("%s is a quantized (%s input) TFLite; nncase 1.9 crashes importing those"
                            % (where, np.dtype(d["dtype"]).name), "pass the float32 TFLite or the Keras model")


def float_input_hw(data):
    """(H, W) of a float TFLite's NHWC RGB input."""
    d = _interpreter(data).get_input_details()[0]
    shape = tuple(int(x) for x in d["shape"])
    if len(shape) != 4 or shape[3] != 3:
        raise PicofaceError("the model input has shape %s; expected (1, H, W, 3) RGB" % (shape,),
                            "export an RGB NHWC model")
    return shape[1], shape[2]


def _interpreter(data):
    import tensorflow as tf

    interp = tf.lite.Interpreter(model_content=bytes(data))
    interp.allocate_tensors()
    return interp


def run_float_tflite(data, images_hwc):
    """Float model outputs as CHW float32 arrays, one per image (input = pixels / 255)."""
    interp = _interpreter(data)
    din, dout = interp.get_input_details()[0], interp.get_output_details()[0]
    outs = []
    for img in images_hwc:
        interp.set_tensor(din["index"], (img.astype(np.float32) / 255.0)[None])
        interp.invoke()
        y = interp.get_tensor(dout["index"])[0]
        outs.append(np.transpose(y, (2, 0, 1)).astype(np.float32))
    return outs


# ---------------------------------------------------------------- verification

def _cos(a, b):
    a, b = np.ravel(a).astype(np.float64), np.ravel(b).astype(np.float64)
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 or nb == 0:
        return 1.0 if na == nb else 0.0
    return float(min(1.0, max(-1.0, a @ b / (na * nb))))


def simulate_images(v5_path, images_hwc):
    """nncase Simulator outputs (C, H, W) of a v5 kmodel, one per HWC uint8 image."""
    from picoface.kmodel import nncase_side

    runs = nncase_side.simulate_many(v5_path, [[np.transpose(img, (2, 0, 1))[None]] for img in images_hwc])
    return [outs[0][0] for outs in runs]


def emulate(v3_model, images_hwc):
    """v3 model outputs in picoface's KPU emulator, CHW float32, one per image."""
    from picoface.kmodel import emulator

    convs = v3_model.convs
    w, h, c = convs[-1].regs.out_shape
    outs = []
    for img in images_hwc:
        y = emulator.run(v3_model, np.ascontiguousarray(np.transpose(img, (2, 0, 1))))[0]
        outs.append(np.asarray(y, dtype=np.float32).reshape(c, h, w))
    return outs


def verify(v3_model, images_hwc, float_outputs=None, sim_outputs=None, scale=None):
    """Compare emulator outputs with the Simulator's and the float model's. Returns a dict."""
    emu = emulate(v3_model, images_hwc)
    if scale is None:
        scale = v3_model.layers[-1].scale
    rep = {"images": len(images_hwc), "output_shape": list(emu[0].shape), "output_lsb": float(scale)}
    if sim_outputs is not None:
        d = [np.abs(e - np.asarray(s, np.float32).reshape(e.shape)) for e, s in zip(emu, sim_outputs)]
        mx = float(max(x.max() for x in d))
        rep["emulator_vs_simulator"] = {
            "max_abs": mx, "max_lsb": mx / abs(scale) if scale else 0.0,
            "exact_fraction": float(np.mean([np.mean(x == 0) for x in d])),
            "ok": mx <= SIM_TOLERANCE_LSB * abs(scale) * 1.0001}
    if float_outputs is not None:
        rep["emulator_vs_float"] = _compare(emu, float_outputs)
        if sim_outputs is not None:
            rep["simulator_vs_float"] = _compare([np.asarray(s, np.float32).reshape(e.shape)
                                                  for s, e in zip(sim_outputs, emu)], float_outputs)
    return rep


def _centered(x):
    """CHW minus each channel's mean: the part of the output that depends on the image."""
    return x - x.mean(axis=(1, 2), keepdims=True)


def _compare(outs, refs):
    cos = [_cos(o, r) for o, r in zip(outs, refs)]
    # None when the reference hardly varies within a channel (e.g. an untrained net)
    ccos = [_cos(_centered(o), _centered(r)) if np.linalg.norm(_centered(r)) > 1e-6 * np.linalg.norm(r) else None
            for o, r in zip(outs, refs)]
    ccos = None if any(c is None for c in ccos) else min(ccos)
    mx = [float(np.abs(o - r).max()) for o, r in zip(outs, refs)]
    rng = max(float(np.abs(r).max()) for r in refs)
    return {"cosine_min": min(cos), "cosine_mean": float(np.mean(cos)), "centered_cosine_min": ccos,
            "max_abs": max(mx), "float_abs_max": rng}


def verify_markdown(rep, title="kmodel verification"):
    lines = ["# %s" % title, ""]
    if "board" in rep:
        lines += ["Board `%s`, %d verification image(s), output %s (NCHW float32), 1 output LSB = %.6g." % (
            rep["board"], rep["images"], "x".join(map(str, rep["output_shape"])), rep["output_lsb"]), ""]
    lines += ["| comparison | cosine (min / mean) | centered cosine (min) | max abs error | note |",
              "|---|---|---|---|---|"]
    s = rep.get("emulator_vs_simulator")
    if s:
        lines.append("| v3 in emulator vs nncase Simulator (v5) | — | — | %.6g (%.2f LSB) | %.1f %% exact, %s |" % (
            s["max_abs"], s["max_lsb"], 100 * s["exact_fraction"], "OK" if s["ok"] else "MISMATCH"))
    for key, name in (("emulator_vs_float", "v3 in emulator vs float model"),
                      ("simulator_vs_float", "nncase Simulator vs float model")):
        f = rep.get(key)
        if f:
            cc = f["centered_cosine_min"]
            lines.append("| %s | %.5f / %.5f | %s | %.6g | float outputs span ±%.3g |" % (
                name, f["cosine_min"], f["cosine_mean"], "n/a (flat output)" if cc is None else "%.5f" % cc,
                f["max_abs"], f["float_abs_max"]))
    if "budget" in rep:
        b = rep["budget"]
        lines += ["", "## Budgets (%s firmware)" % b["firmware"], "",
                  "| item | used | budget |", "|---|---|---|",
                  "| model + main-memory buffer | %d + %d B | %d B |" % (b["bytes"], b["main_mem_bytes"],
                                                                      b["model_budget_bytes"]),
                  "| KPU RAM (feature maps) | %d B | %d B |" % (b["kpu_ram_bytes"], b["kpu_ram_budget_bytes"])]
    lines += ["", "The emulator is picoface's numpy model of the KPU; the Simulator is nncase 1.9's. "
              "A real K210 may differ by a few LSB (rounding not verified on silicon, KMODEL.md §7). "
              "Centered cosine compares the outputs minus each channel's mean, i.e. the part that depends on "
              "the image.", ""]
    return "\n".join(lines)


# ---------------------------------------------------------------- model card

CARD_BEGIN = "<!-- kmodel section: written by picoface kmodel convert -->"
CARD_END = "<!-- end of kmodel section -->"


def card_section(v3_model, data, report, out_path, board):
    """The K210 part of a model card (Markdown), from the converted file and its verification."""
    from picoface.kmodel.info import summarize_v3

    info = summarize_v3(v3_model, len(data))
    types = ", ".join("%d %s" % (n, t) for t, n in info["layer_types"].items())
    f = report.get("emulator_vs_float", {})
    s = report.get("emulator_vs_simulator", {})
    name = Path(out_path).name
    return "\n".join([
        CARD_BEGIN,
        "## K210 kmodel v3 (`%s`, what the %s runs)" % (name, board.name),
        "",
        "`model.json` in this folder describes the kmodel: it is the board's artifact (`make flash "
        "BOARD=%s` packs it as a .kfpkg). Made from the float TFLite by `picoface kmodel convert` "
        "(nncase %s PTQ on %d calibration images, v5 -> v3 re-pack); `picoface kmodel info %s` lists "
        "its layers." % (board.name, report.get("nncase", {}).get("version", "1.9"), report["calib_images"], name),
        "",
        "| item | value |",
        "|---|---|",
        "| bytes | {:,} |".format(len(data)),
        "| layers | %s%s |" % (types, ", every conv on the KPU" if info["all_on_kpu"] else ""),
        "| input -> output | %s -> %s |" % ("x".join(map(str, info["input"] or [])),
                                            "x".join(map(str, info["output"] or []))),
        "| MACs as the KPU computes them | %.1f M |" % (info["macs"] / 1e6),
        "| KPU RAM | {:,} B spanned (peak live {:,} B) of 2 MiB |".format(info["kpu_ram_span_bytes"],
                                                                        info["kpu_ram_peak_bytes"]),
        "| main memory (output buffer) | {:,} B |".format(info["main_memory_bytes"]),
        "| emulator vs nncase Simulator | %.2f LSB max, %.1f %% exact |" % (
            s.get("max_lsb", float("nan")), 100 * s.get("exact_fraction", float("nan"))),
        "| emulator vs float model | cosine %.5f (min over %d images), max error %.3g |" % (
            f.get("cosine_min", float("nan")), report.get("images", 0), f.get("max_abs", float("nan"))),
        "",
        "Details: `verify.md`. AP of the kmodel on the KPU emulator, beside the other detectors: "
        "[../BENCH.md](../BENCH.md). Not verified on silicon: a board may differ by a few LSB "
        "(activation rounding, KMODEL.md §7); `pytest -m hw tests/test_kmodel_hw.py --port PORT` compares "
        "a frame on a real board with the emulator.",
        CARD_END,
        ""])


def with_card_section(text, section):
    """Model-card text with its kmodel section replaced (or inserted before '## Accuracy')."""
    if CARD_BEGIN in text and CARD_END in text:
        head, rest = text.split(CARD_BEGIN, 1)
        tail = rest.split(CARD_END, 1)[1].lstrip("\n")
        return head + section + "\n" + tail
    marker = "## Accuracy"
    if marker in text:
        head, tail = text.split(marker, 1)
        return head + section + "\n" + marker + tail
    return text.rstrip("\n") + "\n\n" + section


# ---------------------------------------------------------------- contract

def _contract_for(contract, v3_model, out_path, data, facts):
    c = json.loads(json.dumps(contract)) if contract else {}
    first, last = v3_model.convs[0].regs, v3_model.convs[-1].regs
    w, h, _ = first.in_shape
    gw, gh, ch = last.out_shape
    c.update({"contract": 1, "format": "kmodel-v3", "file": Path(out_path).name, "bytes": len(data),
              "sha256": hashlib.sha256(data).hexdigest()})
    c.setdefault("name", Path(out_path).stem)
    inp = dict(c.get("input", {}))
    inp.update({"w": w, "h": h, "channels": 3, "order": "RGB", "layout": "NCHW", "dtype": "uint8",
                "scale": 1.0 / 255.0, "zero_point": 0})
    inp.setdefault("fit", "stretch")
    c["input"] = inp
    out = dict(c.get("output", {}))
    out.update({"grid_w": gw, "grid_h": gh, "layout": "NCHW", "dtype": "float32", "scale": 1.0, "zero_point": 0})
    out.setdefault("classes", ch // 5 - 5)
    c["output"] = out
    c["kpu_ram_bytes"] = facts["kpu_ram_bytes"]
    c.pop("arena_bytes", None)
    return c


def _source_contract(contract, float_model):
    """The source model's contract: the given dict/path, else the one beside the float model."""
    if isinstance(contract, (str, Path)):
        contract = _load_contract(contract)
    if contract is None and isinstance(float_model, (str, Path)):
        from picoface.contract import load_contract

        try:
            contract = load_contract(float_model)
        except PicofaceError:
            contract = None
    if contract is None:
        raise PicofaceError("no model contract (anchors, classes, thresholds) for %s" % float_model,
                            "pass --contract with the trained model's model.json")
    return contract


def _validate_contract(c, where):
    from picoface.contract import validate_contract

    validate_contract(c, where)


def _write_contract(path, c):
    from picoface.contract import write_contract

    write_contract(path, c)


# ---------------------------------------------------------------- the export

def keras_or_tflite_to_kmodel(float_model, calib_images, board, out_path, contract=None, firmware="full",
                              verify_images=None, keep_v5=False, progress=None):
    """Compile, transcode, check, verify and write a kmodel v3. Returns the report dict."""
    from picoface.boards import Board, load_board
    from picoface.kmodel import budget, nncase_side, transcode

    if not isinstance(board, Board):
        board = load_board(board)
    if not board.is_k210 or board.model_format != "kmodel-v3":
        raise PicofaceError("board %s takes %s models, not kmodel v3" % (board.name, board.model_format),
                            "export an int8 TFLite for it (picoface export)")
    contract = _source_contract(contract, float_model)
    nncase_side.find_python()  # fail fast with the set-up hint
    out_path = Path(out_path)
    t_start = time.time()
    tflite = float_tflite_bytes(float_model)
    net_hw = float_input_hw(tflite)
    want_hw = (board.input_size[1], board.input_size[0])
    if net_hw != want_hw:
        raise PicofaceError("the model input is %dx%d but board %s feeds %dx%d images"
                            % (net_hw[1], net_hw[0], board.name, want_hw[1], want_hw[0]),
                            "train/export the net at the board's model input size (boards/%s.toml)" % board.name)
    calib = load_images(calib_images, board.input_size)
    vimgs = calib[:VERIFY_IMAGES] if verify_images is None else load_images(verify_images, board.input_size)
    report = {"board": board.name, "calib_images": int(len(calib))}
    with tempfile.TemporaryDirectory(prefix="picoface-export-") as tmp:
        tfl = Path(tmp) / "float.tflite"
        tfl.write_bytes(tflite)
        v5_path = Path(tmp) / "model.v5.kmodel"
        _note(progress, "compiling with nncase 1.9 (PTQ on %d images)..." % len(calib))
        comp = nncase_side.compile_tflite(tfl, calib, v5_path)
        report["nncase"] = {"version": comp["nncase"], "compile_seconds": round(comp["seconds"], 3),
                            "v5_bytes": comp["bytes"], "memory": comp["memory"]}
        v5_data = v5_path.read_bytes()
        _note(progress, "transcoding kmodel v5 (%d B) to v3..." % len(v5_data))
        model, prog = transcode.transcode(v5_data)
        data = model.serialize()
        _note(progress, "checking %s budgets..." % board.name)
        facts = budget.check(data, board, contract=contract, firmware=firmware)
        report["budget"] = facts
        _note(progress, "verifying on %d image(s): emulator, nncase Simulator, float model..." % len(vimgs))
        sim = simulate_images(v5_path, vimgs)
        flt = run_float_tflite(tflite, vimgs)
        report.update(verify(model, vimgs, float_outputs=flt, sim_outputs=sim, scale=prog.scale))
        s = report["emulator_vs_simulator"]
        if not s["ok"]:
            raise PicofaceError("the transcoded v3 model disagrees with nncase's Simulator by %.2f output LSB"
                                % s["max_lsb"], "report this model: the v5 -> v3 transcoding missed something")
        report["v3_bytes"] = len(data)
        report["seconds"] = round(time.time() - t_start, 3)
        c = _contract_for(contract, model, out_path, data, facts)
        _validate_contract(c, str(out_path.parent / "model.json"))  # before anything is written
        atomic.write_bytes(out_path, data)
        if keep_v5:
            atomic.write_bytes(out_path.with_suffix(".v5.kmodel"), v5_data)
    side = out_path.parent
    _write_contract(side / "model.json", c)
    atomic.write_text(side / "verify.json", json.dumps(report, indent=2) + "\n")
    atomic.write_text(side / "verify.md", verify_markdown(report, "kmodel verification: %s" % out_path.name))
    card = side / "MODEL_CARD.md"
    if card.is_file():
        atomic.write_text(card, with_card_section(card.read_text(), card_section(model, data, report, out_path, board)))
    report["paths"] = {"kmodel": str(out_path), "contract": str(side / "model.json"),
                       "verify_json": str(side / "verify.json"), "verify_md": str(side / "verify.md")}
    return report


# ---------------------------------------------------------------- CLI pieces (wired in commands/kmodel.py)

def add_arguments_convert(p):
    p.add_argument("model", help="float .tflite (or .keras) model")
    p.add_argument("--board", default="maix_dock", help="target board (boards/*.toml)")
    p.add_argument("--calib", required=True, help="folder of calibration images (or a .npy N,H,W,3 uint8)")
    p.add_argument("--out", "-o", required=True, help="output .kmodel (v3)")
    p.add_argument("--contract", help="model.json of the source model (anchors, thresholds, training); "
                   "default: the contract beside MODEL")
    p.add_argument("--firmware", choices=("full", "minimum"), default="full",
                   help="MaixPy firmware build whose model budget applies (default full)")
    p.add_argument("--verify-images", help="images for the verification (default: the first calibration images)")
    p.add_argument("--keep-v5", action="store_true", help="also keep nncase's v5 kmodel (X.v5.kmodel)")


def _load_contract(path):
    if not path:
        return None
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise PicofaceError("contract %s not found" % path, "check the path") from None
    except ValueError as e:
        raise PicofaceError("contract %s is not JSON (%s)" % (path, e), "fix it") from None


def run_convert(args):
    rep = keras_or_tflite_to_kmodel(args.model, args.calib, args.board, args.out,
                                    contract=args.contract, firmware=args.firmware,
                                    verify_images=args.verify_images, keep_v5=args.keep_v5,
                                    progress=lambda m: print(m, flush=True))
    print(verify_markdown(rep, "kmodel verification: %s" % Path(args.out).name))
    print("wrote %s (%d B), model.json, verify.json, verify.md" % (args.out, rep["v3_bytes"]))
    return 0


def add_arguments_verify(p):
    p.add_argument("kmodel", help="kmodel v3 file")
    p.add_argument("--images", required=True, help="folder of test images (or .npy N,H,W,3 uint8)")
    p.add_argument("--float", dest="float_model", help="float .tflite/.keras to compare with")
    p.add_argument("--v5", help="nncase's v5 kmodel of the same compile, run in nncase's Simulator")
    p.add_argument("--board", default="maix_dock")
    p.add_argument("--json", help="write the report here as JSON")


def run_verify(args):
    from picoface import kmodel as km
    from picoface.kmodel import budget

    model = km.load(args.kmodel)
    f = budget.facts(model)
    if not f["input"]:
        raise PicofaceError("%s does not start with a conv layer" % args.kmodel, "pass a picoface kmodel")
    imgs = load_images(args.images, (f["input"]["w"], f["input"]["h"]), limit=VERIFY_IMAGES)
    sim = flt = None
    if args.v5:
        sim = simulate_images(args.v5, imgs)
    if args.float_model:
        flt = run_float_tflite(float_tflite_bytes(args.float_model), imgs)
    rep = verify(model, imgs, float_outputs=flt, sim_outputs=sim)
    rep["board"] = args.board
    print(verify_markdown(rep, "kmodel verification: %s" % Path(args.kmodel).name))
    if args.json:
        atomic.write_text(args.json, json.dumps(rep, indent=2) + "\n")
    s = rep.get("emulator_vs_simulator")
    return 1 if (s and not s["ok"]) else 0


def add_arguments_pack(p):
    p.add_argument("kmodel", help="kmodel v3 file")
    p.add_argument("--board", default="maix_dock")
    p.add_argument("--firmware", help="firmware .bin to put at 0x0 as well")
    p.add_argument("-o", "--out", required=True, help="output .kfpkg")
    p.add_argument("--no-check", action="store_true", help="skip the board budget checks")


def run_pack(args):
    from picoface import kmodel as km
    from picoface.kmodel import budget, kfpkg

    data = km.read_file(args.kmodel)
    if not args.no_check:
        if km.detect_version(data) != 3:
            raise PicofaceError("%s is not a kmodel v3; stock MaixPy/CanMV load only v3/v4" % args.kmodel,
                                "convert it first (picoface kmodel convert)")
        budget.check(data, args.board)
    info = kfpkg.build(args.out, data, args.board, firmware=args.firmware)
    for f in info["files"]:
        print("0x%08x  %-16s %8d B  sha256Prefix=%s" % (f["address"], f["bin"], f["bytes"], f["sha256Prefix"]))
    from picoface.boards import load_board

    fl = load_board(args.board).flash
    print("wrote %s (%d B); flash with: kflash -B %s -b %s -p PORT %s"
          % (args.out, info["bytes"], fl.get("kflash_board", "dan"), fl.get("kflash_baud", 115200), args.out))
    return 0
