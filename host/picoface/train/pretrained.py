"""Start a picoface backbone from another detector's weights (an ONNX file).

``load_backbone(model, onnx_path, blocks)`` copies the stem and the first ``blocks``
depthwise-separable blocks from a MobileNetV1-style ONNX graph (Conv -> BatchNormalization ->
Relu chains, as in Ultra-Light-Fast-Generic-Face-Detector-1MB "slim") into a picoface Keras model
built with the same layout. The ONNX net expects (pixel - 127) / 128; picoface feeds pixel / 255,
so the stem kernel is rescaled and the offset moved into the stem's BatchNorm mean.
Shapes are checked layer by layer; nothing is copied unless every layer fits.
"""

import numpy as np

from picoface.errors import PicofaceError

# input normalisation of the source net: (pixel - MEAN) / STD
SRC_MEAN = 127.0
SRC_STD = 128.0


def _conv_bn_chain(path):
    """[(kind, weight (O,I,kh,kw), stride, (gamma, beta, mean, var, eps))] in graph order."""
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        raise PicofaceError("the onnx package is missing", "run make setup (requirements.txt lists onnx)") from None
    try:
        g = onnx.load(str(path)).graph
    except FileNotFoundError:
        raise PicofaceError("pretrained model %s not found" % path,
                            "check model.pretrained (the Ultra-Light models are in ../shared/anchors)") from None
    except Exception as e:  # protobuf decode errors have no common base class
        raise PicofaceError("cannot read %s as ONNX (%s)" % (path, e), "point model.pretrained at an .onnx file") from None
    inits = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    by_input = {}
    for n in g.node:
        for i in n.input:
            by_input.setdefault(i, []).append(n)
    chain = []
    for n in g.node:
        if n.op_type != "Conv" or n.input[1] not in inits:
            continue
        nxt = by_input.get(n.output[0], [])
        if len(nxt) != 1 or nxt[0].op_type != "BatchNormalization":
            continue
        bn = nxt[0]
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
        eps = {a.name: onnx.helper.get_attribute_value(a) for a in bn.attribute}.get("epsilon", 1e-5)
        w = inits[n.input[1]]
        kind = "dw" if attrs.get("group", 1) == w.shape[0] and w.shape[1] == 1 and w.shape[0] > 1 else "conv"
        stats = tuple(inits[x].astype(np.float32) for x in bn.input[1:5]) + (float(eps),)
        chain.append((kind, w.astype(np.float32), tuple(attrs.get("strides", [1, 1])), stats))
    return chain


def block_layers(model, blocks):
    """picoface layer names, in order, for the stem and the first ``blocks`` blocks."""
    names = ["stem"]
    for i in range(blocks):
        names += ["b%d_dw" % i, "b%d_pw" % i]
    for n in names:
        try:
            model.get_layer(n)
        except ValueError:
            raise PicofaceError("the model has no layer %s for pretrained block %s" % (n, n.split("_")[0]),
                                "lower model.pretrained_blocks or check the model layout") from None
    return names


def load_backbone(model, path, blocks):
    """Copy weights into ``model`` (a picoface Keras model with BatchNorm). Returns the layer names set."""
    chain = _conv_bn_chain(path)
    names = block_layers(model, blocks)
    if len(chain) < len(names):
        raise PicofaceError("%s has %d conv+BN layers, fewer than the %d needed for %d blocks"
                            % (path, len(chain), len(names), blocks), "lower model.pretrained_blocks")
    plan = []
    for name, (kind, w, stride, stats) in zip(names, chain):
        layer = model.get_layer(name)
        is_dw = layer.__class__.__name__ == "DepthwiseConv2D"
        if is_dw != (kind == "dw") or tuple(layer.strides) != stride:
            raise PicofaceError("pretrained layer order does not match at %s (%s, stride %s in the ONNX file)"
                                % (name, "depthwise" if kind == "dw" else "conv", stride[0]),
                                "use a model layout like the source net (model.fast_stem: false, stride 8)")
        k = w.transpose(2, 3, 0, 1) if is_dw else w.transpose(2, 3, 1, 0)   # -> (kh, kw, in|C, out|1)
        if tuple(layer.kernel.shape) != k.shape:
            raise PicofaceError("pretrained %s kernel is %s, the model's is %s" % (name, k.shape, tuple(layer.kernel.shape)),
                                "set model.channels like the source net's")
        plan.append((name, k, stats))
    for name, k, (gamma, beta, mean, var, eps) in plan:
        if name == "stem":
            # pixel/255 in; the source net wants (pixel - 127)/128 = x*255/128 - 127/128
            offset = -(SRC_MEAN / SRC_STD) * k.sum(axis=(0, 1, 2))
            k = k * (255.0 / SRC_STD)
            mean = mean - offset
        model.get_layer(name).set_weights([k])
        bn = model.get_layer(name + "_bn")
        # same normalisation with the Keras epsilon: var' + eps' == var + eps
        var2 = var + eps - bn.epsilon
        fix = np.ones_like(var)
        low = var2 < 1e-6
        if low.any():
            fix[low] = np.sqrt(1e-6 + bn.epsilon) / np.sqrt(var[low] + eps)
            var2[low] = 1e-6
        bn.set_weights([gamma * fix, beta, mean, var2])
    return [p[0] for p in plan]


