"""Fake K210 `machine` (PLATFORM.md A1): WDT(id, timeout[, callback, context]), UART, reset().
MaixPy v0.5.0 has no machine.WDT (machine_wdt.c and its modmachine.c entry arrive in v0.5.1):
generation feature ``wdt`` (picoface.sim.generations).

UART.repl_uart() is the one object the REPL reads too (sipeed/MaixPy-v1@v0.6.2
components/micropython/port/src/standard_lib/machine/machine_uart.c:564-569; kendryte/canmv@v1.0.7
same file :571-576): any() is the count in its 2048-byte ring (:98-114), read(n) first busy-waits
timeout_char (10 ms for the REPL's object, :417, :634) and gives None when nothing came (:678).
A new UART(UART.UARTHS) re-registers the receive interrupt to itself (:488-494): the REPL's object
gets nothing after that."""
from picoface.sim.fakes import _common

reset = _common.machine_reset
if _common.W().fw["wdt"]:
    WDT = _common.WDT


class UART:
    UART1, UART2, UART3, UARTHS = 0, 1, 2, 3

    def __init__(self, uart, baudrate=115200, bits=8, parity=None, stop=1, timeout=0, timeout_char=0,
                 read_buf_len=128):
        if uart not in (0, 1, 2, 3):
            raise ValueError("UART id must be UART1..UART3 or UARTHS")
        if bits not in (5, 6, 7, 8) or stop not in (1, 1.5, 2):
            raise ValueError("invalid bits/stop")
        self.id = uart
        self.baudrate = baudrate
        self.timeout_char = 10
        if uart == UART.UARTHS:
            _common.W().rx_taken = self     # the receive interrupt now feeds this object

    @classmethod
    def repl_uart(cls):
        w = _common.W()
        repl = getattr(w, "k210_repl", None)
        if repl is None:
            taken = w.rx_taken
            repl = w.k210_repl = cls(cls.UARTHS, 115200)
            w.rx_taken = taken          # created by the firmware at boot, not by the app
        return repl

    def _rx(self):
        w = _common.W()
        w.pull_rx()
        owner = w.rx_taken if w.rx_taken is not None else getattr(w, "k210_repl", None)
        return w if owner is self else None

    def write(self, buf):
        if isinstance(buf, str):
            buf = buf.encode()
        if self.id == UART.UARTHS:
            _common.W().serial_write(bytes(buf).decode("utf-8", "replace"))
        else:
            _common.W().lcd_event("uart%d" % (self.id + 1), bytes(buf))
        return len(buf)

    def read(self, n=-1):
        w = self._rx()
        if w is None or not w.rx:
            _common.W().advance(self.timeout_char)     # uart_rx_wait spins timeout_char ms
            return None
        return w.take_rx(len(w.rx) if n is None or n < 0 else n)

    def readline(self):
        w = self._rx()
        if w is None or not w.rx:
            _common.W().advance(self.timeout_char)
            return None
        i = w.rx.find(b"\n")
        return w.take_rx(len(w.rx) if i < 0 else i + 1)

    def any(self):
        w = self._rx()
        return len(w.rx) if w is not None else 0

    def deinit(self):
        pass
