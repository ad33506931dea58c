"""``picoface study prune``: magnitude pruning of one trained model.

Unstructured points: each of the thesis's three selection rules (``study.sparsity``: absolute,
relative to the layer's weights, relative to each output channel's) at each sparsity, then a short
masked fine-tune of the weights left (``study.finetune``); stored as int8, each layer dense or as
CSR, whichever is smaller (the thesis's break-even rule, for 8-bit values and the index widths the
layer's shape needs). Structured points (``study.channels``): the lowest-norm output channels of the
pointwise convs removed and the smaller net rebuilt and fine-tuned, which lowers MACs and the TFLM
arena. Sparsity 0 is the base fine-tuned for the same time. The training budget is split evenly
across the points. Every point is exported to int8 TFLite and scored like the others.
"""

import numpy as np

from picoface.errors import PicofaceError

DEFAULT_SPARSITIES = (0, 30, 50, 70, 90)
DEFAULT_CHANNELS = (25, 50)
CONV = ("Conv2D", "DepthwiseConv2D")


def parse_percents(text, what, top=99):
    try:
        vals = [int(v) for v in str(text).split(",") if v.strip() != ""]
    except ValueError:
        vals = None
    if not vals or any(not 0 <= v <= top for v in vals) or len(set(vals)) != len(vals):
        raise PicofaceError("%s %r is not a list of different whole percentages 0..%d" % (what, text, top),
                            "write e.g. %s 0,50,90" % what)
    return sorted(vals)


def point_ids(ctx):
    ids = []
    for s in ctx.opts["sparsities"]:
        if s == 0:
            ids.append("dense")
        else:
            ids += ["%s-%d" % (r, s) for r in ctx.opts["rules"]]
    ids += ["channels-%d" % f for f in ctx.opts["channels"] if f > 0]
    return ids


def notes(ctx, ids):
    per = ctx.budget_s / max(1, len(ids))
    return ["Fine-tuning: %.0f s per point (the budget split over %d points), Adam at train.lr / 10, every conv "
            "layer (the config's frozen pretrained blocks too: they are pruned as well); masked points keep their "
            "pruned weights at zero." % (per, len(ids)),
            "Unstructured rules (thesis eq. 2.15-2.18, one gamma for all layers, found for the sparsity asked): "
            "abs: |w| <= gamma; layer: |w| <= gamma sigma(W) + mu(W); neuron: the same per output channel.",
            "bytes: the int8 TFLite file with each layer's weights counted dense or as CSR, whichever is smaller "
            "(8-bit values, 8/16-bit column indices and row pointers as the layer's shape needs); CSR pays when "
            "alpha (pruned weights) > (m n c + (m + 1) r) / (v + c). The details of each point list the layers "
            "past that break-even; the TFLite file itself (details.tflite_bytes) stores zeros densely.",
            "channels-N: N % of every pointwise conv's output channels (lowest L2 norm) removed and the net rebuilt."]


def _conv_layers(model):
    return [l for l in model.layers if l.__class__.__name__ in CONV]


def _storage(model):
    from picoface.study.sparsity import layer_storage

    rows = []
    for layer in _conv_layers(model):
        st = layer_storage(layer.get_weights()[0], layer.__class__.__name__ == "DepthwiseConv2D")
        rows.append(dict(st, layer=layer.name, csr_smaller=st["pruned"] >= st["alpha"]))
    return rows


def build_point(ctx, pid):
    import keras

    from picoface.study.finetune import finetune
    from picoface.study.quant import _int8, _quiet, _tflite_point
    from picoface.export import tflite

    seconds = ctx.budget_s / max(1, len(ctx.ids))
    details = {}
    if pid.startswith("channels-"):
        from picoface.study.channels import prune_channels

        frac = int(pid.split("-")[1]) / 100.0
        model, mcfg, counts = prune_channels(ctx.folded, ctx.cfg.model, frac)
        details.update(channels=counts, model_channels=list(mcfg.channels))
        masks = None
        label = "%d %% of pointwise channels removed" % int(pid.split("-")[1])
    else:
        model = keras.models.clone_model(ctx.folded)
        model.set_weights(ctx.folded.get_weights())
        masks = None
        label = "base, fine-tuned like the pruned points"
        if pid != "dense":
            from picoface.study.sparsity import masks as make_masks

            rule, pct = pid.split("-")
            layers = _conv_layers(model)
            keep, gamma = make_masks([l.get_weights()[0] for l in layers],
                                     [l.__class__.__name__ == "DepthwiseConv2D" for l in layers], rule, int(pct) / 100.0)
            masks = {}
            for layer, m in zip(layers, keep):
                k, b = layer.get_weights()
                layer.set_weights([k * m, b])
                masks[layer.name] = m
            details["gamma"] = round(float(gamma), 6)
            label = "%s rule, %s %% of weights pruned" % (rule, pct)
    details["finetune"] = finetune(ctx, model, seconds, masks, label=pid, train_frozen=True)
    if masks:
        for layer in _conv_layers(model):   # exact zeros before conversion
            k, b = layer.get_weights()
            layer.set_weights([k * masks[layer.name], b])
    shipped = tflite.clip_output(model, *ctx.cfg.export.clip_output) if ctx.cfg.export.clip_output else model
    blob = _quiet(_int8, shipped, ctx.calib, True)
    det, info = _tflite_point(ctx, blob, "tflite-int8", pid)
    st = _storage(model)
    weights = sum(int(np.prod(l.get_weights()[0].shape)) for l in _conv_layers(model))
    pruned = sum(r["pruned"] for r in st)
    dense = sum(r["dense"] for r in st)
    stored = sum(min(r["dense"], r["csr"]) for r in st)
    details.update(tflite_bytes=len(blob), sparsity=round(pruned / float(weights), 4), weights=weights,
                   weights_dense_bytes=int(dense), weights_stored_bytes=int(round(stored)),
                   layers_csr_smaller="%d of %d" % (sum(r["csr_smaller"] for r in st), len(st)),
                   break_even=[{k: r[k] for k in ("layer", "m", "n", "pruned", "alpha", "col_bits", "ptr_bits")} for r in st])
    if masks:
        label += "; CSR smaller in %s layers" % details["layers_csr_smaller"]
    info.update(label=label, bytes=int(round(len(blob) - dense + stored)), details=details)
    return det, info
