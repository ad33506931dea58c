"""bench.md (table + notes), bench.png (PR curves + AP vs bytes) and bench.json from bench rows.

Every figure in bench.md is read from the row dicts that bench.json holds (keys without a
leading underscore); only bench.png draws the PR curves from the private full results."""

import json
import math

import numpy as np

from picoface.atomic import atomic_path, write_text


def fmt_ap(v):
    return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else "%.3f" % v


def fmt_bytes(n):
    if n is None:
        return "n/a"
    if n >= 1024 * 1024:
        return "%.2f MB" % (n / 1048576.0)
    return "%.1f KB" % (n / 1024.0)


def fmt_macs(n):
    if n is None:
        return "n/a"
    return "%.1f M" % (n / 1e6)


def macs_notes(results):
    """One note line per row whose MACs are n/a, saying why."""
    return ["- MACs n/a for `%s`: %s" % (r["name"], r["macs_error"]) for r in results
            if r.get("macs") is None and r.get("macs_error")]


def reference_row(results, reference):
    ok = [r for r in results if r["status"] == "ok" and r.get("ms_median")]
    for r in ok:
        if r["name"] == reference:
            return r
    return ok[0] if ok else None


REGIME_NAMES = ("far", "mid", "close")


def regime_ap(regimes, name, iou="0.5"):
    """AP of one regime from a row's "regimes" dict (None when absent or without faces)."""
    return ((regimes or {}).get(iou) or {}).get(name, {}).get("ap")


def table_rows(results, reference):
    """The table as a list of lists of strings (header first)."""
    ref = reference_row(results, reference)
    head = ["detector", "kind", "AP@0.5", "AP@0.5 >=32 px", "AP@0.3", "centroid AP"] + \
        ["%s AP@0.5" % n for n in REGIME_NAMES] + \
        ["bytes", "MACs", "host ms (median)", "latency vs %s" % (ref["name"] if ref else "ref"), "status"]
    rows = [head]
    for r in results:
        if r["status"] != "ok":
            rows.append([r["name"], r.get("kind", "—") or "—"] + ["—"] * 7 + [fmt_bytes(r.get("bytes")),
                        fmt_macs(r.get("macs")), "—", "—", r["status"]])
            continue
        ms = r.get("ms_median")
        ratio = "%.2fx" % (ms / ref["ms_median"]) if ref and ms else "—"
        rows.append([r["name"], r.get("kind", "box"), fmt_ap(r.get("ap50")), fmt_ap(r.get("ap50_min32")),
                     fmt_ap(r.get("ap30")), fmt_ap(r.get("ap_centroid"))] +
                    [fmt_ap(regime_ap(r.get("regimes"), n)) for n in REGIME_NAMES] +
                    [fmt_bytes(r.get("bytes")), fmt_macs(r.get("macs")), "%.1f" % ms if ms else "—", ratio, "ok"])
    return rows


def close_rows(results):
    """The close-range set's table (header first), or None when the run had no such set."""
    with_close = [r for r in results if r.get("close")]
    if not with_close:
        return None
    head = ["detector", "AP@0.5", "AP@0.3", "centroid AP"] + ["%s AP@0.5" % n for n in REGIME_NAMES] + \
        ["mean regime AP@0.5", "far AP@0.3", "mid AP@0.3", "close AP@0.3", "status"]
    rows = [head]
    for r in with_close:
        c = r["close"]
        if c.get("status") != "ok":
            rows.append([r["name"]] + ["—"] * (len(head) - 2) + [c.get("status", "—")])
            continue
        reg = c.get("regimes")
        rows.append([r["name"], fmt_ap(c.get("ap50")), fmt_ap(c.get("ap30")), fmt_ap(c.get("ap_centroid"))] +
                    [fmt_ap(regime_ap(reg, n)) for n in REGIME_NAMES] +
                    [fmt_ap(((reg or {}).get("0.5") or {}).get("mean_ap"))] +
                    [fmt_ap(regime_ap(reg, n, "0.3")) for n in REGIME_NAMES] + ["ok"])
    return rows


