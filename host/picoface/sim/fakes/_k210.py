"""K210 firmware pieces shared by the MaixPy and CanMV fakes: FPIOA + GPIOHS, LCD, the KPU
(old MaixPy module API and CanMV's KPU object) and board_info. Signatures follow
../shared/docs/PLATFORM.md A1/A2; misuse raises like the firmware."""

import numpy as np

from picoface.sim.fakes import _common
from picoface.sim.fakes._common import W


# ---- FPIOA / GPIOHS -------------------------------------------------------------------------
class _Fpioa:
    """fm.fpioa function ids."""


for _i in range(32):
    setattr(_Fpioa, "GPIOHS%d" % _i, 24 + _i)
    setattr(_Fpioa, "GPIO%d" % (_i % 8), 56 + (_i % 8))
for _n, _v in (("UART1_TX", 18), ("UART1_RX", 17), ("UART2_TX", 20), ("UART2_RX", 19),
               ("UART3_TX", 22), ("UART3_RX", 21)):
    setattr(_Fpioa, _n, _v)


class FpioaManager:
    fpioa = _Fpioa

    def __init__(self):
        self.map = {}  # pad -> function id

    def register(self, pin, function, force=True):
        if isinstance(pin, bool) or not isinstance(pin, int) or not 0 <= pin <= 47:
            raise ValueError("pin must be 0..47")
        if not isinstance(function, int):
            raise TypeError("function must be an fm.fpioa id")
        if not force and function in self.map.values():
            raise ValueError("function already registered (use force=True)")
        for p, f in list(self.map.items()):
            if f == function:
                del self.map[p]
        self.map[pin] = function

    def unregister(self, pin):
        self.map.pop(pin, None)

    def pads_of(self, function):
        return [p for p, f in self.map.items() if f == function]


def current_fm():
    """The fm of this run (created when the app imports fpioa_manager)."""
    return getattr(W(), "fm", None)


class GPIO:
    """Maix.GPIO / maix.GPIO on GPIOHS channels (sipeed/MaixPy-v1@v0.6.2
    components/micropython/port/src/Maix/Maix_gpio.c:421-432; kendryte/canmv@v1.0.7 same lines):
    IN, OUT and the pulls are the SDK's gpio_drive_mode_t (INPUT 0, PULL_DOWN 1, PULL_UP 2,
    OUTPUT 3), PULL_NONE -1; a pull replaces the input mode (:218-229). value() of an input is the
    pad's level: the board's button pin (boards/*.toml [button]) reads 1 released with PULL_UP and
    0 while a simulated press holds it (World.button_level)."""
    GPIOHS0 = 0
    OUT = 3
    IN = 0
    PULL_NONE = -1
    PULL_UP = 2
    PULL_DOWN = 1

    def __init__(self, gpio_id, mode, pull=None, value=None):
        if isinstance(gpio_id, bool) or not isinstance(gpio_id, int) or not 0 <= gpio_id <= 31:
            raise ValueError("gpio id must be GPIOHS0..GPIOHS31")
        if gpio_id >= 27:
            W().warn("GPIOHS%d is reserved by MaixPy" % gpio_id)
        if mode not in (GPIO.OUT, GPIO.IN):
            raise ValueError("mode must be GPIO.OUT or GPIO.IN")
        if pull not in (None, GPIO.PULL_NONE, GPIO.PULL_UP, GPIO.PULL_DOWN):
            raise ValueError("this mode not support.")
        if mode == GPIO.OUT and pull not in (None, GPIO.PULL_NONE):
            raise ValueError("When this pin is in output mode, it is not allowed to pull up and down.")
        self.id = gpio_id
        self.mode = mode
        self.pull = pull
        self.level = 0
        if value is not None:
            self.value(value)

    def _pads(self):
        fm = current_fm()
        return fm.pads_of(_Fpioa.GPIOHS0 + self.id) if fm is not None else []

    def value(self, v=None):
        if v is None:
            if self.mode == GPIO.IN:
                pads = self._pads()
                if not pads:
                    return 0
                return W().button_level(pads[0], self.pull == GPIO.PULL_UP)
            return self.level
        if self.mode != GPIO.OUT:
            raise ValueError("pin is an input")
        self.level = 1 if v else 0
        fm = current_fm()
        pads = fm.pads_of(_Fpioa.GPIOHS0 + self.id) if fm is not None else []
        if not pads:
            W().warn("GPIOHS%d set but not mapped to a pad (fm.register first)" % self.id)
        for pad in pads:
            W().pin_level(pad, self.level)


for _i in range(32):
    setattr(GPIO, "GPIOHS%d" % _i, _i)


def board_info_class():
    led = W().board.led

    class board_info:
        LED_R = led["red"]
        LED_G = led["green"]
        LED_B = led["blue"]
        BOOT_KEY = 16

    return board_info


