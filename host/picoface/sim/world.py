"""The World a simulated board lives in: camera scene, model store, clock, LCD, serial, LEDs, faults.

The fake firmware modules (``picoface/sim/fakes/<family>/``) find the active World with
``current()``; ``picoface.sim.runner.run_app`` creates it and installs it with ``activate()``.
Everything the board does is logged here so tests can assert on it.
"""

import io
import os
import time
from pathlib import Path

import numpy as np

_CURRENT = None

# framesize name -> (w, h), as the sensor drivers define them
FRAMESIZES = {
    "QQVGA": (160, 120), "QVGA": (320, 240), "VGA": (640, 480), "HQVGA": (240, 160),
    "B64X64": (64, 64), "B128X128": (128, 128), "B240X240": (240, 240), "QCIF": (176, 144),
    "CIF": (352, 288), "QQCIF": (88, 72), "HVGA": (480, 320), "SVGA": (800, 600),
}

_COLOURS = ("red", "green", "blue")


class SimulationEnd(BaseException):
    """Raised out of snapshot() when the frame source is exhausted (not an Exception: the app
    must not be able to swallow it)."""


class WatchdogReset(BaseException):
    """The simulated watchdog bit: the app did not feed it within its timeout."""


class MachineReset(BaseException):
    """The app called machine.reset()."""


class FirmwareFault(BaseException):
    """A fake firmware call reached a limit of boards/firmware.toml where the real firmware
    overflows its stack or a buffer, or reads out of bounds: on the board memory is corrupted
    silently; the simulated board stops (not an Exception: the app must not swallow it).
    ``str(e)`` names the number, the limit and its source; ``todo`` says what to do."""

    def __init__(self, message, limit=None, got=None, todo=None):
        super().__init__(message)
        self.limit = limit
        self.got = got
        self.todo = todo


def enoent():
    """MicroPython's "OSError: [Errno 2] ENOENT" (CPython would turn OSError(2, ...) into
    FileNotFoundError, whose name the board never prints)."""
    e = OSError("[Errno 2] ENOENT")
    e.errno = 2
    return e


def current():
    """The active World (the fakes call this); RuntimeError when no simulation runs."""
    if _CURRENT is None:
        raise RuntimeError("no simulated board is running (use picoface.sim.runner.run_app)")
    return _CURRENT


def activate(world):
    global _CURRENT
    _CURRENT = world


def sensor_frame(rgb, w, h):
    """What a sensor set to framesize (w, h) delivers for a scene frame: centre crop to the
    aspect ratio, area resize, RGB565 quantisation (5/6/5 bits expanded back to 8)."""
    import cv2

    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError("camera frames must be RGB uint8 HxWx3 arrays, got %s %s" % (rgb.dtype, rgb.shape))
    fh, fw = rgb.shape[:2]
    if fw * h > fh * w:  # too wide: crop width
        cw = max(1, int(round(fh * w / float(h))))
        x0 = (fw - cw) // 2
        rgb = rgb[:, x0:x0 + cw]
    elif fw * h < fh * w:
        ch = max(1, int(round(fw * h / float(w))))
        y0 = (fh - ch) // 2
        rgb = rgb[y0:y0 + ch]
    if rgb.shape[1] != w or rgb.shape[0] != h:
        interp = cv2.INTER_AREA if rgb.shape[1] > w else cv2.INTER_LINEAR
        rgb = cv2.resize(np.ascontiguousarray(rgb), (w, h), interpolation=interp)
    return rgb565_round_trip(rgb)


def rgb565_round_trip(rgb):
    rgb = np.asarray(rgb, dtype=np.uint8)
    out = np.empty_like(rgb)
    r, g, b = rgb[..., 0] >> 3, rgb[..., 1] >> 2, rgb[..., 2] >> 3
    out[..., 0] = (r << 3) | (r >> 2)
    out[..., 1] = (g << 2) | (g >> 4)
    out[..., 2] = (b << 3) | (b >> 2)
    return out


