"""Q-format fixed point (picoface.study.qformat): the rounding and saturation rule on known values,
the per-layer format choice, and the simulated net computed bit-exactly (checked against a plain
integer implementation of the same layers)."""

import numpy as np
import pytest

from picoface.study.qformat import QModel, best_frac, dequantize, q_name, quantize, range_frac


def test_rounding_ties_and_saturation():
    # Q2.5 (8 bits): step 1/32, integers -128..127 = -4.0 .. 3.96875
    x = np.array([0.3, -0.3, 1 / 64, -1 / 64, 3 / 64, -3 / 64, 3.97, 100.0, -4.0, -4.02, -100.0])
    q = quantize(x, 8, 5)
    # 0.3*32 = 9.6 -> 10; ties (0.5, -0.5, 1.5, -1.5 steps) go toward +inf; beyond the range: saturate
    assert q.tolist() == [10, -10, 1, 0, 2, -1, 127, 127, -128, -128, -128]
    assert dequantize(q, 5)[0] == 0.3125 and dequantize(q, 5)[7] == 3.96875 and dequantize(q, 5)[-1] == -4.0
    # 4 bits, n = 1 (Q2.1): -8..7 halves
    assert quantize([0.74, 0.76, 3.6, -3.9, 5.0], 4, 1).tolist() == [1, 2, 7, -8, 7]   # 3.6 -> 7.2 -> 7; 5.0 -> 10 saturates at 7
    # negative n: steps of 4
    assert quantize([5.0, 6.0, 1000.0], 8, -2).tolist() == [1, 2, 127]
    assert q_name(8, 5) == "Q2.5" and q_name(6, 7) == "Q-2.7" and q_name(8, -2) == "Q9.-2"


def test_format_choice():
    assert range_frac(5.3, 8) == 4          # m = 3 integer bits: Q3.4
    assert range_frac(0.4, 8) == 7          # below one: m = 0, Q0.7
    rng = np.random.default_rng(0)
    small = rng.normal(0, 0.05, 10000)
    f = best_frac(small, 8)
    assert f > 7                            # finer than Q0.7: the error is lower with m < 0
    err = lambda fr: np.mean((dequantize(quantize(small, 8, fr), fr) - small) ** 2)
    assert err(f) <= min(err(g) for g in range(-4, 16))
    # one outlier: saturating it beats spending bits on it
    v = np.concatenate([rng.normal(0, 0.1, 100000), [5.0]])
    assert range_frac(5.0, 4) == 0 and best_frac(v, 4) >= 2


def _tiny():
    import keras

    inp = keras.Input((12, 16, 3))
    x = keras.layers.ZeroPadding2D(((1, 1), (1, 1)), name="stem_pad")(inp)
    x = keras.layers.Conv2D(8, 3, strides=2, padding="valid", name="stem")(x)
    x = keras.layers.ReLU(name="stem_act")(x)
    x = keras.layers.DepthwiseConv2D(3, padding="same", name="b0_dw")(x)
    x = keras.layers.ReLU(max_value=6.0, name="b0_dw_act")(x)
    x = keras.layers.Conv2D(12, 1, name="region")(x)
    m = keras.Model(inp, x)
    rng = np.random.default_rng(1)
    m.set_weights([rng.normal(0, 0.4, w.shape).astype(np.float32) for w in m.get_weights()])
    return m


def _reference(q, imgs):
    """The same arithmetic written out with numpy integers (int64), layer by layer."""
    def rnd_sat(v, shift, bits):     # shift: a scalar or one per output channel (last axis)
        y = np.floor(v.astype(np.float64) * 2.0 ** np.asarray(shift, np.float64) + 0.5).astype(np.int64)
        return np.clip(y, -2 ** (bits - 1), 2 ** (bits - 1) - 1)

    b = q.bits
    x = quantize(imgs / 255.0, b, q.in_frac).astype(np.int64)
    p = q.plan["stem"]
    x = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    n, h, w, _ = x.shape
    oh, ow = (h - 3) // 2 + 1, (w - 3) // 2 + 1
    acc = np.zeros((n, oh, ow, 8), np.int64)
    wk = p["w"].astype(np.int64)
    for i in range(3):
        for j in range(3):
            acc += np.einsum("nhwc,cd->nhwd", x[:, i:i + 2 * oh:2, j:j + 2 * ow:2, :], wk[i, j])
    acc += p["b"].astype(np.int64)
    x = np.maximum(rnd_sat(acc, p["frac_out"] - p["frac_w"] - p["frac_in"], b), 0)
    p = q.plan["b0_dw"]
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    acc = np.zeros_like(x)
    wk = p["w"].astype(np.int64)[..., 0]
    for i in range(3):
        for j in range(3):
            acc += xp[:, i:i + oh, j:j + ow, :] * wk[i, j]
    acc += p["b"].astype(np.int64)
    six = quantize(6.0, b, p["frac_out"])
    x = np.minimum(np.maximum(rnd_sat(acc, p["frac_out"] - p["frac_w"] - p["frac_in"], b), 0), six)
    p = q.plan["region"]
    acc = np.einsum("nhwc,cd->nhwd", x, p["w"].astype(np.int64)[0, 0]) + p["b"].astype(np.int64)
    return rnd_sat(acc, p["frac_out"] - p["frac_w"] - p["frac_in"], b)


@pytest.mark.tf
@pytest.mark.parametrize("bits,kind", [(8, "layer"), (8, "uniform"), (4, "layer"), (16, "layer"), (8, "channel"),
                                       (4, "channel")])
def test_simulation_is_bit_exact(bits, kind):
    m = _tiny()
    rng = np.random.default_rng(2)
    imgs = rng.integers(0, 256, (6, 12, 16, 3)).astype(np.uint8)
    q = QModel(m, bits, list(imgs[:4]), per_layer=kind != "uniform", per_channel=kind == "channel")
    if kind == "channel":     # one format per output channel (the depthwise one: per in x mult channel)
        assert q.plan["stem"]["frac_w"].shape == (8,) and q.plan["b0_dw"]["frac_w"].shape == (8,)
        assert ".." in q.formats()["stem"]["weights"] or len(set(q.plan["stem"]["frac_w"])) == 1
    got, frac = q.forward_int(imgs)
    assert frac == q.plan["region"]["frac_out"]
    np.testing.assert_array_equal(got.astype(np.int64), _reference(q, imgs.astype(np.float64)))
    assert set(q.formats()) == {"stem", "b0_dw", "region", "input"}
    assert q.weight_bytes() == sum(int(np.ceil(p["w"].size * bits / 8)) + 4 * p["b"].size for p in q.plan.values())


@pytest.mark.tf
def test_precision_follows_bits():
    m = _tiny()
    imgs = np.random.default_rng(3).integers(0, 256, (8, 12, 16, 3)).astype(np.uint8)
    ref = m(imgs.astype(np.float32) / 255.0).numpy()
    err = {b: float(np.abs(QModel(m, b, list(imgs), per_layer=True).forward(imgs) - ref).max()) for b in (4, 8, 16)}
    assert err[16] < 0.01 < err[8] * 50 and err[16] < err[8] < err[4]
    # one format per output channel is never worse than one per layer here (each channel's own best n)
    ch = float(np.abs(QModel(m, 8, list(imgs), per_channel=True).forward(imgs) - ref).max())
    assert ch <= err[8] * 1.5
