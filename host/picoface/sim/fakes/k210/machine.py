"""Fake K210 `machine` (PLATFORM.md A1): WDT(id, timeout[, callback, context]), UART, reset().
MaixPy v0.5.0 has no machine.WDT (machine_wdt.c and its modmachine.c entry arrive in v0.5.1):
generation feature ``wdt`` (picoface.sim.generations)."""
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

    @classmethod
    def repl_uart(cls):
        return cls(cls.UARTHS, 115200)

    def write(self, buf):
        if isinstance(buf, str):
            buf = buf.encode()
        if self.id == UART.UARTHS:
            _common.W().serial_write(bytes(buf).decode("utf-8", "replace"))
        else:
            _common.W().lcd_event("uart%d" % (self.id + 1), bytes(buf))
        return len(buf)

    def read(self, n=-1):
        return None

    def readline(self):
        return None

    def any(self):
        return 0

    def deinit(self):
        pass
