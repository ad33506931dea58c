"""Markdown summary and a short console table of evaluation results."""


def _f(v, fmt="%.3f"):
    return "—" if v is None else fmt % v


def size_rule_text(min_size, rule):
    """How faces under the size rule were treated (one phrase), or None without a rule."""
    if not min_size:
        return None
    if rule == "min-side":
        return "faces whose width or height is under %g px are ignore regions" % min_size
    return "faces smaller than %g px (sqrt(w*h)) are ignore regions" % min_size


def _range(row):
    return ">=%g" % row["lo"] if row.get("hi") is None else "%g-%g" % (row["lo"], row["hi"])


def regime_rows(res):
    """The regime table of ``evaluate`` results as rows of strings (header first), or None (centroid
    detectors, no regimes). AP at every IoU; precision / recall / F1 at the deployed score at the
    first IoU."""
    reg = res.get("regimes")
    if not reg:
        return None
    keys = list(reg)
    first = reg[keys[0]]
    thr = res.get("score_threshold")
    head = ["regime", "camera px", "faces"] + ["AP@%s" % k for k in keys]
    if thr is not None:
        head += ["P@%g" % thr, "R@%g" % thr, "F1@%g" % thr]
    rows = [head]
    for name, row in first.items():
        if name == "mean_ap":
            continue
        cells = [name, _range(row), "%d" % row["faces"]] + [_f(reg[k][name]["ap"]) for k in keys]
        if thr is not None:
            at = row.get("at_threshold") if row["faces"] else None
            cells += [_f((at or {}).get(k)) for k in ("precision", "recall", "f1")]
        rows.append(cells)
    mean = ["mean", "", ""] + [_f(reg[k].get("mean_ap")) for k in keys]
    rows.append(mean + [""] * (len(head) - len(mean)))
    return rows


def outside_regimes(res):
    """Scored faces that fall in no regime (under the far regime's lower bound)."""
    reg = res.get("regimes")
    if not reg:
        return 0
    first = next(iter(reg.values()))
    return res["counts"]["faces"] - sum(r["faces"] for k, r in first.items() if k != "mean_ap")


def regime_note(res):
    """How the regime sizes were measured (framing), in a few sentences."""
    f = res.get("framing") or "letterbox"
    how = "padded to the camera's 4:3 with black bars" if f == "letterbox" else "left at its own aspect"
    iou = next(iter(res.get("regimes") or {"0.5": None}))
    n = outside_regimes(res)
    return ("Face size = shorter side in camera pixels (each photo %s, then scaled to 320 px wide, as "
            "the QVGA camera would frame the scene). A regime's AP counts its own faces only: the other "
            "faces are ignore regions and a false positive whose size lies outside the regime is left "
            "out. Precision / recall / F1 at the deployed score, IoU %s.%s" % (
                how, iou, " %d scored faces are under 12 camera px, in no regime." % n if n else ""))


def _photos(n):
    return "%d photo%s" % (n, "" if n == 1 else "s")


def class_rows(res):
    """The per-class table of ``evaluate`` results (header first), or None: one row per class (faces,
    AP at every IoU, precision / recall at the deployed score at the first IoU) and a mean row."""
    pc = res.get("per_class")
    if not pc or pc.get("skipped") or not pc.get("classes"):
        return None
    keys = list(pc["classes"])
    thr = pc.get("score_threshold")
    head = ["class", "faces"] + ["AP@%s" % k for k in keys]
    if thr is not None:
        head += ["P@%g" % thr, "R@%g" % thr]
    rows = [head]
    for name in pc["labels"]:
        r = pc["classes"][keys[0]][name]
        cells = [name, "%d" % r["faces"]] + [_f(pc["classes"][k][name]["ap"]) for k in keys]
        if thr is not None:
            at = r.get("at_threshold") or {}
            cells += [_f(at.get("precision")), _f(at.get("recall"))]
        rows.append(cells)
    mean = ["mean (mAP)", ""] + [_f(pc["map"].get(k)) for k in keys]
    rows.append(mean + [""] * (len(head) - len(mean)))
    return rows


