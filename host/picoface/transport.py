"""A serial link to a board that never resets it by accident.

``Transport`` wraps ``serial.serial_for_url(url, do_not_open=True)``, so a device path
(/dev/ttyUSB0, /dev/pts/3, COM3), ``loop://``, ``socket://host:port`` and ``rfc2217://host:port``
all work. DTR and RTS are set to the board's idle levels (``[serial] dtr_idle/rts_idle`` in
boards/*.toml) *before* the port is opened: on a MAIX Dock the USB-serial chip's RTS drives the
K210 reset and DTR its BOOT pin, and pyserial would otherwise assert both on open.
(On Linux the tty driver may still raise the lines for an instant inside open(), before
pyserial applies the stored levels; ampy/rshell users report that setting both False this way
is what lets them talk to Maix boards: ../shared/docs/PLATFORM.md §0.5.)

Reset sequences (``"D0|R1|W0.1|R0"``) run through ``picoface.resets.run``. Operating-system
errors become ``PicofaceError`` with a hint from a small regex table.
"""

import os
import re
import time

from picoface import resets
from picoface.errors import PicofaceError

DEFAULT_BAUD = 115200
MAX_LINE = 4096  # a "line" longer than this is cut and returned as is (garbage on the wire)


def _serial():
    try:
        import serial  # pyserial
    except ImportError:  # pragma: no cover - pyserial is in requirements.txt
        raise PicofaceError("pyserial is not installed", "run `make setup` (or pip install pyserial)") from None
    return serial


def is_url(port):
    return "://" in str(port)


def candidate_ports(board=None):
    """Serial ports that look like ``board`` (by USB VID:PID), or every USB serial port.

    Returns a list of ``(device, description)``.
    """
    from serial.tools import list_ports

    ids = set(board.usb_ids()) if board is not None else None
    out = []
    for p in sorted(list_ports.comports(), key=lambda p: p.device):
        if p.vid is None:
            continue
        if ids is None or (p.vid, p.pid) in ids:
            out.append((p.device, "%04x:%04x %s" % (p.vid, p.pid, p.description or "")))
    return out


def boards_for_port(port):
    """Boards whose USB VID:PID match ``port`` (a device path), [] when unknown or a URL."""
    if is_url(port):
        return []
    from serial.tools import list_ports

    from picoface.boards import list_boards, load_board

    real = os.path.realpath(port)
    for p in list_ports.comports():
        if p.vid is not None and os.path.realpath(p.device) == real:
            ids = (p.vid, p.pid)
            return [b for b in (load_board(n) for n in list_boards()) if ids in b.usb_ids()]
    return []


def idle_levels_for_port(port):
    """(dtr, rts) idle levels of the boards that ``port``'s VID:PID names, when they all agree;
    else None (the caller keeps both lines low, which never resets a K210)."""
    levels = {(b.serial["dtr_idle"], b.serial["rts_idle"]) for b in boards_for_port(port)}
    return levels.pop() if len(levels) == 1 else None


def _candidates_text(board):
    found = candidate_ports(board)
    if found:
        return "ports that look like %s: %s" % (
            board.name if board else "a board", ", ".join("%s (%s)" % f for f in found))
    if board is not None:
        return "no USB serial port with %s is plugged in; check the cable (a charge-only cable has no data lines)" % (
            " or ".join(board.serial["usb_ids"]))
    return "no USB serial port is plugged in; check the cable"


def check_port(port, board=None):
    """Raise the "not found" PicofaceError when ``port`` is a device path that does not exist (URLs
    and Windows COM names are left to open()); before any tool is started on it."""
    if is_url(port) or os.name == "nt" or os.path.exists(str(port)):
        return
    raise explain(port, FileNotFoundError(2, "No such file or directory"), board)


# (regex on the error text, kind). The first match wins.
_HINTS = [
    (r"Errno 2\b|No such file or directory|FileNotFoundError|cannot find the file|could not find port", "not_found"),
    (r"Errno 13\b|Permission denied", "permission"),
    (r"Errno 16\b|busy|could not exclusively lock|Access is denied|in use", "busy"),
    (r"Errno 111\b|Connection refused|Errno 110\b|timed out|Name or service not known|getaddrinfo", "network"),
]


