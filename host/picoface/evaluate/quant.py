"""Where a quantised region model loses AP against the float model it was made from.

Both models run on the same images and their (dequantised) region outputs are kept. The float
outputs are then scored again with one group of channels taken from the quantised model -- box
offsets (tx, ty), box sizes (tw, th), objectness, class scores -- so each row says what that
group's int8 error costs on its own. One more row rounds the float outputs to the quantised
model's output step: what the output scale alone costs, against what the inner layers cost.
"""

import sys

import numpy as np

from picoface.errors import PicofaceError

GROUPS = (("offsets (tx, ty)", (0, 1)), ("sizes (tw, th)", (2, 3)), ("objectness", (4,)))


def _facts(d):
    return d.net_w, d.net_h, d.grid, len(d.anchors), d.classes, d.fit_mode


def _check_pair(f, q):
    if _facts(f) != _facts(q) or not np.allclose(f.anchors, q.anchors):
        raise PicofaceError("%s and %s are not the same net (input, grid, anchors, classes or fit differ)"
                            % (f.name, q.name), "pass the float model the quantised one was exported from")


def _channels(flat, det):
    """View of a flat region output as (..., anchors, 5 + classes) in the model's layout."""
    na, ne = len(det.anchors), 5 + det.classes
    if det.out_layout == "NCHW":
        return flat.reshape(na, ne, -1).transpose(0, 2, 1)
    return flat.reshape(-1, na, ne)


def collect(float_det, quant_det, samples, progress=True):
    """[(float output, quantised output, fit)] per sample (flat float32 arrays); each sample's image
    framed as the sample records (``regimes.sample_image``)."""
    from picoface.evaluate.regimes import sample_image

    it = samples
    if progress:
        from tqdm import tqdm

        it = tqdm(samples, desc="float and quantised outputs", unit="img", file=sys.stderr, leave=False)
    outs = []
    for s in it:
        img = sample_image(s)
        fo, fit = float_det.raw(img)
        qo, _ = quant_det.raw(img)
        if not outs:
            _check_pair(float_det, quant_det)  # grids are known once a model has run
        outs.append((fo, qo, fit))
    return outs


def breakdown(float_det, quant_det, samples, iou=0.5, progress=True):
    """Rows {"row", "ap", "delta"} (delta against the float model's AP at ``iou``)."""
    from picoface.evaluate.core import score_one

    outs = collect(float_det, quant_det, samples, progress)

    def ap(mix):
        dets = [float_det._detections(mix(fo, qo), fit) for fo, qo, fit in outs]
        return score_one(dets, samples, iou)["ap"]

    def swap(index):
        def mix(fo, qo):
            out = fo.copy()
            _channels(out, float_det)[..., index] = _channels(qo, quant_det)[..., index]
            return out
        return mix

    groups = list(GROUPS)
    if float_det.classes > 1:
        groups.append(("class scores", tuple(range(5, 5 + float_det.classes))))
    ap_f = ap(lambda fo, qo: fo)
    rows = [("float", ap_f), ("quantised", ap(lambda fo, qo: qo))]
    rows += [("float, %s quantised" % name, ap(swap(list(idx)))) for name, idx in groups]
    step, zp = getattr(quant_det, "out_scale", None), getattr(quant_det, "out_zp", 0)
    if step:
        info = np.iinfo(quant_det.out["dtype"])
        rows.append(("float, rounded to the output step %.4g" % step,
                     ap(lambda fo, qo: ((np.clip(np.round(fo / step) + zp, info.min, info.max) - zp) * step)
                        .astype(np.float32))))
    return [{"row": name, "ap": a, "delta": None if a is None or ap_f is None else a - ap_f} for name, a in rows]


def table(rows, iou=0.5):
    """Markdown table of ``breakdown`` rows."""
    lines = ["| outputs | AP@%g | vs float |" % iou, "|---|---|---|"]
    for r in rows:
        ap = "—" if r["ap"] is None else "%.4f" % r["ap"]
        d = "—" if r["delta"] is None or r["row"] == "float" else "%+.4f" % r["delta"]
        lines.append("| %s | %s | %s |" % (r["row"], ap, d))
    return "\n".join(lines)
