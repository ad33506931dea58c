"""Q-format fixed point (the CSEM MobileNetV2/K210 paper's Qm.n), simulated bit-exactly on a BN-folded
picoface model.

A Qm.n number has ``m`` integer bits, ``n`` fractional bits and a sign bit: ``bits = m + n + 1``;
the integer ``q`` stands for ``q / 2**n``. Rules used here (one place, tested):

- rounding: to nearest, ties toward +infinity: ``q = floor(x * 2**n + 0.5)`` (what an arithmetic
  right shift with a rounding constant does in fixed-point hardware);
- saturation: ``q`` clamped to ``[-2**(bits-1), 2**(bits-1) - 1]`` (no wrap-around);
- ``n`` may exceed ``bits - 1`` (m < 0, small weights) or be negative (m >= bits, large activations).

Per layer the weights get one format (or, ``per_channel=True``, one per output channel: power-of-two
scales per channel) and each conv output (after its ReLU, or the clamped region output) one format.
"best m per layer" (``per_layer=True``) picks the ``n`` with the least mean squared error on the values it will hold (weights; activations of calibration images), so saturation and
resolution are traded off by measurement; ``per_layer=False`` is the paper's uniform choice: one format
for all weights and one for all activations, from the largest magnitude (``m = ceil(log2(max|x|))``).
The input (pixels / 255) is itself quantised to an activation format.

Arithmetic (``QModel.forward``): integer inputs and weights, convolution sums accumulated exactly
(float64 holds every partial sum: |sum| < 2**53), the bias added at the accumulator's scale
``2**-(n_w + n_in)`` as an int32, then one rounding (rule above) to the output format, saturation,
then ReLU (ReLU6: clamp at 6 in the output format). ZeroPadding pads integer zeros.
"""

import math

import numpy as np

from picoface.errors import PicofaceError

FRAC_RANGE = range(-16, 32)
SUPPORTED = ("InputLayer", "ZeroPadding2D", "Conv2D", "DepthwiseConv2D", "ReLU")


def quantize(x, bits, frac):
    """Integers (float64 array) of ``x`` in Q(bits-1-frac).frac: round half up, saturate."""
    q = np.floor(np.asarray(x, np.float64) * 2.0 ** frac + 0.5)
    return np.clip(q, -2.0 ** (bits - 1), 2.0 ** (bits - 1) - 1)


def dequantize(q, frac):
    return np.asarray(q, np.float64) / 2.0 ** frac


def q_name(bits, frac):
    """``Qm.n`` for a bit width and fraction bits (m = bits - 1 - n)."""
    return "Q%d.%d" % (bits - 1 - frac, frac)


def best_frac(values, bits, max_values=200000, seed=0):
    """Fraction bits with the least mean squared error on ``values`` (ties: the larger n)."""
    v = np.asarray(values, np.float64).reshape(-1)
    if v.size > max_values:   # a sample, with the extremes kept
        v = np.concatenate([np.random.default_rng(seed).choice(v, max_values, replace=False), [v.min(), v.max()]])
    if not v.size or not np.any(v):
        return bits - 1
    best, best_err = None, None
    for f in FRAC_RANGE:
        err = float(np.mean((dequantize(quantize(v, bits, f), f) - v) ** 2))
        if best_err is None or err <= best_err:
            best, best_err = f, err
    return best


def range_frac(max_abs, bits):
    """The paper's choice: integer bits m = ceil(log2(max|x|)) (at least 0), n = bits - 1 - m."""
    m = max(0, int(math.ceil(math.log2(max_abs)))) if max_abs > 0 else 0
    return bits - 1 - m


def _chain(model):
    """The layers of a linear picoface graph, checked to be ones this simulator runs."""
    layers = []
    prev = None
    for layer in model.layers:
        cls = layer.__class__.__name__
        if cls not in SUPPORTED:
            raise PicofaceError("Q-format simulation does not run %s layers (%s)" % (cls, layer.name),
                                "study quant takes a picoface-family model (conv, depthwise, ReLU, padding)")
        if prev is not None and layer.input is not prev.output:
            raise PicofaceError("Q-format simulation needs a linear chain of layers (%s)" % layer.name,
                                "study quant takes a picoface-family model")
        layers.append(layer)
        prev = layer
    return layers


def _conv_acts(layers):
    """[(conv layer, its ReLU or None)] in order."""
    out = []
    for i, layer in enumerate(layers):
        if layer.__class__.__name__ in ("Conv2D", "DepthwiseConv2D"):
            nxt = layers[i + 1] if i + 1 < len(layers) else None
            out.append((layer, nxt if nxt is not None and nxt.__class__.__name__ == "ReLU" else None))
    return out


def _channels(kernel, conv):
    """A kernel's weights per output channel (Conv2D: last axis; depthwise (kh, kw, in, mult): in x mult)."""
    k = np.asarray(kernel)
    if conv.__class__.__name__ == "DepthwiseConv2D":
        k = k.reshape(k.shape[0], k.shape[1], -1)
    return [k[..., c] for c in range(k.shape[-1])]


def _kernel_shape(frac, kernel, conv):
    """Fraction bits broadcastable over a kernel (a scalar stays a scalar)."""
    if np.ndim(frac) == 0:
        return frac
    if conv.__class__.__name__ == "DepthwiseConv2D":
        return np.asarray(frac).reshape(1, 1, kernel.shape[2], kernel.shape[3])
    return np.asarray(frac).reshape(1, 1, 1, -1)