def class_rows(results):
    """The per-class table (header first) of the rows scored per class ("classes": multi-class models on
    the labelled set), or None when no row was: AP@0.5 of each class, mAP@0.5 / @0.3, and the class
    accuracy of the faces found at the deployed score, overall and per regime."""
    rows_in = [r for r in results if r.get("classes")]
    if not rows_in:
        return None
    labels = []
    for r in rows_in:
        for name in r["classes"].get("labels") or []:
            if name not in labels:
                labels.append(name)
    head = ["detector"] + ["%s AP@0.5" % n for n in labels] + ["mAP@0.5", "mAP@0.3", "score", "faces found",
                                                                "class accuracy", "far / mid / close accuracy",
                                                                "status"]
    rows = [head]
    for r in rows_in:
        c = r["classes"]
        if c.get("status") != "ok" or c.get("skipped"):
            why = c.get("status") if c.get("status") != "ok" else "not scored: %s" % c["skipped"]
            rows.append([r["name"]] + ["—"] * (len(head) - 2) + [why])
            continue
        ap = (c.get("ap") or {}).get("0.5") or {}
        cm = c.get("confusion") or {}
        reg = cm.get("regimes") or {}
        rows.append([r["name"]] + [fmt_ap(ap.get(n)) for n in labels] +
                    [fmt_ap((c.get("map") or {}).get("0.5")), fmt_ap((c.get("map") or {}).get("0.3")),
                     "%g" % cm["score"] if cm else "—", "%d" % cm["found"] if cm else "—",
                     fmt_ap(cm.get("accuracy")),
                     " / ".join(fmt_ap((reg.get(n) or {}).get("accuracy")) for n in REGIME_NAMES), "ok"])
    return rows


def class_text(info):
    """The paragraph above the per-class table: the labelled set and how it was scored."""
    c = info.get("classes") or {}
    where = "the close-range set above" if c.get("same_as_close") else "`%s`" % c.get("data")
    return ("Rows that tell classes apart, on %s (%s — %d images, %d faces; photos framed: %s). Class map "
            "(data label = class, '-': an ignore region for every class): `%s`; photos whose boxes carry no label "
            "of the map are left out. AP of a class: its own faces are the ground truth, a detection of that class "
            "on a face of another class is a false positive (VOC, each class on its own). Class accuracy: the faces "
            "found at the model's deployed score (IoU 0.5, whatever the class) that were found as their own class; "
            "regimes by the shorter side in camera px (far 12-40, mid 40-100, close >= 100)." % (
                where, c.get("note") or c.get("data"), c.get("images", 0), c.get("faces", 0), c.get("framing"),
                c.get("class_map")))


def _pr(regimes, name):
    row = ((regimes or {}).get("0.5") or {}).get(name) or {}
    at = row.get("at_threshold")
    if not at or not row.get("faces"):
        return "—"
    return "%.2f / %.2f" % (at["precision"], at["recall"])


def threshold_rows(results, close=True):
    """Precision / recall (IoU 0.5) per regime at each picoface model's deployed score threshold
    (header first), or None when no picoface row ran."""
    rows_in = [r for r in results if r["status"] == "ok" and r.get("group") == "picoface"
               and r.get("deploy_threshold") is not None and r.get("regimes")]
    if not rows_in:
        return None
    has_close = close and any((r.get("close") or {}).get("status") == "ok" for r in rows_in)
    head = ["detector", "score"] + ["%s P / R" % n for n in REGIME_NAMES]
    if has_close:
        head += ["close set: %s P / R" % n for n in REGIME_NAMES]
    rows = [head]
    for r in rows_in:
        cells = [r["name"], "%g" % r["deploy_threshold"]] + [_pr(r["regimes"], n) for n in REGIME_NAMES]
        if has_close:
            c = r.get("close") or {}
            cells += [_pr(c.get("regimes"), n) if c.get("status") == "ok" else "—" for n in REGIME_NAMES]
        rows.append(cells)
    return rows


def regime_faces(results, key=None):
    """{regime: faces} of the main set (``key`` "close": of the close-range set), from the first row
    that has regimes (the same for every row: same samples)."""
    for r in results:
        src = r.get("close") if key == "close" else r
        reg = ((src or {}).get("regimes") or {}).get("0.5")
        if r["status"] == "ok" and reg:
            return {n: reg[n]["faces"] for n in REGIME_NAMES if n in reg}
    return None


