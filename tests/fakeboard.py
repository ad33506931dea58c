"""A fake MicroPython board on a pty, for flash/monitor tests without hardware.

``FakeBoard(root, board="maix_dock")`` opens a pty pair (``os.openpty``); ``.port`` is the
slave path a host tool opens (/dev/pts/N). A thread reads the master side and speaks enough of
the REPL:

- Ctrl-C interrupts the running app, Ctrl-A enters the raw REPL, Ctrl-B leaves it, Ctrl-D runs
  the collected code (raw mode) or soft-resets the board (friendly mode: "boots").
- Raw-REPL code is never executed. It is parsed with ``ast`` and must be one of the snippet
  shapes of ``picoface.flash.files`` (firmware probe, mkdir, free space, open for writing,
  ``w(a2b(b'<base64>'))`` writes, close, SHA-256 of a file); values are read with
  ``ast.literal_eval`` of constant nodes only. Anything else gets a MicroPython-style
  ``NotImplementedError`` traceback, as a board with a missing module would answer.
- Files land in ``root/flash``, ``root/sd`` (when ``sd_card``), the K210 SPI flash is
  ``root/spiflash/0x<address>.bin`` (what the fake kflash, ``python tests/fakeboard.py
  kflash ...``, writes from a validated .kfpkg).
- Booting (soft reset in friendly mode, or ``boot=True`` at start) runs the simulated app:
  ``picoface.sim.runner.run_app`` on the same board, with the received config
  (``/flash/picoface.json``) and the received model (file placement) or the fake SPI flash
  content (flash placement), streaming every line the app prints to the pty. The received app
  files must equal device/ byte for byte (run_app runs device/main.py); otherwise the board
  prints an ImportError-like traceback and never says hello.

run_app patches the process's stdout and ``open``, so a board that boots must live in its own
process: ``python tests/fakeboard.py serve --root DIR --board B`` prints ``port /dev/pts/N``
and serves until Ctrl-C (``spawn()`` and ``stop()`` do that for tests). In-process use (``FakeBoard``
directly) is fine for everything but booting.

The fake kflash (``python tests/fakeboard.py kflash -p PORT -b BAUD -B BOARD FILE``) checks
its argv like kflash 1.1.6 would, reads the .kfpkg with kflash's own regex rule
(``picoface.kmodel.kfpkg.read``), checks sha256/addresses and writes each image into
``$PICOFACE_FAKE_SPIFLASH``. It validates in dry form what real kflash would write; it does not
speak the K210 ISP protocol.
"""

import argparse
import ast
import base64
import hashlib
import json
import os
import subprocess
import sys
import threading
import time
import tty
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEVICE = ROOT / "device"
RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n>"
FAMILY_MODULES = {"maixpy": "Maix KPU", "canmv": "maix KPU", "openmv": "omv pyb"}
BANNERS = {"maixpy": b"[MaixPy]: soft reboot\r\n", "canmv": b"[CanMV]: soft reboot\r\n",
           "openmv": b"MPY: soft reboot\r\n"}


class SnippetError(Exception):
    """Becomes a MicroPython-style traceback on the fake board's stderr channel."""


def _const(node):
    if not isinstance(node, ast.Constant):
        raise SnippetError("NotImplementedError: fake board: expected a constant")
    return ast.literal_eval(node)


