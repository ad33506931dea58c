"""Structured channel pruning of a BN-folded picoface model: the output channels with the smallest
L2 norm of every block's pointwise conv (``b<i>_pw``) are removed, with the depthwise channels they
feed and the input channels of the next conv, and the smaller net is rebuilt (``model.channels``):
fewer MACs and smaller activations, so a smaller TFLM arena / KPU RAM, unlike unstructured zeros."""

import copy
import math

import numpy as np

CONV = ("Conv2D", "DepthwiseConv2D")


def kept(ch, fraction, multiple=4):
    """Channels kept of ``ch`` when ``fraction`` is removed (a multiple of 4, at least 4)."""
    return int(min(ch, max(multiple, int(math.floor(ch * (1.0 - fraction) / multiple + 0.5)) * multiple)))


def prune_channels(folded, model_cfg, fraction):
    """(smaller folded Keras model, its model config, {layer: [kept, of]}) with ``fraction`` of each
    pointwise conv's output channels removed (lowest L2 norm first)."""
    from picoface.train.model import build_picoface, picoface_layers

    convs = [l for l in folded.layers if l.__class__.__name__ in CONV]
    weights = {}
    keep_in = None
    counts = {}
    for layer in convs:
        k, b = layer.get_weights()
        if layer.__class__.__name__ == "DepthwiseConv2D":
            if keep_in is not None:
                k, b = k[:, :, keep_in, :], b[keep_in]
        else:
            if keep_in is not None:
                k = k[:, :, keep_in, :]
            keep_in = None
            if layer.name.startswith("b") and layer.name.endswith("_pw"):
                n = k.shape[3]
                norms = np.sqrt((k.astype(np.float64) ** 2).sum(axis=(0, 1, 2)))
                keep_in = np.sort(np.argsort(-norms, kind="stable")[:kept(n, fraction)])
                k, b = k[..., keep_in], b[keep_in]
                counts[layer.name] = [int(len(keep_in)), int(n)]
        weights[layer.name] = [k, b]
    m = copy.deepcopy(model_cfg)
    stem, blocks = picoface_layers(model_cfg)
    m.strides = [s for _, s in blocks]
    m.channels = [stem] + [counts.get("b%d_pw" % i, [ch])[0] for i, (ch, _) in enumerate(blocks)]
    h, w, c = folded.input_shape[1:]
    small = build_picoface(m, w, h, use_bn=False, name=folded.name, channels=c)
    for layer in small.layers:
        if layer.name in weights:
            layer.set_weights(weights[layer.name])
    return small, m, counts
