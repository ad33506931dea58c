# Minimal MaixPy `sensor` for running device/main.py under real MicroPython (wasm): no pixels,
# just the calls the HAL makes, with the firmware's argument names. After 20 snapshots the run
# ends with exit status 3 (an app that keeps failing its frames never reaches max_frames).
import image

RGB565 = 2
GRAYSCALE = 1
QVGA = 1
_ready = [False]
_n = [0]


def reset(freq=24000000, set_regs=True, dual_buff=False):
    _ready[0] = True


def set_pixformat(format):
    if not _ready[0]:
        raise RuntimeError("Sensor control failed.")


def set_framesize(framesize):
    if framesize != QVGA:
        raise ValueError("Invalid Frame Size")


def skip_frames(n=10, time=None):
    pass


def run(enable):
    pass


def snapshot():
    if not _ready[0]:
        raise RuntimeError("Sensor control failed.")
    _n[0] += 1
    if _n[0] > 20:
        raise SystemExit(3)
    if _n[0] == 3:
        raise RuntimeError("Sensor Timeout!!")   # one camera fault on the 3rd snapshot
    return image.Image(size=(320, 240))
