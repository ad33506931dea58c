"""Fake OpenMV `csi`, as each generation has it (picoface.sim.generations ``camera``):

- openmv-tf-4.5.5, openmv-ml-4.5.9: no csi module (ImportError).
- openmv-ml-4.7.0 (v4.6.0 - v4.7.0): csi is the sensor module under a second name, one module
  object with the sensor API (csi.reset(), csi.set_pixformat(), csi.snapshot(), ...) and no CSI
  class (openmv/openmv@v4.7.0 modules/py_csi.c:1326-1327 registers omv_csi_module as both csi
  and sensor; its globals, :1123-1300, have no CSI).
- openmv-ml-4.8.0 (v4.8.0+): csi.CSI(*, cid=-1, delays=True, fflush=True, fb_size=...) objects with
  reset(), pixformat(), framesize(), window(), snapshot(*, time=-1, frames=-1, update=True,
  blocking=True, image=None) (v4.8.0 modules/py_csi_ng.c:1332-1360, 188-263, 1402-1458); the old
  sensor module stays registered as sensor (modules/py_csi.c:1405)."""
import sys

from picoface.sim.fakes import _common, _openmv

_openmv.require("csi")
_common.install_sensor_module(globals(), None, False)


class CSI:
    def __init__(self, *, cid=-1, delays=True, fflush=True, fb_size=2 * 1024 * 1024):
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

    def snapshot(self, *, time=-1, frames=-1, update=True, blocking=True, image=None):
        if time != -1 or frames != -1:
            # settle: the sensor drops frames for `time` ms; the scene does not advance and
            # the frame returned is blank (the app uses this call only to wait)
            self._s._need_reset()
            _common.W().advance(int(time) if time != -1 else int(frames) * _common.W().frame_ms)
            w, h = self._s.out_wh()
            import numpy as np
            return _common.Image(np.zeros((h, w, 3), np.uint8), None, False)
        return _openmv.snapshot(self._s)


if _common.W().fw["camera"] == "csi-module":
    # v4.6.0 - v4.7.0: `import csi` gives the sensor module itself (one module, two names)
    import sensor as _sensor

    sys.modules[__name__] = _sensor
