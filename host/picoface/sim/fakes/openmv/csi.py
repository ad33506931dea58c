"""Fake OpenMV `csi` module (>= 4.8): csi.CSI() camera objects."""
from picoface.sim.fakes import _common, _openmv

_openmv.require("csi")
_common.install_sensor_module(globals(), None, False)


class CSI:
    def __init__(self, id=-1):
        self._s = _common.Sensor(k210=False)

    def reset(self, hard=True):
        self._s.reset()

    def pixformat(self, fmt=None):
        if fmt is None:
            return self._s.pixformat
        self._s.set_pixformat(fmt)

    def framesize(self, size=None):
        if size is None:
            return self._s.framesize
        self._s.set_framesize(size)

    def window(self, roi=None):
        if roi is None:
            return self._s.window
        self._s.set_windowing(roi)

    def hmirror(self, enable=None):
        if enable is None:
            return self._s.hmirror
        self._s.hmirror = bool(enable)

    def vflip(self, enable=None):
        if enable is None:
            return self._s.vflip
        self._s.vflip = bool(enable)

    def width(self):
        return self._s.out_wh()[0]

    def height(self):
        return self._s.out_wh()[1]

    def snapshot(self, image=None, update=True, blocking=True, time=None):
        if time is not None:
            # settle: the sensor drops frames for `time` ms; the scene does not advance and
            # the frame returned is blank (the app uses this call only to wait)
            self._s._need_reset()
            _common.W().advance(int(time))
            w, h = self._s.out_wh()
            import numpy as np
            return _common.Image(np.zeros((h, w, 3), np.uint8), None, False)
        return _openmv.snapshot(self._s)
