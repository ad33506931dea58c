"""Fault injection for soak runs of the unchanged device app in the simulator (tests/test_soak.py).

It wraps the simulator from outside (``picoface.sim.world.World`` methods and
``picoface.sim.runners.open_runner``, patched for the duration of one run) and leaves the fake
firmware modules alone. What it adds:

- ``OracleRunner``: a stand-in for the accelerator whose output is planted, not computed (one
  confident box in the middle cell, present for 40 frames, absent for 40: faces come and go), so
  10,000 frames cost little; the app, the HALs, the fake firmware's loaders and region layers and
  pfcore decode it as they would a real model's output.
- ``Plan``: one fault every ``every`` frames, cycling through ``KINDS``:
    camera   the camera's snapshot raises ("Sensor Timeout!!")
    kpu      the model run raises (KPU / TFLM run error)
    memory   the model run raises MemoryError
    restart  an unexpected exception escapes the app's main(): the USB serial write of a frame
             line fails (OSError EIO; the one board call main() leaves unguarded); run() prints
             one "fatal" line, pauses and starts main() again, which reads the config and loads
             the model again
    model    restart with the model gone from flash / the file system; it comes back 500 ms after
             the app has reported the failed load, so the app's next retry finds it
    config   restart with values of /flash/picoface.json garbled (``GARBLED``: wrong types and
             ranges); the good file is back as soon as the app has reported it. (A file that is not
             JSON at all makes the app run on defaults: no model, and no watchdog feeds while the
             hardware watchdog started by the previous start keeps running, so the board resets;
             test_faults.py covers that boot.)
- ``Soak``: the context manager that installs both, counts watchdog feeds per frame, the traced
  memory (tracemalloc) at the warm-up and at the end, and keeps only counts of the simulator's logs
  (so its own bookkeeping does not grow over 10,000 frames).
"""

import contextlib
import gc
import json
import sys
import tracemalloc

import numpy as np

from pfcore import protocol
from picoface.sim import runners
from picoface.sim import world as world_mod

MAGIC = b"PFSOAK01"
KINDS = ("camera", "kpu", "memory", "restart", "model", "config")
# error codes each fault kind yields, in order
EXPECT = {"camera": ["camera"], "kpu": ["inference"], "memory": ["memory"], "restart": ["fatal"],
          "model": ["fatal", "model_load"], "config": ["fatal", "config"]}
GARBLED = {"score": "high", "max_faces": 99, "enter_frames": -1, "fps_window": "ten"}
A, E = 5, 6
PERIOD = 40  # frames with a face, then frames without


def oracle_model(nbytes=4096):
    return MAGIC + bytes(nbytes - len(MAGIC))


def oracle_contract(board, grid=(10, 8), size=None):
    """The model.json of the oracle model for a board (its input size, a small grid)."""
    from picoface.boards import load_board

    b = load_board(board)
    w, h = size or b.input_size
    data = oracle_model()
    import hashlib

    return {"name": "soak-oracle", "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(),
            "input": {"w": w, "h": h, "fit": "stretch"},
            "output": {"grid_w": grid[0], "grid_h": grid[1], "anchors": [[1, 1.2], [2, 2.4], [3, 3.6], [4, 4.8],
                                                                         [5, 6]],
                       "classes": 1, "layout": "NHWC", "dtype": "int8", "scale": 0.1, "zero_point": 0},
            "thresholds": {"score": 0.5, "nms": 0.3}}


