"""``picoface recog export``: the trained landmark and embedding nets as the artifacts the boards run.

For each net: float TFLite, int8 TFLite (OpenMV H7 Plus; calibrated on training faces only) and
kmodel v3 (MAIX Dock; nncase 1.9 + picoface's v3 writer, KPU budgets checked, the emulator
verified against nncase's Simulator). Each artifact is scored on held-out faces of the training
sets (landmarks: NME; embeddings: cosine to the teacher, and pair accuracy on held-out photos of
identity-labelled sources). ``model.json`` is the board's contract: files, sha256, the readouts,
the crop rule and the open-set threshold (``picoface.recog.threshold``).
"""

import hashlib
import json
import time
from pathlib import Path

import numpy as np

from picoface import atomic
from picoface.errors import PicofaceError
from picoface.recog import nets, views

FILES = {("landmarks", "tflite-int8"): "landmarks_int8.tflite", ("landmarks", "kmodel-v3"): "landmarks.kmodel",
         ("embed", "tflite-int8"): "embed_int8.tflite", ("embed", "kmodel-v3"): "embed.kmodel"}
MAX_KMODEL = {"embed": 554 * 1024}      # issue 26: half Canaan's stock feature model


def run_tflite(data, images):
    from picoface.export.tflite import TFLiteRunner

    r = TFLiteRunner(data)
    return np.stack([r(im) for im in images])


def score(kind, maps, target, pairs=None, rows=None, ident=None):
    """Val figures of one artifact's output maps; for embeddings with identities, also the open-set
    threshold (``picoface.recog.openset``: gallery of 1-3 photos per enrolled person, DIR at FAR 1 %)
    on the held-out photos: the board's threshold is chosen there, never on LFW."""
    from picoface.recog import openset
    from picoface.recog.train import best_accuracy, nme

    if kind == "landmarks":
        return {"nme": nme(nets.readout_points(maps), target)}
    emb = nets.readout_embed(maps)
    out = {"teacher_cos": float(np.mean(np.sum(emb * target, axis=1)))}
    if pairs is not None:
        pos = {r: i for i, r in enumerate(rows)}
        a, b, same = pairs
        s = np.array([float(np.dot(emb[pos[i]], emb[pos[j]])) for i, j in zip(a, b)])
        out["pair_acc"] = best_accuracy(s, same)
        people = {}
        for i, r in enumerate(rows):
            if ident[r]:
                people.setdefault(str(ident[r]), []).append(str(r))
        vecs = {str(r): emb[i] for i, r in enumerate(rows)}
        o = openset.evaluate(vecs, people, seed=0, fars=(1e-2,))
        out["openset"] = o
    return out


