# Bring-up 2 (MaixPy, K210): load the kmodel from flash, run one YOLOv2 inference, print faces.
# Flash the model first (picoface flash ... writes it at 0x300000).
import sensor
import utime
import KPU as kpu

# Camera at the net input size (320x240 for picoface_k210_320x240).
sensor.reset()
sensor.set_pixformat(sensor.RGB565)
sensor.set_framesize(sensor.QVGA)
sensor.skip_frames(30)
sensor.run(1)

# Load the model from flash (raises "load error:2002" when nothing valid is there).
task = kpu.load(0x300000)

# YOLOv2 region layer: score threshold, NMS IoU, 5 anchors in grid cells (see model.json).
anchors = (1.889, 2.5245, 2.9465, 3.94056, 3.99987, 5.3658, 5.155437, 6.92275, 6.718375, 9.01025)
kpu.init_yolo2(task, 0.5, 0.3, 5, anchors)

# One frame, one inference, timed.
img = sensor.snapshot()
t0 = utime.ticks_ms()
objs = kpu.run_yolo2(task, img)
ms = utime.ticks_diff(utime.ticks_ms(), t0)

# Print each face as x, y, w, h, score.
faces = []
for o in objs or []:
    faces.append(o.rect() + (round(o.value(), 3),))
print("faces: %d in %d ms %s" % (len(faces), ms, faces))

# Free the KPU memory.
kpu.deinit(task)
