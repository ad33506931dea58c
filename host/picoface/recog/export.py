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
from picoface.paths import display_path
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


def teacher_centred(run_dir):
    """Whether the run's embedding net learnt the centred teacher (its history says; runs from before
    the option learnt the raw one)."""
    p = Path(run_dir) / "embed_history.json"
    return bool(json.loads(p.read_text()).get("teacher_centred", False)) if p.is_file() else False


def earlier_landmarks(src, contract, kmodel=True):
    """The landmark net of an earlier export ``src`` (a folder with model.json and export.json):
    {"files": {name: bytes}, "entries": model.json files entries, "report": its export.json figures,
    "model": the parsed v3 kmodel or None}. Refused when its layout differs from ``contract``'s or a
    file does not match the sha256 its model.json records."""
    src = Path(src)
    try:
        mj = json.loads((src / "model.json").read_text())
        rep = json.loads((src / "export.json").read_text())["nets"]["landmarks"]
    except (OSError, ValueError, KeyError) as e:
        raise PicofaceError("%s is not a recognition export with a landmark net (%s)" % (src, e),
                            "pass the folder `picoface recog export` wrote (model.json, export.json)") from None
    same = all(mj.get(k) == contract[k] for k in ("kind", "input", "grid", "landmarks"))
    if not same:
        raise PicofaceError("%s's landmark net has another layout (input, grid or readout)" % src,
                            "reuse only a landmark net exported by this picoface")
    files, entries = {}, {}
    for fmt in ("tflite-int8",) + (("kmodel-v3",) if kmodel else ()):
        e = mj["files"].get("landmarks:" + fmt)
        raw = (src / e["file"]).read_bytes() if e and (src / e["file"]).is_file() else None
        if raw is None or hashlib.sha256(raw).hexdigest() != e["sha256"]:
            raise PicofaceError("%s: the landmark %s file is missing or not the one its model.json names" % (src, fmt),
                                "re-export that folder or pass another one")
        files[e["file"]] = raw
        entries["landmarks:" + fmt] = dict(e)
    model = None
    if kmodel:
        from picoface.kmodel import v3

        model = v3.parse(files[entries["landmarks:kmodel-v3"]["file"]])
    rep = dict(rep, formats={k: v for k, v in rep["formats"].items() if kmodel or k != "kmodel-v3"},
               reused_from={"dir": display_path(src),
                            "sha256": {k: v["sha256"][:16] for k, v in sorted(entries.items())}})
    return {"files": files, "entries": entries, "report": rep, "model": model}


def export(run_dir, data, out_dir, ident=None, k210_board="maix_dock", tflite_board="openmv_h7_plus",
           kmodel=True, log=print, progress=True, landmarks_from=None):
    """Write the artifacts, model.json and export.json of the nets trained in ``run_dir``; with
    ``landmarks_from`` (an earlier export folder) its landmark net is reused as it is, files and
    held-out figures, and only the embedding net is exported from the run."""
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
    if landmarks_from is not None:      # read before anything is written: it may be out_dir itself
        lm = earlier_landmarks(landmarks_from, contract, kmodel)
        for name, raw in lm["files"].items():
            atomic.write_bytes(out_dir / name, raw)
        contract["files"].update(lm["entries"])
        rep["nets"]["landmarks"] = lm["report"]
        total_tfl += lm["entries"]["landmarks:tflite-int8"]["bytes"]
        total_arena = lm["report"]["formats"]["tflite-int8"]["tflm_arena_bytes"]
        if kmodel:
            kmodels["landmarks"] = lm["model"]
        log("landmarks: reused from %s" % landmarks_from)
    centred = teacher_centred(run_dir)
    for kind in ("embed",) if landmarks_from is not None else ("landmarks", "embed"):
        path = run_dir / ("%s.keras" % kind)
        if not path.is_file():
            raise PicofaceError("%s has no %s.keras" % (run_dir, kind), "run `picoface recog train` first")
        model = keras.models.load_model(str(path), compile=False)
        folded = nets.fold(model, kind)
        make = views.aligned if kind == "embed" else views.landmark_crops
        faces = views.centred(data, tr) if (kind == "embed" and centred) else data
        calib, _ = make(faces, calib_rows, np.random.default_rng(3), train=False)
        vx, vt = make(faces, va, np.random.default_rng(1), train=False)
        pairs = val_pairs(ident, va) if (kind == "embed" and ident is not None) else None
        r = {"params": int(model.count_params()), "macs": count_macs(folded), "formats": {}}
        if kind == "embed":
            r["teacher_centred"] = centred
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
