"""Pieces the fake firmware modules of every family share: Image, sensor state, utime, uos,
machine.WDT/UART. The per-family folders (maixpy/, canmv/, openmv/) hold the modules with the
firmware's names and signatures; they import from here. Everything talks to
``picoface.sim.world.current()``.
"""

import numpy as np

from picoface.sim import world as _world

# pixformat ids
RGB565 = 2
GRAYSCALE = 1
# OpenMV image hints (openmv/openmv@v4.5.5 src/omv/imlib/imlib.h:1103-1105)
AREA = 1 << 0
BILINEAR = 1 << 1
BICUBIC = 1 << 2

# framesize ids (any distinct ints; firmware code only passes them back)
_FS_NAMES = ("QQVGA", "QVGA", "VGA", "HQVGA", "B64X64", "B128X128", "B240X240", "QCIF", "CIF",
             "QQCIF", "HVGA", "SVGA")
FRAMESIZE_IDS = {name: i + 1 for i, name in enumerate(_FS_NAMES)}
_FS_BY_ID = {v: k for k, v in FRAMESIZE_IDS.items()}


def W():
    return _world.current()


def _colour(color, default=(255, 0, 0)):
    """Firmware colours: (r, g, b) tuple or an RGB565 int -> (r, g, b)."""
    if color is None:
        return default
    if isinstance(color, (tuple, list)):
        if len(color) != 3:
            raise ValueError("color must be (r, g, b)")
        return tuple(int(c) & 0xFF for c in color)
    if isinstance(color, int) and not isinstance(color, bool):
        c = color & 0xFFFF
        r, g, b = (c >> 11) & 0x1F, (c >> 5) & 0x3F, c & 0x1F
        return ((r << 3) | (r >> 2), (g << 2) | (g >> 4), (b << 3) | (b >> 2))
    raise TypeError("can't convert %s to color" % type(color).__name__)


def _int(v, name):
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise TypeError("%s: can't convert %s to int" % (name, type(v).__name__))
    return int(v)


