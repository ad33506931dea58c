# Minimal MaixPy `KPU` without run_yolo2 (the HAL's forward + pfcore.region path): forward()
# returns a 20x15x30 NCHW output with one confident box in anchor 0 at row 7, column 10.
W, H, C = 20, 15, 30


class _Fmap:
    def __getitem__(self, k):
        out = [-8.0] * (W * H * C)
        cell = 7 * W + 10
        for e, v in ((0, 0.0), (1, 0.0), (2, 0.5), (3, 0.5), (4, 3.0)):
            out[e * W * H + cell] = v
        return out[k]


def load(src):
    if src != 0x300000:
        raise ValueError("[MAIXPY]kpu: load error:2005, ERR_READ_FILE: read file failed")
    return "task"


def forward(task, img, end_layer=-1):
    return _Fmap()


def fmap_free(fmap):
    pass


def deinit(task):
    return True
