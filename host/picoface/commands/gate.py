"""``picoface gate``: the always-on face / no-face gate of ``mode: gate``.

``gate sim``: the device app on a simulated board of each firmware family, on a scene of people who
come and go (picoface.gate.scene), gated against detecting every frame: detector runs saved, MACs per
frame, enter events missed or delayed (gate_sim.md / .json / .png). ``gate export``: ship a trained
gate run again (``picoface train --config`` of a gate config trains and ships it).
"""

from pathlib import Path

GATE_DIR = "models/picoface_gate_96x96"
DETECTORS = {"maixpy": "models/picoface_k210_320x240/picoface.kmodel",
             "canmv": "models/picoface_k210_320x240/picoface.kmodel",
             "openmv": "models/picoface_openmv_240x176/picoface_int8.tflite"}


def add_arguments(p):
    sub = p.add_subparsers(dest="gate_command", metavar="SUBCOMMAND")
    sp = sub.add_parser("sim", help="mode gate against mode detect on a simulated board, per firmware family")
    sp.add_argument("--gate", default=GATE_DIR, help="gate folder: gate.kmodel + gate_int8.tflite with their "
                                                     "contracts (default %s)" % GATE_DIR)
    sp.add_argument("--config", default=None, help="gate training config whose held-out photos make the scene "
                                                   "(default: GATE/train.yaml)")
    sp.add_argument("--firmware", default="maixpy,canmv,openmv", help="comma-separated families (default all)")
    sp.add_argument("--visits", type=int, default=8, help="people who come and go (default 8)")
    sp.add_argument("--seed", type=int, default=0, help="scene seed (default 0)")
    sp.add_argument("--every", type=int, default=15, help="gate_every: detector runs while the gate is closed "
                                                          "(default 15, as the device config)")
    sp.add_argument("--on", type=int, default=2, help="gate_on_frames (default 2, as the device config)")
    sp.add_argument("--off", type=int, default=5, help="gate_off_frames (default 5, as the device config)")
    sp.add_argument("--out", default="runs/gate-sim", help="output folder (default runs/gate-sim)")
    sp = sub.add_parser("export", help="ship a trained gate run again (artifacts, contracts, card)")
    sp.add_argument("--config", required=True, help="the gate's training config")
    sp.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, as for picoface train")


def run(args):
    from picoface.errors import PicofaceError

    cmd = getattr(args, "gate_command", None)
    if cmd == "export":
        return _export(args)
    if cmd != "sim":
        raise PicofaceError("picoface gate needs a subcommand", "use 'picoface gate sim' or 'picoface gate export'")
    return _sim(args)


def _export(args):
    from picoface.gate.export import export_gate
    from picoface.paths import resolve_path
    from picoface.train.config import load_config
    from picoface.train.trainer import result_from_run

    cfg = load_config(args.config, args.overrides)
    res = result_from_run(cfg)
    export_gate(cfg, res.model_path, resolve_path(cfg.out))
    print("artifacts in %s" % resolve_path(cfg.out))
    return 0


def _sim(args):
    import sys

    import numpy as np

    from picoface.bench.macs import kmodel_macs, tflite_macs
    from picoface.errors import PicofaceError
    from picoface.gate import scene, simulate
    from picoface.paths import resolve_path
    from picoface.train.config import load_config
    from picoface.train.val import load_valset

    gdir = resolve_path(args.gate)
    fams = [f.strip() for f in args.firmware.split(",") if f.strip()]
    for f in fams:
        if f not in simulate.FAMILIES:
            raise PicofaceError("unknown firmware family %r" % f, "use maixpy, canmv and/or openmv")
    gate = {f: gdir / ("gate.kmodel" if f != "openmv" else "gate_int8.tflite") for f in fams}
    det = {f: resolve_path(DETECTORS[f]) for f in fams}
    for p in list(gate.values()) + list(det.values()):
        if not p.is_file():
            raise PicofaceError("%s not found" % p, "train the models first (make train) or pass --gate")
    cfg = load_config(args.config or gdir / "train.yaml", [])
    v = load_valset(cfg)
    if v is None:
        raise PicofaceError("the gate config has no val set", "set data.val: holdout")
    frames, truth = scene.make_scene(v.images, [s.boxes for s in v.samples], [s.ignore for s in v.samples],
                                     np.random.default_rng(args.seed), visits=args.visits)
    macs = {f: {"detector": kmodel_macs(det[f]) if f != "openmv" else tflite_macs(det[f]),
                "gate": kmodel_macs(gate[f]) if f != "openmv" else tflite_macs(gate[f])} for f in fams}
    conf = {"gate_every": args.every, "gate_off_frames": args.off, "gate_on_frames": args.on, "enter_frames": 2,
            "leave_frames": 5}
    rows = [simulate.run_family(f, frames, truth, {f: det[f]}, {f: gate[f]}, macs, conf,
                                progress=lambda t: print(t, file=sys.stderr)) for f in fams]
    rep = {"command": "picoface gate sim --seed %d --visits %d --every %d --on %d --off %d"
                      % (args.seed, args.visits, args.every, args.on, args.off),
           "frames": len(frames), "truth": truth, "seed": args.seed, "photos": "%s of %s" % (len(v.samples), cfg.name),
           "gate_name": cfg.name, "config": conf, "macs": macs,
           "detector": {f: str(Path(DETECTORS[f])) for f in fams}, "rows": rows}
    simulate.write(rep, resolve_path(args.out))
    print((resolve_path(args.out) / "gate_sim.md").read_text())
    return 0
