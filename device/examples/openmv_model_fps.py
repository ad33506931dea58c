# Bring-up 5 (OpenMV >= 4.8): camera + picoface int8 TFLite model, print raw output and fps.
# Copy picoface.tflite to /flash (or /sd on the H7 Plus) first.
import csi
import ml
import time

# Camera: RGB565 QVGA, settle for a second.
cam = csi.CSI()
cam.reset()
cam.pixformat(csi.RGB565)
cam.framesize(csi.QVGA)
cam.snapshot(time=1000)

# Load the model; print its input and output tensors.
model = ml.Model("/flash/picoface.tflite")
print("in", model.input_shape, model.input_dtype, "out", model.output_shape, model.output_dtype)

# Frames per second on the device clock.
clock = time.clock()

while True:
    clock.tick()

    # One frame; predict() scales it to the model input.
    img = cam.snapshot()
    out = model.predict([img])[0]

    # The strongest objectness value (channel 4 of each anchor, NHWC, int8).
    best = max(out.flatten()[4::6])
    print("max obj %d  %.1f fps" % (best, clock.fps()))
