"""``picoface recog cost``: time and memory per recognised face, and the gallery's size per board
(OUT/recog_cost.json and OUT/recog_cost.md, both written atomically).

Three parts:

- ``micropython``: device/bench/recognise.py under real MicroPython (the WebAssembly port,
  ``picoface.mprun``), started with the GC heap of the K210 board the kmodels were exported for
  (boards/maix_dock.toml ``[memory] gc_heap_bytes``): the CPU steps of mode recognise per face, the
  heap they allocate, Gallery.save() / load() of 100 faces and the RAM the loaded gallery keeps.
  This wasm build grows its heap when it is full and never collects while a script runs (see
  tests/test_soak.py), so its times carry no GC pauses, and they are wasm times on this host, not
  K210 times.
- ``emulator`` / ``tflite``: each net of the export run on ``faces`` seeded random 64x64 inputs
  (the emulator's work does not depend on the pixels), median host ms per face: the kmodel v3 in
  picoface's bit-exact KPU emulator (not a K210 KPU time: the emulator does not model KPU cycles)
  and the int8 TFLite in LiteRT (one thread). MACs, KPU RAM, main memory and the TFLM arena come
  from the export (export.json); so do ``k210_heap`` and ``openmv``.
- ``gallery``: bytes per face and per slot file (pfcore.gallery.pack), the two slots at 100 faces and
  at the largest ``max_entries``, and per board that can run mode recognise what its board file says
  (GC heap, where the nets go); the boards/*.toml files give no /flash filesystem size, so no
  capacity in faces is claimed from one.

recog_cost.json:

    {"model": {"dir", "files": {"<net>:<format>": {"file", "bytes", "sha256"}}},
     "host": {"cpus", "load_avg_1min": [at start, at end], "python", "node"},
     "micropython": {<the script's JSON line: impl, version, stage_ms, stage_heap_bytes, match_ms,
                     face_ms, face_heap_bytes (keys "1", "10", "100": gallery faces), gallery, ...>,
                     "heap", "heap_source", "script"},
     "emulator": {"faces", "inputs", "landmarks": {"ms", "macs", "kmodel_bytes", "kpu_ram_bytes",
                  "main_mem_bytes"}, "embed": {...}},
     "tflite": {"faces", "inputs", "landmarks": {"ms", "macs", "bytes", "tflm_arena_bytes"}, "embed": {...}},
     "k210_heap": export.json k210_heap, "openmv": export.json openmv,
     "gallery": {"dim", "name_bytes", "bytes_per_face", "file_overhead_bytes", "slots",
                 "max_entries": {"default", "min", "max"}, "file_bytes": {"100", "<max>"},
                 "two_slots_bytes": {...}, "ram_faces": 100, "ram_bytes": {"rows", "matcher", "total"},
                 "boards": {"<board>": {"title", "format", "firmware", "gallery_files", "nets",
                            "nets_bytes", "gc_heap_bytes", "ram_share" (of the GC heap, ram_faces faces),
                            "flash_filesystem_bytes" (None: not in the board file), "flash_filesystem_note"}}}}
"""

import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from picoface import atomic
from picoface.errors import PicofaceError
from picoface.paths import REPO_ROOT, display_path, resolve_path

NETS = ("landmarks", "embed")
FORMATS = ("kmodel-v3", "tflite-int8")
DEFAULT_BOARDS = {"kmodel-v3": "maix_dock", "tflite-int8": "openmv_h7_plus"}
SCRIPT = REPO_ROOT / "device" / "bench" / "recognise.py"
SEED = 0
MP_TIMEOUT = 1800


def _say(progress, text):
    if progress:
        print(text, file=sys.stderr, flush=True)


def _load_export(model_dir):
    """(folder, model.json dict, export.json dict) of a recognition export; both formats' nets must be
    there and match their sha256 (picoface.recog.contract.load_recog)."""
    from picoface.boards import load_board
    from picoface.recog.contract import load_recog

    d = resolve_path(model_dir)
    ej = d / "export.json"
    for fmt in FORMATS:
        _, contract = load_recog(d, load_board(DEFAULT_BOARDS[fmt]))
    if not ej.is_file():
        raise PicofaceError("%s has no export.json (the nets' MACs and memory)" % d,
                            "export the nets again: picoface recog export")
    try:
        export = json.loads(ej.read_text())
        for net in NETS:       # the figures the report copies
            f = export["nets"][net]["formats"]
            int(export["nets"][net]["macs"]), int(f["kmodel-v3"]["kpu_ram_bytes"]), int(f["tflite-int8"]["bytes"])
    except (ValueError, KeyError, TypeError) as e:
        raise PicofaceError("%s lacks or garbles %s" % (ej, e),
                            "export the nets again: picoface recog export") from None
    return d, contract, export


