"""Fake OpenMV `ml` (>= 4.5.6): Model(path) with input/output attributes and predict()."""
import numpy as np

from picoface.sim.fakes import _openmv

_openmv.require("ml")


class _Input:
    def __init__(self, img):
        self.img = img
        self.roi = (0, 0, img.width(), img.height())


class Model:
    def __init__(self, path, load_to_fb=False, postprocess=None):
        data, r = _openmv.load_model_bytes(path, "ml.Model")
        self._r = r
        self.len = len(data)
        self.ram = 4096 + len(data) // 4
        self.postprocess = postprocess
        w, h = r.input_size
        self.input_shape = [(1, h, w, 3)]
        self.input_dtype = [_openmv.DTYPE_CODES[r.in_dtype]]
        self.input_scale = [float(r.in_scale) if r.in_dtype != np.float32 else 1.0]
        self.input_zero_point = [int(r.in_zero) if r.in_dtype != np.float32 else 0]
        self.output_shape = [(1,) + tuple(r.output_shape)]
        self.output_dtype = [_openmv.DTYPE_CODES[r.out_dtype]]
        self.output_scale = [float(r.out_scale) if r.out_dtype != np.float32 else 1.0]
        self.output_zero_point = [int(r.out_zero) if r.out_dtype != np.float32 else 0]
        self.labels = None

    def predict(self, args, callback=None):
        if not isinstance(args, list):
            raise TypeError("predict() expects a list of inputs")
        if len(args) != 1:
            raise ValueError("model has 1 input, got %d" % len(args))
        from picoface.sim.fakes._common import Image

        img = args[0]
        if not isinstance(img, Image):
            raise TypeError("predict() input must be an image.Image")
        rgb = _openmv.predict_input(img, self.input_shape[0], self.input_dtype[0],
                                    self.input_scale[0], self.input_zero_point[0])
        out = _openmv.run(self._r, rgb)[None]
        outputs = [out]
        cb = callback if callback is not None else self.postprocess
        if cb is not None:
            return cb(self, [_Input(img)], outputs)
        return outputs
