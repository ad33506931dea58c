# HAL for Canaan CanMV (K210, released firmware <= v1.0.7 "OLD" KPU API):
# `from maix import KPU` -> KPU().load_kmodel(path | offset, size), init_yolo2(...),
# run_with_output(img), regionlayer_yolo2() -> [[x, y, w, h, class, prob], ...] (the class is
# carried for a model of more than one class).
from hal_k210 import K210Base
from pfcore import gate


def probe():
    try:
        from maix import KPU  # noqa: F401
        import sensor  # noqa: F401
        return True
    except ImportError:
        return False


class Hal(K210Base):
    firmware = "canmv/maix.KPU"

    def __init__(self):
        from maix import KPU
        self.KPU = KPU

    def _gpio_class(self):
        from maix import GPIO
        return GPIO

    def _utils(self):
        from maix import utils     # utils.flash_read(address, n) -> bytes
        return utils

    def _load_kpu(self, key):
        # a KPU object with the model of cfg[key] ("model" or "gate") loaded from flash or a file
        m = self.cfg[key]
        src = self._model_source(key)
        self._check_file(src, key)
        kpu = self.KPU()
        if isinstance(src, int):
            if not m.get("bytes"):
                raise ValueError("a %s in flash needs %s.bytes in the config" % (key, key))
            kpu.load_kmodel(src, m["bytes"])
        else:
            kpu.load_kmodel(src)
        return kpu

    def load_model(self):
        if self.task is not None:
            self.task.deinit()
            self.task = None
        m = self.cfg["model"]
        for k in ("w", "h", "grid_w", "grid_h", "anchors"):
            if k not in m:
                raise ValueError("config model lacks %s" % k)
        self.fit = self._fit()
        kpu = self._load_kpu("model")
        nw, nh = self.fit.net_size
        # img_w/img_h = the net input: boxes come back in net pixels, pfcore.geom maps them.
        kpu.init_yolo2(anchor=self._flat_anchors(), anchor_num=len(m["anchors"]), img_w=nw, img_h=nh,
                       net_w=nw, net_h=nh, layer_w=m["grid_w"], layer_h=m["grid_h"],
                       threshold=self.cfg["score"], nms_value=self.cfg["nms"], classes=m.get("classes", 1))
        self.task = kpu
        return self._model_info()

    def infer(self, img):
        # regionlayer_yolo2() -> [x, y, w, h, class, prob]: class is the index of the highest
        # class probability left after the C layer's per-class NMS (yolo2_region_layer.c:424,448;
        # docs/firmware.md "Detector classes"); carried as the face's class for a multi-class model
        net = self._net_image(img)
        self.task.run_with_output(net)
        multi = self.cfg["model"].get("classes", 1) > 1
        rects = []
        for r in self.task.regionlayer_yolo2():
            rect = (r[0], r[1], r[2], r[3], r[5])
            rects.append(rect + (r[4],) if multi else rect)
        return self._finish(self._rects_to_dets(rects))

    def load_gate(self):
        if getattr(self, "gtask", None) is not None:
            self.gtask.deinit()
        self.gtask = None
        kpu = self._load_kpu("gate")
        self.gtask = kpu

    def gate(self, img):
        # run_with_output(getlist=True): the float output as a list
        return gate.score(self.gtask.run_with_output(self._gate_image(img), getlist=True))

    # ---- mode recognise: two more KPU objects ---------------------------------------------------
    def load_recog(self):
        for name in ("ltask", "etask"):
            t = getattr(self, name, None)
            if t is not None:
                t.deinit()
            setattr(self, name, None)
        lpath, epath = self._recog_paths()
        k = self.KPU()
        k.load_kmodel(lpath)
        self.ltask = k
        k = self.KPU()
        k.load_kmodel(epath)
        self.etask = k

    def landmarks(self, img, roi):
        # run_with_output(getlist=True): the float output, planar (CHW), as a new list (the only way
        # CanMV hands out a raw map: get_feature normalises and stops at 256 values)
        return self.ltask.run_with_output(self._landmark_image(img, roi), getlist=True)

    def embed(self, img, m):
        return self.etask.run_with_output(self._face_image(img, m), getlist=True)