def _calls(tree):
    """[(dotted function name, args)] of every call in ``tree``."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            if isinstance(f, ast.Name):
                name = f.id
            elif isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name):
                name = f.value.id + "." + f.attr
            else:
                name = "?"
            out.append((name, node.args))
    return out


class FakeBoard:
    def __init__(self, root, board="maix_dock", firmware=None, sd_card=True, free_bytes=None,
                 max_frames=40, boot=False):
        from picoface.boards import load_board

        self.board = load_board(board)
        self.family = firmware or self.board.firmware[0]
        self.root = Path(root)
        (self.root / "flash").mkdir(parents=True, exist_ok=True)
        if sd_card:
            (self.root / "sd").mkdir(parents=True, exist_ok=True)
        self.spiflash = self.root / "spiflash"
        self.spiflash.mkdir(exist_ok=True)
        self.free_bytes = free_bytes
        self.max_frames = max_frames
        self.log = []                 # (kind, detail) of what the board did
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.port = os.ttyname(self.slave)
        self.mode = "friendly"
        self.code = bytearray()
        self.open_file = None
        self.app = None               # thread running the app
        self.interrupt = threading.Event()
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()
        if boot:
            self.soft_reset()

    # -- the wire ---------------------------------------------------------------------------------
    def send(self, data):
        with self._lock:
            view = memoryview(data)
            while view:
                try:
                    n = os.write(self.master, view)
                except BlockingIOError:
                    time.sleep(0.01)
                    continue
                except OSError:
                    return
                view = view[n:]

    def _serve(self):
        while not self.stopping.is_set():
            try:
                data = os.read(self.master, 4096)
            except OSError:
                time.sleep(0.02)  # nobody has the slave open (EIO): wait
                continue
            for b in data:
                self._byte(b)

    def _byte(self, b):
        if b == 0x03:
            self.code.clear()
            if self.app is not None and self.app.is_alive():
                self.interrupt.set()
                self.app.join(10)
                self.log.append(("interrupt", None))
            if self.mode == "friendly":
                self.send(b"\r\n>>> ")
            return
        if self.mode == "raw":
            if b == 0x04:
                code, self.code = bytes(self.code), bytearray()
                self._run(code)
            elif b == 0x02:
                self.mode = "friendly"
                self.send(b"\r\nMicroPython (fake %s)\r\n>>> " % self.family.encode())
            elif b == 0x01:
                self.code.clear()
                self.send(RAW_BANNER)
            else:
                self.code.append(b)
            return
        if b == 0x01:
            self.mode = "raw"
            self.code.clear()
            self.send(b"\r\n" + RAW_BANNER)
        elif b == 0x04:
            self.soft_reset()

    # -- raw REPL ---------------------------------------------------------------------------------
    def _run(self, code):
        out, err = b"", b""
        try:
            out = self.run_snippet(code.decode("utf-8"))
        except SnippetError as e:
            err = b"Traceback (most recent call last):\r\n  File \"<stdin>\", line 1\r\n" + str(e).encode() + b"\r\n"
        except (SyntaxError, UnicodeDecodeError, ValueError) as e:
            err = b"Traceback (most recent call last):\r\nSyntaxError: %s\r\n" % str(e).encode()
        self.send(b"OK" + out + b"\x04" + err + b"\x04>")

    def local(self, path):
        """Board path -> host path; SnippetError like the board's OSError for missing mounts."""
        if not isinstance(path, str) or ".." in path:
            raise SnippetError("OSError: [Errno 22] EINVAL")
        for mount in ("/flash", "/sd"):
            if path == mount or path.startswith(mount + "/"):
                base = self.root / mount[1:]
                if not base.is_dir():
                    raise SnippetError("OSError: [Errno 2] ENOENT")
                return base / path[len(mount):].lstrip("/")
        raise SnippetError("OSError: [Errno 2] ENOENT")

    def run_snippet(self, text):
        tree = ast.parse(text)
        calls = _calls(tree)
        names = [n for n, _ in calls]
        self.log.append(("exec", names))
        if "__import__" in names:                                   # firmware probe
            return FAMILY_MODULES[self.family].encode() + b"\r\n"
        if "os.mkdir" in names:
            args = dict(calls)["os.mkdir"]
            p = self.local(_const(args[0]))
            p.mkdir(exist_ok=True)
            return b""
        if "os.statvfs" in names:
            d = dict(calls)
            folder = self.local(_const(d["os.statvfs"][0]))
            used = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
            extra = 0
            if "os.stat" in d:
                q = self.local(_const(d["os.stat"][0]))
                extra = q.stat().st_size if q.is_file() else 0
            free = self.free_bytes if self.free_bytes is not None else 8 << 20
            return b"%d\r\n" % (max(0, free - used) + extra)
        if "H.sha256" in names:
            path = self.local(_const(dict(calls)["open"][0]))
            if not path.is_file():
                raise SnippetError("OSError: [Errno 2] ENOENT")
            return hashlib.sha256(path.read_bytes()).hexdigest().encode() + b"\r\n"
        if "open" in names:
            args = dict(calls)["open"]
            path, mode = _const(args[0]), _const(args[1])
            if mode != "wb":
                raise SnippetError("NotImplementedError: fake board opens files for 'wb' only")
            p = self.local(path)
            if not p.parent.is_dir():
                raise SnippetError("OSError: [Errno 2] ENOENT")
            self.open_file = (path, p, bytearray())
            return b""
        if names and all(n in ("w", "a2b") for n in names):          # w(a2b(b'...')) writes
            if self.open_file is None:
                raise SnippetError("NameError: name 'w' isn't defined")
            for name, args in calls:
                if name == "a2b":
                    self.open_file[2].extend(base64.b64decode(_const(args[0]), validate=True))
            return b""
        if names == ["f.close"]:
            if self.open_file is not None:
                path, p, data = self.open_file
                p.write_bytes(bytes(data))
                self.log.append(("file", path))
                self.open_file = None
            return b""
        raise SnippetError("NotImplementedError: the fake board does not run arbitrary code")

    # -- booting ----------------------------------------------------------------------------------
    def soft_reset(self):
        if self.app is not None and self.app.is_alive():
            self.interrupt.set()
            self.app.join(10)
        self.mode = "friendly"
        self.send(BANNERS[self.family])
        self.log.append(("reset", None))
        main = self.root / "flash" / "main.py"
        if main.is_file():
            self.interrupt.clear()
            self.app = threading.Thread(target=self._boot, daemon=True)
            self.app.start()
        else:
            self.send(b"MicroPython (fake %s)\r\n>>> " % self.family.encode())

    def _app_problem(self):
        flash = self.root / "flash"
        wanted = sorted(DEVICE.glob("*.py")) + sorted((DEVICE / "pfcore").glob("*.py"))
        # device/hal.py imports only the HAL of the firmware present (and skips a missing one)
        own = {"maixpy": ("hal_maixpy.py", "hal_k210.py"), "canmv": ("hal_canmv.py", "hal_k210.py"),
               "openmv": ("hal_openmv.py",)}
        others = set(n for f, names in own.items() for n in names) - set(own.get(self.family, ()))
        for p in wanted:
            if p.name in others:
                continue
            got = flash / p.relative_to(DEVICE)
            if not got.is_file() or got.read_bytes() != p.read_bytes():
                return "ImportError: %s missing or different from device/" % p.relative_to(DEVICE).as_posix()
        return None

    def model_file(self, cfg):
        m = cfg.get("model", {})
        if m.get("placement") == "flash":
            p = self.spiflash / ("0x%06x.bin" % int(m.get("address", 0)))
        else:
            try:
                p = self.local(m.get("path", ""))
            except SnippetError:
                return None
        return p if p.is_file() else None

    def _boot(self):
        problem = self._app_problem()
        if problem:
            self.send(b"Traceback (most recent call last):\r\n  File \"main.py\", line 1\r\n%s\r\n>>> "
                      % problem.encode())
            return
        from picoface.sim.runner import run_app
        from picoface.sim.sources import BuiltinScene

        cfg = json.loads((self.root / "flash" / "picoface.json").read_text())
        model = self.model_file(cfg)
        self.log.append(("boot", str(model)))

        def serial(line):
            if self.interrupt.is_set():
                raise KeyboardInterrupt
            self.send(line)

        from picoface.flash.plan import with_placement

        # the simulated firmware finds the model where the received config says it is
        board = with_placement(self.board, cfg.get("model", {}).get("placement"))
        frames = iter(BuiltinScene(size=board.camera_size, frames=self.max_frames))
        try:
            summary = run_app(board, firmware=self.family, frames=frames, model_path=model,
                              contract=contract_from_config(cfg), max_frames=self.max_frames, serial=serial,
                              config=cfg)
            self.log.append(("app end", summary.get("end")))
        except KeyboardInterrupt:
            self.log.append(("app end", "interrupted"))
        except Exception as e:  # the fake board shows crashes as a REPL traceback
            self.send(b"Traceback (most recent call last):\r\n%s: %s\r\n" % (type(e).__name__.encode(),
                                                                           str(e).encode()))
        if not self.interrupt.is_set():
            self.send(b"MicroPython (fake %s)\r\n>>> " % self.family.encode())

    def close(self, wait=40.0):
        """Stop the board: the running app sees Ctrl-C at its next serial line and run_app removes its
        temporary folder; wait for that (a daemon thread would be cut off at exit, leaving the folder).
        ``wait`` is generous: on a loaded CI machine the app's next line can be many seconds away."""
        self.stopping.set()
        self.interrupt.set()
        if self.app is not None:
            os.set_blocking(self.slave, False)
            deadline = time.monotonic() + wait
            while self.app.is_alive() and time.monotonic() < deadline:
                try:  # make room: an app blocked writing to a full pty goes on and meets the Ctrl-C
                    os.read(self.slave, 65536)
                except OSError:
                    pass
                self.app.join(0.05)
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass


