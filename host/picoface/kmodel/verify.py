"""Verification of a kmodel v3: its outputs in picoface's KPU emulator against nncase's Simulator
on the v5 compile (should agree to the bit) and against the float model (cosine, max abs error);
the report as a dict and as Markdown. CLI: ``kmodel verify`` (wired by picoface.commands.kmodel).
"""

import json
from pathlib import Path

import numpy as np

from picoface import atomic
from picoface.errors import PicofaceError
from picoface.kmodel.calib import image_count, load_images
from picoface.kmodel.float_model import float_tflite_bytes, run_float_tflite

VERIFY_IMAGES = 4  # default of `kmodel verify --max-images` and of `kmodel convert`'s verification
# emulator vs Simulator: same integer pipeline, so outputs should be equal; allow one output LSB
SIM_TOLERANCE_LSB = 1.0


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
        avail = rep.get("images_available")
        used = ("%d of the %d images given (`--max-images`)" % (rep["images"], avail)
                if avail and avail > rep["images"] else "%d verification image(s)" % rep["images"])
        lines += ["Board `%s`, %s, output %s (NCHW float32), 1 output LSB = %.6g." % (
            rep["board"], used, "x".join(map(str, rep["output_shape"])), rep["output_lsb"]), ""]
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
              "A real K210 may differ by a few LSB (its activation rounding is not verified on silicon). "
              "Centered cosine compares the outputs minus each channel's mean, i.e. the part that depends on "
              "the image.", ""]
    return "\n".join(lines)


def add_arguments_verify(p):
    p.add_argument("kmodel", help="kmodel v3 file")
    p.add_argument("--images", required=True, help="folder of test images (or .npy N,H,W,3 uint8)")
    p.add_argument("--float", dest="float_model", help="float .tflite/.keras to compare with")
    p.add_argument("--v5", help="nncase's v5 kmodel of the same compile, run in nncase's Simulator")
    p.add_argument("--board", default="maix_dock")
    p.add_argument("--max-images", type=int, default=VERIFY_IMAGES, metavar="N",
                   help="verify on at most N of the images (default %d; 0: all of them; each image is one emulator "
                        "run, and one nncase Simulator run with --v5)" % VERIFY_IMAGES)
    p.add_argument("--json", help="write the report here as JSON")


def run_verify(args):
    from picoface import kmodel as km
    from picoface.kmodel import budget

    model = km.load(args.kmodel)
    f = budget.facts(model)
    if not f["input"]:
        raise PicofaceError("%s does not start with a conv layer" % args.kmodel, "pass a picoface kmodel")
    if args.max_images < 0:
        raise PicofaceError("--max-images must be 0 (all) or more, got %d" % args.max_images, "e.g. --max-images 16")
    total = image_count(args.images)
    imgs = load_images(args.images, (f["input"]["w"], f["input"]["h"]), limit=args.max_images or total)
    sim = flt = None
    if args.v5:
        sim = simulate_images(args.v5, imgs)
    if args.float_model:
        flt = run_float_tflite(float_tflite_bytes(args.float_model), imgs)
    rep = verify(model, imgs, float_outputs=flt, sim_outputs=sim)
    rep["board"] = args.board
    rep["images_available"] = total
    print(verify_markdown(rep, "kmodel verification: %s" % Path(args.kmodel).name))
    if args.json:
        atomic.write_text(args.json, json.dumps(rep, indent=2) + "\n")
    s = rep.get("emulator_vs_simulator")
    return 1 if (s and not s["ok"]) else 0
