"""Keras -> TFLite: float, and full-integer int8 (uint8 input scale 1/255 zp 0, int8 output).

BatchNorm is folded into the convolutions first (``picoface.train.model.fold_batchnorm``) and
the folded model is checked against the original before conversion.
"""

import numpy as np

from picoface.errors import PicofaceError


def fold(model, model_cfg, check_input=None, atol=1e-3):
    """BN-folded copy of a picoface model, verified on ``check_input`` (or random data)."""
    from picoface.train.model import fold_batchnorm

    folded = fold_batchnorm(model, model_cfg)
    if check_input is None:
        h, w, c = model.input_shape[1:]
        check_input = np.random.default_rng(0).random((2, h, w, c), dtype=np.float32)
    a = model(check_input, training=False).numpy()
    b = folded(check_input, training=False).numpy()
    err = float(np.abs(a - b).max())
    scale = float(np.abs(a).max()) + 1e-6
    if err > atol * max(1.0, scale):
        raise PicofaceError("BatchNorm folding changed the outputs by %.3g" % err, "report this as a bug")
    return folded


def _chain(model):
    """[(producer, activation, consumer)] of a BN-folded picoface model: conv -> ReLU -> conv."""
    convs = [l for l in model.layers if l.__class__.__name__ in ("Conv2D", "DepthwiseConv2D")]
    names = {l.name for l in model.layers}
    return [(a, model.get_layer(a.name + "_act") if a.name + "_act" in names else None, b)
            for a, b in zip(convs, convs[1:])]


def equalize(model, images, eps=1e-6, atol=1e-3):
    """Cross-layer equalisation (Nagel et al., 2019) of a BN-folded picoface model with ReLU, in place.

    After a depthwise conv some channels span 40 and others 0.3, and one int8 activation scale per
    tensor leaves the small ones a handful of levels. ReLU commutes with a positive scale, so each
    channel i of every conv output is divided by s_i = range_i / max range (measured on ``images``)
    and the next conv's input weights for channel i are multiplied by s_i: the float function is
    unchanged (checked on ``images``, like ``fold``), every channel uses the full 8-bit range.
    Returns the number of rescaled tensors."""
    import keras

    links = _chain(model)
    for a, act, b in links:
        if act is None or getattr(act, "max_value", None) is not None or act.__class__.__name__ != "ReLU":
            raise PicofaceError("equalisation needs plain ReLU between convs (%s has %s)" % (a.name, act),
                                "train with model.activation: relu, or set export.equalize: false")
    taps = keras.Model(model.input, [act.output for _, act, _ in links])
    x = np.stack(images[:64]).astype(np.float32) / 255.0
    outs = taps(x, training=False)
    before = model(x[:4], training=False).numpy()
    n = 0
    for (a, _, b), y in zip(links, outs):
        r = np.percentile(np.asarray(y).reshape(-1, y.shape[-1]), 99.99, axis=0)
        if r.max() <= eps:
            continue
        s = np.where(r > eps, r / r.max(), 1.0).astype(np.float32)
        ka, ba = a.get_weights()
        if a.__class__.__name__ == "DepthwiseConv2D":
            ka = ka / s.reshape(1, 1, -1, 1)
        else:
            ka = ka / s.reshape(1, 1, 1, -1)
        a.set_weights([ka, ba / s])
        kb, bb = b.get_weights()
        b.set_weights([kb * s.reshape(1, 1, -1, 1), bb])   # input channels: axis 2 for conv and depthwise
        n += 1
    err = float(np.abs(model(x[:4], training=False).numpy() - before).max())
    if err > atol * max(1.0, float(np.abs(before).max())):
        raise PicofaceError("cross-layer equalisation changed the outputs by %.3g" % err, "report this as a bug")
    return n


def clip_output(model, lo, hi):
    """The model with its outputs clamped to [lo, hi] (a MINIMUM/MAXIMUM pair in TFLite).

    A region head's outputs share one int8 scale. Objectness logits of confident negatives reach
    -20, while offsets and log sizes stay within +-4: unclamped, the scale is ~0.1, an 11 % step in
    a box side. Clamped to [-6, 6] it is 0.047; a logit of -6 is a score of 0.0025, below any
    threshold that is used, so the detections do not change."""
    import keras

    y = keras.ops.clip(model.output, float(lo), float(hi))
    return keras.Model(model.input, y, name=model.name)


def _converter(model):
    import tensorflow as tf

    return tf.lite.TFLiteConverter.from_keras_model(model)


def to_float(model):
    """Float32 TFLite bytes."""
    conv = _converter(model)
    return bytes(conv.convert())


def representative(images):
    """Calibration generator: float [0,1] NHWC batches of one; the first two pin the 0..1 range."""
    def gen():
        first = images[0].astype(np.float32) / 255.0
        lo = first.copy()
        lo.flat[0] = 0.0
        lo.flat[1] = 1.0
        yield [lo[None]]
        for im in images:
            yield [(im.astype(np.float32) / 255.0)[None]]
    return gen


def to_int8(model, calib_images):
    """Full-integer int8 TFLite bytes: uint8 input (1/255, 0), int8 internals and output."""
    import tensorflow as tf

    if not len(calib_images):
        raise PicofaceError("no calibration images for int8 export", "pass --calib DIR or a dataset")
    conv = _converter(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative(calib_images)
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.uint8
    conv.inference_output_type = tf.int8
    data = bytes(conv.convert())
    info = io_details(data)
    s, z = info["input"]["scale"], info["input"]["zero_point"]
    if info["input"]["dtype"] != "uint8" or abs(s - 1 / 255.0) > 1e-6 or z != 0:
        raise PicofaceError("int8 export got input scale %r zero point %r, not 1/255 and 0" % (s, z),
                            "check the calibration images (they must span 0..255)")
    return data


def interpreter(data, threads=1):
    from picoface.litert import interpreter as make

    return make(data, num_threads=threads)


def io_details(data):
    """Input/output dtype, shape, scale and zero point of a TFLite flatbuffer."""
    it = interpreter(data)
    out = {}
    for key, d in (("input", it.get_input_details()[0]), ("output", it.get_output_details()[0])):
        scale, zp = d.get("quantization", (0.0, 0))
        out[key] = {"dtype": np.dtype(d["dtype"]).name, "shape": [int(v) for v in d["shape"]],
                    "scale": float(scale) if scale else 1.0, "zero_point": int(zp)}
    return out


class TFLiteRunner:
    """Run a TFLite model on net-size uint8 RGB images; returns float outputs (dequantised)."""

    def __init__(self, data, threads=1):
        self.it = interpreter(data, threads)
        self.inp = self.it.get_input_details()[0]
        self.out = self.it.get_output_details()[0]

    def __call__(self, rgb_u8):
        x = rgb_u8[None]
        if self.inp["dtype"] == np.float32:
            x = x.astype(np.float32) / 255.0
        else:   # the tensor's own quantisation of pixel / 255 (uint8 1/255, 0: the pixel itself)
            s, z = self.inp["quantization"]
            info = np.iinfo(self.inp["dtype"])
            q = np.round(x.astype(np.float32) / 255.0 / (s or 1.0 / 255.0)) + z
            x = np.clip(q, info.min, info.max).astype(self.inp["dtype"])
        self.it.set_tensor(self.inp["index"], x)
        self.it.invoke()
        y = self.it.get_tensor(self.out["index"])[0]
        if self.out["dtype"] != np.float32:
            s, z = self.out["quantization"]
            y = (y.astype(np.float32) - z) * s
        return y