def contract_from_config(cfg):
    """The nested model contract run_app wants, rebuilt from the flat device config the board
    received (run_app's device config is then overridden by the received config itself)."""
    m = cfg.get("model", {})
    out_keys = ("grid_w", "grid_h", "anchors", "classes", "layout", "dtype", "scale", "zero_point")
    return {"contract": 1, "name": m.get("name", ""), "format": m.get("format"), "sha256": m.get("sha256"),
            "bytes": m.get("bytes"), "file": "model",
            "input": {"w": m.get("w"), "h": m.get("h"), "fit": m.get("fit", "stretch"), "channels": 3},
            "output": {k: m[k] for k in out_keys if k in m},
            "thresholds": {"score": cfg.get("score", 0.5), "nms": cfg.get("nms", 0.3)}}


# -- child-process helpers ----------------------------------------------------------------------------
def spawn(root, board="maix_dock", boot=False, max_frames=40, env=None, extra=()):
    """Start ``serve`` in a child process; returns (Popen, port path)."""
    args = [sys.executable, str(Path(__file__).resolve()), "serve", "--root", str(root), "--board", board,
            "--max-frames", str(max_frames)] + (["--boot"] if boot else []) + list(extra)
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, **(env or {})))
    line = proc.stdout.readline()
    if not line.startswith("port "):
        proc.kill()
        raise RuntimeError("fake board did not start: %r %s" % (line, proc.stderr.read()))
    return proc, line.split()[1]


