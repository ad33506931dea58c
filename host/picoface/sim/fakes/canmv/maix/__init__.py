"""Fake CanMV `maix` package (PLATFORM.md A2): KPU object (OLD API of released firmware),
GPIO, utils. KPU().load_kmodel(path) / load_kmodel(offset, size), init_yolo2(...),
run_with_output(img), regionlayer_yolo2() -> [[x, y, w, h, class, prob], ...].
The simulated board stops (FirmwareFault) where yolo2_region_layer.c reads out of bounds
(init_yolo2's layer_w x layer_h x anchor_num x (classes + 5) is not the model's output size: at
init_yolo2 once a model is loaded, else at regionlayer_yolo2) or overflows its stack array (more
region boxes than boards/firmware.toml allows, at regionlayer_yolo2)."""
from picoface.sim.fakes import _common, _k210, _yolo2
from picoface.sim.fakes._yolo2 import RegionLayer

GPIO = _k210.GPIO


class utils:
    @staticmethod
    def gc_heap_size(size=None):
        if size is None:
            return _k210.W().board.memory["gc_heap_bytes"]
        raise OSError("changing the GC heap needs machine.reset(); not simulated")

    @staticmethod
    def heap_free():
        return 1 << 20

    @staticmethod
    def flash_read(addr, length):
        """bytes of SPI flash at addr (Maix_utils.c py_flash_read, as in MaixPy)."""
        return _k210.W().read_flash(int(addr), int(length))


def _load_err(code, text):
    if code == 2006:
        return MemoryError("model buffer memory allocation failed")
    if code == 2005:
        return OSError("Failed to read file")
    if code == 2001:
        return ValueError("path error!")
    return OSError("Failed to init model")


class KPU:
    def __init__(self):
        self._runner = None
        self._rl = None
        self._init = None
        self._out = None

    def load_kmodel(self, path, size=0):
        if isinstance(path, bool) or not isinstance(path, (str, int)):
            raise ValueError("path error!")
        if isinstance(path, int):
            if path <= 0:
                raise ValueError("path error!")
            if size <= 0:
                raise ValueError("size error!")
            data = _k210.read_model(path, size=size, err=_load_err)
        else:
            data = _k210.read_model(path, err=_load_err)
        print("model size %d " % len(data))
        self._runner = _k210.open_runner(data, _load_err)
        print("model load succeed")

    def init_yolo2(self, anchor=None, anchor_num=5, img_w=320, img_h=240, net_w=320, net_h=240,
                   layer_w=10, layer_h=8, threshold=None, nms_value=None, classes=1):
        if anchor is None:
            raise ValueError("need input anchor")
        for name, v in (("anchor_num", anchor_num), ("img_w", img_w), ("img_h", img_h), ("net_w", net_w),
                        ("net_h", net_h), ("layer_w", layer_w), ("layer_h", layer_h), ("classes", classes)):
            if isinstance(v, bool) or not isinstance(v, int):
                raise TypeError("can't convert %s to int (%s)" % (type(v).__name__, name))
        threshold = 0.7 if threshold is None else float(threshold)
        nms_value = 0.4 if nms_value is None else float(nms_value)
        if self._runner is not None:
            gh, gw, ch = self._runner.output_shape
            _yolo2.output_size("canmv", "KPU.init_yolo2", layer_w, layer_h, anchor_num, classes, gw * gh * ch)
            if (gw, gh) != (layer_w, layer_h):
                _common.W().warn("init_yolo2 layer %dx%d differs from the model output %dx%d" % (layer_w, layer_h, gw, gh))
        # CanMV takes classes from the caller; RegionLayer derives them from channels/5 - 5
        self._rl = RegionLayer(list(anchor), anchor_num, threshold, nms_value, layer_w, layer_h, (5 + classes) * 5,
                               img_w, img_h, net_w, net_h)
        self._init = (layer_w, layer_h, anchor_num, classes)

    def run_with_output(self, input=None, getlist=False, get_feature=False):
        if input is None or self._runner is None:
            raise ValueError("invalid input")
        if not isinstance(input, _common.Image):
            raise ValueError("invalid input")
        if input._get_ai() is None:
            raise OSError("Image formart error, use pix_to_ai() method to convert for kpu")

        def bad_fmt():
            return OSError("Model Buffer maybe dirty!")

        self._out = _k210.run_model(self._runner, input, bad_fmt)
        if getlist:
            return [float(v) for v in self._out]
        return None

    def regionlayer_yolo2(self):
        if self._rl is None or self._out is None:
            raise OSError("region layer not ready (init_yolo2 and run_with_output first)")
        lw, lh, na, classes = self._init
        _yolo2.output_size("canmv", "KPU.regionlayer_yolo2", lw, lh, na, classes, len(self._out))  # input copy
        _yolo2.region_boxes("canmv", "KPU.regionlayer_yolo2", lw, lh, na)                        # do_nms_sort
        return [[x, y, w, h, c, p] for (x, y, w, h, c, p) in self._rl.run(self._out)]

    def deinit(self):
        ok = self._runner is not None
        self._runner = None
        return ok
