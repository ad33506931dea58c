"""The float source model of a kmodel compile: its TFLite bytes (from a .tflite, a .keras/.h5 or a
Keras model), its input and output shapes, and its outputs on images (TFLite interpreter)."""

from pathlib import Path

import numpy as np

from picoface.errors import PicofaceError


def float_tflite_bytes(model):
    """Float TFLite bytes from a .tflite path, a .keras/.h5 path or a Keras model object."""
    if isinstance(model, (bytes, bytearray)):
        return bytes(model)
    if isinstance(model, (str, Path)):
        p = Path(model)
        if not p.is_file():
            raise PicofaceError("model %s not found" % p, "check the path")
        if p.suffix == ".tflite":
            data = p.read_bytes()
            _check_float_tflite(data, p)
            return data
        if p.suffix not in (".keras", ".h5"):
            raise PicofaceError("cannot convert %s: expected a float .tflite or a .keras model" % p,
                                "export a float TFLite first (picoface export)")
        import tensorflow as tf

        model = tf.keras.models.load_model(p, compile=False)
    import tensorflow as tf

    return tf.lite.TFLiteConverter.from_keras_model(model).convert()


def _check_float_tflite(data, where):
    interp = _interpreter(data)
    d = interp.get_input_details()[0]
    if d["dtype"] != np.float32:
        raise PicofaceError("%s is a quantized (%s input) TFLite; nncase 1.9 crashes importing those"
                            % (where, np.dtype(d["dtype"]).name), "pass the float32 TFLite or the Keras model")


def float_input_hw(data):
    """(H, W) of a float TFLite's NHWC RGB input."""
    d = _interpreter(data).get_input_details()[0]
    shape = tuple(int(x) for x in d["shape"])
    if len(shape) != 4 or shape[3] != 3:
        raise PicofaceError("the model input has shape %s; expected (1, H, W, 3) RGB" % (shape,),
                            "export an RGB NHWC model")
    return shape[1], shape[2]


def float_output_hwc(data):
    """(H, W, C) of a float TFLite's NHWC output (the YOLOv2 head: grid and channels)."""
    d = _interpreter(data).get_output_details()[0]
    shape = tuple(int(x) for x in d["shape"])
    if len(shape) != 4:
        raise PicofaceError("the model output has shape %s; expected (1, H, W, C)" % (shape,),
                            "export a YOLOv2 head with one NHWC output")
    return shape[1], shape[2], shape[3]


def _interpreter(data):
    from picoface.litert import interpreter

    return interpreter(bytes(data), num_threads=None)


def run_float_tflite(data, images_hwc):
    """Float model outputs as CHW float32 arrays, one per image (input = pixels / 255)."""
    interp = _interpreter(data)
    din, dout = interp.get_input_details()[0], interp.get_output_details()[0]
    outs = []
    for img in images_hwc:
        interp.set_tensor(din["index"], (img.astype(np.float32) / 255.0)[None])
        interp.invoke()
        y = interp.get_tensor(dout["index"])[0]
        outs.append(np.transpose(y, (2, 0, 1)).astype(np.float32))
    return outs
