"""Fake MaixPy `KPU` module (PLATFORM.md A1, KMODEL.md §1.5): load / init_yolo2 / run_yolo2 /
forward / deinit. The region layer is the firmware's C decoder re-implemented in _yolo2.py.
run_yolo2 stops the simulated board (FirmwareFault) where sipeed_yolo2.c overflows: more region
boxes than its stack array holds, or more than 10 results (boards/firmware.toml, maixpy).
Generation "maixpy/forward" simulates a build without run_yolo2/init_yolo2."""
from picoface.sim.fakes import _common, _k210, _yolo2
from picoface.sim.fakes._yolo2 import RegionLayer


def _err(code, text):
    return ValueError("[MAIXPY]kpu: load error:%d, %s" % (code, text))


def _check_fmt():
    return ValueError("[MAIXPY]kpu: check img format err!")


class _Task:
    def __init__(self, runner, src):
        self.runner = runner
        self.src = src
        self.rl = None
        self.alive = True

    def __repr__(self):
        return "<kpu_net model_addr=%r>" % (self.src,)


class _Obj:
    """A run_yolo2 result object."""

    def __init__(self, x, y, w, h, classid, value, index, objnum):
        self._r = (x, y, w, h)
        self._c, self._v, self._i, self._n = classid, value, index, objnum

    def rect(self):
        return self._r

    def x(self):
        return self._r[0]

    def y(self):
        return self._r[1]

    def w(self):
        return self._r[2]

    def h(self):
        return self._r[3]

    def value(self):
        return self._v

    def classid(self):
        return self._c

    def index(self):
        return self._i

    def objnum(self):
        return self._n


class _Fmap:
    def __init__(self, data):
        self._d = data

    def __getitem__(self, k):
        if isinstance(k, slice):
            return [float(v) for v in self._d[k]]
        return float(self._d[k])

    def __len__(self):
        return len(self._d)


def load(offset_or_path):
    data = _k210.read_model(offset_or_path, err=_err)
    runner = _k210.open_runner(data, _err)
    return _Task(runner, offset_or_path)


def _task(task):
    if not isinstance(task, _Task):
        raise TypeError("kpu: arg 1 must be a task from kpu.load")
    if not task.alive:
        raise ValueError("[MAIXPY]kpu: model deinit")
    return task


def init_yolo2(task, threshold, nms_value, anchor_num, anchor):
    task = _task(task)
    if not isinstance(anchor, (tuple, list)) or len(anchor) != 2 * anchor_num:
        raise ValueError("[MAIXPY]kpu: anchor length error")
    if not 0 < float(threshold) < 1 or not 0 < float(nms_value) < 1:
        raise ValueError("[MAIXPY]kpu: threshold/nms_value must be in (0, 1)")
    if anchor_num != 5:
        _common.W().warn("sipeed_yolo2.c assumes 5 anchors; anchor_num=%d decodes garbage" % anchor_num)
    gh, gw, ch = task.runner.output_shape
    iw, ih = task.runner.input_size
    task.rl = RegionLayer(anchor, anchor_num, threshold, nms_value, gw, gh, ch, iw, ih)
    return 0


def run_yolo2(task, img):
    task = _task(task)
    if task.rl is None:
        raise ValueError("[MAIXPY]kpu: region layer not init (call init_yolo2)")
    out = _k210.run_model(task.runner, img, _check_fmt)
    if out is None:
        _common.W().warn("run_yolo2 on an image without AI buffer (call pix_to_ai())")
        return None
    rl = task.rl
    _yolo2.region_boxes("maixpy", "KPU.run_yolo2", rl.lw, rl.lh, rl.anchor_num)   # do_nms_sort's stack array
    res = rl.run(out)
    _yolo2.results("maixpy", "KPU.run_yolo2", len(res))                          # static obj_info_t.obj[10]
    if not res:
        return None
    return [_Obj(x, y, w, h, c, p, i, len(res)) for i, (x, y, w, h, c, p) in enumerate(res)]


def forward(task, img, end_layer=-1):
    task = _task(task)
    out = _k210.run_model(task.runner, img, _check_fmt)
    if out is None:
        _common.W().warn("forward on an image without AI buffer (call pix_to_ai())")
        gh, gw, ch = task.runner.output_shape
        out = [0.0] * (gh * gw * ch)
    return _Fmap(out)


def fmap_free(fmap):
    return None


def deinit(task):
    if isinstance(task, _Task):
        task.alive = False
    return True


def set_outputs(task, idx, w, h, ch):
    _common.W().warn("set_outputs is only needed for kmodel v4")


def memtest():
    print("memtest: simulated board")


if _common.W().generation == "forward":
    del init_yolo2, run_yolo2
