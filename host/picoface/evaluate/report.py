"""Markdown summary and a short console table of evaluation results."""


def _f(v, fmt="%.3f"):
    return "—" if v is None else fmt % v


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
    if res.get("ms_per_image") is not None:
        facts.append("host time: %.1f ms/image" % res["ms_per_image"])
    out += ["- " + ", ".join(facts)]
    if data_spec:
        out.append("- data: `%s`" % data_spec)
    out.append("- %d images, %d faces, %d ignore regions (invalid/small faces, don't-care areas), %d detections"
               % (c["images"], c["faces"], c["ignored"], c["detections"]))
    if res.get("min_size"):
        out.append("- faces smaller than %g px (sqrt(w*h)) are ignore regions" % res["min_size"])
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
    first = next(iter(res["results"].values()))
    out += ["", "Recall by face size (%s; face size = sqrt(w*h) in image pixels):" % first["label"], "",
            "| face size px | faces | recall, any score | recall at score >= %s |" % _f(thr, "%g"),
            "|---|---:|---:|---:|"]
    for row in first["recall_by_size"]:
        out.append("| %s | %d | %s | %s |" % (row["bucket"], row["faces"], _f(row["recall_any_score"]),
                                             _f(row["recall"]) if thr is not None else "—"))
    out += ["", "![precision/recall](%s)" % png_name, ""]
    return "\n".join(out)