def stop(proc, grace=60.0):
    """Stop a ``spawn``ed board as Ctrl-C would (it closes itself: no temporary folder is left
    behind); kill it only when it does not end within ``grace`` seconds."""
    import signal

    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def _serve(args):
    import signal

    # Ctrl-C (stop()) must reach us even when the parent ignores SIGINT: a child inherits an ignored
    # SIGINT (pytest-xdist's workers run with one), and Python then installs no KeyboardInterrupt
    signal.signal(signal.SIGINT, signal.default_int_handler)
    fb = FakeBoard(args.root, board=args.board, firmware=args.firmware, sd_card=not args.no_sd,
                   free_bytes=args.free_bytes, max_frames=args.max_frames, boot=args.boot)
    sys.__stdout__.write("port %s\n" % fb.port)
    sys.__stdout__.flush()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        fb.close()


def _kflash(args):
    """Fake kflash: check argv + the package, write images into $PICOFACE_FAKE_SPIFLASH."""
    from picoface.kmodel import kfpkg

    out = Path(os.environ["PICOFACE_FAKE_SPIFLASH"])
    if args.Board not in ("kd233", "dan", "bit", "bit_mic", "goE", "goD", "maixduino", "trainer"):
        print("[ERROR] invalid board %r" % args.Board)
        return 2
    if not os.path.exists(args.port):
        print("[ERROR] could not open port %s: No such file or directory" % args.port)
        return 1
    print("[INFO] fake kflash: %s -B %s at %d baud" % (args.port, args.Board, args.baudrate))
    data = Path(args.firmware).read_bytes()
    if data[:2] == b"PK":
        pkg = kfpkg.read(args.firmware)
        for f in pkg["files"]:
            if f["address"] % 4096:
                print("[ERROR] address 0x%x not 4 KiB aligned" % f["address"])
                return 1
            (out / ("0x%06x.bin" % f["address"])).write_bytes(f["data"])
            print("[INFO] Writing %s into 0x%08x (%d B, sha256Prefix=%s)" % (
                f["bin"], f["address"], len(f["data"]), f["sha256Prefix"]))
    else:
        (out / "0x000000.bin").write_bytes(data)
        print("[INFO] Writing firmware into 0x00000000 (%d B)" % len(data))
    (out / "kflash-argv.json").write_text(json.dumps(sys.argv[2:]))  # after "fakeboard.py kflash"
    print("[INFO] Rebooting...")
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(prog="fakeboard")
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--root", required=True)
    s.add_argument("--board", default="maix_dock")
    s.add_argument("--firmware")
    s.add_argument("--no-sd", action="store_true")
    s.add_argument("--free-bytes", type=int)
    s.add_argument("--max-frames", type=int, default=40)
    s.add_argument("--boot", action="store_true")
    k = sub.add_parser("kflash")
    k.add_argument("-p", "--port", required=True)
    k.add_argument("-b", "--baudrate", type=int, default=115200)
    k.add_argument("-B", "--Board")
    k.add_argument("firmware")
    args = ap.parse_args(argv)
    return _serve(args) if args.cmd == "serve" else _kflash(args)


