# Shared K210 pieces of the MaixPy and CanMV HALs: camera, LCD, GPIOHS LEDs, watchdog.
# The firmware modules are imported inside the functions, so importing this file is safe
# on any firmware (hal.py probes before it builds a HAL).
import gc

from hal import Base
from pfcore import geom, signals

LED_GPIOHS = (8, 9, 10)     # GPIOHS channels for red, green, blue (MaixPy reserves 27-31)
# The BOOT button: IO16 on the MAIX Dock and Maix Bit (board_info.BOOT_KEY), pressed = low, read
# through GPIOHS0 with the pad's pull-up (the LCD uses GPIOHS 4/5 or 30/31, the SD card 29); the
# config's "button" ({"pin": N, "active_low": bool} or false) overrides it (docs/firmware.md)
BUTTON_PIN = 16
BUTTON_GPIOHS = 0
INPUT_CHUNK = 128           # bytes of host input taken per frame (a command line is <= 120 + "\n")


class K210Base(Base):
    family = "k210"

    def init(self, cfg):
        self.cfg = cfg
        self.model = None
        self.task = None
        self.repl = None
        self.cam_ok = False
        cam = cfg["camera"]
        self.cam_w = cam["w"]
        self.cam_h = cam["h"]
        try:
            self._camera_reset()
        except Exception:
            self.cam_ok = False     # snapshot() retries and reports the error
        self._lcd_init()
        self._led_init()
        self.wdt = None
        if cfg["watchdog_ms"] > 0:
            try:
                from machine import WDT
            except ImportError:
                WDT = None      # MaixPy v0.5.0 has no machine.WDT (it arrives in v0.5.1)
            if WDT is not None:
                self.wdt = WDT(id=0, timeout=cfg["watchdog_ms"])
        self.info = {"firmware": self.firmware, "camera": (self.cam_w, self.cam_h),
                     "lcd": self.lcd is not None}
        return self.info

    # ---- camera -------------------------------------------------------------------------
    def _camera_reset(self):
        import sensor
        self.cam_ok = False
        sensor.reset()
        sensor.set_pixformat(sensor.RGB565)
        sensor.set_framesize(getattr(sensor, self.cfg["camera"]["framesize"]))
        sensor.skip_frames(10)
        sensor.run(1)
        self.cam_ok = True

    def snapshot(self):
        import sensor
        if not self.cam_ok:
            self._camera_reset()
        try:
            return sensor.snapshot()
        except Exception:
            self.cam_ok = False     # reset the sensor before the next try
            raise

    def _net_image(self, img):
        # The KPU reads the AI buffer: crop/resize to the net input, then refresh it.
        x, y, w, h = self.fit.cam_rect()
        nw, nh = self.fit.net_size
        if (x, y, w, h) == (0, 0, self.cam_w, self.cam_h) and (w, h) == (nw, nh):
            return img
        copied = (x, y, w, h) != (0, 0, self.cam_w, self.cam_h)
        if copied:
            img = img.copy(roi=(x, y, w, h))
        if copied or (w, h) != (nw, nh):
            # resize even a copy of the net's size: copy() leaves the new image's AI-buffer pointer
            # unset on MaixPy v0.5.0 / v0.6.3 and CanMV, and pix_to_ai() would write through it;
            # resize() makes an image whose pointer is NULL (docs/firmware.md, "`mode: recognise`")
            img = img.resize(nw, nh)
        img.pix_to_ai()
        return img

    def _fit(self):
        m = self.cfg["model"]
        fit = m.get("fit", "stretch")
        if fit == "letterbox":
            raise ValueError("fit=letterbox is not supported on the K210 HAL; export with stretch or crop")
        return geom.Fit(self.cam_w, self.cam_h, m["w"], m["h"], fit)

    # ---- LCD ----------------------------------------------------------------------------
    def _lcd_init(self):
        self.lcd = None
        if self.cfg["lcd"]:
            import lcd
            lcd.init()
            self.lcd = lcd

    def show(self, img, faces, fps, message=None):
        lcd = self.lcd
        if lcd is None:
            return
        if img is None:
            lcd.clear(lcd.RED)
            lcd.draw_string(8, 110, (message or "error")[:38], lcd.WHITE, lcd.RED)
            return
        self._draw_faces(img, faces, scale=1)
        img.draw_string(2, 2, "%.1f fps %d" % (fps, len(faces)), color=(255, 255, 255), scale=1)
        if message:
            img.draw_string(2, 20, message[:38], color=(255, 64, 64), scale=1)
        lcd.display(img)

    # ---- LED ----------------------------------------------------------------------------
    def _led_init(self):
        self.leds = None
        led = self.cfg["led"]
        if led is False or (isinstance(led, dict) and not led.get("enabled", True)):
            return
        from fpioa_manager import fm
        if isinstance(led, dict) and "r" in led:
            pins = (led["r"], led["g"], led["b"])
            self.active_low = led.get("active_low", True)
        else:
            from board import board_info
            pins = (board_info.LED_R, board_info.LED_G, board_info.LED_B)
            self.active_low = True
        gpio = self._gpio_class()
        self.leds = []
        for i in range(3):
            fm.register(pins[i], getattr(fm.fpioa, "GPIOHS%d" % LED_GPIOHS[i]), force=True)
            self.leds.append(gpio(getattr(gpio, "GPIOHS%d" % LED_GPIOHS[i]), gpio.OUT))
        self.signal("idle")

    def signal(self, state):
        if self.leds is None:
            return
        on = signals.colour(state)
        for i in range(3):
            self.leds[i].value((1 - on[i]) if self.active_low else on[i])

    # ---- button ---------------------------------------------------------------------------
    def _open_button(self):
        # pfcore.button calls this once; the pin reads 1 released (pull-up), 0 while held
        b = self.cfg.get("button")
        pin, low = BUTTON_PIN, True
        if b is False or (isinstance(b, dict) and b.get("kind") == "none"):
            return None
        if isinstance(b, dict):
            pin, low = b.get("pin", pin), b.get("active_low", True)
        from fpioa_manager import fm
        gpio = self._gpio_class()
        fm.register(pin, getattr(fm.fpioa, "GPIOHS%d" % BUTTON_GPIOHS), force=True)
        g = gpio(getattr(gpio, "GPIOHS%d" % BUTTON_GPIOHS), gpio.IN, gpio.PULL_UP if low else gpio.PULL_DOWN)
        held = 0 if low else 1

        def read():
            return g.value() == held
        return read

    # ---- serial and watchdog ------------------------------------------------------------
    def send(self, line):
        print(line)

    def read_input(self):
        # What the host sent since the last frame, never waiting: the REPL UART's own object
        # (UART.repl_uart(); a new UART(UARTHS) would take the port from the REPL), any() first
        # because read() spins timeout_char (10 ms) when nothing came (docs/firmware.md,
        # "Reading commands"). sys.stdin cannot be polled on these ports (no select, no ioctl).
        r = self.repl
        if r is None:
            from machine import UART
            r = UART.repl_uart()
            if r is None:
                raise OSError("no REPL UART to read commands from")
            self.repl = r
        n = r.any()
        if not n:
            return b""
        return r.read(min(n, INPUT_CHUNK)) or b""

    def feed(self):
        if self.wdt is not None:
            self.wdt.feed()

    # ---- model helpers ------------------------------------------------------------------
    def _finish(self, dets):
        # dets: normalised centre boxes (+ class) -> camera pixels, best first, at most max_faces;
        # NMS ignores the class (one face, one box)
        from pfcore import nms
        faces = self.fit.map(dets)
        return nms.nms(faces, self.cfg["nms"], self.cfg["max_faces"])

    def _rects_to_dets(self, rects):
        # [(x, y, w, h, prob[, class])] in net pixels -> normalised centre boxes (class kept)
        nw, nh = self.fit.net_size
        out = []
        for r in rects:
            d = [(r[0] + r[2] * 0.5) / nw, (r[1] + r[3] * 0.5) / nh, r[2] / nw, r[3] / nh, r[4]]
            if len(r) > 5:
                d.append(r[5])
            out.append(d)
        return out

    def _model_source(self, key="model"):
        # key "model" (the detector) or "gate": its flash address or file path
        m = self.cfg[key]
        if m.get("placement") == "flash" and "address" in m:
            return m["address"]
        if "path" in m:
            return m["path"]
        raise ValueError("config has no %s address or path" % key)

    def model_hash(self):
        # sha256 of the model bytes on the board: read back from SPI flash at the model address
        # (utils.flash_read of the Maix / maix module) or from the model file, 4 KB at a time
        from pfcore import compat
        src = self._model_source()
        if isinstance(src, int):
            utils = self._utils()

            def read(off, n):
                return utils.flash_read(src + off, n)
            return compat.sha256_read(read, self.cfg["model"].get("bytes", 0))
        return compat.sha256_file(src)

    def _check_file(self, src, key="model"):
        # A file model must exist and have the size the config says (catches half copies).
        if isinstance(src, int):
            return
        import uos
        size = uos.stat(src)[6]
        want = self.cfg[key].get("bytes", 0)
        if want and size != want:
            raise ValueError("model file has %d bytes, config says %d" % (size, want))

    def _flat_anchors(self):
        a = []
        for p in self.cfg["model"]["anchors"]:
            a.append(p[0])
            a.append(p[1])
        return a

    def _gate_image(self, img):
        # the whole camera frame squashed to the gate's input, in its own AI buffer (the frame's
        # stays what the detector reads). resize() shrinks by nearest neighbour (one pixel in 3.3 of
        # a QVGA row for 96x96), so the frame is box-averaged by mean_pooled() first: 320x240 ->
        # 106x120 -> 96x96 is close to the area resampling the gate was trained on (docs/firmware.md)
        g = self.cfg["gate"]
        xd = self.cam_w // g["w"]
        yd = self.cam_h // g["h"]
        if xd > 1 or yd > 1:
            img = img.mean_pooled(max(xd, 1), max(yd, 1))
        gi = img.resize(g["w"], g["h"])
        gi.pix_to_ai()
        return gi

    def _model_info(self):
        gc.collect()
        return {"source": self._model_source()}

    # ---- mode recognise (docs/firmware.md, "`mode: recognise`") ---------------------------------
    recog_chw = True    # the KPU writes its output planar: channel by channel

    def _landmark_image(self, img, roi):
        # the roi of the frame as a new input x input image with its own AI buffer. copy(roi=) makes a
        # new image (GC heap) of the part of roi inside the frame (OSError when none is); resize() is
        # always called: it shrinks by nearest neighbour, grows bilinearly, and returns an image whose
        # pix_ai is NULL (CanMV's copy() leaves pix_ai uninitialised, so pix_to_ai() must never see it)
        n = self.cfg["recog"]["input"]
        c = img.copy(roi=(roi[0], roi[1], roi[2], roi[3])).resize(n, n)
        c.pix_to_ai()
        return c

    def _face_image(self, img, m):
        # the aligned face: a new input x input RGB565 image (image.Image(size=): xalloc on the GC heap),
        # each pixel set from the frame's nearest pixel (get_pixel/set_pixel: the firmware's RGB565
        # conversions), then its AI buffer
        import image
        from pfcore import recognise
        n = self.cfg["recog"]["input"]
        face = image.Image(size=(n, n))
        recognise.warp_nearest(img.get_pixel, img.width(), img.height(), m, n, face.set_pixel)
        face.pix_to_ai()
        return face
