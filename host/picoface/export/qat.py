"""Quantisation-aware fine-tuning (export.qat_epochs) of a BN-folded picoface region model.

Post-training int8 leaves every conv output with one 8-bit scale per tensor, and 30 layers of
that rounding add up (docs/TRAINING.md, Export). Here the folded (and equalised) float net is
trained a few more epochs on the training frames with the int8 rounding in its forward pass:
per-channel symmetric int8 kernels (the TFLite converter's), each ReLU output rounded to 256 levels
of its calibration range, the output rounded inside ``export.clip_output``. Gradients pass the
rounding straight through. The weights are updated in place in the folded model, which the
export then converts as before (the int8 TFLite is still calibrated post-training; the trained
weights are the ones whose rounding costs least). The pretrained, frozen blocks stay frozen.
"""

import numpy as np

from picoface.errors import PicofaceError

CONV = ("Conv2D", "DepthwiseConv2D")


def _rounded_kernel(kernel, depthwise):
    """Kernel rounded to per-output-channel symmetric int8, gradient straight through."""
    import tensorflow as tf

    axes = (0, 1) if depthwise else (0, 1, 2)   # depthwise (kh, kw, in, mult): a scale per in x mult
    s = tf.maximum(tf.reduce_max(tf.abs(kernel), axis=axes, keepdims=True), 1e-12) / 127.0
    return kernel + tf.stop_gradient(tf.round(kernel / s) * s - kernel)


def _layers():
    import keras
    import tensorflow as tf

    class RoundedConv(keras.layers.Layer):
        """A folded Conv2D / DepthwiseConv2D run with int8-rounded kernel; its variables are the layer's."""

        def __init__(self, inner, **kw):
            super().__init__(name=inner.name + "_int8", **kw)
            self.inner = inner
            self.depthwise = inner.__class__.__name__ == "DepthwiseConv2D"

        def call(self, x):
            k = _rounded_kernel(self.inner.kernel, self.depthwise)
            s = self.inner.strides
            pad = self.inner.padding.upper()
            if self.depthwise:
                y = tf.nn.depthwise_conv2d(x, k, strides=(1, s[0], s[1], 1), padding=pad)
            else:
                y = tf.nn.conv2d(x, k, strides=s, padding=pad)
            return y + self.inner.bias if self.inner.use_bias else y

    class Rounded(keras.layers.Layer):
        """Values clamped to [lo, hi] and rounded to 256 levels (gradient straight through inside)."""

        def __init__(self, lo, hi, **kw):
            super().__init__(**kw)
            self.lo, self.hi = float(lo), float(hi)

        def call(self, x):
            return tf.quantization.fake_quant_with_min_max_args(x, min=self.lo, max=self.hi, num_bits=8)

    return RoundedConv, Rounded


def ranges(folded, images):
    """{activation layer name: max over ``images``} for every ReLU of a folded model."""
    import keras

    acts = [l for l in folded.layers if l.__class__.__name__ == "ReLU"]
    taps = keras.Model(folded.input, [a.output for a in acts])
    top = np.zeros(len(acts))
    for i in range(0, len(images), 32):
        x = np.stack(images[i:i + 32]).astype(np.float32) / 255.0
        outs = taps(x, training=False)
        top = np.maximum(top, [float(np.max(o)) for o in outs])
    return {a.name: max(t, 1e-3) for a, t in zip(acts, top)}


def rounded_model(folded, act_ranges, out_range):
    """The folded chain with int8 rounding after every conv's activation and on the output;
    shares its variables with ``folded``."""
    import keras

    RoundedConv, Rounded = _layers()
    inp = keras.Input(folded.input_shape[1:], name="image")
    if folded.layers[-1].output is not folded.output:
        raise PicofaceError("quantisation-aware fine-tuning needs a plain chain of layers", "set export.qat_epochs: 0")
    x = inp
    for layer in folded.layers[1:]:
        if layer.__class__.__name__ in CONV:
            x = RoundedConv(layer)(x)
        else:
            x = layer(x)
        if layer.name in act_ranges:
            x = Rounded(0.0, act_ranges[layer.name], name=layer.name + "_int8")(x)
    return keras.Model(inp, Rounded(*out_range, name="output_int8")(x), name=folded.name + "_qat")


def frozen_layers(cfg, folded):
    """Names of the folded layers that stay as trained (model.pretrained_frozen blocks)."""
    from picoface.train.pretrained import block_layers, frozen_blocks

    n = frozen_blocks(cfg.model)
    return set(block_layers(folded, n)) if n else set()


def finetune(cfg, folded, anchors, grid, calib_images, epochs, lr, cache=None, progress=True, log=print,
             deadline=None):
    """Fine-tune ``folded`` in place for ``epochs`` epochs of the training frames with int8 rounding
    in the forward pass (output range: ``export.clip_output``, which the config requires with
    ``export.qat_epochs``). Returns {"epochs", "steps", "loss": [per-epoch mean]}.
    ``deadline`` (a ``time.monotonic()`` value): stop after the step that passes it (``picoface study``'s
    budget); "epochs" and "steps" then count what ran."""
    import keras
    import tensorflow as tf

    from picoface.train.ema import WeightAverage
    from picoface.train.feed import TrainData
    from picoface.train.loss import configured_loss
    from picoface.train.trainer import train_step
    from picoface.train.trainset import load_train_cache

    frozen = frozen_layers(cfg, folded)
    for layer in folded.layers:
        layer.trainable = layer.name not in frozen and layer.__class__.__name__ in CONV
    model = rounded_model(folded, ranges(folded, calib_images), cfg.export.clip_output)
    if cache is None:
        cache = load_train_cache(cfg, progress=progress, log=log)
    data = TrainData(cfg, cache, anchors, grid, seed=cfg.seed + 7919)
    schedule = keras.optimizers.schedules.CosineDecay(float(lr), max(1, epochs * data.steps))
    opt = keras.optimizers.Adam(learning_rate=schedule, clipnorm=10.0)
    ema = WeightAverage(model.trainable_variables, 0.99)
    step = train_step(model, opt, configured_loss(cfg, np.asarray(anchors, np.float32)), ema)
    log("quantisation-aware fine-tuning: %d epochs x %d steps, lr %g, %d of %d conv layers trained"
        % (epochs, data.steps, lr, sum(1 for l in folded.layers if l.trainable),
           sum(1 for l in folded.layers if l.__class__.__name__ in CONV)))
    losses = []
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=epochs * data.steps, desc="qat", unit="step", leave=False)
    import time

    steps = 0
    for epoch in range(epochs):
        total, n = 0.0, 0
        for x, y, gt, ig in data.batches(epoch):
            loss, _ = step(tf.constant(x), tf.constant(y), tf.constant(gt), tf.constant(ig))
            total += float(loss)
            n += 1
            if bar is not None:
                bar.update(1)
            if deadline is not None and time.monotonic() > deadline:
                break
        steps += n
        losses.append(total / max(1, n))
        log("qat epoch %d: loss %.4f" % (epoch + 1, losses[-1]))
        if deadline is not None and time.monotonic() > deadline:
            break
    if bar is not None:
        bar.close()
    if not np.all(np.isfinite(losses)):
        raise PicofaceError("quantisation-aware fine-tuning diverged (loss %s)" % losses[-1],
                            "lower export.qat_lr or set export.qat_epochs: 0")
    for a, v in zip(ema.avg, ema.vars):   # the moving average is what ships
        v.assign(a)
    for layer in folded.layers:
        layer.trainable = True
    return {"epochs": len(losses), "steps": steps, "loss": [round(v, 4) for v in losses]}
