"""Files of ``picoface recog eval`` (recog_eval.json/.md, roc.png) and ``picoface recog bench``
(recog.json/.md, recog_roc.png). Every file is written atomically."""

import json

from picoface.atomic import atomic_path, write_text

PROTOCOL_NOTES = [
    "Verification: LFW View 2 pairs, cosine similarity of L2-normalised embeddings; accuracy per fold with the "
    "threshold that maximises accuracy on the other folds; mean ± population std over the folds.",
    "TAR at FAR: ROC over all pairs; the operating point is the lowest threshold accepting at most "
    "floor(FAR x negatives) negative pairs (no interpolation: with 3,000 negatives FAR 1e-3 = at most 3 false "
    "accepts, 1e-2 = at most 30).",
    "Open set: people with >= 2 photos shuffled by the seed, half enrolled with 1-3 gallery photos each (never all), "
    "their other photos are known probes, every photo of everyone else is an unknown probe; a probe's score is its "
    "best cosine over a person's gallery photos; DIR = share of known probes above the threshold and matched to "
    "themselves, at the lowest threshold letting at most FAR x unknown probes through.",
]


def row(res):
    v, o = res["verification"], res["openset"]
    d = o.get("dir_at_far", {}).get("0.01", {})
    return {"name": res["name"], "format": res["format"], "bytes": res["bytes"],
            "lfw_acc": v["kfold"]["mean"], "lfw_std": v["kfold"]["std"],
            "tar_at_far_1e-2": v["tar_at_far"]["0.01"]["tar"], "tar_at_far_1e-3": v["tar_at_far"]["0.001"]["tar"],
            "dir_at_far_1e-2": d.get("dir"), "dir_threshold_at_far_1e-2": d.get("threshold"),
            "rank1": o.get("rank1"), "ms_per_face": res["ms_per_face"], "input": res["input"], "dim": res["dim"],
            "fixed_threshold": res.get("fixed_threshold"), "detector_missed": res.get("detector_missed")}


def _clean(res):
    return {k: v for k, v in res.items() if not k.startswith("_")}


def _json(path, obj):
    write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def plot_roc(results, png, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=110)
    for res in results:
        far, tar = res["_roc"]
        keep = far > 0
        r = row(res)
        ax.step(far[keep], tar[keep], where="post",
                label="%s (acc %.3f, TAR@1e-3 %.3f)" % (res["name"], r["lfw_acc"], r["tar_at_far_1e-3"]))
    ax.set_xscale("log")
    ax.set_xlim(1e-4, 1)
    ax.set_ylim(0, 1.01)
    ax.axvline(1e-3, color="grey", lw=0.6, ls=":")
    ax.axvline(1e-2, color="grey", lw=0.6, ls=":")
    ax.set_xlabel("false accept rate (FAR)")
    ax.set_ylabel("true accept rate (TAR)")
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    with atomic_path(png) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def _pct(x):
    return "—" if x is None else "%.1f %%" % (100 * x)


def _landmark_line(marks):
    return ("Landmarks: %s; %d of %d images found by the detector, %d used the fallback."
            % (marks["describe"], marks["found"], marks["images"], marks["fallback"]))


def eval_markdown(res, marks, data, folds):
    v, o = res["verification"], res["openset"]
    k = v["kfold"]
    lines = ["# Face recognition on LFW: %s" % res["name"], "",
             "Data: `%s`, %d fold(s), %d pairs (%d same-person). Embedder: %s; input %dx%d, %d-d; %s bytes; "
             "%.1f ms per face on this host (median, alignment + embedding)."
             % (data, folds, v["pairs"], v["positives"], res["describe"], res["input"], res["input"], res["dim"],
                "{:,}".format(res["bytes"]), res["ms_per_face"]), "",
             _landmark_line(marks), "",
             "| metric | value |", "|---|---|",
             "| LFW accuracy (%d-fold%s) | %.2f %% ± %.2f |" % (
                 folds, "" if folds > 1 else ", threshold chosen on the same fold: optimistic",
                 100 * k["mean"], 100 * k["std"])]
    for f, t in v["tar_at_far"].items():
        lines.append("| TAR at FAR %s | %.1f %% (threshold %.3f, %d false accepts of %d) |"
                     % (f, 100 * t["tar"], t["threshold"], t["false_accepts"], t["negatives"]))
    if "dir_at_far" in o:
        for f, d in o["dir_at_far"].items():
            lines.append("| open-set DIR at FAR %s | %.1f %% (threshold %.3f) |" % (f, 100 * d["dir"], d["threshold"]))
        lines.append("| open-set rank-1 (closed set) | %.1f %% |" % (100 * o["rank1"]))
        lines += ["", "Open set (seed %d): %d people enrolled with %d gallery photos, %d known probes, "
                      "%d unknown probes." % (o["seed"], o["enrolled_people"], o["gallery_photos"],
                                              o["known_probes"], o["unknown_probes"])]
    else:
        lines += ["", "Open set: %s." % o["error"]]
    lines += ["", "Per fold: " + ", ".join("%.3f" % a for a in k["fold_accuracy"]), "", "![ROC](roc.png)", ""]
    lines += ["- " + n for n in PROTOCOL_NOTES]
    return "\n".join(lines) + "\n"