def confusion_rows(res):
    """The confusion matrix of the faces found at the deployed score (header first), or None."""
    pc = res.get("per_class") or {}
    cm = pc.get("confusion")
    if not cm:
        return None
    labels = cm["labels"]
    rows = [["true class"] + ["found as %s" % n for n in labels] + ["missed", "accuracy"]]
    for i, name in enumerate(labels):
        row = cm["matrix"][i]
        n = sum(row)
        rows.append([name] + ["%d" % v for v in row] + ["%d" % cm["missed"][name],
                                                        _f(row[i] / float(n) if n else None)])
    return rows


def regime_class_rows(res):
    """Classification accuracy of the faces found at the deployed score, per regime (header first), or None."""
    cm = (res.get("per_class") or {}).get("confusion")
    if not cm:
        return None
    rows = [["regime", "camera px", "faces", "found", "correct", "accuracy"]]
    for name, r in list(cm["regimes"].items()) + [("all", cm)]:
        rows.append([name, _range(r) if "lo" in r else "", "%d" % r["faces"], "%d" % r["found"], "%d" % r["correct"],
                     _f(r["accuracy"])])
    return rows


def class_note(res):
    """What the per-class figures were scored on (class map, photos left out, ignore label), one paragraph."""
    pc = res.get("per_class") or {}
    cmap = ", ".join("%s=%s" % kv for kv in sorted(pc.get("class_map", {}).items()))
    out = "Class map (data label = class, '-': ignore region for every class): %s. %s scored per class" % (
        cmap, _photos(pc.get("images", 0)))
    if pc.get("images_left_out"):
        out += ", %d left out (boxes without a label of the map%s)" % (
            pc["images_left_out"], ": %s" % ", ".join("%s x%d" % kv for kv in sorted(pc["unknown_labels"].items()))
            if pc.get("unknown_labels") else "")
    out += ". AP of a class: its own faces are the ground truth; a detection of that class on a face of another " \
           "class is a false positive."
    cm = pc.get("confusion")
    if cm:
        ig = cm["ignore_label"]
        out += " Confusion: detections with score >= %g matched to every face (IoU %g); accuracy = faces found with " \
               "their own class / faces found." % (cm["score"], cm["iou"])
        if ig["faces"]:
            out += " Faces of an ignored label: %d, %d found (as %s)." % (
                ig["faces"], ig["found"], ", ".join("%s %d" % kv for kv in ig["predicted"].items()))
    return out


def _text(rows, text_columns=2):
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.rjust(w) if i >= text_columns else c.ljust(w)
                               for i, (c, w) in enumerate(zip(r, widths))).rstrip() for r in rows)


def summary_table(res):
    """A few plain-text lines for the console."""
    d = res.get("detector", {})
    c = res["counts"]
    lines = ["%s (%s): %d images, %d faces, %d ignored regions, %d detections, %.1f ms/image"
             % (d.get("name"), d.get("kind"), c["images"], c["faces"], c["ignored"], c["detections"],
                res.get("ms_per_image") or 0.0)]
    lines.append("%-34s %7s %7s %7s %7s" % ("metric", "AP", "R max", "P@thr", "R@thr"))
    for key, r in res["results"].items():
        at = r.get("at_threshold", {})
        lines.append("%-34s %7s %7s %7s %7s" % (r["label"], _f(r["ap"]), _f(r["recall_max"]),
                                                 _f(at.get("precision")), _f(at.get("recall"))))
    rows = regime_rows(res)
    if rows:
        n = outside_regimes(res)
        lines += ["", "by regime (face size = shorter side in camera px, photos framed: %s%s)"
                  % (res.get("framing") or "letterbox", "; %d faces under 12 px in none" % n if n else ""),
                  _text(rows)]
    pc = res.get("per_class")
    if pc and pc.get("skipped"):
        lines += ["", "per class: not scored (%s)" % pc["skipped"]]
    crows = class_rows(res)
    if crows:
        lines += ["", "per class (%s%s)" % (_photos(pc["images"]), ", %d without class labels left out"
                                             % pc["images_left_out"] if pc.get("images_left_out") else ""),
                  _text(crows)]
        cm = confusion_rows(res)
        if cm:
            c = pc["confusion"]
            lines += ["", "faces found at score >= %g (IoU %g): class accuracy %s" % (c["score"], c["iou"],
                                                                                     _f(c["accuracy"])),
                      _text(cm, 1), "", _text(regime_class_rows(res))]
    return "\n".join(lines)