def export(run_dir, data, out_dir, ident=None, k210_board="maix_dock", tflite_board="openmv_h7_plus",
           kmodel=True, log=print, progress=True):
    """Write the artifacts, model.json and export.json of the nets trained in ``run_dir``."""
    import keras

    from picoface.boards import load_board
    from picoface.export import arena
    from picoface.export.tflite import to_float, to_int8
    from picoface.recog.train import val_pairs
    from picoface.train.model import count_macs

    t0 = time.time()
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tr = np.flatnonzero(~data["val"])
    va = np.flatnonzero(data["val"])
    rng = np.random.default_rng(7)
    calib_rows = rng.choice(tr, min(200, len(tr)), replace=False)
    rep = {"nets": {}, "val_faces": int(len(va))}
    contract = {"contract": 1, "kind": "recog", "input": nets.SIZE, "grid": nets.GRID,
                "landmarks": {"readout": "pick", "points": nets.POINTS, "box_scale": views.BOX_SCALE},
                "embed": {"readout": "mean", "dim": nets.EMBED_DIM, "template": "arcface"}, "files": {}}
    board = load_board(tflite_board)
    kb = load_board(k210_board) if kmodel else None
    kmodels, total_tfl, total_arena = {}, 0, 0
    for kind in ("landmarks", "embed"):
        path = run_dir / ("%s.keras" % kind)
        if not path.is_file():
            raise PicofaceError("%s has no %s.keras" % (run_dir, kind), "run `picoface recog train` first")
        model = keras.models.load_model(str(path), compile=False)
        folded = nets.fold(model, kind)
        make = views.aligned if kind == "embed" else views.landmark_crops
        calib, _ = make(data, calib_rows, np.random.default_rng(3), train=False)
        vx, vt = make(data, va, np.random.default_rng(1), train=False)
        pairs = val_pairs(ident, va) if (kind == "embed" and ident is not None) else None
        r = {"params": int(model.count_params()), "macs": count_macs(folded), "formats": {}}
        r["formats"]["keras-float"] = {"val": score(kind, folded.predict(vx.astype(np.float32) / 255.0, batch_size=256,
                                                                         verbose=0), vt, pairs, va, ident)}
        f32, i8 = to_float(folded), to_int8(folded, calib)
        ar = arena.measure_arena(i8)
        total_tfl += len(i8)
        total_arena = max(total_arena, ar)
        r["formats"]["tflite-int8"] = {"bytes": len(i8), "tflm_arena_bytes": ar, "board": board.name,
                                       "val": score(kind, run_tflite(i8, vx), vt, pairs, va, ident)}
        atomic.write_bytes(out_dir / FILES[(kind, "tflite-int8")], i8)
        contract["files"][kind + ":tflite-int8"] = {"file": FILES[(kind, "tflite-int8")], "bytes": len(i8),
                                                    "sha256": hashlib.sha256(i8).hexdigest()}
        if kmodel:
            from picoface.kmodel.map_model import emulate_maps, to_kmodel

            km, kdata, krep = to_kmodel(f32, calib, kb, out_dir / FILES[(kind, "kmodel-v3")], progress=log, what=kind)
            if kind in MAX_KMODEL and len(kdata) > MAX_KMODEL[kind]:
                raise PicofaceError("the %s kmodel is %d B, over %d B" % (kind, len(kdata), MAX_KMODEL[kind]),
                                    "train a narrower net")
            kmodels[kind] = km
            maps = emulate_maps(km, vx, progress=progress, desc="%s kmodel (emulated)" % kind)
            b = krep["budget"]
            r["formats"]["kmodel-v3"] = {"bytes": len(kdata), "board": kb.name, "kpu_ram_bytes": b["kpu_ram_bytes"],
                                         "main_mem_bytes": b["main_mem_bytes"],
                                         "kpu_macs": b.get("macs"),
                                         "emulator_vs_simulator_lsb": krep["emulator_vs_simulator"]["max_lsb"],
                                         "val": score(kind, maps, vt, pairs, va, ident)}
            contract["files"][kind + ":kmodel-v3"] = {"file": FILES[(kind, "kmodel-v3")], "bytes": len(kdata),
                                                      "sha256": hashlib.sha256(kdata).hexdigest()}
        rep["nets"][kind] = r
        log("%s: %s" % (kind, json.dumps({k: v["val"] for k, v in r["formats"].items()})))
    arena.check_board_budget(board, total_tfl, total_arena)
    rep["openmv"] = {"board": board.name, "model_bytes": total_tfl, "largest_arena_bytes": total_arena}
    if kmodels:
        from picoface.kmodel.map_model import k210_heap
        from picoface.paths import REPO_ROOT

        rep["k210_heap"] = k210_heap(kmodels, REPO_ROOT / "models" / "picoface_k210_320x240" / "picoface.kmodel")
    thr = {}
    for fmt, f in rep["nets"]["embed"]["formats"].items():
        o = f["val"].get("openset", {}).get("dir_at_far", {}).get("0.01")
        if o and fmt != "keras-float":
            thr[fmt] = round(o["threshold"], 4)
    if not thr:
        raise PicofaceError("no held-out photos with identities to choose the open-set threshold on",
                            "add an identity-labelled source (one folder per person) with --identity")
    contract["thresholds"] = thr
    atomic.write_text(out_dir / "model.json", json.dumps(contract, indent=2) + "\n")
    rep["seconds"] = round(time.time() - t0, 1)
    atomic.write_text(out_dir / "export.json", json.dumps(rep, indent=2) + "\n")
    return rep