class Image:
    """An image in the frame buffer: RGB pixels (what RGB565 holds) plus, on the K210, the
    planar RGB888 "AI" buffer the KPU reads (filled by the camera or by pix_to_ai())."""

    def __init__(self, rgb, ai=None, k210=False):
        self._rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
        self._ai = ai
        self._k210 = k210

    # geometry
    def width(self):
        return int(self._rgb.shape[1])

    def height(self):
        return int(self._rgb.shape[0])

    def size(self):
        return self.width() * self.height() * 2

    def format(self):
        return RGB565

    def _roi(self, roi):
        if roi is None:
            return 0, 0, self.width(), self.height()
        if not isinstance(roi, (tuple, list)) or len(roi) != 4:
            raise TypeError("roi must be a tuple (x, y, w, h)")
        x, y, w, h = [_int(v, "roi") for v in roi]
        # py_helper_keyword_rectangle (MaixPy v0.5.0 - v0.6.3, CanMV py_helper.c:114-124; OpenMV
        # v4.5.5 py_helper.c:197-205, v4.8.0 :259-267): OSError for an empty roi or one that misses the
        # image, else the part inside the image (rectangle_intersected)
        if w < 1 or h < 1:
            raise OSError("Invalid ROI dimensions!")
        x0, y0 = max(0, x), max(0, y)
        x1, y1 = min(self.width(), x + w), min(self.height(), y + h)
        if x1 <= x0 or y1 <= y0:
            raise OSError("ROI does not overlap on the image!")
        return x0, y0, x1 - x0, y1 - y0

    # pixels. The RGB565 pixel is kept as its bit-replicated 8-bit expansion (picoface.gate.board_input
    # rgb888); get_pixel and set_pixel convert as each firmware does (OpenMV below, K210 in _k210.py)
    def _expand(self, q):
        """5/6/5-bit channels -> get_pixel's (r, g, b): OpenMV's COLOR_RGB565_TO_R8/G8/B8 replicate the
        top bits (openmv/openmv@v4.5.5 src/omv/imlib/imlib.h:261-283, @v4.8.0 lib/imlib/imlib.h:270-292)."""
        return ((q[0] << 3) | (q[0] >> 2), (q[1] << 2) | (q[1] >> 4), (q[2] << 3) | (q[2] >> 2))

    def _quantise(self, rgb):
        """(r, g, b) 8-bit -> 5/6/5 bits as set_pixel stores a colour tuple: OpenMV's
        COLOR_R8_G8_B8_TO_RGB565 keeps the top bits (imlib.h:286 / :295)."""
        return (rgb[0] >> 3, rgb[1] >> 2, rgb[2] >> 3)

    def _from_int(self, c):
        """An int colour as set_pixel takes it (the firmware's RGB565 value) -> 5/6/5 bits."""
        c &= 0xFFFF
        return ((c >> 11) & 0x1F, (c >> 5) & 0x3F, c & 0x1F)

    @staticmethod
    def _xy(name, x, y):
        # py_helper_consume_array: x, y or one (x, y) tuple; mp_obj_get_int refuses floats
        if y is None:
            if not isinstance(x, (tuple, list)) or len(x) != 2:
                raise TypeError("%s needs x, y or an (x, y) tuple" % name)
            x, y = x
        for v in (x, y):
            if not isinstance(v, int):
                raise TypeError("can't convert %s to int" % type(v).__name__)
        return int(x), int(y)

    def get_pixel(self, x, y=None, rgbtuple=True):
        """RGB565: an (r, g, b) tuple of ints (rgbtuple defaults to True for RGB565), None outside the
        image (MaixPy v0.6.2 py_image.c:567-627, OpenMV v4.8.0 modules/py_image.c:913-990)."""
        x, y = self._xy("get_pixel", x, y)
        if not (0 <= x < self.width() and 0 <= y < self.height()):
            return None
        p = self._rgb[y, x]
        q = (int(p[0]) >> 3, int(p[1]) >> 2, int(p[2]) >> 3)
        if not rgbtuple:
            return self._to_int(q)
        return tuple(int(v) for v in self._expand(q))

    def _to_int(self, q):
        return (q[0] << 11) | (q[1] << 5) | q[2]

    def set_pixel(self, x, y=None, color=None):
        """color: an (r, g, b) tuple (each clamped to 0..255, then quantised to RGB565 as the firmware
        does) or an RGB565 int; default white. Outside the image: nothing (returns the image)."""
        x, y = self._xy("set_pixel", x, y)
        if color is None:
            q = (31, 63, 31)
        elif isinstance(color, (tuple, list)):
            if len(color) != 3:
                raise ValueError("requested length 3 but object has length %d" % len(color))
            q = self._quantise(tuple(min(255, max(0, _int(c, "color"))) for c in color))
        else:
            q = self._from_int(_int(color, "color"))
        if 0 <= x < self.width() and 0 <= y < self.height():
            # the AI buffer of a K210 image is not touched (pix_to_ai refreshes it), as on the board
            self._rgb[y, x] = ((q[0] << 3) | (q[0] >> 2), (q[1] << 2) | (q[1] >> 4), (q[2] << 3) | (q[2] >> 2))
        return self

    # drawing (on the RGB565 pixels only; the AI buffer is untouched, like the firmware)
    def draw_rectangle(self, x, y=None, w=None, h=None, color=None, thickness=1, fill=False):
        import cv2

        if isinstance(x, (tuple, list)):
            if y is not None or w is not None or h is not None or len(x) != 4:
                raise TypeError("draw_rectangle takes a rect tuple or x, y, w, h")
            x, y, w, h = x
        if y is None or w is None or h is None:
            raise TypeError("draw_rectangle needs x, y, w, h")
        x, y, w, h = [_int(v, "draw_rectangle") for v in (x, y, w, h)]
        c = _colour(color)
        t = -1 if fill else max(1, _int(thickness, "thickness"))
        cv2.rectangle(self._rgb, (x, y), (x + w - 1, y + h - 1), c, t)
        W().lcd_event("draw_rectangle", x, y, w, h, c)
        return self

    def draw_string(self, x, y, text, color=None, scale=1, x_spacing=0, y_spacing=0, mono_space=True):
        import cv2

        if not isinstance(text, str):
            raise TypeError("draw_string text must be str")
        x, y = _int(x, "x"), _int(y, "y")
        c = _colour(color, (255, 255, 255))
        cv2.putText(self._rgb, text, (x, y + int(10 * scale)), cv2.FONT_HERSHEY_PLAIN, float(scale), c, 1)
        W().lcd_event("draw_string", x, y, text, c)
        return self

    def clear(self):
        self._rgb[:] = 0
        return self

    # copies
    def copy(self, roi=None, x_scale=1.0, y_scale=1.0, copy_to_fb=False, hint=0):
        """OpenMV scales by nearest neighbour unless the hint asks for AREA (shrinking) or BILINEAR
        (openmv/openmv@v4.5.5 src/omv/imlib/draw.c:3155-3163; the hints: py_image.c:7058)."""
        import cv2

        x, y, w, h = self._roi(roi)
        part = self._rgb[y:y + h, x:x + w]
        if x_scale != 1.0 or y_scale != 1.0:
            nw, nh = max(1, int(w * float(x_scale))), max(1, int(h * float(y_scale)))
            if hint & AREA and nw <= w and nh <= h:
                part = cv2.resize(part, (nw, nh), interpolation=cv2.INTER_AREA)
            elif hint & BILINEAR:
                part = cv2.resize(part, (nw, nh), interpolation=cv2.INTER_LINEAR)
            else:
                xs = np.minimum((np.arange(nw) / float(x_scale)).astype(np.int64), w - 1)
                ys = np.minimum((np.arange(nh) / float(y_scale)).astype(np.int64), h - 1)
                part = part[ys][:, xs]
        return Image(part.copy(), None, self._k210)

    def _get_ai(self):
        return self._ai


