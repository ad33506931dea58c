"""Fake OpenMV `ml` (>= 4.5.6): Model(path) with input/output attributes and predict(), per generation
as openmv/openmv's py_ml.c builds the outputs (docs/firmware.md, "OpenMV: what predict() returns"):

- openmv-ml-4.5.9, openmv-ml-4.7.0 (v4.5.6 - v4.7.0): every output is a new float32 ulab array, dequantised in C as
  float (q - zero_point) * scale (v4.5.6 src/omv/modules/py_ml.c:119-163; v4.7.0
  modules/py_ml.c:160-210), also the one a callback gets (v4.7.0 :271-277). Model(path,
  postprocess=...) is accepted and ignored (ml/model.py passes only load_to_fb).
- openmv-ml-4.8.0 (v4.8.0+): the same float32 arrays without a post-processor; with callback= or
  Model(postprocess=) the post-processor gets the raw tensor in the model's dtype (int8 for an
  int8 model), a view of the tensor arena (v4.8.0 modules/py_ml.c:154-211, 264-276).

Arrays are numpy arrays standing in for ulab's: shape (1, h, w, c), ``itemsize`` 4 for float, 1 for
int8/uint8 (ulab's ``dtype`` is an int code, numpy's an object: device code tests ``itemsize``).
The shape, dtype, scale and zero-point attributes are tuples with one item per tensor (py_ml.c
v4.5.6 :242-265: ``py_ml_dtype_char_tuple`` and the model's tuples)."""
import numpy as np

from picoface.sim.fakes import _common, _openmv

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
        # ml/model.py before v4.8.0 passes only load_to_fb on to the C model
        self.postprocess = postprocess if _common.W().fw["postprocess_kw"] else None
        w, h = r.input_size
        self.input_shape = ((1, h, w, r.channels),)
        self.input_dtype = (_openmv.DTYPE_CODES[r.in_dtype],)
        self.input_scale = (float(r.in_scale) if r.in_dtype != np.float32 else 1.0,)
        self.input_zero_point = (int(r.in_zero) if r.in_dtype != np.float32 else 0,)
        self.output_shape = ((1,) + tuple(r.output_shape),)
        self.output_dtype = (_openmv.DTYPE_CODES[r.out_dtype],)
        self.output_scale = (float(r.out_scale) if r.out_dtype != np.float32 else 1.0,)
        self.output_zero_point = (int(r.out_zero) if r.out_dtype != np.float32 else 0,)
        self.labels = None

    def predict(self, args, callback=None):
        if not isinstance(args, list):
            raise ValueError("Unsupported input type. Expected a list")
        if len(args) != 1:
            raise ValueError("model has 1 input, got %d" % len(args))
        from picoface.sim.fakes._common import Image

        img = args[0]
        if not isinstance(img, Image):
            raise TypeError("predict() input must be an image.Image")
        rgb = _openmv.predict_input(img, self.input_shape[0], self.input_dtype[0],
                                    self.input_scale[0], self.input_zero_point[0])
        raw = _openmv.run(self._r, rgb)[None]
        cb = callback if callback is not None else self.postprocess
        if cb is not None and _common.W().fw["raw_to_postprocess"]:
            outputs = [raw]             # v4.8.0+: the raw tensor for a post-processor
        else:
            outputs = [_openmv.dequantize(raw, self.output_dtype[0], self.output_scale[0], self.output_zero_point[0])]
        if cb is not None:
            return cb(self, [_Input(img)], outputs)
        return outputs
