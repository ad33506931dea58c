"""Fake OpenMV `tf` module (<= 4.5.5): tf.load(path, load_to_fb=False), tf.classify(net, img, ...)."""
import numpy as np

from picoface.sim.fakes import _common, _openmv

_openmv.require("tf")


class _Net:
    def __init__(self, runner, size):
        self._r = runner
        self._size = size

    def len(self):
        return self._size

    def input_width(self):
        return self._r.input_size[0]

    def input_height(self):
        return self._r.input_size[1]

    def input_channels(self):
        return 3

    def output_channels(self):
        return int(np.prod(self._r.output_shape))


class _Classification:
    def __init__(self, rect, output):
        self._rect = rect
        self._out = output

    def rect(self):
        return self._rect

    def output(self):
        return self._out


def load(path, load_to_fb=False):
    data, r = _openmv.load_model_bytes(path, "tf.load")
    return _Net(r, len(data))


def classify(net, img, roi=None, min_scale=1.0, scale_mul=0.5, x_overlap=0, y_overlap=0):
    if not isinstance(net, _Net):
        raise TypeError("tf.classify needs a net from tf.load")
    if not isinstance(img, _common.Image):
        raise TypeError("tf.classify needs an image")
    import cv2

    x, y, w, h = img._roi(roi)
    part = img._rgb[y:y + h, x:x + w]
    iw, ih = net._r.input_size
    if (w, h) != (iw, ih):
        part = cv2.resize(part, (iw, ih), interpolation=cv2.INTER_AREA if w > iw else cv2.INTER_LINEAR)
    raw = _openmv.run(net._r, np.ascontiguousarray(part))
    out = [float(v) for v in net._r.dequantize(raw).reshape(-1)]
    return [_Classification((x, y, w, h), out)]
