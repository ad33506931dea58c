"""kmodel writer: float TFLite -> nncase 1.9 (v5) -> kmodel v3, budgets, verification.

The nncase tests build a tiny random-weight KPU-friendly net (320x240 -> 20x15x30) in Keras,
compile it with nncase in the side venv, and check the v3 file against nncase's Simulator
(bit-exact) and the float model.
"""

import argparse
import json
import struct
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

from picoface import boards
from picoface.errors import PicofaceError
from picoface.kmodel import budget, convert, float_model, nncase_side, transcode, v3, v5, verify
import tiny_model
from tiny_model import synthetic_v3

W, H = 320, 240
CONTRACT = {"name": "tiny", "output": {"anchors": [[1.9, 2.5], [2.9, 3.9], [4.0, 5.4], [5.2, 6.9], [6.7, 9.0]],
                                       "classes": 1}, "thresholds": {"score": 0.5, "nms": 0.3}}


def smooth_images(n, seed=0, w=W, h=H):
    """Synthetic photo-like uint8 RGB images: upsampled noise plus a few bright blobs."""
    import cv2

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        img = cv2.resize(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8), (w, h), interpolation=cv2.INTER_CUBIC)
        for _ in range(3):
            cv2.circle(img, (int(rng.integers(0, w)), int(rng.integers(0, h))), int(rng.integers(10, 50)),
                       tuple(int(c) for c in rng.integers(0, 256, 3)), -1)
        out.append(img)
    return np.stack(out)


