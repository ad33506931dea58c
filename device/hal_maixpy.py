# HAL for Sipeed MaixPy v1 (K210): `import KPU as kpu`, sensor, lcd, fm + Maix.GPIO.
# The KPU runs the model; run_yolo2 (the firmware's C region layer) decodes it when the
# build has it, else kpu.forward returns the raw output and pfcore.region decodes it.
from hal_k210 import K210Base


def probe():
    try:
        import KPU  # noqa: F401  (MaixPy only; CanMV has maix.KPU)
        import sensor  # noqa: F401
        return True
    except ImportError:
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
        task = kpu.load(src)
        # The C region layer assumes 5 anchors and an NCHW float output (KMODEL.md 1.5).
        self.c_decoder = self.yolo2 and len(m["anchors"]) == 5 and m.get("layout", "NCHW") == "NCHW"
        if self.c_decoder:
            kpu.init_yolo2(task, self.cfg["score"], self.cfg["nms"], 5, self._flat_anchors())
        self.task = task
        return self._model_info()

    def infer(self, img):
        kpu = self.kpu
        net = self._net_image(img)
        if self.c_decoder:
            objs = kpu.run_yolo2(self.task, net) or []
            rects = []
            for o in objs:
                r = o.rect()
                rects.append((r[0], r[1], r[2], r[3], o.value()))
            return self._finish(self._rects_to_dets(rects))
        from pfcore import region
        fmap = kpu.forward(self.task, net)
        out = fmap[:]
        kpu.fmap_free(fmap)
        return region.postprocess(out, self.cfg["model"], self.fit, self.cfg["score"], self.cfg["nms"],
                                  self.cfg["max_faces"])
