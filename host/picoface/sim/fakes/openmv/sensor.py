"""Fake OpenMV `sensor` (<= 4.7 API; still registered in >= 4.8): camera fed by the World.
Each snapshot hands the previous frame buffer (with what the app drew on it) to the World as
the IDE frame buffer."""
from picoface.sim.fakes import _common, _openmv

_S = _common.Sensor(k210=False)
_common.install_sensor_module(globals(), _S, False)


def reset():
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


def skip_frames(n=None, time=None):
    # The sensor drops frames while settling: simulated time passes, the scene does not advance.
    _S._need_reset()
    _common.W().advance(time if time is not None else (n or 10) * _common.W().frame_ms)


def width():
    return _S.out_wh()[0]


def height():
    return _S.out_wh()[1]


def get_id():
    return 0x2640


def snapshot():
    return _openmv.snapshot(_S)
