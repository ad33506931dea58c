"""Fake OpenMV `tf` module (<= v4.5.5; openmv/openmv@v4.5.5 src/omv/modules/py_tf.c):

- tf.load(path, *, load_to_fb=False) -> a tf_model with len(), ram(), input_/output_ width, height,
  channels, datatype ("uint8" | "int8" | "float"), scale, zero_point (:221-232, :903-921, :35-43).
- tf.classify(model, img, *, roi, min_scale, scale_mul, x_overlap, y_overlap) -> a list of
  tf_classification objects whose output() is a list of dequantised floats; it refuses any model
  whose output is not 1 x 1 x C: ValueError "Expected model output height to be 1!" (and width)
  (:378-410, :412-): a detector's grid output cannot go through it.
- tf.segment(model, img, *, roi) -> one GRAYSCALE image per output channel, output_width x
  output_height, pixel = the raw byte (uint8), the raw byte XOR 0x80 (int8, i.e. q + 128), or
  value x 255 (float, truncated to 8 bits) (:518-578, :580-619).
"""
import numpy as np

from picoface.sim.fakes import _common, _openmv

_openmv.require("tf")

_DATATYPES = {np.dtype(np.uint8): "uint8", np.dtype(np.int8): "int8"}


class _Net:
    def __init__(self, runner, size):
        self._r = runner
        self._size = size

    def len(self):
        return self._size

    def ram(self):
        return 4096 + self._size // 4

    def input_width(self):
        return self._r.input_size[0]

    def input_height(self):
        return self._r.input_size[1]

    def input_channels(self):
        return 3

    def output_height(self):
        return int(self._r.output_shape[0])

    def output_width(self):
        return int(self._r.output_shape[1])

    def output_channels(self):
        return int(self._r.output_shape[2])

    def output_datatype(self):
        return _DATATYPES.get(np.dtype(self._r.out_dtype), "float")

    def output_scale(self):
        return float(self._r.out_scale) if self.output_datatype() != "float" else 0.0

    def output_zero_point(self):
        return int(self._r.out_zero) if self.output_datatype() != "float" else 0


class _Classification:
    def __init__(self, rect, output):
        self._rect = rect
        self._out = output

    def rect(self):
        return self._rect

    def output(self):
        return self._out


class _Gray:
    """A GRAYSCALE image.Image as tf.segment makes it: width(), height(), get_pixel(x, y), and
    bytearray() (the w x h pixel bytes, row by row)."""

    def __init__(self, pixels):
        self._p = np.ascontiguousarray(pixels, dtype=np.uint8)

    def width(self):
        return int(self._p.shape[1])

    def height(self):
        return int(self._p.shape[0])

    def format(self):
        return _common.GRAYSCALE

    def get_pixel(self, x, y):
        return int(self._p[int(y), int(x)])

    def bytearray(self):
        return bytearray(self._p.tobytes())


def load(path, *, load_to_fb=False):
    data, r = _openmv.load_model_bytes(path, "tf.load")
    return _Net(r, len(data))


def _check(net, img):
    if not isinstance(net, _Net):
        raise TypeError("expected a tf_model from tf.load")
    if not isinstance(img, _common.Image):
        raise TypeError("expected an image")


def _invoke(net, img, roi):
    import cv2

    x, y, w, h = img._roi(roi)
    part = img._rgb[y:y + h, x:x + w]
    iw, ih = net._r.input_size
    if (w, h) != (iw, ih):
        part = cv2.resize(part, (iw, ih), interpolation=cv2.INTER_AREA if w > iw else cv2.INTER_LINEAR)
    return (x, y, w, h), _openmv.run(net._r, np.ascontiguousarray(part))


def classify(net, img, *, roi=None, min_scale=1.0, scale_mul=0.5, x_overlap=0, y_overlap=0):
    _check(net, img)
    if net.output_height() != 1:
        raise ValueError("Expected model output height to be 1!")
    if net.output_width() != 1:
        raise ValueError("Expected model output width to be 1!")
    rect, raw = _invoke(net, img, roi)
    out = [float(v) for v in net._r.dequantize(raw).reshape(-1)]
    return [_Classification(rect, out)]


def segment(net, img, *, roi=None):
    _check(net, img)
    _, raw = _invoke(net, img, roi)                  # (H, W, C) in the model's dtype
    raw = np.asarray(raw)
    kind = net.output_datatype()
    if kind == "int8":
        planes = raw.view(np.uint8) ^ 0x80
    elif kind == "uint8":
        planes = raw.astype(np.uint8)
    else:
        # IMAGE_PUT_GRAYSCALE_PIXEL_FAST(row, x, value * 255): the float converted to 8 bits
        planes = (raw.astype(np.float32) * 255.0).astype(np.int64).astype(np.uint8)
    return [_Gray(planes[:, :, c]) for c in range(planes.shape[2])]