def _board_of(export, fmt):
    """The board the export checked this format for (export.json), else the default one."""
    from picoface.boards import load_board

    name = export["nets"]["landmarks"]["formats"].get(fmt, {}).get("board") or DEFAULT_BOARDS[fmt]
    return load_board(name)


def _node_version(node):
    try:
        return subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def micropython(board, blocks=5, block_ms=20, progress=True):
    """The device benchmark's JSON under MicroPython with the board's GC heap as its first heap."""
    from picoface import mprun

    node = mprun.find_node()
    heap = board.memory["gc_heap_bytes"]
    _say(progress, "MicroPython (wasm): %s, heap %d B, %d blocks..." % (display_path(SCRIPT), heap, blocks))
    r = mprun.run(SCRIPT, blocks, block_ms, heap=heap, timeout=MP_TIMEOUT, node=node)
    lines = r.stdout.strip().splitlines()
    if r.returncode != 0 or not lines:
        last = (r.stderr.strip().splitlines() or ["no output"])[-1]
        raise PicofaceError("the benchmark failed under MicroPython (exit %d): %s" % (r.returncode, last),
                            "run it by hand: node %s %s" % (display_path(mprun.RUNNER), display_path(SCRIPT)))
    try:
        res = json.loads(lines[-1])
    except ValueError:
        raise PicofaceError("the benchmark's last line under MicroPython is not JSON: %r" % lines[-1][:200],
                            "run it by hand: node %s %s" % (display_path(mprun.RUNNER), display_path(SCRIPT))) from None
    res.update(heap=heap, heap_source="boards/%s.toml [memory] gc_heap_bytes" % board.name,
               script=display_path(SCRIPT), node=_node_version(node))
    return res


def _median_ms(run, images, desc, progress):
    from tqdm import tqdm

    run(images[0])                      # warm-up, not counted
    ts = []
    for im in tqdm(images, desc=desc, disable=not progress, leave=False):
        t0 = time.perf_counter()
        run(im)
        ts.append((time.perf_counter() - t0) * 1000.0)
    return float(statistics.median(ts))


def nets(d, contract, export, faces, progress=True):
    """(emulator, tflite): median host ms per face of each net, with the export's memory figures."""
    from picoface.recog.pipeline import Net

    size = int(contract["input"])
    images = np.random.default_rng(SEED).integers(0, 256, (faces, size, size, 3), dtype=np.uint8)
    inputs = "%d seeded random uint8 %dx%dx3 images (numpy seed %d)" % (faces, size, size, SEED)
    emu = {"faces": faces, "inputs": inputs}
    tfl = {"faces": faces, "inputs": inputs, "threads": 1}
    for net in NETS:
        e = export["nets"][net]
        for fmt, out in (("kmodel-v3", emu), ("tflite-int8", tfl)):
            entry = contract["files"]["%s:%s" % (net, fmt)]
            runner = Net(d / entry["file"], fmt)
            what = "KPU emulator" if fmt == "kmodel-v3" else "LiteRT"
            ms = _median_ms(runner.run, images, "%s %s" % (net, what), progress)
            f = e["formats"][fmt]
            row = {"ms": ms, "macs": e.get("macs")}
            if fmt == "kmodel-v3":
                row.update(kmodel_bytes=entry["bytes"], kpu_ram_bytes=f.get("kpu_ram_bytes"),
                           main_mem_bytes=f.get("main_mem_bytes"))
            else:
                row.update(bytes=entry["bytes"], tflm_arena_bytes=f.get("tflm_arena_bytes"))
            out[net] = row
    return emu, tfl


