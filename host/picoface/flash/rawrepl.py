"""A small MicroPython raw-REPL client on top of ``picoface.transport.Transport``.

Why not mpremote's SerialTransport: it opens the port itself with pyserial's default DTR/RTS,
which resets a MAIX Dock. This client takes an already opened Transport (idle DTR/RTS).

Protocol (MicroPython, MaixPy, CanMV and OpenMV all speak it):
  Ctrl-C Ctrl-C        interrupt whatever runs (the app's loop)
  Ctrl-A               enter raw REPL; the board answers "raw REPL; CTRL-B to exit\\r\\n>"
  <code> Ctrl-D        run it; the board answers "OK", then stdout, Ctrl-D, stderr, Ctrl-D, ">"
  Ctrl-B               back to the friendly REPL
  Ctrl-D (friendly)    soft reset: boot.py then main.py run (the app starts)
"""

import time

from picoface.errors import PicofaceError

RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n>"
CHUNK = 256          # bytes written at a time; boards without raw-paste mode have small buffers
CHUNK_PAUSE = 0.01   # seconds between chunks


class RemoteError(PicofaceError):
    """A snippet raised on the board; ``.remote`` holds the board's traceback text."""

    def __init__(self, what, todo, remote):
        super().__init__(what, todo)
        self.remote = remote


class RawRepl:
    def __init__(self, transport, sleep=time.sleep, chunk_pause=None):
        self.t = transport
        self.sleep = sleep
        # A real UART (board-side buffer of a few hundred bytes) needs pauses; a pty or URL does not.
        self.pause = (0.0 if transport.is_virtual() else CHUNK_PAUSE) if chunk_pause is None else chunk_pause
        self.active = False

    def enter(self, timeout=10.0, attempts=3):
        """Interrupt the running program and enter raw mode."""
        last = None
        for _ in range(attempts):
            self.t.write(b"\r\x03")
            self.sleep(0.1)
            self.t.write(b"\x03")
            self.sleep(0.1)
            self.t.drain(quiet=0.2, limit=2.0)
            self.t.write(b"\r\x01")
            try:
                self.t.read_until(RAW_BANNER, timeout=timeout / attempts)
                self.active = True
                return
            except PicofaceError as e:
                last = e
        raise PicofaceError(
            "the board on %s does not enter the raw REPL (%s)" % (self.t.port, last.what if last else "no answer"),
            "check the board runs MaixPy/CanMV/OpenMV firmware at %d baud; if the app hangs in boot.py, "
            "hold the board in reset, then retry" % self.t.baud)

    def _send(self, data):
        for i in range(0, len(data), CHUNK):
            self.t.write(data[i:i + CHUNK])
            if self.pause and i + CHUNK < len(data):
                self.sleep(self.pause)

    def exec(self, code, timeout=10.0):
        """Run ``code`` in raw mode; return its stdout (bytes). Raises RemoteError on a traceback."""
        if not self.active:
            self.enter()
        if isinstance(code, str):
            code = code.encode()
        self._send(code)
        self.t.write(b"\x04")
        ok = self.t.read_until(b"OK", timeout=timeout)
        if not ok.endswith(b"OK") or len(ok) > 64:
            raise PicofaceError("unexpected raw-REPL answer %r" % ok[-64:],
                                "retry; if it repeats, power-cycle the board")
        out = self.t.read_until(b"\x04", timeout=timeout)[:-1]
        err = self.t.read_until(b"\x04", timeout=timeout)[:-1]
        self.t.read_until(b">", timeout=timeout)
        if err:
            text = err.decode("utf-8", "replace").strip()
            last = text.splitlines()[-1] if text else "error"
            raise RemoteError("the board reported: %s" % last, _hint(text), text)
        return out

    def exit(self):
        """Back to the friendly REPL."""
        self.t.write(b"\r\x02")
        self.active = False
        self.sleep(0.1)

    def soft_reset(self):
        """Leave raw mode and soft-reset so that boot.py and main.py run (the app starts)."""
        if self.active:
            self.exit()
        self.t.drain(quiet=0.1, limit=1.0)
        self.t.write(b"\x04")


def _hint(text):
    if "ENOSPC" in text or "Errno 28" in text:
        return "the board's filesystem is full: free space (delete old files) or put the model on the SD card"
    if "ENOENT" in text or "Errno 2" in text:
        return "a folder is missing on the board (no SD card in the slot?)"
    if "MemoryError" in text:
        return "the board ran out of memory; soft-reset it (Ctrl-D) and retry"
    return "see the board's message above"