class Sensor:
    """The camera state behind the sensor/csi modules."""

    def __init__(self, k210):
        self.k210 = k210
        self.ready = False
        self.pixformat = None
        self.framesize = None
        self.window = None
        self.hmirror = False
        self.vflip = False

    def reset(self):
        self.ready = False
        W().sensor_reset()
        self.ready = True
        self.pixformat = RGB565
        self.framesize = FRAMESIZE_IDS["QVGA"]
        self.window = None

    def set_pixformat(self, fmt):
        if fmt not in (RGB565, GRAYSCALE):
            raise ValueError("Invalid Pixel Format")
        self._need_reset()
        self.pixformat = fmt

    def set_framesize(self, fs):
        if fs not in _FS_BY_ID:
            raise ValueError("Invalid Frame Size")
        self._need_reset()
        self.framesize = fs
        self.window = None

    def set_windowing(self, roi):
        if not isinstance(roi, (tuple, list)) or len(roi) not in (2, 4):
            raise TypeError("windowing must be (w, h) or (x, y, w, h)")
        fw, fh = self.frame_wh()
        if len(roi) == 2:
            w, h = int(roi[0]), int(roi[1])
            roi = ((fw - w) // 2, (fh - h) // 2, w, h)
        x, y, w, h = [int(v) for v in roi]
        if x < 0 or y < 0 or w <= 0 or h <= 0 or x + w > fw or y + h > fh:
            raise ValueError("Invalid ROI dimensions!")
        self.window = (x, y, w, h)

    def _need_reset(self):
        if not self.ready:
            raise RuntimeError("Sensor control failed.")

    def frame_wh(self):
        return _world.FRAMESIZES[_FS_BY_ID[self.framesize]]

    def out_wh(self):
        if self.window:
            return self.window[2], self.window[3]
        return self.frame_wh()

    def snapshot(self):
        if not self.ready:
            raise RuntimeError("Sensor control failed.")  # not reset / not initialised
        fw, fh = self.frame_wh()
        rgb = W().next_frame(fw, fh)
        if self.window:
            x, y, w, h = self.window
            rgb = rgb[y:y + h, x:x + w]
        if self.hmirror:
            rgb = rgb[:, ::-1]
        if self.vflip:
            rgb = rgb[::-1]
        if self.pixformat == GRAYSCALE:
            g = (0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]).astype(np.uint8)
            rgb = np.repeat(g[..., None], 3, axis=2)
        rgb = np.ascontiguousarray(rgb)
        ai = np.ascontiguousarray(rgb.transpose(2, 0, 1)) if self.k210 else None
        return Image(rgb, ai, self.k210)


