"""Model runners that stand in for the accelerator of a simulated board.

Each runner has ``input_size`` (w, h), ``output_shape`` (grid_h, grid_w, channels),
``output_layout`` ("NCHW" for the K210 KPU / MaixPy / CanMV, "NHWC" for TFLite / OpenMV) and
``run(rgb_uint8_hwc) -> flat float32 numpy array`` in that layout (dequantised, what the
firmware hands to its region layer). ``TFLiteRunner`` also exposes the raw output tensor
(``run_raw``) and its quantisation, which OpenMV's ``ml`` returns as is.

- ``TFLiteRunner``: LiteRT (``picoface.litert``) on a float or int8 (uint8 input) TFLite model.
- ``KmodelRunner``: a kmodel v3 on the KPU emulator (``picoface.kmodel.v3`` + ``.emulator``).
- ``open_runner(data, layout)``: picks one from the bytes (kmodel v3 header or TFLite magic);
  ValueError for bytes that are neither (what a board's loader rejects).
"""

import struct

import numpy as np


def is_tflite(data):
    return len(data) >= 8 and data[4:8] == b"TFL3"


def is_kmodel_v3(data):
    if len(data) < 28:
        return False
    version, _flags, arch = struct.unpack_from("<III", data, 0)
    return version == 3 and arch == 0


def open_runner(data, layout="NHWC"):
    if is_tflite(data):
        return TFLiteRunner(data, layout=layout)
    if is_kmodel_v3(data):
        return KmodelRunner(data, layout=layout)
    raise ValueError("not a kmodel v3 or TFLite model (header %r)" % bytes(data[:8]))


def _to_layout(nhwc, layout):
    """(H, W, C) array -> flat float32 in the given layout."""
    a = np.asarray(nhwc, dtype=np.float32)
    if layout == "NCHW":
        a = a.transpose(2, 0, 1)
    elif layout != "NHWC":
        raise ValueError("layout must be NCHW or NHWC, got %r" % layout)
    return np.ascontiguousarray(a).reshape(-1)


class TFLiteRunner:
    """LiteRT: float input (pixels/255) or quantised uint8/int8 input."""

    def __init__(self, model, layout="NHWC"):
        from picoface.litert import interpreter  # lazy: only simulations with a TFLite model need it

        data = model if isinstance(model, (bytes, bytearray)) else open(model, "rb").read()
        self.interp = interpreter(bytes(data), num_threads=1)
        self.inp = self.interp.get_input_details()[0]
        self.out = self.interp.get_output_details()[0]
        shape = [int(x) for x in self.inp["shape"]]
        if len(shape) != 4 or shape[3] not in (1, 3):
            raise ValueError("expected a 1xHxWx3 (RGB) or 1xHxWx1 (grayscale) input, got %s" % shape)
        self.input_size = (shape[2], shape[1])
        self.channels = shape[3]
        oshape = [int(x) for x in self.out["shape"]]
        if len(oshape) != 4:
            raise ValueError("expected a 1xHxWxC output, got %s" % oshape)
        self.output_shape = tuple(oshape[1:])
        self.output_layout = layout
        self.in_dtype = np.dtype(self.inp["dtype"])
        self.out_dtype = np.dtype(self.out["dtype"])
        self.in_scale, self.in_zero = self.inp["quantization"]
        self.out_scale, self.out_zero = self.out["quantization"]

    def _input(self, rgb):
        rgb = np.asarray(rgb)
        w, h = self.input_size
        if rgb.shape != (h, w, self.channels):
            raise ValueError("model input is %dx%dx%d, got an image of %s" % (w, h, self.channels, rgb.shape))
        if self.in_dtype == np.float32:
            return (rgb.astype(np.float32) / 255.0)[None]
        x = rgb.astype(np.float32) / 255.0
        q = np.round(x / self.in_scale + self.in_zero)
        info = np.iinfo(self.in_dtype)
        return np.clip(q, info.min, info.max).astype(self.in_dtype)[None]

    def run_raw(self, rgb):
        """The output tensor as the interpreter returns it (H, W, C), in its own dtype."""
        self.interp.set_tensor(self.inp["index"], self._input(rgb))
        self.interp.invoke()
        return self.interp.get_tensor(self.out["index"])[0].copy()

    def dequantize(self, raw):
        raw = np.asarray(raw)
        if self.out_dtype == np.float32:
            return raw.astype(np.float32)
        return ((raw.astype(np.float32) - self.out_zero) * self.out_scale).astype(np.float32)

    def run(self, rgb):
        return _to_layout(self.dequantize(self.run_raw(rgb)), self.output_layout)


class KmodelRunner:
    """A kmodel v3 on the KPU emulator; input planar uint8 RGB, output 0 as float32."""

    def __init__(self, data, layout="NCHW"):
        from picoface.kmodel import v3

        self.model = v3.parse(bytes(data))
        convs = self.model.convs
        if not convs:
            raise ValueError("kmodel has no K210_CONV layer")
        w, h, c = convs[0].regs.in_shape
        if c != 3:
            raise ValueError("first layer takes %d channels, not 3 (RGB)" % c)
        self.input_size = (w, h)
        ow, oh, oc = convs[-1].regs.out_shape
        self.output_shape = (oh, ow, oc)
        self.output_layout = layout
        self._emu = None

    def run(self, rgb):
        from picoface.kmodel import emulator  # written by the kmodel engineer (ARCHITECTURE §10)

        rgb = np.asarray(rgb, dtype=np.uint8)
        w, h = self.input_size
        if rgb.shape != (h, w, 3):
            raise ValueError("model input is %dx%d, got an image of %s" % (w, h, rgb.shape))
        chw = np.ascontiguousarray(rgb.transpose(2, 0, 1))
        if self._emu is None and hasattr(emulator, "Emulator"):
            self._emu = emulator.Emulator(self.model)   # compile the layers once
        outs = self._emu.run(chw) if self._emu is not None else emulator.run(self.model, chw)
        out = np.asarray(outs[0], dtype=np.float32).reshape(-1)
        oh, ow, oc = self.output_shape
        if out.size != oh * ow * oc:
            raise ValueError("kmodel output 0 has %d values, expected %d" % (out.size, oh * ow * oc))
        if self.output_layout == "NCHW":
            return out
        return _to_layout(out.reshape(oc, oh, ow).transpose(1, 2, 0), "NHWC")