# ---- LCD ----------------------------------------------------------------------------------------
class Lcd:
    BLACK = 0x0000
    WHITE = 0xFFFF
    RED = 0xF800
    GREEN = 0x07E0
    BLUE = 0x001F

    def __init__(self):
        self.ready = False
        self.rot = 0
        self.fb = None

    def _size(self):
        lc = W().board.lcd
        w, h = lc["width"], lc["height"]
        return (h, w) if self.rot % 2 else (w, h)

    def init(self, type=1, freq=15000000, color=0, invert=0, lcd_type=0):
        if not W().board.lcd["present"]:
            raise OSError("lcd init failed: no LCD on this board")
        self.ready = True
        w, h = self._size()
        self.fb = np.zeros((h, w, 3), np.uint8)
        self.fb[:] = _common._colour(color, (0, 0, 0))
        W().lcd_event("init")

    def _check(self):
        if not self.ready:
            raise OSError("lcd not init")

    def rotation(self, dir=None):
        if dir is None:
            return self.rot
        if dir not in (0, 1, 2, 3):
            raise ValueError("rotation must be 0..3")
        self.rot = dir
        w, h = self._size()
        self.fb = np.zeros((h, w, 3), np.uint8)

    def width(self):
        return self._size()[0]

    def height(self):
        return self._size()[1]

    def clear(self, color=0):
        self._check()
        self.fb[:] = _common._colour(color, (0, 0, 0))
        W().lcd_event("clear", color)

    def draw_string(self, x, y, str, color=0xFFFF, bg_color=0x0000):
        import cv2

        self._check()
        w, h = self._size()
        cv2.rectangle(self.fb, (int(x), int(y)), (min(w - 1, int(x) + 8 * len(str)), int(y) + 15),
                      _common._colour(bg_color), -1)
        cv2.putText(self.fb, str, (int(x), int(y) + 12), cv2.FONT_HERSHEY_PLAIN, 1.0, _common._colour(color), 1)
        W().lcd_event("draw_string", x, y, str)
        W().lcd_display(self.fb.copy())

    def display(self, img, roi=None, oft=None):
        self._check()
        if not isinstance(img, _common.Image):
            raise TypeError("lcd.display needs an image")
        w, h = self._size()
        iw, ih = img.width(), img.height()
        if iw > w or ih > h:
            raise ValueError("image is larger than the LCD (%dx%d > %dx%d)" % (iw, ih, w, h))
        self.fb[:] = 0
        y0, x0 = (h - ih) // 2, (w - iw) // 2
        self.fb[y0:y0 + ih, x0:x0 + iw] = img._rgb
        W().lcd_display(self.fb.copy())


# ---- image module helpers ---------------------------------------------------------------------
# Generations whose img.copy() leaves the new image_t's pix_ai uninitialised (a stack variable never
# set): MaixPy v0.5.0 py_image.c:1201-1260 and CanMV v1.0.x py_image_copy_int :1224-1373 (also MaixPy
# v0.6.3's copy_int, which the maixpy-0.6.2 generation does not tell apart); v0.5.1 allocates it,
# v0.6.0 - v0.6.2 set it NULL (:1259)
COPY_PIX_AI_UNSET = ("maixpy-0.5.0", "canmv-1.0.7")


