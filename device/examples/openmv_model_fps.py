# Bring-up 5 (OpenMV >= 4.8: csi, ml): camera + picoface TFLite model, print the best face
# score and fps. picoface flash copies the model and /flash/picoface.json (model.json's output
# spec under "model": file path, classes); this script reads them from there.
import csi
import ml
import time
from math import exp
try:
    import ujson as json
except ImportError:
    import json

with open("/flash/picoface.json") as f:
    m = json.loads(f.read())["model"]
entries = 5 + m.get("classes", 1)          # tx, ty, tw, th, obj, classes per anchor (NHWC)

# Camera: RGB565 QVGA, settle for a second.
cam = csi.CSI()
cam.reset()
cam.pixformat(csi.RGB565)
cam.framesize(csi.QVGA)
cam.snapshot(time=1000)

# Load the model; print its input and output tensors.
model = ml.Model(m.get("path", "/flash/picoface.tflite"))
print("in", model.input_shape, model.input_dtype, "out", model.output_shape, model.output_dtype)

# Frames per second on the device clock.
clock = time.clock()

while True:
    clock.tick()

    # One frame; predict() scales it to the model input. With a callback, firmware >= 4.8 hands
    # over the raw tensor (int8 for an int8 model; without one: float32, dequantised).
    img = cam.snapshot()
    out = model.predict([img], callback=lambda mdl, inputs, outputs: outputs)[0]

    # The strongest objectness (entry 4 of each anchor), dequantised if the values are int8.
    best = max(out.flatten()[4::entries])
    if out.itemsize == 1:
        best = (best - model.output_zero_point[0]) * model.output_scale[0]
    print("max score %.3f  %.1f fps" % (1.0 / (1.0 + exp(-best)), clock.fps()))