def classify(error_text):
    for rx, kind in _HINTS:
        if re.search(rx, error_text, re.I):
            return kind
    return None


def explain(port, exc, board=None):
    """A PicofaceError for an exception raised while opening ``port``."""
    text = str(exc)
    kind = classify(text)
    if kind == "not_found":
        return PicofaceError("serial port %s not found" % port, _candidates_text(board) + "; pass the right --port")
    if kind == "permission":
        return PicofaceError(
            "no permission to open %s" % port,
            "add yourself to the serial group: `sudo usermod -aG dialout $USER` (uucp on Arch), then log out and in")
    if kind == "busy":
        return PicofaceError(
            "serial port %s is busy" % port,
            "close the other program using it (MaixPy IDE, OpenMV IDE, screen, minicom, another picoface monitor)")
    if kind == "network":
        return PicofaceError("cannot connect to %s: %s" % (port, text), "check the host, port and that the server runs")
    return PicofaceError("cannot open serial port %s: %s" % (port, text), "check the port name and the cable")


class Transport:
    """One serial link: ``open()``, ``read_line(timeout)``, ``write(data)``, ``close()``.

    ``board`` (a ``picoface.boards.Board``) supplies the baud rate, idle DTR/RTS levels and
    reset strings; without it the lines idle low (safe for K210 boards). ``serial_factory`` is
    for tests: a callable with ``serial_for_url``'s signature.
    """

    def __init__(self, port, baud=None, board=None, dtr=None, rts=None, serial_factory=None, exclusive=True):
        if not port:
            raise PicofaceError("no serial port given", _candidates_text(board) + "; pass --port")
        self.port = str(port)
        self.board = board
        ser = board.serial if board is not None else {}
        self.baud = int(baud or ser.get("baud") or DEFAULT_BAUD)
        self.dtr_idle = bool(ser.get("dtr_idle", False) if dtr is None else dtr)
        self.rts_idle = bool(ser.get("rts_idle", False) if rts is None else rts)
        self._factory = serial_factory
        self._exclusive = exclusive
        self._ser = None
        self._buf = bytearray()

    # -- life cycle ------------------------------------------------------------------------
    @property
    def is_open(self):
        return self._ser is not None and self._ser.is_open

    @property
    def serial(self):
        """The underlying pyserial object (None while closed)."""
        return self._ser

    def _make(self):
        serial = _serial()
        factory = self._factory or serial.serial_for_url
        kwargs = {"baudrate": self.baud, "timeout": 0.05, "do_not_open": True}
        if not self.port.startswith("rfc2217://"):  # pyserial's rfc2217 client has no write timeout
            kwargs["write_timeout"] = 5
        if self._exclusive and not is_url(self.port):
            kwargs["exclusive"] = True
        return factory(self.port, **kwargs)

    def open(self):
        """Open with DTR/RTS already at their idle levels; map OS errors to hints."""
        if self.is_open:
            return self
        serial = _serial()
        try:
            ser = self._make()
            # The point of this module: the levels are stored before open() and applied by it.
            ser.dtr = self.dtr_idle
            ser.rts = self.rts_idle
            ser.open()
        except (OSError, ValueError, serial.SerialException) as e:
            raise explain(self.port, e, self.board) from None
        self._ser = ser
        self._buf.clear()
        return self

    def close(self):
        ser, self._ser = self._ser, None
        self._buf.clear()
        if ser is not None:
            try:
                ser.close()
            except Exception:  # a vanished device may fail to close; it is gone either way
                pass

    def __enter__(self):
        return self.open()

    def __exit__(self, *exc):
        self.close()

    def port_exists(self):
        """False when a device path has disappeared (board unplugged); URLs always count as present."""
        if is_url(self.port) or os.name == "nt":
            return True
        return os.path.exists(self.port)

    def is_virtual(self):
        """True for URLs and pseudo-terminals: no UART behind them, so no pacing is needed."""
        if is_url(self.port):
            return True
        try:
            import stat

            st = os.stat(self.port)
            return stat.S_ISCHR(st.st_mode) and 136 <= os.major(st.st_rdev) <= 143  # Unix98 pty slaves
        except (OSError, AttributeError):
            return False

    def reopen(self, wait=10.0, poll=0.2, stop=None):
        """Close, wait for the port to come back (unplug/replug) and open it again.

        Returns True when reopened, False when ``wait`` seconds passed or ``stop()`` said so.
        """
        self.close()
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if stop is not None and stop():
                return False
            if self.port_exists():
                try:
                    self.open()
                    return True
                except PicofaceError:
                    pass
            time.sleep(poll)
        return False

    # -- I/O ---------------------------------------------------------------------------------
    def _need(self):
        if not self.is_open:
            raise PicofaceError("serial port %s is not open" % self.port, "open it first")
        return self._ser

    def read(self, n=4096, timeout=0.05):
        """Up to ``n`` bytes (the buffered ones first); b"" after ``timeout`` seconds of silence.

        Raises OSError/SerialException when the device vanished (callers may reopen()).
        """
        if self._buf:
            out = bytes(self._buf[:n])
            del self._buf[:n]
            return out
        ser = self._need()
        ser.timeout = max(0.0, timeout)
        first = ser.read(1)
        if not first:
            return b""
        waiting = getattr(ser, "in_waiting", 0) or 0
        rest = ser.read(min(n - 1, waiting)) if waiting and n > 1 else b""
        return first + rest

    def read_line(self, timeout=1.0):
        """One line without its line ending (bytes), or None when no full line came in time.

        A line longer than MAX_LINE is cut and returned as is, so garbage cannot fill memory.
        """
        deadline = time.monotonic() + timeout
        while True:
            i = self._buf.find(b"\n", 0, MAX_LINE + 1)
            if i >= 0:
                line = bytes(self._buf[:i])
                del self._buf[:i + 1]
                return line[:-1] if line.endswith(b"\r") else line
            if len(self._buf) >= MAX_LINE:
                line = bytes(self._buf[:MAX_LINE])
                del self._buf[:MAX_LINE]
                return line
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ser = self._need()
            ser.timeout = min(left, 0.1)
            chunk = ser.read(max(1, min(MAX_LINE, getattr(ser, "in_waiting", 0) or 1)))
            if chunk:
                self._buf += chunk

    def read_until(self, marker, timeout=5.0):
        """Bytes up to and including ``marker``; raises PicofaceError on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            i = self._buf.find(marker)
            if i >= 0:
                out = bytes(self._buf[:i + len(marker)])
                del self._buf[:i + len(marker)]
                return out
            left = deadline - time.monotonic()
            if left <= 0:
                got = bytes(self._buf[-200:])
                raise PicofaceError("no answer from the board on %s (waited for %r, got %r)" % (self.port, marker, got),
                                    "check the port, the baud rate and that the board is powered and not busy")
            ser = self._need()
            ser.timeout = min(left, 0.1)
            chunk = ser.read(max(1, getattr(ser, "in_waiting", 0) or 1))
            if chunk:
                self._buf += chunk

    def drain(self, quiet=0.1, limit=2.0):
        """Discard input until ``quiet`` seconds pass without data (at most ``limit`` seconds)."""
        self._buf.clear()
        ser = self._need()
        end = time.monotonic() + limit
        ser.timeout = quiet
        while time.monotonic() < end:
            if not ser.read(4096):
                break

    def write(self, data):
        if isinstance(data, str):
            data = data.encode()
        ser = self._need()
        ser.write(data)
        try:
            ser.flush()
        except Exception:
            pass

    # -- modem lines ---------------------------------------------------------------------------
    def run_sequence(self, text, sleep=time.sleep):
        """Run a DTR/RTS sequence string, then return the lines to their idle levels."""
        ser = self._need()
        resets.run(ser, text, sleep=sleep)
        ser.dtr = self.dtr_idle
        ser.rts = self.rts_idle

    def hard_reset(self, sleep=time.sleep):
        """The board's ``[serial] reset`` sequence; False when it has none (e.g. USB CDC boards)."""
        seq = (self.board.serial.get("reset") if self.board is not None else "") or ""
        if not seq:
            return False
        self.run_sequence(seq, sleep=sleep)
        self._buf.clear()
        return True

    def enter_bootloader(self, sleep=time.sleep):
        seq = (self.board.serial.get("isp") if self.board is not None else "") or ""
        if not seq:
            return False
        self.run_sequence(seq, sleep=sleep)
        return True


