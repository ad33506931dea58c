"""A study's outputs, rewritten after every finished point: ``study.json`` (the points and what they
were measured on), ``study.md`` (one row per point) and ``study.png`` (AP vs bytes and AP vs MACs,
the Pareto frontier marked, with the shipped models and the reference detectors of
``models/bench.json`` when bench scored them on the same val set)."""

import json
from pathlib import Path

from picoface import atomic
from picoface.bench.report import fmt_ap, fmt_bytes, fmt_macs, markdown_table
from picoface.paths import REPO_ROOT, display_path


def pareto(points, key):
    """Ids of the points on the frontier of (``key`` smaller, AP higher): no other point has at most
    its ``key`` and at least its AP with one of them strictly better."""
    pts = [p for p in points if p.get(key) is not None and p.get("y") is not None]
    out = set()
    for p in pts:
        if not any((q[key] <= p[key] and q["y"] >= p["y"]) and (q[key] < p[key] or q["y"] > p["y"]) for q in pts):
            out.add(p["id"])
    return out


def references(cfg, bench_json=None):
    """Rows of models/bench.json scored on this config's val set (bench's close-range set is the
    held-out mix of the config it names): [{"name", "bytes", "macs", "y", "shipped"}], and a note."""
    path = Path(bench_json) if bench_json else REPO_ROOT / "models" / "bench.json"
    if not path.is_file():
        return [], "no %s: no reference detectors" % display_path(path)
    data = json.loads(path.read_text())
    close = (data.get("info") or {}).get("close") or {}
    if cfg.data.val != "holdout" or close.get("holdout") != dict(cfg.data.holdout) or \
            close.get("framing") != cfg.data.val_framing:
        return [], ("reference detectors left out: %s scored them on another val set than this config's"
                    % display_path(path))
    rows = []
    for r in data.get("rows", []):
        reg = ((r.get("close") or {}).get("regimes") or {}).get("0.5") or {}
        if reg.get("mean_ap") is None:
            continue
        rows.append({"name": r["name"], "bytes": r.get("bytes"), "macs": r.get("macs"), "y": float(reg["mean_ap"]),
                     "shipped": r.get("group") == "picoface"})
    return rows, "references: %s, its close-range set (the same held-out photos)" % display_path(path)


def _y(p):
    ap = p["score"].get("ap")
    return ap["mean"] if ap else p["score"]["metric"]


def _ms(p, base):
    if p.get("ms") is None:
        return "—"
    if base is None or not base.get("ms"):
        return "%.1f" % p["ms"]
    return "%.1f (x%.2f)" % (p["ms"], p["ms"] / base["ms"])


def _mem(p):
    if p.get("arena_bytes"):
        return "arena " + fmt_bytes(p["arena_bytes"])
    if p.get("kpu_ram_bytes"):
        return "KPU RAM " + fmt_bytes(p["kpu_ram_bytes"])
    return "—"


def rows(points):
    """The points with "y" (the val metric plotted) and their frontier flags."""
    pts = [dict(p, y=_y(p)) for p in points]
    fb, fm = pareto(pts, "bytes"), pareto(pts, "macs")
    for p in pts:
        p["pareto"] = {"bytes": p["id"] in fb, "macs": p["id"] in fm}
    return pts


def markdown(study, pts, png_name):
    base = pts[0] if pts and pts[0]["id"] == study["base_point"] else None
    head = ["point", "what", "AP far", "AP mid", "AP close", "AP mean", "AP all", "bytes", "MACs",
            "arena / KPU RAM", "host ms (x base)", "frontier", "firmware and board"]
    table = [head]
    for p in pts:
        ap = p["score"].get("ap") or {}
        front = "/".join(k for k in ("bytes", "MACs") if p["pareto"]["bytes" if k == "bytes" else "macs"]) or "—"
        table.append([p["id"], p["label"], fmt_ap(ap.get("far")), fmt_ap(ap.get("mid")), fmt_ap(ap.get("close")),
                      fmt_ap(ap.get("mean")), fmt_ap(p["score"]["ap_all"]), "{:,}".format(p["bytes"]),
                      fmt_macs(p["macs"]), _mem(p), _ms(p, base), front, p["limits"]])
    lines = ["# picoface study %s" % study["kind"], "",
             "Base: `%s` (%s), model `%s`. Val set: %s." % (study["config"], study["name"], study["model"], study["val"]),
             "", "Command: `%s`" % study["command"], "", markdown_table(table), "",
             "![Pareto](%s)" % png_name, ""]
    lines += ["- " + n for n in study["notes"]]
    todo = [i for i in study["points"] if i not in {p["id"] for p in pts}]
    if todo:
        lines += ["- not finished yet: %s (`--resume` runs them)" % ", ".join(todo)]
    return "\n".join(lines) + "\n"


def short(name):
    """A bench row name for the plot: picoface_k210_320x240/picoface_int8.tflite -> k210_320x240 int8.tflite."""
    if "/" not in name:
        return name
    folder, f = name.split("/", 1)
    f = f[len("picoface"):].lstrip("_.") if f.startswith("picoface") else f
    return "%s %s" % (folder.replace("picoface_", ""), f if f.count(".") else "." + f)


def plot(path, study, pts, refs):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, axes = plt.subplots(1, 2, figsize=(13, 5.2))
    for ax, key, title in ((axes[0], "bytes", "AP vs bytes"), (axes[1], "macs", "AP vs MACs")):
        mine = [p for p in pts if p.get(key)]
        ax.scatter([p[key] for p in mine], [p["y"] for p in mine], c="tab:blue", zorder=3, label="study points")
        for p in mine:
            ax.annotate(p["id"], (p[key], p["y"]), textcoords="offset points", xytext=(4, 3), fontsize=7)
        front = sorted((p for p in mine if p["pareto"][key]), key=lambda p: p[key])
        if front:
            ax.step([p[key] for p in front], [p["y"] for p in front], where="post", c="tab:blue", alpha=0.6,
                    label="frontier")
            ax.scatter([p[key] for p in front], [p["y"] for p in front], s=90, facecolors="none",
                       edgecolors="tab:blue", zorder=4)
        for shipped, style in ((False, dict(c="0.5", marker="s", label="reference detectors")),
                               (True, dict(c="tab:red", marker="*", s=120, label="shipped models"))):
            rs = [r for r in refs if r["shipped"] == shipped and r.get(key)]
            if rs:
                ax.scatter([r[key] for r in rs], [r["y"] for r in rs], zorder=2, **style)
                for r in rs:
                    ax.annotate(short(r["name"]), (r[key], r["y"]), textcoords="offset points", xytext=(4, -9),
                                fontsize=6, color=style["c"])
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel("bytes" if key == "bytes" else "MACs per frame")
        ax.set_ylabel(study["metric_label"])
        ax.set_ylim(0, 1.05)
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    fig.suptitle("picoface study %s: %s" % (study["kind"], study["name"]))
    fig.tight_layout()
    with atomic.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def write(out, study, points, refs, name="study"):
    """NAME.json, NAME.md and NAME.png in ``out`` (each atomic)."""
    out = Path(out)
    pts = rows(points)
    data = dict(study, finished=[p["id"] for p in pts], results=[{k: v for k, v in p.items() if k != "identity"}
                                                                   for p in pts], references=refs)
    atomic.write_text(out / ("%s.json" % name), json.dumps(data, indent=1) + "\n")
    atomic.write_text(out / ("%s.md" % name), markdown(study, pts, "%s.png" % name))
    plot(out / ("%s.png" % name), study, pts, refs)