def markdown(res, data_spec=None, png_name="pr.png"):
    d = res.get("detector", {})
    c = res["counts"]
    out = ["# Evaluation: %s" % d.get("name"), ""]
    facts = ["kind: %s" % d.get("kind")]
    if d.get("bytes"):
        facts.append("size: %d bytes" % d["bytes"])
    if d.get("macs"):
        facts.append("MACs: %d" % d["macs"])
    elif d.get("macs_error"):
        facts.append("MACs: n/a (%s)" % d["macs_error"])
    if res.get("ms_per_image") is not None:
        facts.append("host time: %.1f ms/image" % res["ms_per_image"])
    out += ["- " + ", ".join(facts)]
    if data_spec:
        out.append("- data: `%s`" % data_spec)
    out.append("- %d images, %d faces, %d ignore regions (invalid/small faces, don't-care areas), %d detections"
               % (c["images"], c["faces"], c["ignored"], c["detections"]))
    rule = size_rule_text(res.get("min_size"), res.get("size_rule", "geomean"))
    if rule:
        out.append("- " + rule)
    if res.get("framing"):
        out.append("- framing: %s (%s)" % (res["framing"], "each photo padded to the camera's 4:3 with black bars, "
                                                         "boxes shifted with it" if res["framing"] == "letterbox"
                                                         else "photos at their own aspect"))
    if res.get("data_note"):
        out.append("- " + res["data_note"])
    thr = res.get("score_threshold")
    out += ["", "| metric | AP | max recall | best F1 (score) | precision / recall at score %s |" % _f(thr, "%g"),
            "|---|---:|---:|---|---|"]
    for key, r in res["results"].items():
        bf = r.get("best_f1")
        at = r.get("at_threshold")
        out.append("| %s | %s | %s | %s | %s |" % (
            r["label"], _f(r["ap"]), _f(r["recall_max"]),
            "%.3f (%.2f)" % (bf["f1"], bf["score"]) if bf else "—",
            "%.3f / %.3f" % (at["precision"], at["recall"]) if at else "—"))
    if res["metric"] == "centroid":
        out += ["", "Centroid metric: a detection is a hit when its centre falls inside a face box "
                    "(each face once); not comparable with box AP."]
    reg = regime_rows(res)
    if reg:
        out += ["", "## By regime", "", regime_note(res), "", "| " + " | ".join(reg[0]) + " |",
                "|---|---|" + "---:|" * (len(reg[0]) - 2)]
        out += ["| " + " | ".join(r) + " |" for r in reg[1:]]
    pc = res.get("per_class")
    if pc and pc.get("skipped"):
        out += ["", "## Per class", "", "Not scored: %s." % pc["skipped"]]
    crows = class_rows(res)
    if crows:
        out += ["", "## Per class", "", class_note(res), "", "| " + " | ".join(crows[0]) + " |",
                "|---|" + "---:|" * (len(crows[0]) - 1)]
        out += ["| " + " | ".join(r) + " |" for r in crows[1:]]
        cm = confusion_rows(res)
        if cm:
            c = pc["confusion"]
            out += ["", "Faces found at score >= %g (IoU %g), by the class they were found as: class accuracy %s."
                    % (c["score"], c["iou"], _f(c["accuracy"])), "",
                    "| " + " | ".join(cm[0]) + " |", "|---|" + "---:|" * (len(cm[0]) - 1)]
            out += ["| " + " | ".join(r) + " |" for r in cm[1:]]
            rr = regime_class_rows(res)
            out += ["", "| " + " | ".join(rr[0]) + " |", "|---|---|" + "---:|" * (len(rr[0]) - 2)]
            out += ["| " + " | ".join(r) + " |" for r in rr[1:]]
    first = next(iter(res["results"].values()))
    out += ["", "Recall by face size (%s; face size = sqrt(w*h) in image pixels):" % first["label"], "",
            "| face size px | faces | recall, any score | recall at score >= %s |" % _f(thr, "%g"),
            "|---|---:|---:|---:|"]
    for row in first["recall_by_size"]:
        out.append("| %s | %d | %s | %s |" % (row["bucket"], row["faces"], _f(row["recall_any_score"]),
                                             _f(row["recall"]) if thr is not None else "—"))
    out += ["", "![precision/recall](%s)" % png_name, ""]
    return "\n".join(out)