class PtyPort:
    """The board end of a pseudo-terminal: a simulated board writes here, and a monitor opens
    ``.path`` (/dev/pts/N) exactly like a USB serial port. POSIX only.

    Writes never block: when nobody reads and the pty buffer is full, lines are dropped and
    counted (``.dropped``), as bytes are lost on a UART nobody listens to. Bytes the host
    sends (commands, ``picoface cmd``) are read by a thread into an inbox of at most
    ``INBOX`` bytes (more is dropped, counted in ``.in_dropped``); ``take()`` empties it.
    """

    INBOX = 65536

    def __init__(self):
        import threading
        import tty

        if os.name != "posix":
            raise PicofaceError("--serial pty needs a POSIX system", "use --serial stdout or a socket:// URL")
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)          # no echo, no line editing: bytes pass unchanged
        os.set_blocking(self.master, False)
        self.path = os.ttyname(self.slave)
        self.dropped = 0
        self.written = 0
        self.in_dropped = 0
        self._inbox = bytearray()
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._reader = threading.Thread(target=self._collect, daemon=True)
        self._reader.start()

    def _collect(self):
        import select

        while not self._closed.is_set():
            try:
                r, _, _ = select.select([self.master], [], [], 0.2)
                if r:
                    data = os.read(self.master, 4096)
                    with self._lock:
                        room = max(0, self.INBOX - len(self._inbox))
                        self._inbox += data[:room]
                        self.in_dropped += max(0, len(data) - room)
            except (OSError, ValueError):
                if self._closed.is_set():
                    return
                time.sleep(0.05)

    def take(self):
        """The bytes the host sent since the last call (b"" when none); never blocks."""
        with self._lock:
            out = bytes(self._inbox)
            self._inbox.clear()
        return out

    def write(self, data):
        """Write a whole line or nothing (a full buffer drops the line)."""
        if self._closed.is_set():
            return False
        try:
            n = os.write(self.master, data)
        except BlockingIOError:
            self.dropped += 1
            return False
        except OSError:
            self.dropped += 1
            return False
        if n < len(data):  # partial write: finish it, briefly, so no line is torn
            view = memoryview(data)[n:]
            end = time.monotonic() + 0.5
            while view and time.monotonic() < end:
                try:
                    view = view[os.write(self.master, view):]
                except BlockingIOError:
                    time.sleep(0.005)
                except OSError:
                    break
        self.written += 1
        return True

    def unread(self):
        """Bytes written but not yet read by the other side."""
        import fcntl
        import struct
        import termios

        try:
            return struct.unpack("i", fcntl.ioctl(self.slave, termios.FIONREAD, b"\0\0\0\0"))[0]
        except OSError:
            return 0

    def close(self, linger=2.0):
        """Wait up to ``linger`` seconds for the reader to take what is buffered, then close."""
        end = time.monotonic() + linger
        while linger and self.unread() and time.monotonic() < end:
            time.sleep(0.02)
        self._closed.set()
        self._reader.join(1.0)
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass


def usb_serial_number(port):
    """The USB serial number of the adapter behind ``port`` (a device path), or None: a board id
    that survives unplugging and re-enumeration (/dev/ttyUSB0 may come back as /dev/ttyUSB1)."""
    if is_url(port):
        return None
    try:
        from serial.tools import list_ports

        real = os.path.realpath(port)
        for p in list_ports.comports():
            if os.path.realpath(p.device) == real:
                return p.serial_number or None
    except Exception:  # no udev/sysfs (containers, odd platforms): no serial number, not an error
        return None
    return None