def synthetic_scene(w=640, h=480, seed=0):
    """Endless synthetic scene: textured background with a moving bright ellipse 'face'."""
    import cv2

    rng = np.random.default_rng(seed)
    base = (rng.integers(40, 90, size=(h // 8, w // 8, 3))).astype(np.uint8)
    base = cv2.resize(base, (w, h), interpolation=cv2.INTER_LINEAR)
    i = 0
    while True:
        f = base.copy()
        t = i / 30.0
        cx = int(w * (0.5 + 0.3 * np.sin(t)))
        cy = int(h * (0.5 + 0.2 * np.cos(0.7 * t)))
        r = int(min(w, h) * 0.15)
        cv2.ellipse(f, (cx, cy), (r, int(r * 1.3)), 0, 0, 360, (224, 180, 150), -1)
        cv2.circle(f, (cx - r // 3, cy - r // 4), r // 8, (40, 30, 30), -1)
        cv2.circle(f, (cx + r // 3, cy - r // 4), r // 8, (40, 30, 30), -1)
        cv2.ellipse(f, (cx, cy + r // 2), (r // 3, r // 8), 0, 0, 180, (120, 40, 40), -1)
        yield f
        i += 1


# bytes the firmware's receive buffer holds: K210 MAIX_UART_BUF (2048; the ring allocates one more
# and uses 2048), OpenMV H7 MICROPY_HW_USB_CDC_RX_DATA_SIZE 512 with one slot kept free
# (docs/firmware.md, "Reading commands")
RX_CAPACITY = {"maixpy": 2048, "canmv": 2048, "openmv": 511}
PRESS_FRAMES = 3       # frames a simulated press holds the button down (`picoface sim --press`)


class World:
    """State shared by the fake firmware modules of one simulated board run."""

    def __init__(self, board, family, generation, root, frames=None, serial=None, lcd_dir=None,
                 show=False, faults=None, clock=None, serial_in=None, presses=None):
        from picoface.sim import generations

        self.board = board
        self.family = family
        # the generation record (picoface.sim.generations) whose features the fakes follow;
        # None: the family's newest
        self.fw = generations.get(generation or family)
        if self.fw.family != family:
            raise ValueError("generation %s is %s firmware, not %s" % (self.fw.name, self.fw.family, family))
        self.generation = self.fw.name
        self.root = Path(root)
        (self.root / "flash").mkdir(parents=True, exist_ok=True)
        (self.root / "sd").mkdir(parents=True, exist_ok=True)
        self.frames = iter(frames) if frames is not None else synthetic_scene()
        self.serial_sink = serial
        # the host's side of the serial port: serial_in() -> bytes the host sent since the last
        # call (never blocks); they land in the firmware's receive buffer (rx), which holds
        # rx_capacity bytes and drops the rest, as the firmware's UART / USB CDC driver does
        self.serial_in = serial_in
        self.rx = bytearray()
        self.rx_capacity = RX_CAPACITY[family]
        self.rx_dropped = 0
        self.rx_taken = None       # the object that owns the REPL's input (K210: a new UARTHS steals it)
        self.kbd_intr = 3          # micropython.kbd_intr(): the interrupt byte, -1 = none
        self.host_interrupt = False
        # the board's button (boards/*.toml [button]) is held down for PRESS_FRAMES frames from each
        # of these frame numbers (1 = the first camera frame)
        self.presses = sorted(int(p) for p in (presses or ()))
        self.lcd_dir = Path(lcd_dir) if lcd_dir else None
        if self.lcd_dir:
            self.lcd_dir.mkdir(parents=True, exist_ok=True)
        self.show = show
        self.faults = dict(faults or {})
        # clock "host": a frame, a model load and an inference take what they take on this host
        # (measured), so the fps the app computes is the simulated board's rate on this host;
        # a dict: fixed simulated timings (deterministic tests; the app's fps is then derived
        # from these constants, not measured)
        self.host_clock = clock == "host"
        clock = {} if self.host_clock else dict(clock or {})
        self._mark = time.perf_counter()
        self._carry = 0.0
        self.frame_ms = int(clock.get("frame_ms", 33))
        self.infer_ms = int(clock.get("infer_ms", 40))
        self.load_ms = int(clock.get("load_ms", 300))
        self.max_ms = int(clock.get("max_ms", 3600 * 1000))  # simulated-time limit of a run
        self.now_ms = 0
        self.flash = {}            # address -> bytes (raw SPI flash regions, K210)
        self.pending_files = []    # (appear_at_ms, device_path, bytes)
        self.snapshots = 0         # snapshot() calls (the fault schedule counts these)
        self.infers = 0
        self.lines = []            # serial lines (str, without newline)
        self._partial = ""
        self.led_log = []          # (ms, colour, on)
        self.led_state = {c: False for c in _COLOURS}
        self.lcd_log = []          # (ms, kind, args); draw_rectangle / draw_string end with the (r, g, b) colour
        self.lcd_frames = 0
        self.warnings = []         # firmware misuse the real board would not report
        self.wdt = None            # {"timeout": ms, "last": ms}
        self.last_image = None
        self._runners = {}
        self.runs = {}             # hash of the model bytes -> accelerator runs of that model
        self._window = None

    # ---- clock ---------------------------------------------------------------------------
    def advance(self, ms):
        self.now_ms += int(ms)
        self._appear_files()
        if self.max_ms and self.now_ms > self.max_ms:
            raise SimulationEnd("time limit")
        if self.wdt is not None and self.now_ms - self.wdt["last"] > self.wdt["timeout"]:
            self.wdt = None
            raise WatchdogReset("watchdog timeout at %d ms" % self.now_ms)

    def host_tick(self):
        """Clock "host": advance the simulated clock by the host time since the last tick."""
        t = time.perf_counter()
        self._carry += (t - self._mark) * 1000.0
        self._mark = t
        ms = int(self._carry)
        self._carry -= ms
        self.advance(ms)

    def _spend(self, ms):
        # a fixed simulated cost, or (clock "host") the host time it took
        if self.host_clock:
            self.host_tick()
        else:
            self.advance(ms)

    def wdt_start(self, timeout_ms):
        if timeout_ms <= 0:
            raise ValueError("WDT timeout must be positive")
        self.wdt = {"timeout": int(timeout_ms), "last": self.now_ms}

    def wdt_feed(self):
        if self.wdt is not None:
            self.wdt["last"] = self.now_ms

    # ---- filesystem and flash ------------------------------------------------------------
    def host_path(self, device_path):
        """Map a board path (/flash/x, /sd/x) to the host folder of this World; None if outside."""
        p = str(device_path)
        for vol in ("flash", "sd"):
            if p == "/" + vol or p.startswith("/" + vol + "/"):
                return self.root / vol / p[len(vol) + 2:]
        return None

    def put_file(self, device_path, data, at_ms=None):
        if at_ms is not None and at_ms > self.now_ms:
            self.pending_files.append((int(at_ms), device_path, bytes(data)))
            return
        hp = self.host_path(device_path)
        if hp is None:
            raise ValueError("not a board path: %r" % device_path)
        hp.parent.mkdir(parents=True, exist_ok=True)
        hp.write_bytes(bytes(data) if not isinstance(data, str) else data.encode())

    def put_flash(self, address, data, at_ms=None):
        if at_ms is not None and at_ms > self.now_ms:
            self.pending_files.append((int(at_ms), int(address), bytes(data)))
            return
        self.flash[int(address)] = bytes(data)

    def _appear_files(self):
        keep = []
        for at, where, data in self.pending_files:
            if at <= self.now_ms:
                if isinstance(where, int):
                    self.flash[where] = data
                else:
                    self.put_file(where, data)
            else:
                keep.append((at, where, data))
        self.pending_files = keep

    def read_flash(self, address, size):
        """Bytes at a flash address; erased flash reads 0xFF."""
        address, size = int(address), int(size)
        out = bytearray(b"\xff" * size)
        for start, data in self.flash.items():
            lo, hi = max(address, start), min(address + size, start + len(data))
            if lo < hi:
                out[lo - address:hi - address] = data[lo - start:hi - start]
        return bytes(out)

    def read_file(self, device_path):
        hp = self.host_path(device_path)
        if hp is None or not hp.is_file():
            raise enoent()
        return hp.read_bytes()

    def file_size(self, device_path):
        hp = self.host_path(device_path)
        if hp is None or not hp.exists():
            raise enoent()
        return hp.stat().st_size

    # ---- camera ----------------------------------------------------------------------------
    def _scheduled(self, key, index):
        v = self.faults.get(key)
        if not v:
            return False
        if callable(v):
            return bool(v(index))
        return index in set(v)

    def sensor_reset(self):
        """A sensor.reset()/csi reset: the first faults["camera_reset_raise"] of them fail."""
        self.resets = getattr(self, "resets", 0) + 1
        if self.resets <= int(self.faults.get("camera_reset_raise", 0)):
            raise RuntimeError("Sensor control failed.")
        self.advance(100)

    def next_frame(self, w, h):
        """One sensor frame (RGB565-quantised RGB uint8 h x w x 3); applies camera faults."""
        index = self.snapshots
        self.snapshots += 1
        if not self.host_clock:
            self.advance(self.frame_ms)
        if self._scheduled("camera_raise", index):
            raise RuntimeError("Sensor Timeout!!")
        try:
            frame = next(self.frames)
        except StopIteration:
            raise SimulationEnd("frames exhausted") from None
        frame = sensor_frame(frame, w, h)
        if self.host_clock:
            self.host_tick()
        return frame

    # ---- model -------------------------------------------------------------------------------
    def model_budget(self):
        """Largest model (bytes) the firmware can hold in RAM on this board."""
        m = self.board.memory
        if self.board.is_k210:
            return m["model_bytes_full_firmware"]
        return m["gc_heap_bytes"]

    def open_runner(self, data, layout, load_time=True):
        """A model runner for these model bytes, or ValueError when the bytes are no model
        the simulated accelerator understands (kmodel v3, or TFLite as a stand-in).
        Runners are cached per World; load_time=False preloads without simulated time."""
        from picoface.sim import runners

        key = (hash(bytes(data)), layout)
        r = self._runners.get(key)
        if r is None:
            r = runners.open_runner(bytes(data), layout=layout)
            r.sim_key = key[0]
            self._runners[key] = r
        if load_time:
            self._spend(self.load_ms)
        return r

    def runner_layout(self):
        return "NCHW" if self.board.is_k210 else "NHWC"

    def check_infer_fault(self):
        index = self.snapshots - 1
        self.infers += 1
        if self._scheduled("memory_error", index):
            raise MemoryError("memory allocation failed, allocating 153600 bytes")
        if self._scheduled("infer_raise", index):
            return True
        return False

    def infer_time(self, runner=None):
        """One accelerator run (of ``runner``'s model, counted in ``runs``) takes infer_ms."""
        if runner is not None:
            k = getattr(runner, "sim_key", None)
            self.runs[k] = self.runs.get(k, 0) + 1
        self._spend(self.infer_ms)

    # ---- outputs ---------------------------------------------------------------------------
    def serial_write(self, text):
        """Text the board writes to its USB serial port (REPL stdout)."""
        self._partial += text
        while "\n" in self._partial:
            line, self._partial = self._partial.split("\n", 1)
            line = line.rstrip("\r")
            self.lines.append(line)
            if self.serial_sink is not None:
                self.serial_sink((line + "\r\n").encode("utf-8", "replace"))

    def pull_rx(self):
        """Move what the host sent into the receive buffer (its capacity as the firmware's; the
        rest dropped). The interrupt byte (Ctrl-C, while kbd_intr is 3) stops the app with
        KeyboardInterrupt at once, as the firmware's receive interrupt does; K210 firmware stores
        the byte too, OpenMV's does not (docs/firmware.md, "Reading commands")."""
        if self.serial_in is None:
            return
        data = self.serial_in()
        for b in data or b"":
            hit = self.kbd_intr >= 0 and b == self.kbd_intr
            if hit and self.family == "openmv":
                self.host_interrupt = True
                continue
            if len(self.rx) < self.rx_capacity:
                self.rx.append(b)
            else:
                self.rx_dropped += 1
            if hit:
                self.host_interrupt = True
        if self.host_interrupt:
            self.rx.clear()
            raise KeyboardInterrupt("interrupt byte 0x%02x from the host" % self.kbd_intr)

    def take_rx(self, n):
        out = bytes(self.rx[:n])
        del self.rx[:n]
        return out

    def flush_serial(self):
        if self._partial:
            self.serial_write("\n")

    def led(self, colour, on):
        on = bool(on)
        if self.led_state.get(colour) != on:
            self.led_state[colour] = on
            self.led_log.append((self.now_ms, colour, on))

    def pin_level(self, pin, level):
        """A GPIO pad changed level: light the LED wired to it (board facts)."""
        led = self.board.led
        for colour in _COLOURS:
            if led[colour] == pin:
                self.led(colour, (not level) if led["active_low"] else bool(level))

    def button_down(self):
        """True while a simulated press holds the board's button: from frame p (the p-th snapshot)
        for PRESS_FRAMES frames."""
        n = self.snapshots
        return any(p <= n < p + PRESS_FRAMES for p in self.presses)

    def button_level(self, pin, pull_up):
        """The level a firmware input on ``pin`` reads: the button's pin (boards/*.toml [button]:
        a K210 pad number or an OpenMV pin name) reads 0 while held when the button is active
        low (its pull-up gives 1 released), else the pin's idle level (1 with a pull-up)."""
        b = self.board.button
        if pin in (b.get("pin"), b.get("pin_name")) and b.get("kind") != "none":
            low = b.get("active_low", True)
            if self.button_down():
                return 0 if low else 1
            return 1 if low else 0
        return 1 if pull_up else 0

    def lcd_event(self, kind, *args):
        self.lcd_log.append((self.now_ms, kind, args))

    def lcd_display(self, rgb):
        """A frame reached the LCD (or, on boards without one, the IDE frame buffer)."""
        self.lcd_frames += 1
        self.lcd_event("display", rgb.shape[1], rgb.shape[0])
        self.last_image = rgb
        if self.lcd_dir is not None:
            import cv2

            cv2.imwrite(str(self.lcd_dir / ("lcd_%05d.png" % (self.lcd_frames - 1))),
                        cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        if self.show:
            self._show(rgb)

    def _show(self, rgb):
        import cv2

        from picoface.errors import PicofaceError

        try:
            cv2.imshow("picoface sim: %s" % self.board.name, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
            cv2.waitKey(1)
        except cv2.error:
            raise PicofaceError("this OpenCV build cannot open windows (headless)",
                                "use --lcd-dir to write PNGs, or install opencv-python") from None

    def warn(self, text):
        self.warnings.append(text)


class SerialStdout(io.TextIOBase):
    """sys.stdout replacement while the app runs: what it prints goes to the board's serial."""

    def __init__(self, world):
        self.world = world

    def writable(self):
        return True

    def write(self, s):
        self.world.serial_write(str(s))
        return len(s)

    def flush(self):
        pass


FLASH_PAGE = 256      # bytes the simulated flash programs at a time


class SlowFile:
    """A file on the simulated /flash that reaches the host disk one FLASH_PAGE at a time, at
    ``bps`` bytes a second (a SPI flash programs pages, it is not instant): a process killed in
    the middle of a write leaves a file cut at a page, as a power cut leaves a real board's."""

    def __init__(self, f, bps):
        self.f = f
        self.delay = FLASH_PAGE / float(bps)

    def write(self, data):
        import time

        data = bytes(data) if not isinstance(data, str) else data
        for i in range(0, len(data), FLASH_PAGE):
            self.f.write(data[i:i + FLASH_PAGE])
            self.f.flush()
            os.fsync(self.f.fileno())
            time.sleep(self.delay)
        return len(data)

    def __getattr__(self, k):
        return getattr(self.f, k)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()
        return False


def flash_bps():
    """The simulated flash's write speed in bytes/s from $PICOFACE_SIM_FLASH_BPS (unset: instant)."""
    v = os.environ.get("PICOFACE_SIM_FLASH_BPS", "")
    try:
        return float(v) if v and float(v) > 0 else None
    except ValueError:
        return None


def device_open_factory(world, real_open):
    """builtins.open replacement: /flash/... and /sd/... go to the World's folders (writes at the
    simulated flash's speed when $PICOFACE_SIM_FLASH_BPS is set)."""
    bps = flash_bps()

    def _open(file, mode="r", *args, **kwargs):
        if isinstance(file, (str, os.PathLike)):
            hp = world.host_path(os.fspath(file))
            if hp is not None:
                if "r" in mode and not hp.exists():
                    raise enoent()
                hp.parent.mkdir(parents=True, exist_ok=True)
                f = real_open(hp, mode, *args, **kwargs)
                if bps and ("w" in mode or "a" in mode) and os.fspath(file).startswith("/flash/"):
                    return SlowFile(f, bps)
                return f
        return real_open(file, mode, *args, **kwargs)

    return _open


__all__ = ["World", "current", "activate", "sensor_frame", "synthetic_scene", "SimulationEnd",
           "WatchdogReset", "MachineReset", "FirmwareFault", "FRAMESIZES", "SerialStdout", "device_open_factory"]
