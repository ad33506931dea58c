# Bring-up 2 (MaixPy, K210): load the kmodel from flash, run one YOLOv2 inference, print faces.
# Flash the model first: picoface flash writes it at the board's model address and writes
# /flash/picoface.json, whose "model" holds model.json's output spec (anchors, grid) and
# whose "score" and "nms" are model.json's thresholds. This script reads them from there.
import sensor
import utime
import KPU as kpu
try:
    import ujson as json
except ImportError:
    import json

# The model's contract, as picoface flash wrote it.
with open("/flash/picoface.json") as f:
    cfg = json.loads(f.read())
m = cfg["model"]
anchors = []
for a in m["anchors"]:
    anchors += [a[0], a[1]]

# Camera at the net input size (320x240 for picoface_k210_320x240).
sensor.reset()
sensor.set_pixformat(sensor.RGB565)
sensor.set_framesize(sensor.QVGA)
sensor.skip_frames(30)
sensor.run(1)

# Load the model from flash (raises "load error:2002" when nothing valid is there).
task = kpu.load(m.get("address", 0x300000))

# The firmware's region layer: score threshold, NMS IoU, anchors in grid cells. It assumes 5
# anchors and keeps at most 10 faces (more overwrite memory): point the camera at a few people.
kpu.init_yolo2(task, cfg.get("score", 0.5), cfg.get("nms", 0.3), len(m["anchors"]), anchors)

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
