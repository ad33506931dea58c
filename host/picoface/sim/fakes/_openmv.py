"""OpenMV pieces shared by the fake csi/sensor/ml/tf/pyb modules."""
import numpy as np

from picoface.sim.fakes._common import W



def require(feature):
    """ImportError when the simulated firmware generation (picoface.sim.generations) lacks a
    module: csi, ml, tf, postprocessing (ml.postprocessing), darknet (ml.postprocessing.darknet)."""
    fw = W().fw
    have = {
        "csi": fw["camera"] != "sensor",
        "ml": fw["model"] == "ml",
        "tf": fw["model"] == "tf",
        "postprocessing": fw["postprocessing"] is not None,
        "darknet": fw["postprocessing"] == "package",
    }[feature]
    if not have:
        raise ImportError("no module named '%s'" % feature)


def flush_framebuffer():
    w = W()
    img = getattr(w, "fb_image", None)
    if img is not None:
        w.fb_image = None
        w.lcd_display(img._rgb.copy())


def snapshot(sensor):
    flush_framebuffer()
    img = sensor.snapshot()
    W().fb_image = img
    return img


def predict_input(img, shape, dtype_code, scale, zero):
    """OpenMV's preprocessing of an image for a model input (1, h, w, c): scale the image to
    cover the input (aspect kept), centre-crop, then convert to the tensor's dtype (``run`` takes the
    luma for a 1-channel model)."""
    import cv2

    _, h, w, c = shape
    rgb = img._rgb
    ih, iw = rgb.shape[:2]
    s = max(w / float(iw), h / float(ih))
    nw, nh = max(w, int(round(iw * s))), max(h, int(round(ih * s)))
    if (nw, nh) != (iw, ih):
        rgb = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA if nw < iw else cv2.INTER_LINEAR)
    x0, y0 = (nw - w) // 2, (nh - h) // 2
    return np.ascontiguousarray(rgb[y0:y0 + h, x0:x0 + w])


def load_model_bytes(path, what):
    w = W()
    if not isinstance(path, str):
        raise TypeError("model path must be str")
    data = w.read_file(path)  # OSError(2) ENOENT when missing
    budget = w.model_budget()
    if len(data) > budget:
        raise MemoryError("memory allocation failed, allocating %d bytes" % len(data))
    try:
        runner = w.open_runner(data, layout="NHWC")
    except Exception:
        raise ValueError("%s: unable to read model (not a TFLite flatbuffer)" % what) from None
    if not hasattr(runner, "run_raw"):
        raise ValueError("%s: unable to read model (not a TFLite flatbuffer)" % what)
    return data, runner


def run(runner, rgb):
    """The model on an RGB net-size image (``ml`` and ``tf`` alike); a 1-channel model gets the
    frame's luma, as both modules convert it (imlib.h COLOR_RGB888_TO_Y)."""
    w = W()
    if w.check_infer_fault():
        raise RuntimeError("Failed to invoke the model (injected fault)")
    w.infer_time(runner)
    if runner.channels == 1:
        from picoface.detect.fit import luminance

        rgb = luminance(rgb)
    return runner.run_raw(rgb)


def dequantize(raw, dtype_code, scale, zero_point):
    """What ml.Model.predict() returns without a post-processor (py_ml.c's deep copy): a new
    float32 array, float v = (q - zero_point); v * output_scale, in float32 arithmetic."""
    if dtype_code == "f":
        return np.array(raw, dtype=np.float32)
    v = (np.asarray(raw).astype(np.int32) - int(zero_point)).astype(np.float32)
    return (v * np.float32(scale)).astype(np.float32)


DTYPE_CODES = {np.dtype(np.uint8): "B", np.dtype(np.int8): "b", np.dtype(np.int16): "h",
               np.dtype(np.uint16): "H", np.dtype(np.float32): "f"}
