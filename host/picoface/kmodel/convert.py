"""Float TFLite/Keras -> K210 kmodel v3, with budgets and a verification that travels with it.

``keras_or_tflite_to_kmodel(float_model, calib_images, board, out_path, contract=None)``:
1. compile with nncase 1.9 (side venv, PTQ on the calibration images; ``nncase_side``) -> kmodel v5;
2. lift its KPU layers into a kmodel v3 (``transcode``);
3. check the board budgets (``budget``) and the limits of the board's firmware families
   (``budget.check_firmware``: before compiling, from the float model's output, and again on the
   v3 file) — refuse before writing anything;
4. verify (``verify``): the v3 file run in picoface's KPU emulator vs nncase's Simulator on the v5 compile
   (should agree to the bit) and vs the float model (cosine, max abs error);
5. write X.kmodel, model.json (``model_json``), verify.json and verify.md beside it (atomically), and
   the kmodel section of the MODEL_CARD.md there, if any (``card``).

CLI: ``kmodel convert`` (wired by picoface.commands.kmodel).
"""

import json
import tempfile
import time
from pathlib import Path

import numpy as np

from picoface import atomic
from picoface.errors import PicofaceError
from picoface.kmodel.calib import is_config, load_images
from picoface.kmodel.card import card_section, with_card_section
from picoface.kmodel.float_model import float_input_hw, float_output_hwc, float_tflite_bytes, run_float_tflite
from picoface.kmodel.model_json import _contract_for, _source_contract, _validate_contract, _write_contract
from picoface.kmodel.verify import VERIFY_IMAGES, simulate_images, verify, verify_markdown


def _note(progress, msg):
    if progress:
        progress(msg)


def calib_source(src):
    """Where the calibration images came from, in words, for the report and the model card."""
    if isinstance(src, np.ndarray):
        return "an array"
    p = Path(src)
    if is_config(p):
        return "training photos of `%s` (none of its held-out validation photos)" % p.name
    return "`%s`" % p.name


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
    gh, gw, ch = float_output_hwc(tflite)  # refuse a head the firmware cannot decode before compiling
    budget.check_firmware({"output": {"grid_w": gw, "grid_h": gh, "channels": ch}, "output_float": True}, board,
                          contract, subject="model %s" % (Path(float_model).name if isinstance(float_model, (str, Path))
                                                          else "(Keras)"))
    calib = load_images(calib_images, board.input_size)
    vimgs = calib[:VERIFY_IMAGES] if verify_images is None else load_images(verify_images, board.input_size)
    report = {"board": board.name, "calib_images": int(len(calib)), "calib_source": calib_source(calib_images)}
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
        budget.check_firmware(facts, board, contract, subject="the converted kmodel")
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


def add_arguments_convert(p):
    p.add_argument("model", help="float .tflite (or .keras) model")
    p.add_argument("--board", default="maix_dock", help="target board (boards/*.toml)")
    p.add_argument("--calib", required=True, help="folder of calibration images, a .npy N,H,W,3 uint8, or the model's training "
                        "config (.yaml: 64 of its training photos, never its held-out validation photos)")
    p.add_argument("--out", "-o", required=True, help="output .kmodel (v3)")
    p.add_argument("--contract", help="model.json of the source model (anchors, thresholds, training); "
                   "default: the contract beside MODEL")
    p.add_argument("--firmware", choices=("full", "minimum"), default="full",
                   help="MaixPy firmware build whose model budget applies (default full)")
    p.add_argument("--verify-images", help="images for the verification (default: the first calibration images)")
    p.add_argument("--keep-v5", action="store_true", help="also keep nncase's v5 kmodel (X.v5.kmodel)")


def run_convert(args):
    rep = keras_or_tflite_to_kmodel(args.model, args.calib, args.board, args.out,
                                    contract=args.contract, firmware=args.firmware,
                                    verify_images=args.verify_images, keep_v5=args.keep_v5,
                                    progress=lambda m: print(m, flush=True))
    print(verify_markdown(rep, "kmodel verification: %s" % Path(args.out).name))
    print("wrote %s (%d B), model.json, verify.json, verify.md" % (args.out, rep["v3_bytes"]))
    return 0
