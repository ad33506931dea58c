"""The gate as a kmodel v3: nncase 1.9 compiles the float TFLite (PTQ), picoface transcodes it to v3,
checks the K210 budgets (KPU RAM, model memory; any float map is a valid gate head) and verifies the
emulator against nncase's Simulator and the float model, as ``kmodel convert`` does for detectors."""

import tempfile
from pathlib import Path

import numpy as np

from picoface import atomic
from picoface.errors import PicofaceError

VERIFY_N = 8


def to_kmodel(tflite, calib, board, out_path, progress=None):
    """Compile, transcode, check, verify and write. Returns (v3 model, bytes, report)."""
    from picoface.boards import Board, load_board
    from picoface.kmodel import budget, nncase_side, transcode
    from picoface.kmodel.float_model import run_float_tflite
    from picoface.kmodel.verify import simulate_images, verify

    if not isinstance(board, Board):
        board = load_board(board)
    if not board.is_k210:
        raise PicofaceError("board %s is not a K210 board" % board.name, "pass a K210 board (maix_dock)")
    calib = np.asarray(calib, np.uint8)
    h, w = calib.shape[1:3]
    with tempfile.TemporaryDirectory(prefix="picoface-gate-") as tmp:
        tfl = Path(tmp) / "gate.tflite"
        tfl.write_bytes(tflite)
        v5_path = Path(tmp) / "gate.v5.kmodel"
        if progress:
            progress("compiling the gate with nncase 1.9 (PTQ on %d images)..." % len(calib))
        comp = nncase_side.compile_tflite(tfl, calib, v5_path)
        model, prog = transcode.transcode(v5_path.read_bytes())
        data = model.serialize()
        facts = budget.check(data, board, input_size=(w, h), head="gate")
        vimgs = calib[:VERIFY_N]
        rep = verify(model, vimgs, float_outputs=run_float_tflite(tflite, vimgs),
                     sim_outputs=simulate_images(v5_path, vimgs), scale=prog.scale)
    if not rep["emulator_vs_simulator"]["ok"]:
        raise PicofaceError("the gate kmodel disagrees with nncase's Simulator by %.2f output LSB"
                            % rep["emulator_vs_simulator"]["max_lsb"], "report this model")
    rep["budget"] = facts
    rep["nncase"] = {"version": comp["nncase"], "v5_bytes": comp["bytes"]}
    atomic.write_bytes(out_path, data)
    return model, data, rep


def emulate_logits(model, frames, progress=True):
    """Gate logits (mean of the output map) of uint8 HWC frames in picoface's KPU emulator."""
    from picoface.kmodel import emulator

    from tqdm import tqdm

    emu = emulator.Emulator(model)
    out = []
    for f in tqdm(frames, desc="kmodel (emulated)", disable=not progress, leave=False):
        out.append(float(np.mean(emu.run(emulator.hwc_to_chw(f))[0])))
    return np.array(out)
