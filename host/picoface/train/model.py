"""Model family: KPU-friendly YOLOv2-style face detectors plus two reference baselines.

``build_model(cfg.model, input_w, input_h)`` returns a Keras model.

* ``picoface`` (the shipped family): MobileNetV1-style depthwise-separable backbone, width
  multiplier 0.25..1.0, output stride 16 (or 32), every stride-2 layer preceded by an explicit
  symmetric ``ZeroPadding2D((1, 1))`` and ``padding='valid'``; only 1x1/3x3 kernels, ReLU or
  ReLU6, BatchNorm (folded at export, see ``fold_batchnorm``); YOLOv2 region head: one 1x1 conv
  to ``anchors * (5 + classes)`` channels (NHWC, channel = a*(5+C)+e, ARCHITECTURE §3).
  No Add, UpSampling, GlobalPooling or kernels larger than 3x3.
* ``gate``: the picoface backbone with a one-channel 1x1 head: a face / no-face logit map whose
  mean is the gate's logit (picoface.gate; the mean is taken by the trainer and the board, so the
  exported net stays KPU-only).
* ``mobilenetv2_exit`` (reference): the paper's MobileNetV2 early-exit detector ("OutA": the
  output block appended at layer #119, ``block_13_expand_relu``, stride 16), width 0.5.
* ``tinyface_squeezenet`` (reference): the TinyFace thesis's SqueezeNet face / no-face
  classifier on 100x100 grayscale crops (one sigmoid output).
"""

import math

# Base (width 1.0) channels of the picoface backbone, one entry per depthwise-separable block:
# (output channels, stride). The stem is a plain 3x3 stride-2 conv with STEM channels.
STEM = 32
BLOCKS_S16 = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)]
BLOCKS_S32 = [(1024, 2)]

FORBIDDEN_LAYERS = ("Add", "UpSampling2D", "GlobalAveragePooling2D", "GlobalMaxPooling2D",
                    "LeakyReLU", "Resizing")


def _ch(base, width, min_ch=8):
    """Channels for a base count at a width multiplier, rounded to a multiple of 8."""
    return max(min_ch, int(math.ceil(base * width / 8.0)) * 8)


def grid_size(input_w, input_h, stride):
    return input_w // stride, input_h // stride


def check_input(input_w, input_h, stride):
    """Every stride-2 layer must see even sizes: 320x240 at stride 16 is fine, 240 at 32 is not."""
    from picoface.errors import PicofaceError

    n = int(round(math.log2(stride)))
    for name, v in (("input_w", input_w), ("input_h", input_h)):
        if v % stride:
            raise PicofaceError("%s=%d is not a multiple of the output stride %d" % (name, v, stride),
                                "use a multiple of %d (e.g. 320x240 with stride 16, 224x224 with 32)" % stride)
        size = v
        for _ in range(n):
            if size % 2:
                raise PicofaceError("%s=%d gives an odd size %d before a stride-2 layer" % (name, v, size),
                                    "choose an input whose halvings stay even")
            size //= 2


def _act(x, kind, name):
    import keras

    if kind == "relu6":
        return keras.layers.ReLU(max_value=6.0, name=name)(x)
    return keras.layers.ReLU(name=name)(x)


def _conv_bn(x, ch, k, stride, act, name, use_bn=True):
    import keras

    if stride == 2 and k == 3:
        x = keras.layers.ZeroPadding2D(((1, 1), (1, 1)), name=name + "_pad")(x)
    pad = "valid" if (stride > 1 or k == 1) else "same"   # a k x k / k patchify stem needs no padding
    x = keras.layers.Conv2D(ch, k, strides=stride, padding=pad, use_bias=not use_bn, name=name)(x)
    if use_bn:
        x = keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-3, name=name + "_bn")(x)
    return _act(x, act, name + "_act")


def _dw_bn(x, stride, act, name, use_bn=True):
    import keras

    if stride == 2:
        x = keras.layers.ZeroPadding2D(((1, 1), (1, 1)), name=name + "_pad")(x)
    x = keras.layers.DepthwiseConv2D(3, strides=stride, padding="valid" if stride == 2 else "same",
                                     use_bias=not use_bn, name=name)(x)
    if use_bn:
        x = keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-3, name=name + "_bn")(x)
    return _act(x, act, name + "_act")


