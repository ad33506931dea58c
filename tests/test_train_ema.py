"""train.ema: the moving average of the weights that val, the best checkpoint and the shipped model use."""

import numpy as np
import pytest

pytestmark = pytest.mark.tf


def test_average_follows_the_weights_and_swaps_in_and_out(tmp_path):
    import tensorflow as tf

    from picoface.errors import PicofaceError
    from picoface.train.ema import WeightAverage

    v = tf.Variable([0.0, 0.0])
    w = tf.Variable([[1.0]])
    ema = WeightAverage([v, w], 0.5)
    expect = np.array([0.0, 0.0])
    for step in range(1, 6):
        v.assign([float(step), -float(step)])
        ema.update()
        d = min(0.5, (1.0 + step) / (10.0 + step))
        expect = d * expect + (1 - d) * np.array([step, -step])
    np.testing.assert_allclose(ema.avg[0].numpy(), expect, rtol=1e-6)
    with ema.applied():
        np.testing.assert_allclose(v.numpy(), expect, rtol=1e-6)     # the model holds the average inside
    np.testing.assert_array_equal(v.numpy(), [5.0, -5.0])            # and its own weights after

    ema.save(tmp_path / "ema.npz")
    other = WeightAverage([tf.Variable([9.0, 9.0]), tf.Variable([[9.0]])], 0.5)
    other.load(tmp_path / "ema.npz")
    np.testing.assert_allclose(other.avg[0].numpy(), expect, rtol=1e-6)
    assert float(other.count.numpy()) == 5.0
    with pytest.raises(PicofaceError, match="does not match"):
        WeightAverage([tf.Variable([1.0, 2.0, 3.0]), tf.Variable([[1.0]])], 0.5).load(tmp_path / "ema.npz")
    with pytest.raises(PicofaceError, match="missing"):
        other.load(tmp_path / "absent.npz")


def test_config_checks_the_decay():
    from picoface.errors import PicofaceError
    from picoface.train.config import load_config

    assert load_config(None, ["train.ema=0.998"]).train.ema == 0.998
    with pytest.raises(PicofaceError, match="train.ema"):
        load_config(None, ["train.ema=1.0"])
