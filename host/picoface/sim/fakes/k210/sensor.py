"""Fake MaixPy/CanMV `sensor` (PLATFORM.md A1): QVGA RGB565 camera fed by the World."""
from picoface.sim.fakes import _common, _k210

_S = _common.Sensor(k210=True)
_common.install_sensor_module(globals(), _S, True)


def reset(freq=24000000, set_regs=True, dual_buff=False):
    _S.reset()


def set_pixformat(format):
    _S.set_pixformat(format)


def set_framesize(framesize):
    _S.set_framesize(framesize)


def set_windowing(roi):
    _S.set_windowing(roi)


def set_hmirror(enable):
    _S.hmirror = bool(enable)


def set_vflip(enable):
    _S.vflip = bool(enable)


def skip_frames(n=10, time=None):
    # The sensor drops frames while settling: simulated time passes, the scene does not advance.
    _S._need_reset()
    _common.W().advance(time if time is not None else n * _common.W().frame_ms)


def run(enable):
    _S._need_reset()
    _S.running = bool(enable)


def width():
    return _S.out_wh()[0]


def height():
    return _S.out_wh()[1]


def get_id():
    return 0x5640


def snapshot():
    return _k210.wrap_snapshot(_S.snapshot())
