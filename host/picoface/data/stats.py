"""Dataset statistics: counts (overall and per source), face sizes, a histogram PNG, Markdown."""

from collections import Counter

import numpy as np

from picoface.data.sample import SIZE_EDGES, bucket_labels, face_size


def compute_stats(samples):
    per = {}
    for s in samples:
        d = per.setdefault(s.source or "?", {"images": 0, "faces": 0, "ignore": 0, "no_faces": 0,
                                             "sizes": []})
        d["images"] += 1
        d["faces"] += len(s.boxes)
        d["ignore"] += len(s.ignore)
        d["no_faces"] += int(len(s.boxes) == 0)
        d["sizes"].append(face_size(s.boxes))
    sizes_all = []
    out_sources = {}
    for name, d in per.items():
        sz = np.concatenate(d.pop("sizes")) if d["images"] else np.zeros(0)
        sizes_all.append(sz)
        out_sources[name] = dict(d, size=_size_summary(sz))
    sz = np.concatenate(sizes_all) if sizes_all else np.zeros(0)
    dims = Counter((s.width, s.height) for s in samples)
    fpi = [len(s.boxes) for s in samples]
    return {
        "images": len(samples),
        "faces": int(sum(fpi)),
        "ignore": int(sum(len(s.ignore) for s in samples)),
        "images_without_faces": int(sum(1 for n in fpi if n == 0)),
        "faces_per_image": {"mean": float(np.mean(fpi)) if fpi else 0.0, "max": int(max(fpi, default=0))},
        "unknown_image_size": int(dims.get((None, None), 0)),
        "common_image_sizes": [["%sx%s" % k, n] for k, n in dims.most_common(5)],
        "size": _size_summary(sz),
        "sources": out_sources,
    }, sz


def _size_summary(sz):
    hist, _ = np.histogram(sz, bins=np.array(SIZE_EDGES, dtype=float)) if len(sz) else (
        np.zeros(len(SIZE_EDGES) - 1, int), None)
    out = {"buckets": dict(zip(bucket_labels(), [int(v) for v in hist]))}
    if len(sz):
        p5, p50, p95 = np.percentile(sz, [5, 50, 95])
        out.update(p5=round(float(p5), 1), p50=round(float(p50), 1), p95=round(float(p95), 1),
                   min=round(float(sz.min()), 1), max=round(float(sz.max()), 1))
    return out


def plot_sizes(samples, png):
    """Histogram of face sizes (log-spaced bins), one step line per source."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from picoface.atomic import atomic_path

    by = {}
    for s in samples:
        by.setdefault(s.source or "?", []).append(face_size(s.boxes))
    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    bins = np.logspace(np.log10(2), np.log10(1024), 40)
    for name, parts in sorted(by.items()):
        sz = np.concatenate(parts)
        if len(sz):
            ax.hist(sz, bins=bins, histtype="step", linewidth=1.5, label="%s (%d)" % (name, len(sz)))
    for e in SIZE_EDGES[1:-1]:
        ax.axvline(e, color="#bbb", linewidth=0.8, linestyle=":")
    ax.set_xscale("log")
    ax.set_xlabel("face size, px (sqrt(w*h) in the stored image)")
    ax.set_ylabel("faces")
    ax.set_title("Face sizes")
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(png) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def stats_markdown(st, title="Dataset summary", png_name=None):
    labels = bucket_labels()
    lines = ["# %s" % title, "",
             "%d images, %d faces, %d ignore regions; %d images without faces; "
             "%.2f faces per image (max %d)." % (st["images"], st["faces"], st["ignore"],
                                                   st["images_without_faces"],
                                                   st["faces_per_image"]["mean"],
                                                   st["faces_per_image"]["max"]), ""]
    if st["unknown_image_size"]:
        lines += ["%d images have no known size (annotations only, images absent)." % st["unknown_image_size"], ""]
    lines += ["| source | images | faces | ignore | no faces | size p5 / p50 / p95 | " + " | ".join(labels) + " |",
              "|---|---:|---:|---:|---:|---|" + "---:|" * len(labels)]
    rows = list(st["sources"].items()) + [("**all**", dict(st, no_faces=st["images_without_faces"]))]
    for name, d in rows:
        sz = d["size"]
        pct = "%s / %s / %s" % (sz.get("p5", "-"), sz.get("p50", "-"), sz.get("p95", "-"))
        lines.append("| %s | %d | %d | %d | %d | %s | %s |" % (
            name, d["images"], d["faces"], d["ignore"], d["no_faces"], pct,
            " | ".join(str(sz["buckets"][k]) for k in labels)))
    lines += ["", "Face size = sqrt(w*h) in pixels of the stored image.",
              "Common image sizes: " + ", ".join("%s (%d)" % (k, n) for k, n in st["common_image_sizes"])]
    if png_name:
        lines += ["", "![face sizes](%s)" % png_name]
    return "\n".join(lines) + "\n"