def tiny_keras(h=H, w=W, seed=0):
    """Depthwise-separable ReLU6 net, explicit (1,1) padding + 'valid' stride-2 convs, 1x1 head to 30.

    Random weights, but BN statistics measured on synthetic images (and gamma/beta that keep
    ReLU6 active), so the output really depends on the input: a transcoding mistake shows."""
    import tensorflow as tf

    L = tf.keras.layers
    tf.keras.utils.set_random_seed(seed)
    size = [h, w]

    def bn_relu6(x):
        return L.ReLU(6.0)(L.BatchNormalization(momentum=0.0)(x))

    def stride2(x, depthwise, ch=None):
        assert size[0] % 2 == 0 and size[1] % 2 == 0, "every stride-2 input dim must be even: %s" % size
        size[0] //= 2
        size[1] //= 2
        x = L.ZeroPadding2D(((1, 1), (1, 1)))(x)
        return (L.DepthwiseConv2D(3, strides=2, use_bias=False) if depthwise
                else L.Conv2D(ch, 3, strides=2, use_bias=False))(x)

    inp = L.Input((h, w, 3))
    x = bn_relu6(stride2(inp, False, 8))
    for ch, s in ((16, 1), (16, 2), (24, 2), (32, 2)):
        x = bn_relu6(stride2(x, True) if s == 2 else L.DepthwiseConv2D(3, padding="same", use_bias=False)(x))
        x = bn_relu6(L.Conv2D(ch, 1, use_bias=False)(x))
    model = tf.keras.Model(inp, L.Conv2D(30, 1)(x))
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, L.BatchNormalization):
            n = layer.gamma.shape[0]
            layer.gamma.assign(rng.uniform(1.0, 2.0, n).astype(np.float32))
            layer.beta.assign(rng.uniform(0.0, 1.0, n).astype(np.float32))
    model(smooth_images(8, seed=seed + 100, w=w, h=h).astype(np.float32) / 255.0, training=True)  # momentum 0
    assert tuple(model.output_shape[1:3]) == (h // 16, w // 16)
    return model


def small_net(h, w, padding="valid", down=0):
    """A 3x3 stride-2 conv (TF 'same', or explicit (1,1) pad + 'valid'), ``down`` more explicitly padded
    stride-2 convs (a head within the firmwares' region-layer limits), and a 1x1 head."""
    import tensorflow as tf

    L = tf.keras.layers
    tf.keras.utils.set_random_seed(1)
    inp = L.Input((h, w, 3))
    x = inp if padding == "same" else L.ZeroPadding2D(((1, 1), (1, 1)))(inp)
    x = L.ReLU(6.0)(L.Conv2D(8, 3, strides=2, padding=padding)(x))
    for _ in range(down):
        x = L.ReLU(6.0)(L.Conv2D(8, 3, strides=2, padding="valid")(L.ZeroPadding2D(((1, 1), (1, 1)))(x)))
    return tf.keras.Model(inp, L.Conv2D(30, 1)(x))


def float_tflite(model):
    import tensorflow as tf

    return tf.lite.TFLiteConverter.from_keras_model(model).convert()


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(float tflite path, calibration images, float outputs CHW)."""
    d = tmp_path_factory.mktemp("tiny")
    path = d / "tiny.tflite"
    path.write_bytes(float_tflite(tiny_keras()))
    calib = smooth_images(8)
    return path, calib


@pytest.fixture(scope="module")
def compiled(nncase_python, tiny, tmp_path_factory):
    """nncase 1.9 compile of the tiny net: (v5 path, v5 bytes, compile result)."""
    path, calib = tiny
    out = tmp_path_factory.mktemp("v5") / "tiny.v5.kmodel"
    res = nncase_side.compile_tflite(path, calib, out)
    return out, out.read_bytes(), res


# ---------------------------------------------------------------- no nncase needed

def test_side_venv_missing_gives_setup_hint(monkeypatch, tmp_path):
    monkeypatch.setenv("PICOFACE_NNCASE_PYTHON", str(tmp_path / "nope" / "python"))
    assert nncase_side.find_python(required=False) is None
    with pytest.raises(PicofaceError, match="nncase 1.9 side venv not found.*make setup"):
        nncase_side.compile_tflite(tmp_path / "m.tflite", np.zeros((1, 3, 8, 8), np.uint8), tmp_path / "o")


def test_worker_refuses_bad_usage_without_picoface_or_tf():
    """The worker is a standalone script: it must not import picoface (not installed in the side venv)."""
    src = nncase_side.WORKER.read_text()
    assert "import picoface" not in src and "from picoface" not in src and "tensorflow" not in src.split('"""', 2)[2]
    r = subprocess.run([sys.executable, str(nncase_side.WORKER), "bogus"], capture_output=True, text=True)
    assert r.returncode == 2 and "usage" in r.stderr


def test_export_needs_a_contract(tmp_path):
    with pytest.raises(PicofaceError, match="no model contract.*--contract"):
        convert.keras_or_tflite_to_kmodel(tmp_path / "m.tflite", np.zeros((1, H, W, 3), np.uint8), "maix_dock",
                                          tmp_path / "m.kmodel")
    with pytest.raises(PicofaceError, match="takes tflite-int8 models"):
        convert.keras_or_tflite_to_kmodel(tmp_path / "m.tflite", None, "openmv_h7", tmp_path / "m.kmodel",
                                          contract=CONTRACT)


def test_calibration_images_are_checked():
    with pytest.raises(PicofaceError, match="uint8"):
        nncase_side.to_nchw_uint8(np.zeros((1, 8, 8, 3), np.float32))
    with pytest.raises(PicofaceError, match="RGB"):
        nncase_side.to_nchw_uint8(np.zeros((1, 8, 8, 4), np.uint8))
    assert nncase_side.to_nchw_uint8(np.zeros((2, 8, 6, 3), np.uint8)).shape == (2, 3, 8, 6)


def test_v5_parser_rejects_garbage():
    with pytest.raises(PicofaceError, match="not a kmodel v5"):
        v5.parse(b"\0" * 64)
    with pytest.raises(PicofaceError, match="truncated"):
        v5.parse(struct.pack("<8I", v5.MAGIC, 5, 32, 0, 256, 1, 0, 0))


def test_stackvm_scan_accepts_call_dequantize_and_refuses_cpu_ops():
    call = bytes([0x5E, 0x03, 0x00]) + struct.pack("<IHBB", 0, 1, 1, 1)
    deq = bytes([0x05]) + struct.pack("<f", 0.5) + bytes([0x05]) + struct.pack("<f", -1.0) + bytes(
        [0x5E, 0x0B, 0x00, 4, 9, 0, 1, 2])
    text = bytes([0x02]) + struct.pack("<i", 7) + bytes([0x31, 0, 4]) + call + deq
    ops = [(name, args) for _, name, args in v5.decode_stackvm(text)]
    assert ops == [("CALL", (0, 1, 1, 1)), ("LDC_R4", (0.5,)), ("LDC_R4", (-1.0,)), ("DEQUANTIZE", (4, 9))]
    transpose = bytes([0x5E, 0x15, 0x00, 4, 0, 1, 2, 3])
    with pytest.raises(PicofaceError, match="CPU tensor op .*0x0015"):
        v5.decode_stackvm(text + transpose)
    with pytest.raises(PicofaceError, match="unknown opcode 0xff"):
        v5.decode_stackvm(text + b"\xff")


def test_budget_accepts_a_fitting_model():
    f = budget.check(synthetic_v3(), "maix_dock",
                     contract={"output": {"anchors": [[1, 1]] * 5, "classes": 1, "grid_w": 20, "grid_h": 15}})
    assert f["input"] == {"w": W, "h": H, "channels": 3}
    assert f["output"] == {"grid_w": 20, "grid_h": 15, "channels": 30}
    assert f["output_float"] and f["first_is_conv"]
    assert 0 < f["kpu_ram_bytes"] <= 2 * 1024 * 1024
    # bytes in and bytes of the serialized model agree
    assert budget.facts(synthetic_v3().serialize())["bytes"] == f["bytes"]


def test_budget_refusals():
    dock = boards.load_board("maix_dock")
    model = synthetic_v3()
    size = len(model.serialize()) + model.main_mem_usage
    tight = replace(dock, memory=dict(dock.memory, model_bytes_full_firmware=size - 1))
    with pytest.raises(PicofaceError, match="exceeds the %d B a full MaixPy firmware" % (size - 1)):
        budget.check(model, tight)
    budget.check(model, tight, firmware="minimum")  # the minimum firmware leaves 4 MiB
    small_kpu = replace(dock, memory=dict(dock.memory, kpu_ram_bytes=100_000))
    with pytest.raises(PicofaceError, match="KPU RAM"):
        budget.check(model, small_kpu)
    with pytest.raises(PicofaceError, match="model input is 256x192 .*check img format err"):
        budget.check(synthetic_v3(w=256, h=192), dock)
    with pytest.raises(PicofaceError, match="first layer not conv layer"):
        up = v3.UploadLayer(0, 0, W, H, 3)
        budget.check(v3.build_model([up] + model.layers), dock)
    gray = synthetic_v3()
    gray.layers[0].regs.i_ch_num = 0
    gray.layers[0].weights = gray.layers[0].weights[: len(gray.layers[0].weights) // 3]
    with pytest.raises(PicofaceError, match="reads 1 channels"):
        budget.check(gray, dock)
    with pytest.raises(PicofaceError, match="run_yolo2 needs 5 anchors"):
        budget.check(synthetic_v3(out_ch=27), dock)
    with pytest.raises(PicofaceError, match="9 anchors; MaixPy run_yolo2 assumes 5"):
        budget.check(model, dock, contract={"output": {"anchors": [[1, 1]] * 9, "classes": 1}})
    no_deq = v3.build_model(model.layers[:-1])
    with pytest.raises(PicofaceError, match="DEQUANTIZE float32"):
        budget.check(no_deq, dock)
    with pytest.raises(PicofaceError, match="not a K210 board"):
        budget.check(model, "openmv_h7")


# ---------------------------------------------------------------- nncase 1.9

@pytest.mark.tf
@pytest.mark.nncase
def test_v5_parse_finds_one_pure_kpu_function(compiled):
    path, data, res = compiled
    assert res["bytes"] == len(data) and res["nncase"].startswith("1.9")
    assert res["memory"]["MODEL"] == len(data) and res["memory"][".input"] == 3 * H * W  # nncase's summary
    model = v5.parse(data)
    assert [m.type for m in model.modules] == ["stackvm", "k210"]
    assert dict(model.modules[1].mempools)[v5.LOC_KPU] == 2 * 1024 * 1024
    prog = v5.kpu_program(model)
    assert prog.input_shape == (1, 3, H, W) and prog.output_shape == (1, 30, H // 16, W // 16)
    assert len(prog.convs) == 10  # stem + 4 x (depthwise, pointwise) + head
    f = [c.fields for c in prog.convs]
    assert f[0]["image_src_addr"] == prog.input_addr and f[0]["i_ch_num"] == 2
    assert [x["depth_wise_layer"] for x in f] == [0, 1, 0, 1, 0, 1, 0, 1, 0, 0]
    # each stride 2 is a pool-5 pick on the stem or the pointwise conv after a depthwise conv
    assert sum(x["pool_type"] == 5 for x in f) == 4
    assert 0 < prog.kpu_ram_bytes <= 2 * 1024 * 1024
    assert prog.scale > 0
    # each op's weights really are the bytes its registers describe
    for c in prog.convs:
        k2 = 9 if c.fields["kernel_type"] == 1 else 1
        oc, ic = c.fields["o_ch_num"] + 1, c.fields["i_ch_num"] + 1
        assert len(c.weights) >= (oc * k2 if c.fields["depth_wise_layer"] else oc * ic * k2)


@pytest.mark.tf
@pytest.mark.nncase
def test_transcode_round_trips_and_matches_simulator_and_float(compiled, tiny):
    path, data, _ = compiled
    tfl, calib = tiny
    model, prog = transcode.transcode(data)
    blob = model.serialize()
    again = v3.parse(blob)
    assert again.serialize() == blob  # v3 round trip
    assert struct.unpack_from("<7I", blob, 0) == (3, 1, 0, 11, 0, 45000, 1)
    assert again.outputs == [v3.Output(9000, 36000)]  # 20x15x30 float32, like the stock face model
    convs = again.convs
    assert [c.flags for c in convs] == [0] * 9 + [v3.KLF_MAIN_MEM_OUT]
    assert all(c.regs.para_start_addr == 0 and c.regs.bwsx_base_addr == 0 and c.regs.active_addr == 0
               and c.regs.send_data_out == 0 for c in convs)
    deq = again.layers[-1]
    assert isinstance(deq, v3.DequantizeLayer) and deq.count == 9000 and deq.main_mem_out_address == 9000
    assert deq.scale == pytest.approx(prog.scale) and deq.bias == pytest.approx(prog.bias)
    for c, pc in zip(convs, prog.convs):  # registers copied, loader fields aside
        assert c.regs.image_src_addr == pc.fields["image_src_addr"] and c.regs.pool_type == pc.fields["pool_type"]
        assert c.weights == pc.weights[:len(c.weights)]

    imgs = calib[:3]
    sim = verify.simulate_images(path, imgs)
    emu = verify.emulate(again, imgs)
    flt = float_model.run_float_tflite(tfl.read_bytes(), imgs)
    f_all = np.stack(flt)
    assert f_all.std(axis=0).mean() > 0.05 * np.abs(f_all).max()  # the test net's output follows its input
    for e, s, f in zip(emu, sim, flt):
        assert e.shape == s.shape == f.shape == (30, 15, 20)
        np.testing.assert_array_equal(e, s)  # emulated v3 == nncase's Simulator on the v5, bit for bit
        assert verify._cos(e, f) > 0.99
        assert verify._cos(e - e.mean(axis=(1, 2), keepdims=True), f - f.mean(axis=(1, 2), keepdims=True)) > 0.95
        assert np.abs(e - f).max() < 0.25 * np.abs(f).max()


@pytest.mark.tf
@pytest.mark.nncase
def test_convert_command_end_to_end(compiled, tiny, tmp_path, capsys):
    import cv2

    tfl, calib = tiny
    cdir = tmp_path / "calib"
    cdir.mkdir()
    for i, img in enumerate(calib):  # photos of another size: the converter resizes them
        cv2.imwrite(str(cdir / ("%02d.png" % i)), cv2.cvtColor(cv2.resize(img, (400, 300)), cv2.COLOR_RGB2BGR))
    src_contract = tmp_path / "src.json"
    src_contract.write_text(json.dumps(CONTRACT))
    out = tmp_path / "out" / "tiny.kmodel"
    out.parent.mkdir()
    (out.parent / "MODEL_CARD.md").write_text("# tiny\n\n## Interface\n\nx\n\n## Accuracy\n\ny\n")
    p = argparse.ArgumentParser()
    convert.add_arguments_convert(p)
    args = p.parse_args([str(tfl), "--board", "maix_dock", "--calib", str(cdir), "--out", str(out),
                         "--contract", str(src_contract), "--keep-v5"])
    assert convert.run_convert(args) == 0
    assert "v3 in emulator vs nncase Simulator" in capsys.readouterr().out
    blob = out.read_bytes()
    assert v3.parse(blob).serialize() == blob
    c = json.loads((out.parent / "model.json").read_text())
    assert c["format"] == "kmodel-v3" and c["file"] == "tiny.kmodel" and c["bytes"] == len(blob)
    assert c["input"]["layout"] == "NCHW" and c["input"]["dtype"] == "uint8"
    assert (c["input"]["w"], c["input"]["h"]) == (W, H)
    assert c["output"]["layout"] == "NCHW" and c["output"]["dtype"] == "float32"
    assert (c["output"]["grid_w"], c["output"]["grid_h"]) == (20, 15) and len(c["output"]["anchors"]) == 5
    assert c["thresholds"] == {"score": 0.5, "nms": 0.3} and c["kpu_ram_bytes"] > 0
    rep = json.loads((out.parent / "verify.json").read_text())
    assert rep["emulator_vs_simulator"]["ok"] and rep["emulator_vs_simulator"]["max_abs"] == 0.0
    assert rep["emulator_vs_float"]["cosine_min"] > 0.99
    assert rep["calib_images"] == len(calib) and rep["budget"]["bytes"] == len(blob)
    assert "| v3 in emulator vs float model |" in (out.parent / "verify.md").read_text()
    # the model card beside it gained its kmodel section, before the accuracy part
    card = (out.parent / "MODEL_CARD.md").read_text()
    assert card.index("## Interface") < card.index("## K210 kmodel v3 (`tiny.kmodel`") < card.index("## Accuracy")
    assert "| bytes | {:,} |".format(len(blob)) in card and "20x15x30" in card
    # the standalone verify command agrees with the export's own verification
    v5_kept = out.with_suffix(".v5.kmodel")
    assert v5.kpu_program(v5_kept.read_bytes()).scale == pytest.approx(v3.parse(blob).layers[-1].scale)
    p = argparse.ArgumentParser()
    verify.add_arguments_verify(p)
    assert verify.run_verify(p.parse_args([str(out), "--images", str(cdir), "--float", str(tfl),
                                           "--v5", str(v5_kept), "--json", str(tmp_path / "v.json")])) == 0
    again = json.loads((tmp_path / "v.json").read_text())
    assert again["emulator_vs_simulator"]["max_abs"] == 0.0
    assert again["emulator_vs_float"]["cosine_min"] > 0.99
    # one weight of the v3 file changed: the emulator no longer matches nncase's Simulator on the v5
    bad = tmp_path / "perturbed.kmodel"
    bad.write_bytes(perturbed(blob))
    capsys.readouterr()
    rc = verify.run_verify(p.parse_args([str(bad), "--images", str(cdir), "--v5", str(v5_kept),
                                         "--json", str(tmp_path / "w.json")]))
    other = json.loads((tmp_path / "w.json").read_text())["emulator_vs_simulator"]
    assert rc == 1 and not other["ok"] and other["max_lsb"] > verify.SIM_TOLERANCE_LSB
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("| v3 in emulator vs nncase"))
    assert row.endswith("MISMATCH |")


@pytest.mark.tf
@pytest.mark.nncase
def test_export_refuses_models_nncase_splits_off_the_kpu(nncase_python, tmp_path):
    """TF 'same' stride-2 padding is asymmetric: nncase adds CPU pads and splits the graph."""
    tfl = tmp_path / "same.tflite"
    tfl.write_bytes(float_tflite(small_net(H, W, padding="same", down=3)))   # 20x15 grid: within run_yolo2's limit
    v5_path = tmp_path / "same.v5.kmodel"
    nncase_side.compile_tflite(tfl, smooth_images(2), v5_path)
    with pytest.raises(PicofaceError, match=r"split the graph into \d+ KPU regions"):
        transcode.transcode(v5_path.read_bytes())
    out = tmp_path / "x" / "same.kmodel"
    with pytest.raises(PicofaceError, match="KPU regions with CPU ops"):
        convert.keras_or_tflite_to_kmodel(tfl, smooth_images(2), "maix_dock", out, contract=CONTRACT)
    assert not out.parent.exists() or not any(out.parent.iterdir())  # nothing written


@pytest.mark.tf
@pytest.mark.nncase
def test_export_refuses_wrong_input_size_before_compiling(nncase_python, tmp_path):
    keras_path = tmp_path / "small.keras"  # the Keras path: converted to a float TFLite first
    small_net(192, 256).save(keras_path)
    out = tmp_path / "o" / "small.kmodel"
    with pytest.raises(PicofaceError, match="model input is 256x192 but board maix_dock feeds 320x240"):
        convert.keras_or_tflite_to_kmodel(keras_path, smooth_images(2, w=256, h=192), "maix_dock", out,
                                          contract=CONTRACT)
    assert not out.exists()
    assert float_model.float_input_hw(float_model.float_tflite_bytes(keras_path)) == (192, 256)


@pytest.mark.nncase
def test_nncase_failure_is_a_clear_error(nncase_python, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"this is not a flatbuffer")
    with pytest.raises(PicofaceError, match="nncase compile"):
        nncase_side.compile_tflite(bad, np.zeros((1, 3, 16, 16), np.uint8), tmp_path / "o.kmodel")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.tflite"]  # no output, no nncase litter in the CWD


def perturbed(blob, layer=-1):
    """The v3 model ``blob`` with the weights of output channel 0 of one conv layer (default: the
    head) flipped in their top bit: a different network in the same container."""
    m = v3.parse(blob)
    conv = m.convs[layer]
    w = bytearray(conv.weights)
    ic = conv.regs.in_shape[2]
    k2 = conv.regs.kernel ** 2
    for i in range(ic * k2):
        w[i] ^= 0x80
    conv.weights = bytes(w)
    return m.serialize()


def _verify_args(*argv):
    p = argparse.ArgumentParser()
    verify.add_arguments_verify(p)
    return p.parse_args([str(a) for a in argv])


def test_verify_reports_a_mismatch_with_the_simulator(tmp_path, capsys, monkeypatch):
    """`kmodel verify --v5`: a v3 file whose emulated outputs differ from the Simulator's by more than
    one output LSB exits 1 and says MISMATCH. nncase's Simulator is replaced by the emulator on the
    unchanged model (what the Simulator gives for the right v3: test_convert_command_end_to_end)."""
    blob = tiny_model.kmodel(tmp_path / "k", w=64, h=48).read_bytes()   # its outputs follow the image
    good = v3.parse(blob)
    imgs = tmp_path / "imgs.npy"
    np.save(imgs, smooth_images(2, w=64, h=48))
    monkeypatch.setattr(verify, "simulate_images", lambda v5, images: verify.emulate(good, images))
    ok_path, bad_path = tmp_path / "ok.kmodel", tmp_path / "bad.kmodel"
    ok_path.write_bytes(blob)
    bad_path.write_bytes(perturbed(blob))

    assert verify.run_verify(_verify_args(ok_path, "--images", imgs, "--v5", "sim", "--json", tmp_path / "ok.json")) == 0
    out = capsys.readouterr().out
    assert "| v3 in emulator vs nncase Simulator (v5) | — | — | 0 (0.00 LSB) | 100.0 % exact, OK |" in out

    rc = verify.run_verify(_verify_args(bad_path, "--images", imgs, "--v5", "sim", "--json", tmp_path / "bad.json"))
    out = capsys.readouterr().out
    rep = json.loads((tmp_path / "bad.json").read_text())["emulator_vs_simulator"]
    assert rc == 1
    assert not rep["ok"] and rep["max_lsb"] > verify.SIM_TOLERANCE_LSB and rep["exact_fraction"] < 1.0
    row = next(line for line in out.splitlines() if line.startswith("| v3 in emulator vs nncase Simulator"))
    assert row.endswith("MISMATCH |") and "%.2f LSB" % rep["max_lsb"] in row


def test_verify_says_how_many_of_the_images_it_used(tmp_path, capsys):
    """The default verification uses 4 of the images given, and says so; --max-images 0 uses all."""
    model = tmp_path / "m.kmodel"
    model.write_bytes(synthetic_v3().serialize())
    imgs = tmp_path / "imgs.npy"
    np.save(imgs, smooth_images(6))
    assert verify.run_verify(_verify_args(model, "--images", imgs, "--json", tmp_path / "v.json")) == 0
    assert "4 of the 6 images given (`--max-images`)" in capsys.readouterr().out
    rep = json.loads((tmp_path / "v.json").read_text())
    assert (rep["images"], rep["images_available"]) == (4, 6)
    assert verify.run_verify(_verify_args(model, "--images", imgs, "--max-images", "0")) == 0
    out = capsys.readouterr().out
    assert "6 verification image(s)" in out and "of the 6" not in out
    with pytest.raises(PicofaceError, match="--max-images must be 0"):
        verify.run_verify(_verify_args(model, "--images", imgs, "--max-images", "-1"))


def test_model_card_kmodel_section_is_replaced_not_repeated():
    from picoface.kmodel.card import CARD_BEGIN, CARD_END, with_card_section

    card = "# m\n\n## Interface\n\n## Accuracy\n\nAP 0.5\n"
    one = with_card_section(card, CARD_BEGIN + "\nfirst\n" + CARD_END + "\n")
    two = with_card_section(one, CARD_BEGIN + "\nsecond\n" + CARD_END + "\n")
    assert two.count(CARD_BEGIN) == 1 and "second" in two and "first" not in two
    assert two.index("second") < two.index("## Accuracy") and two.endswith("AP 0.5\n")
    # a card without an accuracy heading gets the section at the end
    assert with_card_section("# m\n", "S\n").endswith("S\n")
