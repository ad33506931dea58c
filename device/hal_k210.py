# Shared K210 pieces of the MaixPy and CanMV HALs: camera, LCD, GPIOHS LEDs, watchdog.
# The firmware modules are imported inside the functions, so importing this file is safe
# on any firmware (hal.py probes before it builds a HAL).
import gc

from pfcore import geom

LED_GPIOHS = (8, 9, 10)     # GPIOHS channels for red, green, blue (MaixPy reserves 27-31)
INPUT_CHUNK = 128           # bytes of host input taken per frame (a command line is <= 120 + "\n")


class K210Base:
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
        if (x, y, w, h) != (0, 0, self.cam_w, self.cam_h):
            img = img.copy(roi=(x, y, w, h))
        if (w, h) != (nw, nh):
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
        for f in faces:
            img.draw_rectangle(int(f[0]), int(f[1]), int(f[2]), int(f[3]), color=(0, 255, 0), thickness=2)
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
        on = {"face": (0, 1, 0), "error": (1, 0, 0)}.get(state, (0, 0, 0))
        for i in range(3):
            self.leds[i].value((1 - on[i]) if self.active_low else on[i])

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
        # dets: normalised centre boxes -> camera pixels, best first, at most max_faces
        from pfcore import nms
        faces = self.fit.map(dets)
        return nms.nms(faces, self.cfg["nms"], self.cfg["max_faces"])

    def _rects_to_dets(self, rects):
        # [(x, y, w, h, prob)] in net pixels -> normalised centre boxes
        nw, nh = self.fit.net_size
        out = []
        for r in rects:
            out.append([(r[0] + r[2] * 0.5) / nw, (r[1] + r[3] * 0.5) / nh, r[2] / nw, r[3] / nh, r[4]])
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