def install_sensor_module(ns, sensor, k210):
    """Module-level constants shared by `sensor` and `csi`."""
    ns["RGB565"] = RGB565
    ns["GRAYSCALE"] = GRAYSCALE
    for name, i in FRAMESIZE_IDS.items():
        ns[name] = i


# ---- utime ----------------------------------------------------------------------------------
class Clock:
    """time.clock(): tick() / fps() on the simulated clock."""

    def __init__(self):
        self._t = None
        self._fps = 0.0

    def tick(self):
        self._t = W().now_ms

    def fps(self):
        if self._t is None:
            return 0.0
        dt = W().now_ms - self._t
        self._fps = 1000.0 / dt if dt > 0 else 0.0
        return self._fps

    def avg(self):
        return 1000.0 / self._fps if self._fps else 0.0


def ticks_ms():
    return W().now_ms & 0x3FFFFFFF


def ticks_us():
    return (W().now_ms * 1000) & 0x3FFFFFFF


def ticks_diff(a, b):
    half = 0x20000000
    return ((a - b + half) & 0x3FFFFFFF) - half


def ticks_add(a, b):
    return (a + b) & 0x3FFFFFFF


def sleep_ms(ms):
    W().advance(max(0, int(ms)))


def sleep_us(us):
    W().advance(max(0, int(us)) // 1000)


def sleep(s):
    W().advance(int(float(s) * 1000))


def time_s():
    return W().now_ms // 1000


# ---- uos --------------------------------------------------------------------------------------
def stat(path):
    w = W()
    hp = w.host_path(path)
    if hp is None or not hp.exists():
        raise _world.enoent()
    size = hp.stat().st_size if hp.is_file() else 0
    mode = 0x8000 if hp.is_file() else 0x4000
    return (mode, 0, 0, 0, 0, 0, size, 0, 0, 0)


def listdir(path="/flash"):
    w = W()
    hp = w.host_path(path)
    if hp is None or not hp.is_dir():
        raise _world.enoent()
    return sorted(p.name for p in hp.iterdir())


# ---- machine ----------------------------------------------------------------------------------
class WDT:
    """K210 machine.WDT(id=0, timeout=5000, callback=None, context=None) (MaixPy v0.5.1+ and CanMV
    machine_wdt.c:76-110: id 0 or 1, timeout in ms > 0)."""

    def __init__(self, id=0, timeout=5000, callback=None, context=None):
        id, timeout = _int(id, "id"), _int(timeout, "timeout")
        if not 0 <= id <= 1:
            raise ValueError("WDT(%d) does not exist" % id)
        if timeout <= 0:
            raise ValueError("WDT timeout too short")
        W().wdt_start(timeout)
        self._running = True

    def feed(self):
        if self._running:
            W().wdt_feed()

    def stop(self):
        self._running = False
        W().wdt = None


def machine_reset():
    raise _world.MachineReset("machine.reset()")