def faces_text(faces):
    if not faces:
        return "no regime figures"
    return ", ".join("%s %s: %d" % (n, {"far": "12-40", "mid": "40-100", "close": ">=100"}[n], faces[n])
                     for n in REGIME_NAMES if n in faces)


def markdown_table(rows):
    out = ["| " + " | ".join(rows[0]) + " |", "|" + "|".join("---" for _ in rows[0]) + "|"]
    out += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows[1:]]
    return "\n".join(out)


def text_table(rows):
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    # the status column can be long: do not pad it
    lines = []
    for k, r in enumerate(rows):
        lines.append("  ".join(c.ljust(w) if i < len(r) - 1 else c for i, (c, w) in enumerate(zip(r, widths))))
        if k == 0:
            lines.append("  ".join("-" * w for w in widths[:-1]) + "  " + "-" * len(rows[0][-1]))
    return "\n".join(lines)


def k210_gaps(results, yunet="yunet-n-320"):
    """Lines comparing every K210 kmodel row with YuNet-n (AP@0.5)."""
    y = next((r for r in results if r["name"] == yunet and r["status"] == "ok"), None)
    lines = []
    for r in results:
        is_k210 = r["name"].startswith("k210") or str(r.get("path") or "").endswith(".kmodel")
        if not is_k210:
            continue
        if r["status"] != "ok" or y is None or r.get("ap50") is None or y.get("ap50") is None:
            lines.append("- %s vs %s: not measured (%s)." % (
                r["name"], yunet, r["status"] if r["status"] != "ok" else "%s not in this run" % yunet))
            continue
        gap = y["ap50"] - r["ap50"]
        lines.append("- **%s vs %s**: AP@0.5 %.3f vs %.3f, gap %+.3f (%s); AP@0.3 gap %+.3f." % (
            r["name"], yunet, r["ap50"], y["ap50"], -gap,
            "%.0f%% of YuNet-n" % (100.0 * r["ap50"] / y["ap50"]) if y["ap50"] else "—",
            (r.get("ap30") or 0) - (y.get("ap30") or 0)))
    return lines


def size_rule_text(info):
    if info.get("size_rule") == "min-side":
        return "faces whose width or height is below %g px" % info["min_size"]
    return "faces smaller than %g px (geometric mean of w and h)" % info["min_size"]


def recall_by_size_rows(results):
    """Recall at any score (IoU 0.5; centroid hits for centroid rows) per face-size bucket."""
    ok = [r for r in results if r["status"] == "ok" and r.get("recall_by_size")]
    buckets = None
    rows = []
    counts = {}
    for r in ok:
        by = [b for b in r["recall_by_size"] if b.get("faces")]
        if buckets is None:
            buckets = [b["bucket"] for b in by]
            counts = {b["bucket"]: b["faces"] for b in r["recall_by_size"]}  # the same for every row
        got = {b["bucket"]: b for b in by}
        cells = []
        for name in buckets:
            b = got.get(name)
            cells.append("—" if not b or b.get("recall_any_score") is None else "%.2f" % b["recall_any_score"])
        rows.append([r["name"]] + cells)
    if not rows or not buckets:
        return None
    head = ["detector"] + ["%s px (%d)" % (b, counts.get(b, 0)) for b in buckets]
    return [head] + rows


def write_markdown(path, results, info, reference, png_name="bench.png"):
    """Write bench.md (``markdown``) atomically; returns the main table's rows."""
    text, rows = markdown(results, info, reference, png_name)
    write_text(path, text)
    return rows