def write_eval(out, res, marks, data, folds):
    _json(out / "recog_eval.json", {"data": str(data), "folds": folds, "landmarks": marks, **_clean(res),
                                     "protocol": PROTOCOL_NOTES})
    plot_roc([res], out / "roc.png", "LFW ROC (%d fold%s)" % (folds, "s" * (folds != 1)))
    write_text(out / "recog_eval.md", eval_markdown(res, marks, data, folds))


def bench_markdown(rows, marks, data, folds, unavailable):
    lines = ["# Face recognition bench (LFW View 2)", "",
             "Data: `%s`, %d folds. %s" % (data, folds, _landmark_line(marks)), "",
             "| embedder | format | bytes | input | LFW acc | TAR@FAR1e-2 | TAR@FAR1e-3 | DIR@FAR1% (thr) | "
             "ms/face (host) |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        dir_ = "—" if r["dir_at_far_1e-2"] is None else "%s (%.3f)" % (_pct(r["dir_at_far_1e-2"]),
                                                                      r["dir_threshold_at_far_1e-2"])
        lines.append("| %s | %s | %s | %d | %.2f %% ± %.2f | %s | %s | %s | %.1f |"
                     % (r["name"], r["format"], "{:,}".format(r["bytes"]), r["input"], 100 * r["lfw_acc"],
                        100 * r["lfw_std"], _pct(r["tar_at_far_1e-2"]), _pct(r["tar_at_far_1e-3"]), dir_,
                        r["ms_per_face"]))
    fixed = [r for r in rows if r.get("fixed_threshold")]
    if fixed:
        lines += ["", "At the threshold each board ships with (model.json; chosen by the open-set rule on held-out "
                      "photos of the training sources, never on LFW), over all pairs:", "",
                  "| embedder | threshold | accuracy | TAR | FAR | faces the detector missed |", "|---|---:|---:|---:|---:|---:|"]
        for r in fixed:
            f = r["fixed_threshold"]
            lines.append("| %s | %.3f | %s | %s | %s | %s |" % (r["name"], f["threshold"], _pct(f["accuracy"]),
                                                              _pct(f["tar"]), _pct(f["far"]),
                                                              "—" if r.get("detector_missed") is None else r["detector_missed"]))
    lines += ["", "![ROC](recog_roc.png)", ""]
    if unavailable:
        lines += ["Not run:"] + ["- %s: %s" % (k, v) for k, v in unavailable.items()] + [""]
    lines += ["- " + n for n in PROTOCOL_NOTES]
    return "\n".join(lines) + "\n"


def write_bench(out, results, marks, data, folds, unavailable):
    rows = [row(r) for r in results]
    _json(out / "recog.json", {"rows": rows, "data": str(data), "folds": folds, "landmarks": marks,
                               "results": [_clean(r) for r in results], "not_run": unavailable,
                               "protocol": PROTOCOL_NOTES})
    plot_roc(results, out / "recog_roc.png", "LFW ROC (%d fold%s)" % (folds, "s" * (folds != 1)))
    write_text(out / "recog.md", bench_markdown(rows, marks, data, folds, unavailable))
    return rows


def text_table(rows):
    head = "%-16s %-11s %8s %16s %8s %8s %8s %8s" % ("embedder", "format", "MB", "LFW acc", "TAR1e-2", "TAR1e-3",
                                                    "DIR1%", "ms/face")
    out = [head]
    for r in rows:
        out.append("%-16s %-11s %8.2f %9.2f%% ±%4.2f %7.1f%% %7.1f%% %7s %8.1f" % (
            r["name"], r["format"], r["bytes"] / 1e6, 100 * r["lfw_acc"], 100 * r["lfw_std"],
            100 * r["tar_at_far_1e-2"], 100 * r["tar_at_far_1e-3"],
            "—" if r["dir_at_far_1e-2"] is None else "%.1f%%" % (100 * r["dir_at_far_1e-2"]), r["ms_per_face"]))
    return "\n".join(out)