if __name__ == "__main__":
    sys.exit(main())


# -- a tiny model for fast tests (no TensorFlow) ----------------------------------------------------------
def tiny_kmodel(out_dir, obj_bias=-5.0):
    """A valid 2-conv kmodel v3 for a 320x240 K210 board (stride 16 by 4x4 pools -> 20x15x30)
    with zero weights: every output is ``obj_bias`` (no faces at bias -5). Writes
    ``picoface_tiny.kmodel`` + ``model.json`` into ``out_dir`` and returns the model path.
    Stands in for the shipped model in flash/sim tests: it loads, runs fast on the emulator and
    passes picoface.kmodel.budget.check for maix_dock."""
    import numpy as np

    from picoface.kmodel import v3

    from picoface.kmodel import MAIXPY_FACE_ANCHOR_PAIRS

    anchors = MAIXPY_FACE_ANCHOR_PAIRS
    r1 = v3.conv_regs(320, 240, 3, 8, kernel=3, pool_type=3, src_addr=0)
    c1 = v3.ConvLayer(regs=r1, weights=np.zeros((8, 3, 3, 3), np.uint8).tobytes(), bn=[v3.BN(1, 0, 0)] * 8,
                      act=v3.ActTable.identity(), flags=0, main_mem_out_address=0)
    r2 = v3.conv_regs(80, 60, 8, 30, kernel=1, pool_type=3, src_addr=r1.image_dst_addr)
    c2 = v3.ConvLayer(regs=r2, weights=np.zeros((30, 8, 1, 1), np.uint8).tobytes(), bn=[v3.BN(1, 0, 0)] * 30,
                      act=v3.ActTable.identity(), flags=v3.KLF_MAIN_MEM_OUT, main_mem_out_address=0)
    n = 20 * 15 * 30
    deq = v3.DequantizeLayer(main_mem_in_address=0, main_mem_out_address=v3.align(n, 8), count=n, scale=1.0,
                             bias=float(obj_bias))
    data = v3.build_model([c1, c2, deq]).serialize()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "picoface_tiny.kmodel"
    path.write_bytes(data)
    contract = {
        "contract": 1, "name": "tiny_test", "format": "kmodel-v3", "file": path.name, "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "input": {"w": 320, "h": 240, "channels": 3, "order": "RGB", "layout": "NCHW", "dtype": "uint8",
                  "scale": 1 / 255.0, "zero_point": 0, "fit": "stretch"},
        "output": {"grid_w": 20, "grid_h": 15, "anchors": anchors, "classes": 1, "layout": "NCHW",
                   "dtype": "float32", "scale": 1.0, "zero_point": 0},
        "thresholds": {"score": 0.5, "nms": 0.3},
        "training": {"config_hash": "0" * 16, "commit": "unknown", "config": "tests/fakeboard.py"},
    }
    (out_dir / "model.json").write_text(json.dumps(contract, indent=1))
    return path