def markdown(results, info, reference, png_name="bench.png"):
    """(bench.md text, main table rows) from bench rows and the run's info (what bench.json holds)."""
    rows = table_rows(results, reference)
    ok = [r for r in results if r["status"] == "ok"]
    counts = ok[0]["counts"] if ok else {}
    framing = info.get("framing") or "none"
    lines = [
        "# picoface bench",
        "",
        "Data: `%s` — %d images, %d faces scored, %d ignore regions (invalid faces and %s), photos framed: %s. "
        "Faces by regime (shorter side in camera px): %s. Host: %s." % (
            info["data"], counts.get("images", info.get("images", 0)), counts.get("faces", 0),
            counts.get("ignored", 0), size_rule_text(info), framing, faces_text(regime_faces(results)),
            info.get("host", "?")),
        "",
        markdown_table(rows),
        "",
        "AP@0.5 >=32 px: the same detections with the faces under %g px (%s) ignored as well (on WIDER "
        "FACE's ~640 px wide photos: under ~16 camera px)." % (info.get("strict_min_size", 32),
                                                              "min(w, h)" if info.get("size_rule") == "min-side"
                                                              else "sqrt(w*h)"),
        "",
        "![PR curves and AP vs size](%s)" % png_name,
        "",
    ]
    close = info.get("close")
    crows = close_rows(results)
    if close and crows:
        lines += ["## Close range: %s" % close.get("data"), "",
                  "%s — %d images, %d faces scored, photos framed: %s. Faces by regime: %s. Scored at IoU 0.5 "
                  "and 0.3." % (close.get("note") or close.get("data"), close.get("images", 0), close.get("faces", 0),
                                close.get("framing"), faces_text(regime_faces(results, "close"))),
                  "", markdown_table(crows), ""]
    trows = threshold_rows(results)
    if trows:
        lines += ["## At the deployed score threshold", "",
                  "Precision / recall (IoU 0.5) per regime of each picoface model at the score threshold of its "
                  "model.json (what the board shows).", "", markdown_table(trows), ""]
    prows = class_rows(results)
    if prows:
        lines += ["## Per class", "", class_text(info), "", markdown_table(prows), ""]
    lines += ["## K210 gap to YuNet-n", ""]
    lines += k210_gaps(results) or ["- no K210 row in this run."]
    by_size = recall_by_size_rows(results)
    if by_size:
        lines += ["", "## Recall by face size", "",
                  "Share of the faces in each size bucket (geometric mean of w and h; faces per bucket in "
                  "brackets) found at any score: IoU >= 0.5, or centre hit for centroid rows.", "",
                  markdown_table(by_size)]
    lines += [
        "",
        "## Protocol",
        "",
        "- Every row runs on the same images and is scored by the same code, `picoface.evaluate` "
        "(VOC all-point AP: detections sorted by score, greedy one-to-one matching to faces, "
        "a detection matching an ignore region counts neither as a hit nor as a false positive).",
        "- AP@0.5 / AP@0.3: IoU thresholds. Faces marked invalid in WIDER FACE and %s are ignore "
        "regions, not misses (`--min-size`, `--size-rule`)." % size_rule_text(info),
        "- Framing (`--framing`): %s" % (
            "each photo whose aspect is not 4:3 is padded to 4:3 with black bars before a detector sees it "
            "(letterbox: as the QVGA camera frames a scene), boxes shifted with it." if framing == "letterbox" else
            "photos at their own aspect (each detector's own fit squashes or pads them)."),
        "- Regimes (`picoface.evaluate.regimes`): a face's size is its shorter side in camera pixels (the framed "
        "photo scaled to 320 px wide); far 12-40, mid 40-100, close >= 100. A regime's AP counts its own faces: "
        "the other faces are ignore regions and a false positive whose size lies outside the regime is left out.",
        "- Each detector uses a low score threshold (0.01–0.05) so its PR curve runs to its highest "
        "recall; its own NMS is kept.",
        "- Host latency: wall time of `detect()` (pre-processing, inference, decoding, NMS; not image "
        "file decoding), median over the images of this run's main set, single-threaded runtimes (OpenCV, "
        "onnxruntime, TFLite with 1 thread); one untimed warm-up call first. The ratio column divides "
        "by the `%s` row. Latency on a shared machine is noisy: compare ratios, not absolute ms." % reference,
        "- bytes: size of the model file as shipped (Haar: the OpenCV XML cascade). MACs: "
        "multiply-accumulates of conv / depthwise / fully-connected layers counted from tensor shapes "
        "(TFLite ops, onnxruntime node shapes, kmodel KPU layers at the resolution the KPU computes "
        "them); YuNet at 320x320, Ultra-Light at 320x240. Haar has no fixed MAC count (n/a).",
    ]
    lines += macs_notes(results)
    lines += [
        "",
        "## Rows",
        "",
    ]
    lines += ["- `%s`: %s" % (r["name"], r["what"]) for r in results]
    lines += [
        "",
        "## Caveats",
        "",
        "- **FOMO is a centroid detector** (no box sizes): its number is the *centroid AP* — a "
        "detection is a hit when its centre lies inside an unmatched face box — and is not comparable "
        "with the box APs.",
        "- **BlazeFace front-128 was designed for faces larger than ~20% of the frame** (selfie range); "
        "WIDER FACE is mostly small faces, so its low AP here says little about its design range.",
        "- The K210 rows run through picoface's KPU emulator (bit-level model of the KPU's integer "
        "arithmetic), not on a board; host latency of those rows is the emulator's, not the K210's.",
        "- The WIDER FACE images here are the 200-image validation subset in ../shared (squashed to "
        "416 px and restored; about 0.4x the original detail), so absolute APs are not the "
        "published easy/medium/hard numbers.",
        "",
    ]
    return "\n".join(lines), rows


