"""The detector family obeys the KPU rules; grids, params, BN folding, reference baselines."""

import numpy as np
import pytest

from picoface.errors import PicofaceError
from picoface.train.config import ModelConfig

pytestmark = pytest.mark.tf


def _layers(model):
    return {l.name: l for l in model.layers}


def _check_kpu_rules(model):
    import keras

    layers = model.layers
    for i, layer in enumerate(layers):
        cls = layer.__class__.__name__
        assert cls not in ("Add", "UpSampling2D", "GlobalAveragePooling2D", "GlobalMaxPooling2D",
                           "LeakyReLU", "MaxPooling2D", "Resizing"), layer.name
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)):
            assert tuple(layer.kernel_size) in ((1, 1), (3, 3)), layer.name
            if tuple(layer.strides) == (2, 2):
                assert layer.padding == "valid", layer.name
                prev = layer._inbound_nodes[0].parent_nodes[0].operation
                assert isinstance(prev, keras.layers.ZeroPadding2D), layer.name
                assert tuple(map(tuple, prev.padding)) == ((1, 1), (1, 1)), layer.name
                h, w = prev.input.shape[1:3]
                assert h % 2 == 0 and w % 2 == 0, (layer.name, h, w)
        if isinstance(layer, keras.layers.ReLU):
            assert layer.max_value in (None, 6.0)


@pytest.mark.parametrize("size,grid", [((320, 240), (20, 15)), ((128, 128), (8, 8)), ((224, 224), (14, 14))])
def test_grid_and_kpu_rules(size, grid):
    from picoface.train.model import build_model

    m = ModelConfig()
    model = build_model(m, *size)
    assert model.output_shape == (None, grid[1], grid[0], 30)
    _check_kpu_rules(model)
    assert "region" in _layers(model) and _layers(model)["region"].kernel_size == (1, 1)


def test_fast_stem_and_stride32_follow_the_rules():
    from picoface.train.model import build_model

    _check_kpu_rules(build_model(ModelConfig(fast_stem=True, channels=[8, 16, 32, 32, 64, 64, 128, 192, 192]),
                                 320, 240))
    m8 = build_model(ModelConfig(stride=8, extra_blocks=3, channels=[8, 16, 32, 32, 64, 64, 112, 112, 112]), 128, 128)
    assert m8.output_shape == (None, 16, 16, 30)          # the OpenMV model's grid
    _check_kpu_rules(m8)
    m32 = build_model(ModelConfig(stride=32), 224, 224)
    assert m32.output_shape[1:3] == (7, 7)
    _check_kpu_rules(m32)



def test_grayscale_patchify_stem_for_tflite_boards():
    """OpenMV layout: a 1-channel 320x240 input, a 4x4 stride-4 stem without padding, 20x15 grid;
    BN folding keeps the function and the channel count."""
    from picoface.train.model import build_model, fold_batchnorm

    m = ModelConfig(stem_kernel=4, stem_stride=4, strides=[1, 2, 1, 2, 1],
                    channels=[16, 24, 32, 48, 48, 64], activation="relu")
    model = build_model(m, 320, 240, channels=1)
    assert model.input_shape == (None, 240, 320, 1)
    assert model.output_shape == (None, 15, 20, 30)
    stem = _layers(model)["stem"]
    assert stem.kernel_size == (4, 4) and stem.strides == (4, 4) and stem.padding == "valid"
    assert "stem_pad" not in _layers(model)
    assert stem.output.shape[1:] == (60, 80, 16)
    x = np.random.default_rng(0).random((2, 240, 320, 1)).astype(np.float32)
    for layer in model.layers:   # non-trivial BN statistics, so folding has something to fold
        if layer.__class__.__name__ == "BatchNormalization":
            g, b, mu, var = layer.get_weights()
            layer.set_weights([g * 1.3, b + 0.1, mu + 0.05, var * 0.7])
    folded = fold_batchnorm(model, m)
    assert folded.input_shape == (None, 240, 320, 1)
    np.testing.assert_allclose(folded(x).numpy(), model(x, training=False).numpy(), atol=1e-4)

def test_params_grow_with_width():
    from picoface.train.model import build_model

    counts = [build_model(ModelConfig(width=w), 128, 128).count_params() for w in (0.25, 0.5, 0.75, 1.0)]
    assert counts == sorted(counts) and len(set(counts)) == 4
    assert counts[0] == 61390           # alpha 0.25, 2 extra blocks: the documented size
    assert counts[-1] > 10 * counts[0] / 2
    # parameters do not depend on the input size (fully convolutional)
    assert build_model(ModelConfig(width=0.25), 320, 240).count_params() == counts[0]


def test_bad_input_sizes_are_refused():
    from picoface.train.model import check_input

    check_input(320, 240, 16)
    with pytest.raises(PicofaceError, match="multiple of the output stride"):
        check_input(320, 250, 16)
    with pytest.raises(PicofaceError, match="multiple of the output stride 32"):
        check_input(320, 240, 32)          # 240 / 32 = 7.5


def test_fold_batchnorm_matches_and_removes_bn():
    import keras

    from picoface.export.tflite import fold
    from picoface.train.model import build_model

    m = ModelConfig()
    model = build_model(m, 64, 64)
    rng = np.random.default_rng(1)
    # give BN non-trivial statistics
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.gamma.shape[0]
            layer.set_weights([rng.uniform(0.5, 1.5, n), rng.normal(0, 0.1, n), rng.normal(0, 0.2, n),
                               rng.uniform(0.5, 2.0, n)])
    folded = fold(model, m)
    assert not any(isinstance(l, keras.layers.BatchNormalization) for l in folded.layers)
    x = rng.random((2, 64, 64, 3), dtype=np.float32)
    np.testing.assert_allclose(model(x, training=False).numpy(), folded(x).numpy(), atol=1e-4, rtol=1e-3)


def test_reference_baselines_build():
    from picoface.train.model import build_model

    mb = build_model(ModelConfig(arch="mobilenetv2_exit", width=0.5), 224, 224)
    assert mb.output_shape == (None, 14, 14, 30)       # early exit at stride 16
    assert any(l.name == "block_13_expand_relu" for l in mb.layers)
    tf_ = build_model(ModelConfig(arch="tinyface_squeezenet", width=1.0), 100, 100)
    assert tf_.input_shape == (None, 100, 100, 1) and tf_.output_shape == (None, 1)
    assert any("fire" in l.name for l in tf_.layers)
