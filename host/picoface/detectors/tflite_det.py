"""TFLite picoface models, float or full-integer (uint8/int8 input, int8 output), run with
LiteRT (``picoface.litert``). Output layout NHWC; quantised outputs are dequantised here."""

import numpy as np

from picoface.detectors.base import RegionDetector, error_text
from picoface.errors import PicofaceError


def tflite_problem(src):
    """Why ``src`` (a path or bytes) is not a TFLite file, from its first 8 bytes: missing, too short,
    or no "TFL3" file identifier at byte 4 (every TFLite converter writes it). None when it looks right."""
    if isinstance(src, (bytes, bytearray)):
        head = bytes(src[:8])
    else:
        try:
            with open(src, "rb") as f:
                head = f.read(8)
        except FileNotFoundError:
            return "the file does not exist"
        except OSError as e:
            return "cannot read it (%s)" % (e.strerror or e)
    if len(head) < 8:
        return "only %d bytes" % len(head)
    if head[4:8] != b"TFL3":
        return "no TFL3 identifier at byte 4 (its first bytes are %s)" % head.hex(" ")
    return None


class TFLiteDetector(RegionDetector):
    default_layout = "NHWC"

    def __init__(self, path, contract=None, num_threads=1, data=None, **kw):
        """``path``: a .tflite file; or ``path=None`` and ``data=`` the model's bytes (export's
        parity check, before the files are written)."""
        super().__init__(path, contract, **kw)
        if data is not None:
            self.bytes = len(data)
        what = self.path or self.name
        problem = tflite_problem(self.path if data is None else bytes(data))
        if problem:
            raise PicofaceError("%s is not a TFLite model: %s" % (what, problem), "pass a .tflite file exported by picoface")
        from picoface.litert import interpreter

        try:
            self.interp = interpreter(self.path if data is None else bytes(data), num_threads=num_threads)
        except UnicodeDecodeError as e:  # TFLite reads a garbled flatbuffer's strings as UTF-8
            raise PicofaceError("cannot load TFLite model %s: its flatbuffer is corrupt (a name or string in it is "
                                "not text)" % what, "export the model again, or pass another .tflite file") from e
        except (ValueError, RuntimeError) as e:
            raise PicofaceError("cannot load TFLite model %s (%s)" % (what, str(e).splitlines()[0][:200]),
                                "pass a .tflite file exported by picoface") from e
        self.inp = self.interp.get_input_details()[0]
        self.out = self.interp.get_output_details()[0]
        shape = self.inp["shape"]
        if len(shape) != 4 or shape[3] not in (1, 3):
            raise PicofaceError("%s input shape %s is not 1xHxWx3 (or x1)" % (self.name, list(shape)),
                                "export the model with an NHWC RGB (or grayscale) input")
        self.channels = int(shape[3])
        self.net_h, self.net_w = int(shape[1]), int(shape[2])
        self.in_dtype = np.dtype(self.inp["dtype"])
        self.in_scale, self.in_zp = self.inp["quantization"]
        self.out_scale, self.out_zp = self.out["quantization"]
        self.quantized = self.in_dtype != np.float32
        oshape = self.out["shape"]
        if self.grid is None and len(oshape) == 4:
            per = len(self.anchors) * (5 + self.classes)
            if oshape[3] == per:
                self.grid = (int(oshape[2]), int(oshape[1]))
        if self.macs is None:
            try:
                from picoface.bench.macs import tflite_macs

                self.macs = tflite_macs(self.path if data is None else bytes(data))
            except Exception as e:  # a MAC count must not stop an evaluation: it is reported
                self.macs, self.macs_error = None, "MACs not counted: %s" % error_text(e)

    def forward(self, net_rgb):
        if self.in_dtype == np.float32:
            x = net_rgb.astype(np.float32) / 255.0
        elif self.in_dtype == np.uint8 and self.in_scale and abs(self.in_scale - 1 / 255.0) < 1e-9 and self.in_zp == 0:
            x = net_rgb
        else:  # generic quantisation of pixels/255
            info = np.iinfo(self.in_dtype)
            q = np.round(net_rgb.astype(np.float32) / 255.0 / self.in_scale) + self.in_zp
            x = np.clip(q, info.min, info.max).astype(self.in_dtype)
        self.interp.set_tensor(self.inp["index"], x[None])
        self.interp.invoke()
        y = self.interp.get_tensor(self.out["index"])[0]
        if y.dtype != np.float32:
            y = (y.astype(np.float32) - self.out_zp) * (self.out_scale or 1.0)
        return y