def gallery_sizes(contract, mp, model_files):
    """Bytes per face and per slot, and per board that can run mode recognise what its file says."""
    import inspect

    from pfcore import config, gallery
    from picoface.boards import list_boards, load_board
    from picoface.recog.contract import NETS as RECOG_NETS
    from picoface.recog.contract import PATH_KEYS, recog_format

    dim = int(contract["embed"]["dim"])
    name = gallery.MAX_NAME
    overhead = len(gallery.pack(0, dim, []))
    per_face = len(gallery.pack(0, dim, [["x" * name, bytes(dim)]])) - overhead    # 1 + name + dim
    lo, hi = config.RECOG_KEYS["max_entries"][1:3]
    default = inspect.signature(gallery.Gallery).parameters["max_entries"].default
    counts = sorted({default, hi})
    g = {"dim": dim, "name_bytes": name, "bytes_per_face": per_face, "file_overhead_bytes": overhead,
         "slots": list(gallery.PATHS), "max_entries": {"default": default, "min": lo, "max": hi},
         "file_bytes": {str(n): overhead + n * per_face for n in counts},
         "two_slots_bytes": {str(n): 2 * (overhead + n * per_face) for n in counts}}
    mg = mp.get("gallery", {})
    rows, matcher = mg.get("rows_kept_bytes"), mg.get("matcher_kept_bytes")
    ram = rows + matcher if rows is not None and matcher is not None else None
    g.update(ram_faces=mg.get("faces"), ram_bytes={"rows": rows, "matcher": matcher, "total": ram})
    boards = {}
    for bname in list_boards():
        b = load_board(bname)
        if not all(b.model.get(PATH_KEYS[n]) for n in RECOG_NETS):
            continue
        fmt = recog_format(b)
        boards[bname] = {
            "title": b.title, "format": fmt, "firmware": list(b.firmware), "gallery_files": list(gallery.PATHS),
            "nets": [b.model[PATH_KEYS[n]] for n in RECOG_NETS],
            "nets_bytes": sum(model_files["%s:%s" % (n, fmt)]["bytes"] for n in RECOG_NETS),
            "gc_heap_bytes": b.memory["gc_heap_bytes"],
            "ram_share": None if ram is None else ram / float(b.memory["gc_heap_bytes"]),
            "flash_filesystem_bytes": None,
            "flash_filesystem_note": "boards/%s.toml gives no /flash filesystem size" % bname}
    g["boards"] = boards
    return g


def measure(model_dir, faces=50, blocks=5, progress=True):
    """The whole report (the dict written to recog_cost.json)."""
    if faces < 1:
        raise PicofaceError("--faces must be at least 1, got %d" % faces, "pass --faces 50")
    if blocks < 1:
        raise PicofaceError("--blocks must be at least 1, got %d" % blocks, "pass --blocks 5")
    d, contract, export = _load_export(model_dir)
    load0 = os.getloadavg()[0]
    mp = micropython(_board_of(export, "kmodel-v3"), blocks=blocks, progress=progress)
    emu, tfl = nets(d, contract, export, faces, progress=progress)
    files = {}
    for key, entry in sorted(contract["files"].items()):
        files[key] = {"file": entry["file"], "bytes": entry["bytes"],
                      "sha256": hashlib.sha256((d / entry["file"]).read_bytes()).hexdigest()}
    return {"model": {"dir": display_path(d), "files": files},
            "host": {"cpus": os.cpu_count(), "load_avg_1min": [round(load0, 2), round(os.getloadavg()[0], 2)],
                     "python": platform.python_version(), "node": mp.pop("node", None)},
            "micropython": mp, "emulator": emu, "tflite": tfl,
            "k210_heap": export.get("k210_heap"), "openmv": export.get("openmv"),
            "gallery": gallery_sizes(contract, mp, contract["files"])}


def _n(v):
    """A byte count or any integer with thousands separators; '—' for None."""
    return "—" if v is None else "{:,}".format(int(v))


def _ms(v):
    if v is None:
        return "—"
    return "%.3f" % v if v < 1 else ("%.2f" % v if v < 10 else "%.1f" % v)


STAGES = (
    ("points", "landmark readout: recognise.points of the 4x4x160 map"),
    ("crop_roi", "recognise.crop_roi (box -> landmark crop)"),
    ("to_frame", "recognise.to_frame (5 points -> frame pixels)"),
    ("align_matrix", "recognise.align_matrix"),
    ("warp", "recognise.warp_nearest, 64x64 via get_pixel / set_pixel"),
    ("embedding", "recognise.embedding of the 4x4x128 map (normalise included)"),
    ("normalise", "of which recognise.normalise"),
    ("track_add", "Track.add (mean of the last 5)"),
    ("identity", "Identity.update"),
)