class QModel:
    """A BN-folded picoface Keras model in Q-format: ``forward(uint8 NHWC batch) -> float32 outputs``."""

    def __init__(self, model, bits, calib_images, per_layer=True, out_clip=None, per_channel=False):
        import keras

        self.bits = int(bits)
        self.layers = _chain(model)
        self.out_clip = tuple(out_clip) if out_clip else None
        pairs = _conv_acts(self.layers)
        taps = keras.Model(model.input, [(act or conv).output for conv, act in pairs])
        x = np.stack(calib_images).astype(np.float32) / 255.0
        acts = []
        for i in range(0, len(x), 8):
            o = taps(x[i:i + 8], training=False)
            o = o if isinstance(o, (list, tuple)) else [o]
            acts.append([np.asarray(a) for a in o])
        acts = [np.concatenate([a[k] for a in acts]) for k in range(len(pairs))]
        if self.out_clip:
            acts[-1] = np.clip(acts[-1], *self.out_clip)
        kernels = [conv.get_weights()[0] for conv, _ in pairs]
        if per_channel:
            self.in_frac = best_frac(x, self.bits)
            w_fracs = [np.array([best_frac(c, self.bits) for c in _channels(k, conv)], np.float64)
                       for k, (conv, _) in zip(kernels, pairs)]
            a_fracs = [best_frac(a, self.bits) for a in acts]
        elif per_layer:
            self.in_frac = best_frac(x, self.bits)
            w_fracs = [best_frac(k, self.bits) for k in kernels]
            a_fracs = [best_frac(a, self.bits) for a in acts]
        else:
            w_max = max(float(np.abs(k).max()) for k in kernels)
            a_max = max([float(np.abs(a).max()) for a in acts] + [1.0])
            self.in_frac = range_frac(a_max, self.bits)
            w_fracs = [range_frac(w_max, self.bits)] * len(kernels)
            a_fracs = [range_frac(a_max, self.bits)] * len(acts)
        self.plan = {}
        frac_in = self.in_frac
        for (conv, act), k, fw, fo in zip(pairs, kernels, w_fracs, a_fracs):
            ws = conv.get_weights()
            bias = ws[1] if len(ws) > 1 else np.zeros(k.shape[-1] if conv.__class__.__name__ == "Conv2D"
                                                      else k.shape[2] * k.shape[3], np.float32)
            acc_frac = fw + frac_in          # a scalar, or one per output channel
            b = np.clip(np.floor(bias.astype(np.float64) * 2.0 ** acc_frac + 0.5), -2.0 ** 31, 2.0 ** 31 - 1)
            self.plan[conv.name] = {"w": quantize(k, self.bits, _kernel_shape(fw, k, conv)), "b": b, "frac_w": fw,
                                    "frac_in": frac_in,
                                    "frac_out": fo, "relu6": act is not None and act.max_value is not None}
            frac_in = fo
        self.out_frac = frac_in

    def formats(self):
        """{layer: {"weights": "Qm.n", "out": "Qm.n"}} and the input's format."""
        def wname(fw):
            if np.ndim(fw) == 0:
                return q_name(self.bits, int(fw))
            return "%s..%s" % (q_name(self.bits, int(np.max(fw))), q_name(self.bits, int(np.min(fw))))

        d = {name: {"weights": wname(p["frac_w"]), "out": q_name(self.bits, p["frac_out"])}
             for name, p in self.plan.items()}
        d["input"] = q_name(self.bits, self.in_frac)
        return d

    def weight_bytes(self):
        """Weights packed at ``bits`` each (per layer, whole bytes) plus int32 biases."""
        return int(sum(math.ceil(p["w"].size * self.bits / 8.0) + 4 * p["b"].size for p in self.plan.values()))

    def forward_int(self, images_u8):
        """Integer outputs (float64 holding integers) and their fraction bits."""
        import tensorflow as tf

        x = quantize(np.asarray(images_u8, np.float64) / 255.0, self.bits, self.in_frac)
        x = tf.constant(x, tf.float64)
        hi = 2.0 ** (self.bits - 1) - 1
        lo = -2.0 ** (self.bits - 1)
        for layer in self.layers:
            cls = layer.__class__.__name__
            if cls == "ZeroPadding2D":
                (t, b), (l, r) = layer.padding
                x = tf.pad(x, [[0, 0], [t, b], [l, r], [0, 0]])
            elif cls in ("Conv2D", "DepthwiseConv2D"):
                p = self.plan[layer.name]
                s = layer.strides
                pad = layer.padding.upper()
                w = tf.constant(p["w"], tf.float64)
                if cls == "Conv2D":
                    acc = tf.nn.conv2d(x, w, strides=(1, s[0], s[1], 1), padding=pad)
                else:
                    acc = tf.nn.depthwise_conv2d(x, w, strides=(1, s[0], s[1], 1), padding=pad)
                acc = acc + tf.constant(p["b"], tf.float64)
                shift = p["frac_out"] - np.asarray(p["frac_w"], np.float64) - p["frac_in"]
                y = tf.floor(acc * tf.constant(2.0 ** shift, tf.float64) + 0.5)
                y = tf.clip_by_value(y, lo, hi)
                if layer.name == self.layers[-1].name and self.out_clip:
                    y = tf.clip_by_value(y, quantize(self.out_clip[0], self.bits, p["frac_out"]),
                                         quantize(self.out_clip[1], self.bits, p["frac_out"]))
                x = y
                frac = p["frac_out"]
            elif cls == "ReLU":
                x = tf.maximum(x, 0.0)
                if layer.max_value is not None:
                    x = tf.minimum(x, quantize(float(layer.max_value), self.bits, frac))
        return x.numpy(), self.out_frac

    def forward(self, images_u8):
        q, frac = self.forward_int(images_u8)
        return dequantize(q, frac).astype(np.float32)