class OracleRunner:
    """Planted output (H, W, 30): obj logit -8 everywhere; every other PERIOD frames anchor 0 of the
    middle cell has obj 3.0 (score 0.95), tw = th = 0.5. TFLite-like attributes for OpenMV's ml."""

    def __init__(self, data, layout, size, grid):
        self.input_size = tuple(size)
        self.channels = 3           # RGB input
        gw, gh = grid
        self.output_shape = (gh, gw, A * E)
        self.output_layout = layout
        self.in_dtype, self.in_scale, self.in_zero = np.dtype(np.uint8), 1 / 255.0, 0
        self.out_dtype, self.out_scale, self.out_zero = np.dtype(np.int8), 0.1, 0
        empty = np.full(self.output_shape, -8.0, np.float32)
        face = empty.copy()
        face[gh // 2, gw // 2, 0:5] = (0.0, 0.0, 0.5, 0.5, 3.0)
        self._out = (face, empty)
        self.runs = 0

    def _nhwc(self):
        out = self._out[(self.runs // PERIOD) % 2]
        self.runs += 1
        return out

    def run(self, rgb):
        return runners._to_layout(self._nhwc(), self.output_layout)

    def run_raw(self, rgb):
        return np.round(self._nhwc() / self.out_scale).astype(np.int8)

    def dequantize(self, raw):
        return (np.asarray(raw, np.float32) - self.out_zero) * self.out_scale


class Plan:
    """Fault ``k`` (0-based) hits frame ``first + k * every`` (0-based snapshot index, counted
    over the whole run), of kind ``KINDS[k % len(KINDS)]``."""

    def __init__(self, every=50, first=100, kinds=KINDS):
        self.every, self.first, self.kinds = every, first, kinds

    def kind_at(self, index):
        if index < self.first or (index - self.first) % self.every:
            return None
        return self.kinds[((index - self.first) // self.every) % len(self.kinds)]


class Soak:
    """Installs the oracle and the fault plan on the simulator for one ``run_app`` call; afterwards
    holds the figures: ``injected`` (kind -> count), ``codes`` (the error lines' codes), ``frames``
    (frame lines), ``feeds_per_frame`` (feeds between frame lines -> count, while a watchdog runs),
    ``mem`` / ``mem_app`` ({"start": bytes, "end": bytes} traced by tracemalloc, all / allocated by
    device/ code, at the warm-up frame line and at a frame line near the end), ``lines``,
    ``undecodable`` (framed lines the host decoder rejected); ``figures()`` sums them up."""

    def __init__(self, board, plan, size, grid, warmup=1000, trace=True, end_at=None):
        from picoface.boards import load_board

        self.board = load_board(board)
        self.plan, self.size, self.grid = plan, size, grid
        # memory is sampled at the frame line of frame ``warmup`` and at the first frame line once
        # ``end_at`` camera frames were taken: the same point of the app's loop
        self.warmup, self.trace, self.end_at = warmup, trace, end_at
        self.injected = {k: 0 for k in plan.kinds}
        self.expected = []          # error codes the injected faults must give, in order
        self.frames, self.lines, self.undecodable, self.other = 0, 0, 0, 0
        self.hellos, self.events, self.face_frames = 0, 0, 0
        self.texts = {}             # error code -> the text of its first line
        self.seqs_ok = True
        self.feeds = 0              # feeds since the last frame line
        self.feeds_per_frame = {}   # feeds between two frame lines -> how often (while a watchdog runs)
        self.codes = []             # the error lines' codes, in order
        self.restart_pending = None
        self.model_gone = False
        self._model_bytes = None
        self.config_garbled = None  # the good config text while the file is garbled
        self.total_feeds, self.wdt_starts, self.max_feed_gap_ms, self._last_feed = 0, 0, 0, None
        self.mem = {}
        self.mem_app = {}
        self._world = None
        self._last_seq = 0

    # ---- the patches ----------------------------------------------------------------------------
    @contextlib.contextmanager
    def installed(self):
        soak = self
        W = world_mod.World
        saved = {n: getattr(W, n) for n in ("__init__", "next_frame", "check_infer_fault", "wdt_feed", "wdt_start",
                                            "serial_write", "lcd_event", "led")}
        saved_open = runners.open_runner

        def init(w, *a, **k):
            saved["__init__"](w, *a, **k)
            soak._world = w
            w.faults["camera_raise"] = lambda i: soak.plan.kind_at(i) == "camera"

        def open_runner(data, layout="NHWC"):
            if bytes(data[:len(MAGIC)]) == MAGIC:
                return OracleRunner(data, layout, soak.size, soak.grid)
            return saved_open(data, layout)

        def next_frame(w, fw, fh):
            soak._before_frame(w)
            return saved["next_frame"](w, fw, fh)

        def check_infer_fault(w):
            w.infers += 1
            kind = soak.plan.kind_at(w.snapshots - 1)
            if kind == "memory":
                raise MemoryError("memory allocation failed, allocating 153600 bytes")
            return kind == "kpu"

        def wdt_feed(w):
            soak.feeds += 1
            soak.total_feeds += 1
            if soak._last_feed is not None:
                soak.max_feed_gap_ms = max(soak.max_feed_gap_ms, w.now_ms - soak._last_feed)
            soak._last_feed = w.now_ms
            saved["wdt_feed"](w)

        def wdt_start(w, timeout_ms):
            soak.wdt_starts += 1
            soak._last_feed = None      # a new start of the app: its own watchdog timer
            saved["wdt_start"](w, timeout_ms)

        def serial_write(w, text):
            if soak.restart_pending is not None and text.startswith(protocol.MARKER + " ") and " F " in text[:12]:
                soak.restart_pending = None
                raise OSError(5, "EIO")     # the USB serial write of this frame line fails
            saved["serial_write"](w, text)
            soak._consume(w)

        def lcd_event(w, kind, *args):
            pass    # the soak keeps no log of 10,000 frames of draw calls (lcd_frames still counts)

        def led(w, colour, on):
            w.led_state[colour] = bool(on)

        W.__init__, W.next_frame, W.check_infer_fault, W.wdt_feed = init, next_frame, check_infer_fault, wdt_feed
        W.wdt_start = wdt_start
        W.serial_write, W.lcd_event, W.led = serial_write, lcd_event, led
        runners.open_runner = open_runner
        started = False
        if self.trace and not tracemalloc.is_tracing():
            tracemalloc.start()
            started = True
        try:
            yield self
        finally:
            for n, f in saved.items():
                setattr(W, n, f)
            runners.open_runner = saved_open
            if started:
                tracemalloc.stop()

    # ---- fault schedule -----------------------------------------------------------------------------
    def _before_frame(self, w):
        index = w.snapshots
        kind = self.plan.kind_at(index)
        if kind is None:
            return
        self.injected[kind] += 1
        self.expected += EXPECT[kind]
        if kind in ("restart", "model", "config"):
            self.restart_pending = kind
        if kind == "model":
            self._model_away(w)
        elif kind == "config":
            self.config_garbled = w.read_file("/flash/picoface.json")
            bad = json.loads(self.config_garbled)
            bad.update(GARBLED)
            w.put_file("/flash/picoface.json", json.dumps(bad))

    def _model_away(self, w):
        m = self.board.model
        if m["placement"] == "flash":
            self._model_bytes = w.flash.pop(m["flash_address"])
        else:
            hp = w.host_path(m["file_path"])
            self._model_bytes = hp.read_bytes()
            hp.unlink()
        self.model_gone = True

    def _model_back(self, w, at_ms):
        m = self.board.model
        if m["placement"] == "flash":
            w.put_flash(m["flash_address"], self._model_bytes, at_ms=at_ms)
        else:
            w.put_file(m["file_path"], self._model_bytes, at_ms=at_ms)
        self.model_gone = False

    # ---- what the board sends ------------------------------------------------------------------------
    def _consume(self, w):
        """Decode and count the complete lines, then drop them (the run keeps no log)."""
        for line in w.lines:
            self.lines += 1
            try:
                d = protocol.decode(line)
            except protocol.ProtocolError:
                self.undecodable += 1
                continue
            if d is None:
                self.other += 1
            elif d["type"] == "error":
                self.codes.append(sys.intern(d["code"]))
                self.texts.setdefault(d["code"], d["text"])
                if d["code"] == "model_load" and self.model_gone:
                    self._model_back(w, w.now_ms + 500)
                if d["code"] == "config" and self.config_garbled is not None:
                    w.put_file("/flash/picoface.json", self.config_garbled)
                    self.config_garbled = None
            elif d["type"] == "hello":
                self.hellos += 1
            elif d["type"] == "event":
                self.events += 1
            elif d["type"] == "frame":
                self.frames += 1
                self.face_frames += 1 if d["n"] else 0
                if d["seq"] != self._last_seq + 1 and d["seq"] != 1:
                    self.seqs_ok = False
                self._last_seq = d["seq"]
                if w.wdt is not None:
                    self.feeds_per_frame[self.feeds] = self.feeds_per_frame.get(self.feeds, 0) + 1
                self.feeds = 0
                if self.frames == self.warmup:
                    self._sample("start")
                elif self.end_at is not None and w.snapshots >= self.end_at and "end" not in self.mem:
                    self._sample("end")
        del w.lines[:]

    def _sample(self, key):
        if not self.trace or not tracemalloc.is_tracing():
            return
        gc.collect()
        self.mem[key] = tracemalloc.get_traced_memory()[0]
        from picoface.sim.runner import DEVICE_DIR

        snap = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(True, str(DEVICE_DIR) + "/*")])
        self.mem_app[key] = sum(s.size for s in snap.statistics("filename"))

    def figures(self):
        return {"frames": self.frames, "face_frames": self.face_frames, "events": self.events, "hellos": self.hellos,
                "lines": self.lines, "faults": dict(self.injected), "feeds": self.total_feeds,
                "max_feed_gap_ms": self.max_feed_gap_ms, "app_starts": self.wdt_starts,
                "error_lines": len(self.codes), "undecodable": self.undecodable,
                "mem_start": self.mem.get("start"), "mem_end": self.mem.get("end"),
                "mem_app_start": self.mem_app.get("start"), "mem_app_end": self.mem_app.get("end")}