def markdown(rep):
    mp, emu, tfl, g = rep["micropython"], rep["emulator"], rep["tflite"], rep["gallery"]
    host = rep["host"]
    lines = ["# Time and memory per recognised face (%s)" % rep["model"]["dir"], "",
             "Reproduce: `make recog-cost` (`picoface recog cost --out docs/recog`); every figure is in "
             "`recog_cost.json`. Host: %s CPU cores, 1-minute load average %s at the start and %s at the end "
             "(other jobs slow every time below; times are reported, never asserted)."
             % (host["cpus"], host["load_avg_1min"][0], host["load_avg_1min"][1]), ""]

    # 1. MicroPython
    faces_keys = sorted(mp["face_ms"], key=int)
    lines += ["## The board's CPU work per face (real MicroPython)", "",
              "`%s` under MicroPython %s (the WebAssembly port, Node %s), started with a %s B heap (%s). "
              "Median of %d block%s of at least %d ms. What the firmware does in C is not here (the two KPU "
              "runs, the landmark crop's copy / resize, pix_to_ai); the frame and the face are Python objects "
              "with get_pixel / set_pixel (C on a board), so the warp costs less there. Maps are float lists "
              "in the K210's planar layout (chw). These are wasm times on this host, not K210 times; this "
              "build grows its heap instead of collecting while a script runs, so they carry no GC pauses. "
              "Heap: bytes a step allocates, garbage included (the collector off), on this 32-bit build (the "
              "K210 is 64-bit, RV64: its objects are larger)."
              % (mp["script"], mp.get("version", "?"), host.get("node") or "?", _n(mp["heap"]),
                 mp["heap_source"], mp["blocks"], "s" * (mp["blocks"] != 1), mp["block_ms"]), "",
              "| step | ms per face | heap per face (B) |", "|---|---:|---:|"]
    for key, what in STAGES:
        lines.append("| %s | %s | %s |" % (what, _ms(mp["stage_ms"][key]), _n(mp["stage_heap_bytes"][key])))
    for k in faces_keys:
        lines.append("| Matcher.best against %s gallery face%s | %s | |"
                     % (k, "s" * (k != "1"), _ms(mp["match_ms"][k])))
    for k in faces_keys:
        lines.append("| **one whole face, gallery of %s** | **%s** | **%s** |" % (k, _ms(mp["face_ms"][k]),
                                                                             _n(mp["face_heap_bytes"][k])))
    big = faces_keys[-1]
    per_face = mp["face_heap_bytes"][big]
    if per_face is not None and per_face > mp["heap"]:
        lines += ["", "One face against %s gallery faces allocates %s B, %.1f times the %s B heap: on the board the "
                      "collector runs at least %d times a face." % (big, _n(per_face), per_face / float(mp["heap"]),
                                                                    _n(mp["heap"]), per_face // mp["heap"])]
    mg = mp["gallery"]
    lines += ["", "Gallery of %d faces (dim %d, %d-byte names) in `%s`: Gallery.save() %s ms (%s B file), "
                  "load() of both slots %s ms (allocates %s B), rebuilding the Matcher %s ms (allocates %s B). "
                  "Kept in RAM once loaded: the rows %s B, the Matcher's int8 arrays %s B."
              % (mg["faces"], mg["dim"], mg["name_bytes"], mg["folder"], _ms(mg["save_ms"]), _n(mg["saved_bytes"]),
                 _ms(mg["load_ms"]), _n(mg["load_heap_bytes"]), _ms(mg["matcher_ms"]), _n(mg["matcher_heap_bytes"]),
                 _n(mg["rows_kept_bytes"]), _n(mg["matcher_kept_bytes"])), ""]

    # 2. the nets
    lines += ["## The nets", "",
              "Host ms per face on %s: the kmodel v3 in picoface's bit-exact KPU emulator and the int8 TFLite in "
              "LiteRT (%d thread). **These are host times of an emulator, not K210 KPU times: the emulator does "
              "not model KPU cycles.** MACs, KPU RAM, main memory and the TFLM arena are copied from the export "
              "(`%s/export.json`)." % (emu["inputs"], tfl["threads"], rep["model"]["dir"]), "",
              "| net | MACs | kmodel bytes | KPU RAM (B) | main memory (B) | emulator ms (host) | TFLite bytes | "
              "TFLM arena (B) | LiteRT ms (host) |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for net in NETS:
        e, t = emu[net], tfl[net]
        lines.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            net, _n(e["macs"]), _n(e["kmodel_bytes"]), _n(e["kpu_ram_bytes"]), _n(e["main_mem_bytes"]), _ms(e["ms"]),
            _n(t["bytes"]), _n(t["tflm_arena_bytes"]), _ms(t["ms"])))
    kh = rep.get("k210_heap") or {}
    if kh:
        lines += ["", "K210 system heap (C malloc) with the detector, per firmware (export.json `k210_heap`):", "",
                  "| firmware | landmarks (B) | embed (B) | detector (B) | total (B) | left (B) |",
                  "|---|---:|---:|---:|---:|---:|"]
        for fam, h in kh.items():
            lines.append("| %s | %s | %s | %s | %s | %s |" % (
                fam, _n(h.get("landmarks_bytes")), _n(h.get("embed_bytes")), _n(h.get("detector_bytes")),
                _n(h.get("total_bytes")), _n(h.get("left_bytes"))))
    om = rep.get("openmv")
    if om:
        lines += ["", "OpenMV (export.json `openmv`): board %s, both nets %s B, largest TFLM arena %s B."
                  % (om.get("board"), _n(om.get("model_bytes")), _n(om.get("largest_arena_bytes")))]

    # 3. the gallery
    dflt, hi = g["max_entries"]["default"], g["max_entries"]["max"]
    n_ram, ram = g["ram_faces"], g["ram_bytes"]
    lines += ["", "## The gallery", "",
              "Two slot files on /flash (%s). A face takes %d B of a slot file (1 + a name of up to %d B + %d "
              "int8 values), a file %d B more (header and CRC). `max_entries` (pfcore.config `recog.max_entries`) "
              "is %d by default, %d-%d: at %d faces a slot is %s B and the two %s B; at %s, %s B and %s B. Loaded, "
              "%s faces keep %s B of rows and %s B of Matcher arrays on the GC heap (measured on the 32-bit "
              "MicroPython above; more on the 64-bit K210)."
              % (", ".join(g["slots"]), g["bytes_per_face"], g["name_bytes"], g["dim"], g["file_overhead_bytes"],
                 dflt, g["max_entries"]["min"], hi, dflt, _n(g["file_bytes"][str(dflt)]),
                 _n(g["two_slots_bytes"][str(dflt)]), "{:,}".format(hi), _n(g["file_bytes"][str(hi)]),
                 _n(g["two_slots_bytes"][str(hi)]), n_ram, _n(ram["rows"]), _n(ram["matcher"])), "",
              "| board | nets | nets on the board | GC heap (B) | %s-face gallery in RAM | /flash filesystem |" % n_ram,
              "|---|---|---|---:|---:|---|"]
    for name, b in g["boards"].items():
        share = b["ram_share"]
        lines.append("| %s | %s | %s (%s B) | %s | %s | %s |" % (
            name, b["format"], ", ".join(b["nets"]), _n(b["nets_bytes"]), _n(b["gc_heap_bytes"]),
            "—" if share is None else "%s B, %.1f %% of the GC heap" % (_n(ram["total"]), 100 * share),
            "not given (%s)" % b["flash_filesystem_note"] if b["flash_filesystem_bytes"] is None
            else _n(b["flash_filesystem_bytes"])))
    lines += ["", "The board files (boards/*.toml) give no /flash filesystem size, so the faces that fit on "
                  "/flash are not stated; the gallery's two files at the default `max_entries` are the figure "
                  "to compare with a board's free space (`os.statvfs('/flash')` on the board)."]
    return "\n".join(lines) + "\n"


def write(out, rep):
    out = Path(out)
    atomic.write_text(out / "recog_cost.json", json.dumps(rep, indent=2) + "\n")
    md = markdown(rep)
    atomic.write_text(out / "recog_cost.md", md)
    return md
