# HAL for Sipeed MaixPy v1 (K210): `import KPU as kpu`, sensor, lcd, fm + Maix.GPIO.
# Every frame: kpu.forward() runs the model once and returns a kpu_fmap that points at the
# KPU's float output (no copy); pfcore.region decodes it through memoryview(fmap), objectness
# first. kpu.run_yolo2 (the firmware's C region layer) is never called: it writes every box
# it keeps into a static 10-entry array without a bound (sipeed_yolo2.h:19), so a frame with
# 11 faces corrupts memory, and proving a frame safe needs the output, which run_yolo2 would
# compute a second time (docs/firmware.md, "MaixPy: why the app decodes kpu.forward's output").
from hal_k210 import K210Base
from pfcore import gate, region


def probe():
    try:
        import KPU  # noqa: F401  (MaixPy only; CanMV has maix.KPU)
        import sensor  # noqa: F401
        return True
    except ImportError:
        return False


def sha_engine_broken():
    """True on MaixPy before v0.6.0, from uos.uname().version ("v0.5.1-12-gabc on 2020-08-19")."""
    try:
        import uos
        tag = uos.uname().version.split(" ")[0].split("-")[0]
        parts = tag.lstrip("v").split(".")
        return (int(parts[0]), int(parts[1])) < (0, 6)
    except Exception:
        return False


class Hal(K210Base):
    def __init__(self):
        import KPU as kpu
        self.kpu = kpu
        self.yolo2 = hasattr(kpu, "run_yolo2") and hasattr(kpu, "init_yolo2")
        self.firmware = "maixpy/KPU-old" if self.yolo2 else "maixpy/KPU-forward"

    def _gpio_class(self):
        from Maix import GPIO
        return GPIO

    def _utils(self):
        from Maix import utils     # utils.flash_read(address, n) -> bytes (from v0.5.1)
        return utils

    def model_hash(self):
        # Before v0.6.0 uhashlib sets the K210 SHA engine up for 0xffffffff bytes; its 16-bit
        # block count then stops it after the first block, so digest() is wrong for a model
        # (docs/firmware.md, "Firmware matrix"): no hash rather than a wrong one.
        if sha_engine_broken():
            self.info["no_hash"] = "sha_engine"   # the hello says why there is no hash
            return ""
        return K210Base.model_hash(self)

    def load_model(self):
        kpu = self.kpu
        if self.task is not None:
            kpu.deinit(self.task)
            self.task = None
        m = self.cfg["model"]
        for k in ("w", "h", "grid_w", "grid_h", "anchors"):
            if k not in m:
                raise ValueError("config model lacks %s" % k)
        self.fit = self._fit()
        src = self._model_source()
        self._check_file(src)
        self.task = kpu.load(src)
        return self._model_info()

    def _forward(self, task, img, what):
        # a float32 view of the task's KPU output buffer (kpu_fmap has the buffer protocol, typecode
        # 'f' after a DEQUANTIZE layer; fmap[:] would box every value on the GC heap). kpu.fmap_free
        # is a no-op in v0.5.0-v0.6.3: the buffer is the task's, valid until the task runs again
        kpu = self.kpu
        fmap = kpu.forward(task, img)
        try:
            out = memoryview(fmap)
            if len(out) and not isinstance(out[0], float):
                raise ValueError("kpu.forward gave uint8 (the %s ends in a KPU conv): "
                                 "convert it with a dequantized float output" % what)
            return out
        finally:
            kpu.fmap_free(fmap)

    def infer(self, img):
        out = self._forward(self.task, self._net_image(img), "model")
        return region.postprocess(out, self.cfg["model"], self.fit, self.cfg["score"], self.cfg["nms"],
                                  self.cfg["max_faces"])

    def load_gate(self):
        kpu = self.kpu
        if getattr(self, "gtask", None) is not None:
            kpu.deinit(self.gtask)
        self.gtask = None
        src = self._model_source("gate")
        self._check_file(src, "gate")
        self.gtask = kpu.load(src)

    def gate(self, img):
        # the gate's float map through memoryview(fmap), as infer() reads the detector's
        kpu = self.kpu
        fmap = kpu.forward(self.gtask, self._gate_image(img))
        try:
            return gate.score(memoryview(fmap))
        finally:
            kpu.fmap_free(fmap)

    # ---- mode recognise: two more kpu.load tasks, run by kpu.forward as the detector is -------------
    def load_recog(self):
        kpu = self.kpu
        for name in ("ltask", "etask"):
            t = getattr(self, name, None)
            if t is not None:
                kpu.deinit(t)
            setattr(self, name, None)
        lpath, epath = self._recog_paths()
        self.ltask = kpu.load(lpath)
        self.etask = kpu.load(epath)

    # the output maps are planar (CHW) float views, valid until the net runs again or load_recog()
    def landmarks(self, img, roi):
        return self._forward(self.ltask, self._landmark_image(img, roi), "net")

    def embed(self, img, m):
        return self._forward(self.etask, self._face_image(img, m), "net")