def frozen_blocks(m):
    """How many pretrained blocks a model config keeps frozen (0 when none)."""
    if not (m.pretrained and m.pretrained_frozen):
        return 0
    return m.pretrained_blocks if m.pretrained_frozen_blocks < 0 else m.pretrained_frozen_blocks


def freeze(model, blocks):
    """Make the stem and the first ``blocks`` blocks untrainable (their BatchNorm then normalises
    with the stored statistics). Returns the frozen layer names."""
    names = block_layers(model, blocks)
    for n in names:
        for layer in (model.get_layer(n), model.get_layer(n + "_bn")):
            layer.trainable = False
    return names



def _unfold(layer, bn, k, bias, z):
    """Folded (kernel, bias) into an unfolded conv + BatchNorm: ``z`` (N, H, W, C) is the folded conv's
    output on sample frames; BN's moving statistics become its mean and variance without the bias and
    gamma, beta undo them, so BN(conv(x)) is the folded conv(x) + bias again (exactly in inference,
    about so with a batch's statistics in training)."""
    zc = np.asarray(z, np.float64).reshape(-1, z.shape[-1]) - bias
    m, v = zc.mean(0), zc.var(0)
    layer.set_weights([k])
    bn.set_weights([np.sqrt(v + bn.epsilon).astype(np.float32), (m + bias).astype(np.float32),
                    m.astype(np.float32), v.astype(np.float32)])


def load_trained(model, path, anchors, classes, images):
    """Start ``model`` from a trained picoface .keras detector (``model.init``): every layer whose name
    and weight shapes match is copied. A shipped (BN-folded) source gives each conv its kernel and each
    BatchNorm the statistics of the folded conv's output on ``images`` (uint8 frames, picoface.train.feed),
    so the unfolded net computes what the source does. The region conv, when the source has fewer
    classes, gives each anchor its box and objectness entries and leaves the new class entries at zero
    (equal classes at first). Returns the names of the layers set. Shapes must match everywhere else."""
    import keras

    from picoface.errors import PicofaceError

    try:
        src = keras.models.load_model(str(path), compile=False)
    except (OSError, ValueError) as e:
        raise PicofaceError("model.init %s is not a readable .keras model (%s)" % (path, str(e).splitlines()[0]),
                            "point model.init at a trained picoface.keras") from None
    have = {l.name: l for l in src.layers}
    mine = {l.name: l for l in model.layers}
    folded = [l.name for l in model.layers if l.name + "_bn" in mine and l.name in have
              and len(have[l.name].get_weights()) == 2 and len(l.get_weights()) == 1]
    outs = {}
    if folded:
        taps = keras.Model(src.input, [have[n].output for n in folded])
        z = taps.predict(np.asarray(images, np.float32) / 255.0, verbose=0, batch_size=16)
        outs = dict(zip(folded, z if len(folded) > 1 else [z]))
    done = []
    for layer in model.layers:
        w = layer.get_weights()
        if not w or layer.name not in have:
            continue
        sw = have[layer.name].get_weights()
        region = layer.name == "region" and len(sw) == 2
        if layer.name in outs:
            fits = sw[0].shape == w[0].shape               # a folded kernel into a BN-less conv
        elif region:
            fits = sw[0].shape[:3] == w[0].shape[:3]       # the output channels may grow (classes)
        else:
            fits = [x.shape for x in sw] == [x.shape for x in w]
        if not fits:
            raise PicofaceError("model.init layer %s has weights %s, this model %s"
                                % (layer.name, [x.shape for x in sw], [x.shape for x in w]),
                                "use a source built with the same model.channels and strides")
        if layer.name in outs:
            _unfold(layer, mine[layer.name + "_bn"], sw[0], sw[1], outs[layer.name])
            done += [layer.name, layer.name + "_bn"]
            continue
        if region:
            src_ne = sw[0].shape[3] // anchors
            ne = 5 + classes
            if src_ne * anchors != sw[0].shape[3] or src_ne > ne:
                raise PicofaceError("model.init's region conv has %d channels, not %d anchors x (5 + classes)"
                                    % (sw[0].shape[3], anchors), "use a source with the same anchors")
            k, b = np.zeros_like(w[0]), np.zeros_like(w[1])
            for a in range(anchors):
                k[..., a * ne:a * ne + 5] = sw[0][..., a * src_ne:a * src_ne + 5]
                b[a * ne:a * ne + 5] = sw[1][a * src_ne:a * src_ne + 5]
            layer.set_weights([k, b])
            done.append(layer.name)
            continue
        layer.set_weights(sw)
        done.append(layer.name)
    return done
