"""Export: int8 TFLite I/O, TFLM arena, board budget refusal, contract validation, parity."""

import copy
import json

import numpy as np
import pytest

from picoface.errors import PicofaceError


def _contract(tmp_path, **over):
    (tmp_path / "m.tflite").write_bytes(b"\x00" * 100)
    c = {
        "name": "t", "format": "tflite-int8", "file": "m.tflite", "bytes": 1, "sha256": "0" * 64,
        "input": {"w": 64, "h": 64, "channels": 3, "order": "RGB", "layout": "NHWC", "dtype": "uint8",
                  "scale": 1 / 255, "zero_point": 0, "fit": "stretch"},
        "output": {"grid_w": 4, "grid_h": 4, "anchors": [[1.0, 1.2]], "classes": 1, "layout": "NHWC",
                   "dtype": "int8", "scale": 0.1, "zero_point": -3},
        "thresholds": {"score": 0.5, "nms": 0.3},
        "training": {"config_hash": "abc", "commit": "unknown", "config": "train.yaml"},
        "arena_bytes": 1234,
    }
    c.update(over)
    return c


def test_contract_round_trip_fills_size_and_hash(tmp_path):
    from picoface.contract import load_contract, write_contract

    c = write_contract(tmp_path / "model.json", _contract(tmp_path))
    assert c["bytes"] == 100 and c["contract"] == 1
    got = load_contract(tmp_path / "m.tflite", check_file=True)    # via the artifact name
    assert got == load_contract(tmp_path) == c
    (tmp_path / "m.tflite").write_bytes(b"\x01" * 100)
    with pytest.raises(PicofaceError, match="does not match"):
        load_contract(tmp_path / "model.json", check_file=True)


@pytest.mark.parametrize("patch,msg", [
    ({"format": "onnx"}, "format"),
    ({"input": {"w": 64}}, "input.h"),
    ({"output": None}, "output must be an object"),
    ({"thresholds": {"score": 2, "nms": 0.3}}, "thresholds"),
    ({"arena_bytes": -1}, "arena_bytes"),
    ({"file": "../x.tflite"}, "plain file name"),
])
def test_contract_validation_names_the_problem(tmp_path, patch, msg):
    from picoface.contract import write_contract

    c = _contract(tmp_path, **patch)
    with pytest.raises(PicofaceError, match=msg):
        write_contract(tmp_path / "model.json", c)


def test_contract_rejects_bad_anchors_and_missing_keys(tmp_path):
    from picoface.contract import load_contract, write_contract

    c = _contract(tmp_path)
    c["output"] = dict(c["output"], anchors=[[1.0]])
    with pytest.raises(PicofaceError, match="anchors"):
        write_contract(tmp_path / "model.json", c)
    good = write_contract(tmp_path / "model.json", _contract(tmp_path))
    bad = copy.deepcopy(good)
    del bad["sha256"]
    (tmp_path / "model.json").write_text(json.dumps(bad))
    with pytest.raises(PicofaceError, match="missing key 'sha256'"):
        load_contract(tmp_path / "model.json")
    with pytest.raises(PicofaceError, match="no model contract"):
        load_contract(tmp_path / "nothing.json")


def test_board_budget_refusal():
    from picoface.boards import load_board
    from picoface.export.arena import check_board_budget

    b = load_board("openmv_h7")
    check_board_budget(b, 90_000, 200_000)
    with pytest.raises(PicofaceError, match=r"model file 96000 B > budget 95000 B"):
        check_board_budget(b, 96_000, 200_000)
    with pytest.raises(PicofaceError, match=r"TFLM arena 400000 B > budget 307200 B"):
        check_board_budget(b, 90_000, 400_000)


@pytest.fixture(scope="module")
def tiny_int8():
    """A tiny trained-shape picoface model exported to float and int8 TFLite."""
    from picoface.export import tflite
    from picoface.train.config import ModelConfig
    from picoface.train.model import build_model

    m = ModelConfig(extra_blocks=0)
    model = build_model(m, 64, 64)
    folded = tflite.fold(model, m)
    rng = np.random.default_rng(0)
    calib = [rng.integers(0, 256, (64, 64, 3), dtype=np.uint8) for _ in range(8)]
    return model, tflite.to_float(folded), tflite.to_int8(folded, calib)


@pytest.mark.tf
def test_int8_tflite_is_full_integer_with_uint8_input(tiny_int8):
    from picoface.export.tflite import TFLiteRunner, io_details

    model, fbytes, qbytes = tiny_int8
    io = io_details(qbytes)
    assert io["input"]["dtype"] == "uint8" and io["input"]["zero_point"] == 0
    assert abs(io["input"]["scale"] - 1 / 255) < 1e-9
    assert io["output"]["dtype"] == "int8" and io["output"]["shape"] == [1, 4, 4, 30]
    assert io_details(fbytes)["input"]["dtype"] == "float32"
    x = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    ref = model(x[None].astype(np.float32) / 255.0, training=False).numpy()[0]
    yq = TFLiteRunner(qbytes)(x)
    yf = TFLiteRunner(fbytes)(x)
    np.testing.assert_allclose(yf, ref, atol=1e-4)
    # int8 within a few output quantisation steps of float
    assert np.abs(yq - ref).max() <= 4 * io["output"]["scale"] + 1e-6


