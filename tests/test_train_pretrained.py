"""Backbone weights from an ONNX detector (model.pretrained): a small Conv/BN/Relu ONNX net built
here, run by onnxruntime, must give the same features as the picoface Keras model it is loaded into;
and, when ../shared is present, Ultra-Light slim-320's stride-8 backbone."""

import numpy as np
import pytest

from picoface.train.config import load_config

pytestmark = pytest.mark.tf

BLOCKS = [(8, 1), (16, 2), (16, 1)]   # (out channels, stride) of the first picoface blocks at stride 8


def _onnx_net(path, rng, stem=8, eps=1e-5):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = [], []

    def conv_bn_relu(x, name, w, stride, group):
        c = w.shape[0]
        inits.append(numpy_helper.from_array(w, name + "_w"))
        pads = [w.shape[2] // 2] * 4
        nodes.append(helper.make_node("Conv", [x, name + "_w"], [name + "_c"], strides=[stride, stride], pads=pads,
                                      group=group, kernel_shape=list(w.shape[2:])))
        stats = [rng.uniform(0.5, 1.5, c), rng.normal(0, 0.2, c), rng.normal(0, 0.2, c), rng.uniform(0.3, 2.0, c)]
        stats[3][0] = 0.0          # a zero variance: the loader must keep the channel's scale anyway
        for k, v in zip(("g", "b", "m", "v"), stats):
            inits.append(numpy_helper.from_array(v.astype(np.float32), "%s_%s" % (name, k)))
        nodes.append(helper.make_node("BatchNormalization", [name + "_c"] + ["%s_%s" % (name, k) for k in "gbmv"],
                                      [name + "_bn"], epsilon=eps))
        nodes.append(helper.make_node("Relu", [name + "_bn"], [name + "_r"]))
        return name + "_r"

    x = conv_bn_relu("input", "stem", rng.normal(0, 0.3, (stem, 3, 3, 3)).astype(np.float32), 2, 1)
    c = stem
    for i, (oc, s) in enumerate(BLOCKS):
        x = conv_bn_relu(x, "b%d_dw" % i, rng.normal(0, 0.3, (c, 1, 3, 3)).astype(np.float32), s, c)
        x = conv_bn_relu(x, "b%d_pw" % i, rng.normal(0, 0.3, (oc, c, 1, 1)).astype(np.float32), 1, 1)
        c = oc
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 64, 64])],
                              [helper.make_tensor_value_info(x, TensorProto.FLOAT, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8   # what onnxruntime of any recent release reads
    onnx.save(model, str(path))
    return x


def _cfg(src, blocks=3, *extra):
    return load_config(None, ["input.w=64", "input.h=64", "model.stride=8", "model.fast_stem=false",
                              "model.activation=relu", "model.extra_blocks=1",
                              "model.channels=[8, %s, 16]" % ", ".join(str(c) for c, _ in BLOCKS) + "",
                              "model.pretrained=%s" % src, "model.pretrained_blocks=%d" % blocks, *extra])


def _features(model, layer, x):
    import keras

    return keras.Model(model.input, model.get_layer(layer).output)(x).numpy()


def test_loaded_backbone_computes_what_the_onnx_net_computes(tmp_path):
    import onnxruntime as ort

    from picoface.train.model import build_model
    from picoface.train.pretrained import load_backbone

    rng = np.random.default_rng(0)
    src = tmp_path / "tiny.onnx"
    out_name = _onnx_net(src, rng)
    cfg = _cfg(src)
    model = build_model(cfg.model, 64, 64)
    assert load_backbone(model, src, 3) == ["stem", "b0_dw", "b0_pw", "b1_dw", "b1_pw", "b2_dw", "b2_pw"]
    pixels = rng.integers(0, 256, (1, 64, 64, 3)).astype(np.float32)
    ref = ort.InferenceSession(str(src)).run([out_name], {"input": ((pixels - 127) / 128).transpose(0, 3, 1, 2)})[0]
    ref = ref.transpose(0, 2, 3, 1)[0]
    got = _features(model, "b2_pw_act", pixels / 255.0)[0]
    assert got.shape == ref.shape == (16, 16, 16)
    # the two nets pad the stem input differently (0 vs pixel 127): compare away from the border
    inner = np.abs(got - ref)[3:-3, 3:-3]
    assert inner.max() < 1e-3 * max(1.0, np.abs(ref).max())
    assert np.abs(ref).max() > 0.1


def test_mismatched_layout_is_refused_before_anything_is_copied(tmp_path):
    from picoface.errors import PicofaceError
    from picoface.train.model import build_model
    from picoface.train.pretrained import load_backbone

    src = tmp_path / "tiny.onnx"
    _onnx_net(src, np.random.default_rng(1))
    cfg = _cfg(src, 3, "model.channels=[8, 8, 24, 16, 16]")
    model = build_model(cfg.model, 64, 64)
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(PicofaceError, match="kernel is"):
        load_backbone(model, src, 3)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    with pytest.raises(PicofaceError, match="fewer than"):
        load_backbone(build_model(_cfg(src, 4, "model.extra_blocks=3").model, 64, 64), src, 4)
    with pytest.raises(PicofaceError, match="not found"):
        load_backbone(model, tmp_path / "missing.onnx", 3)
    (tmp_path / "junk.onnx").write_bytes(b"not a protobuf at all" * 10)
    with pytest.raises(PicofaceError, match="cannot read"):
        load_backbone(model, tmp_path / "junk.onnx", 3)


def test_frozen_blocks_do_not_move_in_training(tmp_path):
    import tensorflow as tf

    from picoface.train.model import build_model
    from picoface.train.pretrained import freeze, load_backbone

    src = tmp_path / "tiny.onnx"
    _onnx_net(src, np.random.default_rng(3))
    model = build_model(_cfg(src).model, 64, 64)
    load_backbone(model, src, 3)
    frozen = freeze(model, 2)
    assert frozen == ["stem", "b0_dw", "b0_pw", "b1_dw", "b1_pw"]
    before = {n: [w.copy() for w in model.get_layer(n).get_weights() + model.get_layer(n + "_bn").get_weights()]
              for n in frozen + ["b2_pw"]}
    opt = tf.keras.optimizers.SGD(0.1)
    x = np.random.default_rng(4).random((2, 64, 64, 3)).astype(np.float32)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(model(x, training=True) - 1.0))
    opt.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
    for n in frozen:
        after = model.get_layer(n).get_weights() + model.get_layer(n + "_bn").get_weights()
        assert all(np.array_equal(a, b) for a, b in zip(before[n], after)), n   # BN statistics too
    after = model.get_layer("b2_pw").get_weights()
    assert not np.array_equal(after[0], before["b2_pw"][0])                     # the rest learns


def test_config_wants_both_keys(tmp_path):
    from picoface.errors import PicofaceError

    with pytest.raises(PicofaceError, match="pretrained_blocks"):
        load_config(None, ["model.pretrained=x.onnx"])
    with pytest.raises(PicofaceError, match="pretrained_blocks"):
        load_config(None, ["model.pretrained_blocks=3"])
    with pytest.raises(PicofaceError, match="pretrained_frozen needs"):
        load_config(None, ["model.pretrained_frozen=true"])


def test_shipped_k210_config_loads_ultralight_slim(anchors):
    """The shipped K210 config's backbone is slim-320's: all its pretrained blocks are copied, and its
    frozen stride-8 part gives slim-320's features inside the frame (further in, slim's grey input
    padding against picoface's black reaches every cell of the small stride-16 grid)."""
    import onnx
    import onnxruntime as ort

    from picoface.paths import REPO_ROOT, shared_path
    from picoface.train.model import build_model
    from picoface.train.pretrained import frozen_blocks, load_backbone

    cfg = load_config(REPO_ROOT / "models" / "picoface_k210_320x240" / "train.yaml")
    src = shared_path(cfg.model.pretrained)
    if not src.is_file():
        pytest.skip("%s not present" % src)
    model = build_model(cfg.model, 320, 240)
    done = load_backbone(model, src, cfg.model.pretrained_blocks)
    assert len(done) == 1 + 2 * cfg.model.pretrained_blocks
    n = frozen_blocks(cfg.model)
    last = "b%d_pw_act" % (n - 1)
    g = onnx.load(str(src))
    bn_out = {n.output[0] for n in g.graph.node if n.op_type == "BatchNormalization"}
    # the backbone's Conv -> BN -> Relu chains (the detection headers' ReLUs follow no BN)
    relus = [n for n in g.graph.node if n.op_type == "Relu" and n.input[0] in bn_out]
    tap = relus[2 * n].output[0]   # stem + 2 per block
    g.graph.output.append(onnx.helper.make_tensor_value_info(tap, onnx.TensorProto.FLOAT, None))
    so = ort.SessionOptions()
    so.log_severity_level = 3
    pixels = np.random.default_rng(2).integers(0, 256, (1, 240, 320, 3)).astype(np.float32)
    ref = ort.InferenceSession(g.SerializeToString(), so).run(
        [tap], {"input": ((pixels - 127) / 128).transpose(0, 3, 1, 2)})[0][0].transpose(1, 2, 0)
    got = _features(model, last, pixels / 255.0)[0]
    assert got.shape == ref.shape == (30, 40, 64)
    inner = np.abs(got - ref)[4:-4, 4:-4]
    assert inner.mean() < 1e-3 * np.abs(ref).mean() + 1e-4 and inner.max() < 0.05 * np.abs(ref).max()