def picoface_layers(m):
    """The (channels, stride) list of the depthwise-separable blocks for a model config."""
    if m.stride == 8:
        # stop before the last stride-2 block: 128x128 -> 16x16 grid (small faces on OpenMV)
        blocks = list(BLOCKS_S16[:-1]) + [(256, 1)] * int(m.extra_blocks)
    else:
        blocks = list(BLOCKS_S16) + [(512, 1)] * int(m.extra_blocks)
    if m.fast_stem:
        # downsample in the first block instead of the second: nothing wide at 1/2 resolution
        blocks[0], blocks[1] = (blocks[0][0], 2), (blocks[1][0], 1)
    if m.stride == 32:
        blocks += list(BLOCKS_S32) + [(1024, 1)]
    if m.strides:
        # an explicit layout: one block per stride, channels from model.channels (or the last base width)
        blocks = [((blocks[i][0] if i < len(blocks) else blocks[-1][0]), int(s)) for i, s in enumerate(m.strides)]
    chans = list(m.channels) if m.channels else None
    out = []
    for i, (base, s) in enumerate(blocks):
        ch = chans[i + 1] if chans and i + 1 < len(chans) else _ch(base, m.width)
        out.append((ch, s))
    stem = chans[0] if chans else _ch(STEM, m.width)
    return stem, out


def build_picoface(m, input_w, input_h, use_bn=True, name="picoface", dynamic=False, channels=3):
    """``dynamic``: input (None, None, channels), for training at several sizes (weights are shared).
    ``channels``: 3 (RGB) or 1 (grayscale, ``input.grayscale``)."""
    import keras

    check_input(input_w, input_h, m.stride)
    inp = keras.Input((None, None, channels) if dynamic else (input_h, input_w, channels), name="image")
    stem, blocks = picoface_layers(m)
    x = _conv_bn(inp, stem, m.stem_kernel, m.stem_stride, m.activation, "stem", use_bn)
    for i, (ch, s) in enumerate(blocks):
        x = _dw_bn(x, s, m.activation, "b%d_dw" % i, use_bn)
        x = _conv_bn(x, ch, 1, 1, m.activation, "b%d_pw" % i, use_bn)
    if m.head_channels:
        x = _dw_bn(x, 1, m.activation, "head_dw", use_bn)
        x = _conv_bn(x, m.head_channels, 1, 1, m.activation, "head_pw", use_bn)
    if m.arch == "gate":
        y = keras.layers.Conv2D(1, 1, padding="valid", use_bias=True, name="region")(x)
    else:
        y = keras.layers.Conv2D(m.anchors * (5 + m.classes), 1, padding="valid", use_bias=True, name="region",
                                bias_initializer=_obj_bias(m))(x)
    return keras.Model(inp, y, name=name)


def _obj_bias(m):
    """Start objectness at a low prior (~1%) so the first steps are not swamped by negatives."""
    import keras
    import numpy as np

    b = np.zeros(m.anchors * (5 + m.classes), np.float32)
    b[4::5 + m.classes] = -4.6
    return keras.initializers.Constant(b)


def build_mobilenetv2_exit(m, input_w, input_h):
    """The paper's adapted MobileNetV2 ("A"-type early exit at block_13_expand_relu, stride 16)."""
    import keras

    base = keras.applications.MobileNetV2(input_shape=(input_h, input_w, 3), alpha=m.width,
                                          include_top=False, weights=None)
    feat = base.get_layer("block_13_expand_relu").output
    out_ch = m.anchors * (5 + m.classes)
    y = keras.layers.Conv2D(out_ch, 1, name="region", bias_initializer=_obj_bias(m))(feat)
    return keras.Model(base.input, y, name="mobilenetv2_exit")


def _fire(x, squeeze, expand, name):
    import keras

    s = keras.layers.Conv2D(squeeze, 1, activation="relu", name=name + "_sq")(x)
    e1 = keras.layers.Conv2D(expand, 1, activation="relu", name=name + "_e1")(s)
    e3 = keras.layers.Conv2D(expand, 3, padding="same", activation="relu", name=name + "_e3")(s)
    return keras.layers.Concatenate(name=name + "_cat")([e1, e3])


