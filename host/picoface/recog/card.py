"""MODEL_CARD.md of a recognition export, rendered from its export.json (and the LFW bench's
recog.json when one is given): every figure comes from those files."""

import json
from pathlib import Path

from picoface import atomic


def _pct(x):
    return "—" if x is None else "%.1f %%" % (100 * x)


def _n(x):
    return "—" if x is None else "{:,}".format(int(x))


def render(rep, meta, bench=None):
    nets = rep["nets"]
    lines = ["# picoface face recognition: landmark and embedding nets", "",
             "Two KPU-friendly nets (3x3 depthwise + 1x1 convs, ReLU6, BatchNorm folded), each on a 64x64 RGB "
             "face and ending on a 4x4 map read out on the CPU by `pfcore.recognise` (the board and the host "
             "run the same code): the landmark net gives 5 points in the square cut around a detector box, "
             "the embedding net a 128-d unit vector of the face aligned on those points "
             "(`pfcore.align`, ArcFace template).", "",
             "Training: `picoface recog train`; the embedding net is distilled from dlib's ResNet face descriptor "
             "(cosine + batch-similarity loss%s), the landmark net learns YuNet's 5 points. Sources: " %
             ("; the teacher's embeddings centred on their mean over the training faces"
              if nets["embed"].get("teacher_centred") else "") +
             ", ".join("`%s`" % Path(s).name for s in meta.get("sources", [])) +
             ". No LFW image is used (LFW sets are refused). The epoch and the board's open-set threshold are "
             "chosen on %d held-out faces of those sources." % rep["val_faces"], "",
             "| net | artifact | bytes | working memory | MACs | held-out figure |", "|---|---|---:|---|---:|---|"]
    if nets["landmarks"].get("reused_from"):
        ru = nets["landmarks"]["reused_from"]
        lines[-2:-2] = ["The landmark net is reused from an earlier export (`picoface recog export --landmarks-from "
                        "%s`; %s): its files and held-out figures are that export's." % (
                            ru["dir"], ", ".join("%s %s" % (k.split(":")[1], v) for k, v in ru["sha256"].items())), ""]
    for kind, r in nets.items():
        for fmt, f in r["formats"].items():
            v = f["val"]
            fig = ("NME %.3f" % v["nme"]) if "nme" in v else (
                "cosine to %steacher %.3f, pair accuracy %s" % ("centred " if r.get("teacher_centred") else "",
                                                               v["teacher_cos"], _pct(v.get("pair_acc"))))
            mem = ("KPU RAM %s B" % _n(f["kpu_ram_bytes"])) if "kpu_ram_bytes" in f else (
                ("TFLM arena %s B" % _n(f["tflm_arena_bytes"])) if "tflm_arena_bytes" in f else "—")
            lines.append("| %s | %s | %s | %s | %s | %s |" % (kind, fmt, _n(f.get("bytes")), mem,
                                                             "%.1f M" % (r["macs"] / 1e6), fig))
    thr = {fmt: f["val"]["openset"]["dir_at_far"]["0.01"] for fmt, f in nets["embed"]["formats"].items()
           if "openset" in f["val"] and "dir_at_far" in f["val"]["openset"]}
    if thr:
        lines += ["", "Open-set threshold (model.json), per artifact: a gallery of 1-3 held-out photos per enrolled "
                      "person, DIR at FAR 1 % on the held-out probes:", "",
                  "| artifact | threshold | DIR at FAR 1 % | unknown probes |", "|---|---:|---:|---:|"]
        for fmt, d in thr.items():
            lines.append("| %s | %.3f | %s | %d |" % (fmt, d["threshold"], _pct(d["dir"]), d["unknown_probes"]))
        lines += ["", "The threshold is chosen on single photos. On the board, the largest face's embeddings of the "
                      "last `track_frames` frames (default 5) are averaged before matching (`pfcore.recognise.Track`), "
                      "which steadies the similarity of a face in view; `known_frames` / `stranger_frames` frames in a "
                      "row make an event."]
    if "k210_heap" in rep:
        lines += ["", "K210 system heap with the detector (bytes):", "", "| firmware | landmarks | embed | detector | total | left |",
                  "|---|---:|---:|---:|---:|---:|"]
        for fam, h in rep["k210_heap"].items():
            lines.append("| %s | %s | %s | %s | %s | %s |" % (fam, _n(h.get("landmarks_bytes")), _n(h.get("embed_bytes")),
                                                          _n(h.get("detector_bytes")), _n(h.get("total_bytes")),
                                                          _n(h.get("left_bytes"))))
    o = rep.get("openmv")
    if o:
        lines += ["", "OpenMV (%s): both int8 nets %s B on the SD card; the largest TFLM arena %s B (one net runs "
                      "at a time)." % (o["board"], _n(o["model_bytes"]), _n(o["largest_arena_bytes"]))]
    if bench:
        lines += ["", "## LFW View 2 (`picoface recog bench`)", "", "| pipeline | format | bytes | LFW accuracy | "
                  "TAR at FAR 1e-3 | DIR at FAR 1 % |", "|---|---|---:|---:|---:|---:|"]
        for r in bench["rows"]:
            lines.append("| %s | %s | %s | %.2f %% ± %.2f | %s | %s |" % (
                r["name"], r["format"], _n(r["bytes"]), 100 * r["lfw_acc"], 100 * r["lfw_std"],
                _pct(r["tar_at_far_1e-3"]), _pct(r["dir_at_far_1e-2"])))
    lines += ["", "Data licences: each source's own (docs/TRAINING.md, \"Recognition\"); UTKFace and CelebA are for "
                  "non-commercial research only, so these weights are too.", ""]
    return "\n".join(lines)


def write_card(rep, out_dir, meta, bench_json=None):
    bench = json.loads(Path(bench_json).read_text()) if bench_json and Path(bench_json).is_file() else None
    atomic.write_text(Path(out_dir) / "MODEL_CARD.md", render(rep, meta, bench))
