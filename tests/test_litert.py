"""LiteRT (picoface.litert) runs the shipped int8 models exactly as tf.lite.Interpreter did.

tf.lite.Interpreter runs here only as the reference that LiteRT replaced (the simulator's runner,
picoface.sim.runners, has not moved to picoface.litert yet)."""

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parents[1]
INT8_MODELS = ["models/picoface_openmv_240x176/picoface_int8.tflite",
               "models/picoface_k210_320x240/picoface_int8.tflite"]


def _inputs(h, w):
    """Two uint8 frames: noise (every code 0..255) and a smooth gradient scene."""
    rng = np.random.default_rng(25)
    noise = rng.integers(0, 256, (1, h, w, 3), dtype=np.uint8)
    yy, xx = np.mgrid[0:h, 0:w]
    smooth = np.stack([xx * 255 // max(w - 1, 1), yy * 255 // max(h - 1, 1), (xx + yy) * 255 // (w + h - 2)], -1)
    return [noise, smooth[None].astype(np.uint8)]


def _run(it, x):
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    return it.get_tensor(it.get_output_details()[0]["index"]).copy()


@pytest.mark.tf
# tf.lite.Interpreter is the reference LiteRT is compared with; its deprecation notice is the point.
@pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated:UserWarning")
@pytest.mark.parametrize("rel", INT8_MODELS)
def test_litert_int8_outputs_equal_tf_lite(rel):
    import tensorflow as tf

    from picoface.litert import interpreter

    path = ROOT / rel
    if not path.is_file():
        pytest.skip("%s is absent" % rel)
    new = interpreter(path, num_threads=1)
    old = tf.lite.Interpreter(model_path=str(path), num_threads=1)
    old.allocate_tensors()
    assert new.get_input_details()[0]["dtype"] == np.uint8
    assert new.get_output_details()[0]["dtype"] == np.int8
    for key in ("shape", "dtype", "quantization"):
        assert np.array_equal(new.get_input_details()[0][key], old.get_input_details()[0][key])
        assert np.array_equal(new.get_output_details()[0][key], old.get_output_details()[0][key])
    _, h, w, _ = (int(v) for v in new.get_input_details()[0]["shape"])
    for x in _inputs(h, w):
        a, b = _run(new, x), _run(old, x)
        assert a.dtype == b.dtype == np.int8
        assert a.shape == b.shape
        assert np.array_equal(a, b), "LiteRT and tf.lite differ in %d of %d int8 outputs" % (
            int(np.count_nonzero(a != b)), a.size)
        assert len(np.unique(a)) > 1  # a real output, not a constant


def test_litert_reads_bytes_and_paths_alike():
    from picoface.litert import interpreter

    path = ROOT / INT8_MODELS[0]
    if not path.is_file():
        pytest.skip("%s is absent" % INT8_MODELS[0])
    x = _inputs(176, 240)[1]
    assert np.array_equal(_run(interpreter(path), x), _run(interpreter(path.read_bytes()), x))


def test_litert_rejects_a_garbled_model():
    from picoface.litert import interpreter

    with pytest.raises(ValueError):
        interpreter(b"not a flatbuffer" * 8)