@pytest.mark.tf
def test_tflm_arena_is_measured_by_bisection(tiny_int8):
    from picoface.export.arena import measure_arena, tflm_available

    if not tflm_available():
        pytest.skip("tflite-micro not installed")
    _, _, qbytes = tiny_int8
    arena = measure_arena(qbytes)
    # at least the input (64*64*3 uint8) plus one 32x32x8 int8 activation must fit
    assert 64 * 64 * 3 + 32 * 32 * 8 < arena < 1_000_000
    with pytest.raises(PicofaceError, match="cannot run this model"):
        measure_arena(qbytes, upper=arena // 4)


@pytest.mark.tf
def test_parity_reports_both_aps_and_refuses_beyond_tolerance(tiny_int8, tmp_path):
    from picoface.export.parity import parity
    from picoface.train.samples import load_samples
    from picoface.train.synthetic import make_dataset
    from picoface.train.val import ValSet

    _, fbytes, qbytes = tiny_int8
    vs = ValSet(load_samples(make_dataset(tmp_path / "v", n=4, size=(64, 64))))
    anchors = [[0.8, 1.0], [1.2, 1.4], [1.6, 1.9], [2.0, 2.4], [2.6, 3.1]]
    contract = {"input": {"w": 64, "h": 64, "fit": "stretch"}, "output": {"anchors": anchors}, "thresholds": {"nms": 0.3}}
    r = parity(fbytes, qbytes, contract, vs, tolerance=1.0)
    assert set(r) >= {"ap_float", "ap_int8", "delta", "ok", "best_f1_score"} and r["ok"]
    with pytest.raises(PicofaceError, match="differs from float AP"):
        parity(fbytes, qbytes, contract, vs, tolerance=-1.0)
    # the same numbers as picoface eval on the written file
    from picoface.detectors.tflite_det import TFLiteDetector
    from picoface.evaluate import evaluate

    (tmp_path / "q.tflite").write_bytes(qbytes)
    res = evaluate(TFLiteDetector(tmp_path / "q.tflite", contract), vs.samples, iou=(0.5,), progress=False)
    assert round(res["ap"]["0.5"], 4) == r["ap_int8"]


def _relu_net(activation="relu", seed=0):
    """A BN-folded picoface net with random weights and uneven channel scales."""
    import keras

    from picoface.export.tflite import fold
    from picoface.train.config import load_config
    from picoface.train.model import build_model

    cfg = load_config(None, ["model.stride=8", "model.activation=%s" % activation, "model.extra_blocks=1",
                             "model.channels=[8, 16, 16, 16, 16, 16]"])
    keras.utils.set_random_seed(seed)
    m = build_model(cfg.model, 64, 48)
    rng = np.random.default_rng(seed)
    for layer in m.layers:
        if layer.__class__.__name__ == "BatchNormalization":
            g, b, mu, var = layer.get_weights()
            layer.set_weights([rng.uniform(0.05, 5.0, g.shape).astype(np.float32), b, mu, var])
    images = [rng.integers(0, 256, (48, 64, 3)).astype(np.uint8) for _ in range(8)]
    return fold(m, cfg.model), cfg, images


@pytest.mark.tf
def test_equalisation_keeps_the_function_and_evens_channel_ranges():
    import keras

    from picoface.export.tflite import _chain, equalize

    net, _, images = _relu_net()
    x = np.stack(images).astype(np.float32) / 255.0
    before = net(x).numpy()
    links = _chain(net)
    taps = keras.Model(net.input, [a.output for _, a, _ in links])

    def spread():
        out = []
        for y in taps(x):
            r = np.percentile(np.asarray(y).reshape(-1, y.shape[-1]), 99.99, axis=0)
            r = r[r > 1e-6]
            out.append(r.max() / r.min())
        return np.array(out)

    s0 = spread()
    assert equalize(net, images) == len(links)
    np.testing.assert_allclose(net(x).numpy(), before, rtol=1e-4, atol=1e-4 * np.abs(before).max())
    s1 = spread()
    assert s0.max() > 3 and np.all(s1 < 1.01)       # every channel now spans the tensor's range


@pytest.mark.tf
def test_equalisation_refuses_relu6():
    from picoface.export.tflite import equalize

    net, _, images = _relu_net("relu6")
    with pytest.raises(PicofaceError, match="plain ReLU"):
        equalize(net, images)


@pytest.mark.tf
def test_clip_output_spends_the_int8_range_on_the_values_that_decode():
    """export.clip_output: objectness logits of -20 set the int8 output scale unless the outputs
    are clamped; clamped to [-6, 6] the scale is 12/255 and the box channels come out finer."""
    from picoface.export.tflite import TFLiteRunner, clip_output, io_details, to_int8

    net, _, images = _relu_net()
    head = net.get_layer("region")
    k, b = head.get_weights()
    b[4::6] -= 20.0                                  # confident negatives everywhere
    head.set_weights([k, b])
    x = np.stack(images).astype(np.float32) / 255.0
    ref = net(x).numpy()
    assert ref[..., 4::6].max() < -6 and np.abs(ref[..., 0:4]).max() < 6
    plain, clipped = to_int8(net, images), to_int8(clip_output(net, -6.0, 6.0), images)
    s_plain, s_clip = io_details(plain)["output"]["scale"], io_details(clipped)["output"]["scale"]
    assert s_clip <= 12.0 / 255 * 1.01 < s_plain
    np.testing.assert_allclose(clip_output(net, -6.0, 6.0)(x).numpy(), np.clip(ref, -6, 6), atol=1e-6)
    box = [c for c in range(ref.shape[-1]) if c % 6 < 4]

    def err(q):
        run = TFLiteRunner(q)
        return max(np.abs(run(im)[..., box] - r[..., box]).max() for im, r in zip(images, ref))
    assert err(clipped) < err(plain)
