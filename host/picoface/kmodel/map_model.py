"""A net whose output is a plain float map (the gate, the recognition nets) as a kmodel v3: nncase 1.9
compiles the float TFLite (PTQ), picoface transcodes it to v3, checks the K210 budgets (KPU RAM,
model memory; any float map is a valid head) and verifies the emulator against nncase's Simulator
and the float model, as ``kmodel convert`` does for detectors."""

import tempfile
from pathlib import Path

import numpy as np

from picoface import atomic
from picoface.errors import PicofaceError

VERIFY_N = 8


def to_kmodel(tflite, calib, board, out_path, progress=None, what="gate"):
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
    with tempfile.TemporaryDirectory(prefix="picoface-%s-" % what) as tmp:
        tfl = Path(tmp) / ("%s.tflite" % what)
        tfl.write_bytes(tflite)
        v5_path = Path(tmp) / ("%s.v5.kmodel" % what)
        if progress:
            progress("compiling the %s with nncase 1.9 (PTQ on %d images)..." % (what, len(calib)))
        comp = nncase_side.compile_tflite(tfl, calib, v5_path)
        model, prog = transcode.transcode(v5_path.read_bytes())
        data = model.serialize()
        facts = budget.check(data, board, input_size=(w, h), head="gate")
        vimgs = calib[:VERIFY_N]
        rep = verify(model, vimgs, float_outputs=run_float_tflite(tflite, vimgs),
                     sim_outputs=simulate_images(v5_path, vimgs), scale=prog.scale)
    if not rep["emulator_vs_simulator"]["ok"]:
        raise PicofaceError("the %s kmodel disagrees with nncase's Simulator by %.2f output LSB"
                            % (what, rep["emulator_vs_simulator"]["max_lsb"]), "report this model")
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


def emulate_maps(model, images, progress=True, desc="kmodel (emulated)"):
    """Output maps (N, H, W, C) float of uint8 HWC images in picoface's KPU emulator."""
    from picoface.kmodel import emulator

    from tqdm import tqdm

    emu = emulator.Emulator(model)
    w, h, c = model.convs[-1].regs.out_shape       # the output is the last conv's map, planar (C, H, W)
    out = []
    for f in tqdm(images, desc=desc, disable=not progress, leave=False):
        y = np.asarray(emu.run(emulator.hwc_to_chw(f))[0], np.float32).reshape(c, h, w)
        out.append(np.transpose(y, (1, 2, 0)))
    return np.stack(out)


def k210_heap(models, detector=None):
    """System heap (C malloc) per K210 firmware family of map nets ({name: v3 model}): each net's own
    terms (its kmodel copy, main buffer, and the image it runs on) as ``<name>_bytes``, and with the
    detector's (picoface.kmodel.heap) when its kmodel is given and present."""
    import json

    from picoface.kmodel import budget, heap
    from picoface.paths import display_path

    det = None
    if detector is not None and Path(detector).is_file():
        cj = Path(detector).parent / "model.json"
        det = heap.runtime(Path(detector).read_bytes(), contract=json.loads(cj.read_text()) if cj.is_file() else None)
    out = {}
    for fam in heap.FAMILIES:
        row, own = {}, 0
        for name, model in models.items():
            f = budget.facts(model)
            h = heap.family_heap(fam, f, None, (f["input"]["w"], f["input"]["h"]))
            row[name + "_bytes"] = h["heap_bytes"]
            row.update(gc_heap_bytes=h["gc_heap_bytes"], sram_bytes=h["sram_bytes"])
            own += h["heap_bytes"]
        if det is not None:
            d = det["families"][fam]
            row.update(detector_bytes=d["heap_bytes"], total_bytes=d["heap_bytes"] + own,
                       left_bytes=d["left_bytes"] - own, detector=display_path(detector))
        out[fam] = row
    return out