def write_json(path, results, info):
    clean = [{k: v for k, v in r.items() if not k.startswith("_")} for r in results]
    write_text(path, json.dumps({"info": info, "rows": clean}, indent=1, default=float) + "\n")


def write_png(path, results, title="picoface bench"):
    """Left: PR curves (IoU 0.5) of the box detectors. Right: AP bars ordered by model bytes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in results if r["status"] == "ok"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 5.2), dpi=100)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, r in enumerate(ok):
        res = r.get("_result") or {}
        key = "centroid" if r.get("metric") == "centroid" else "0.5"
        one = res.get("results", {}).get(key)
        if not one:
            continue
        rec, prec, _ = one["_pr_full"] if "_pr_full" in one else (one["pr"]["recall"], one["pr"]["precision"], None)
        rec, prec = np.asarray(rec), np.asarray(prec)
        if not len(rec):
            continue
        ap = one.get("ap")
        style = ":" if key == "centroid" else "-"
        label = "%s (%s %s)" % (r["name"], "centroid AP" if key == "centroid" else "AP", fmt_ap(ap))
        ax1.plot(np.r_[0.0, rec], np.r_[prec[0], prec], style, color=colors[i % len(colors)],
                 drawstyle="steps-post", linewidth=1.5, label=label)
    ax1.set_xlim(0, 1)
    ax1.set_ylim(0, 1.02)
    ax1.set_xlabel("recall")
    ax1.set_ylabel("precision")
    ax1.set_title("PR curves (IoU 0.5; dotted: centroid metric)")
    ax1.grid(alpha=0.3)
    if ax1.get_legend_handles_labels()[0]:
        ax1.legend(fontsize=7, loc="lower left")

    bars = sorted([r for r in ok if r.get("bytes")], key=lambda r: r["bytes"])
    names = [r["name"] for r in bars]
    vals = [(r.get("ap50") if r.get("metric") != "centroid" else r.get("ap_centroid")) or 0.0 for r in bars]
    cols = [colors[ok.index(r) % len(colors)] for r in bars]
    x = np.arange(len(bars))
    for xi, r, v, c in zip(x, bars, vals, cols):
        centroid = r.get("metric") == "centroid"
        ax2.bar([xi], [v], color="white" if centroid else c, edgecolor=c, hatch="//" if centroid else None)
    for xi, r, v in zip(x, bars, vals):
        ax2.text(xi, v + 0.01, fmt_bytes(r["bytes"]).replace(" ", "\n"), ha="center", va="bottom", fontsize=7)
    ax2.set_xticks(x)
    ax2.set_xticklabels(names, rotation=35, ha="right", fontsize=8)
    ax2.set_ylim(0, 1.1)
    ax2.set_ylabel("AP@0.5 (hatched: centroid AP)")
    ax2.set_title("AP vs model size (bars ordered by bytes)")
    ax2.grid(axis="y", alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