class K210Image(_common.Image):
    """The K210 image: adds resize(), mean_pooled() and pix_to_ai(), as MaixPy and CanMV compute them
    on an RGB565 frame (sipeed/MaixPy-v1@d8901fd2 components/micropython/port/src/omv/py/py_image.c:
    resize :5621-5778, mean_pooled :705-725 with imlib_mean_pool in omv/img/pool.c; the same code in
    v0.5.0 and kendryte/canmv@v1.0.7 py_image.c:5622, :706). get_pixel / set_pixel / pix_to_ai convert
    with the firmware's tables (omv/img/rgb2rgb_tab.c; picoface.gate.board_input K210_*), and an int
    colour is MaixPy's byte-swapped RGB565 (imlib.h COLOR_RGB565_TO_R5 ... :241-259 at v0.6.2)."""

    def __init__(self, rgb, ai=None, k210=True, from_copy=False):
        super().__init__(rgb, ai, True)
        self._from_copy = from_copy

    def _expand(self, q):
        from picoface.gate.board_input import K210_G6_TO_G8, K210_R5_TO_R8

        return (K210_R5_TO_R8[q[0]], K210_G6_TO_G8[q[1]], K210_R5_TO_R8[q[2]])

    def _quantise(self, rgb):
        from picoface.gate.board_input import K210_G8_TO_G6, K210_R8_TO_R5

        return (int(K210_R8_TO_R5[rgb[0]]), int(K210_G8_TO_G6[rgb[1]]), int(K210_R8_TO_R5[rgb[2]]))

    def _from_int(self, c):
        c &= 0xFFFF
        return ((c >> 3) & 0x1F, ((c & 0x07) << 3) | (c >> 13), (c >> 8) & 0x1F)

    def _to_int(self, q):
        return (q[0] << 3) | (q[1] >> 3) | ((q[1] & 0x7) << 13) | (q[2] << 8)

    def resize(self, w, h):
        """A new image (py_image(): no AI buffer yet). Shrinking (w0 >= w or h0 > h) is nearest-neighbour,
        top-left aligned: out[y][x] = in[int(y * h0 / h)][int(x * w0 / w)] (float ratios); growing is
        the firmware's bilinear on the 5/6/5-bit values (picoface.gate.board_input.k210_resize)."""
        from picoface.gate.board_input import k210_resize

        w, h = _common._int(w, "w"), _common._int(h, "h")
        return K210Image(k210_resize(self._rgb, w, h), None)

    def mean_pooled(self, x_div, y_div):
        """A new (w // x_div) x (h // y_div) image, each pixel the mean of its block, per RGB565 channel
        (5/6/5-bit sums divided as integers, then expanded back to 8 bits as the frame is)."""
        x_div, y_div = _common._int(x_div, "x_div"), _common._int(y_div, "y_div")
        h0, w0 = self._rgb.shape[:2]
        if not 1 <= x_div <= w0:
            raise ValueError("Width divisor must be greater than >= 1" if x_div < 1 else
                             "Width divisor must be less than <= img width")
        if not 1 <= y_div <= h0:
            raise ValueError("Height divisor must be greater than >= 1" if y_div < 1 else
                             "Height divisor must be less than <= img height")
        from picoface.gate.board_input import mean_pooled

        return K210Image(mean_pooled(self._rgb, x_div, y_div), None)

    def pix_to_ai(self):
        """Planar RGB888 from the RGB565 pixels through the expansion tables (MaixPy v0.6.2
        py_image.c:5707-5752, COLOR_RGB565_TO_R8 = rb528_table; CanMV v1.0.7 :5781-5820)."""
        from picoface.gate.board_input import k210_ai

        if self._from_copy and W().fw.name in COPY_PIX_AI_UNSET:
            W().warn("pix_to_ai() on a copy(): on %s its pix_ai pointer is uninitialised, so pix_to_ai() "
                     "writes through whatever that stack slot held (resize() the copy first)" % W().fw.name)
        self._ai = np.ascontiguousarray(k210_ai(self._rgb).transpose(2, 0, 1))
        return self

    def copy(self, roi=None, x_scale=1.0, y_scale=1.0, copy_to_fb=False):
        c = super().copy(roi=roi, x_scale=x_scale, y_scale=y_scale)
        return K210Image(c._rgb, None, from_copy=True)


def wrap_snapshot(img):
    return K210Image(img._rgb, img._ai)


# ---- KPU: model loading (firmware loader rules) ---------------------------------------------------
def read_model(src, size=None, err=None):
    """Bytes of a model at a flash offset or a file path, with the firmware's checks.
    err(code, text) builds the firmware's exception."""
    w = W()
    if isinstance(src, bool) or not isinstance(src, (int, str)):
        raise err(2001, "ERR_PARAM")
    if isinstance(src, int):
        data = w.flash.get(src)
        if data is None:
            data = w.read_flash(src, 64)  # erased flash: reads 0xFF, fails the version check
        if size is not None:
            data = data[:size]
    else:
        try:
            data = w.read_file(src)
        except OSError:
            raise err(2005, "ERR_READ_FILE: read file failed") from None
    if len(data) > w.model_budget():
        raise err(2006, "ERR_NO_MEM: memory not enough")
    return data


def open_runner(data, err):
    try:
        return W().open_runner(data, layout="NCHW")
    except (ValueError, Exception) as e:  # noqa: B014 - any parse failure is a load error
        if isinstance(e, (KeyboardInterrupt, MemoryError)):
            raise
        raise err(2002, "ERR_KMODEL_VERSION: only support kmodel V3/V4 now") from None


def run_model(runner, img, check_fmt):
    """Run the accelerator on an image's AI buffer; returns flat float32 CHW output 0."""
    w = W()
    if not isinstance(img, _common.Image):
        raise TypeError("need an image")
    iw, ih = runner.input_size
    if img.width() != iw or img.height() != ih:
        raise check_fmt()
    ai = img._get_ai()
    if ai is None:
        return None
    if w.check_infer_fault():
        raise OSError("[MAIXPY]kpu: run error (injected fault)")
    w.infer_time(runner)
    rgb = np.ascontiguousarray(ai.transpose(1, 2, 0))
    return runner.run(rgb)
