"""PR curves of one or several detectors on one PNG."""

import numpy as np


def _curves(res):
    for key, r in res.get("results", {}).items():
        rec, prec, _ = r["_pr_full"] if "_pr_full" in r else (r["pr"]["recall"], r["pr"]["precision"], None)
        yield key, r, np.asarray(rec), np.asarray(prec)


def plot_pr(results, png, title="Precision / recall"):
    """``results``: one result dict of ``evaluate`` or a list of them; one line per detector
    and IoU (solid for the first IoU, dashed for the others). Written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from picoface.atomic import atomic_path

    if isinstance(results, dict):
        results = [results]
    fig, ax = plt.subplots(figsize=(6.5, 5), dpi=110)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, res in enumerate(results):
        name = res.get("detector", {}).get("name", "detector %d" % (i + 1))
        for j, (key, r, rec, prec) in enumerate(_curves(res)):
            ap = r.get("ap")
            label = "%s  %s = %s" % (name, r.get("label", key), "n/a" if ap is None else "%.3f" % ap)
            x = np.r_[0.0, rec] if len(rec) else rec
            y = np.r_[prec[0], prec] if len(prec) else prec
            ax.plot(x, y, color=colors[i % len(colors)], linestyle=["-", "--", ":", "-."][j % 4],
                    linewidth=1.6, label=label, drawstyle="steps-post")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    with atomic_path(png) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