def build_tinyface(m, input_w, input_h):
    """SqueezeNet-style face / no-face classifier (TinyFace thesis), grayscale input."""
    import keras

    inp = keras.Input((input_h, input_w, 1), name="image")
    x = keras.layers.Conv2D(_ch(64, m.width), 3, strides=2, activation="relu", name="conv1")(inp)
    x = keras.layers.MaxPooling2D(3, 2, name="pool1")(x)
    x = _fire(x, _ch(16, m.width), _ch(64, m.width), "fire2")
    x = _fire(x, _ch(16, m.width), _ch(64, m.width), "fire3")
    x = keras.layers.MaxPooling2D(3, 2, name="pool3")(x)
    x = _fire(x, _ch(32, m.width), _ch(128, m.width), "fire4")
    x = _fire(x, _ch(32, m.width), _ch(128, m.width), "fire5")
    x = keras.layers.MaxPooling2D(3, 2, name="pool5")(x)
    x = _fire(x, _ch(48, m.width), _ch(192, m.width), "fire6")
    x = keras.layers.Dropout(0.3, name="drop")(x)
    x = keras.layers.Conv2D(1, 1, name="conv10")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    y = keras.layers.Activation("linear", name="logit")(x)
    return keras.Model(inp, y, name="tinyface_squeezenet")


def build_model(m, input_w, input_h, dynamic=False, channels=3):
    """Build the Keras model described by a ``ModelConfig`` at the given input size
    (``channels``: 1 for a grayscale input, picoface family only)."""
    from picoface.errors import PicofaceError

    if m.arch in ("picoface", "gate"):
        return build_picoface(m, input_w, input_h, dynamic=dynamic, channels=channels)
    if m.arch == "mobilenetv2_exit":
        return build_mobilenetv2_exit(m, input_w, input_h)
    if m.arch == "tinyface_squeezenet":
        return build_tinyface(m, input_w, input_h)
    raise PicofaceError("unknown model arch %r" % m.arch, "use picoface, gate, mobilenetv2_exit or tinyface_squeezenet")


def fold_batchnorm(model, m):
    """A copy of a picoface model without BatchNorm: each BN folded into the conv before it."""
    h, w, c = model.input_shape[1], model.input_shape[2], model.input_shape[3]
    return fold_into(model, build_picoface(m, w, h, use_bn=False, name=model.name, channels=c))


def fold_into(model, folded):
    """``folded`` (the same net built without BatchNorm) given ``model``'s weights, each BN folded into
    the conv before it (layers matched by name, BN named <conv>_bn)."""
    import numpy as np

    for layer in folded.layers:
        if not layer.weights:
            continue
        src = model.get_layer(layer.name)
        ws = src.get_weights()
        try:
            bn = model.get_layer(layer.name + "_bn")
        except ValueError:
            layer.set_weights(ws)
            continue
        gamma, beta, mean, var = bn.get_weights()
        scale = gamma / np.sqrt(var + bn.epsilon)
        kernel = ws[0]
        bias = ws[1] if len(ws) > 1 else np.zeros_like(mean)
        if layer.__class__.__name__ == "DepthwiseConv2D":
            kernel = kernel * scale.reshape(1, 1, -1, 1)
        else:
            kernel = kernel * scale.reshape(1, 1, 1, -1)
        layer.set_weights([kernel.astype(np.float32), ((bias - mean) * scale + beta).astype(np.float32)])
    return folded


def count_macs(model):
    """Multiply-accumulates of the conv layers of a model (one image)."""
    total = 0
    for layer in model.layers:
        cls = layer.__class__.__name__
        if cls not in ("Conv2D", "DepthwiseConv2D"):
            continue
        oh, ow, oc = layer.output.shape[1:4]
        kh, kw = layer.kernel_size
        if cls == "Conv2D":
            ic = layer.input.shape[-1]
            total += oh * ow * oc * kh * kw * ic
        else:
            total += oh * ow * oc * kh * kw
    return int(total)
