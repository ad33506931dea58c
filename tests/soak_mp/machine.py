# Soak `machine` for MicroPython (tests/test_soak.py): a WDT that counts feeds and, once when
# soak_state plans a restart, fails the feed (an exception that escapes the app's main()).
import soak_state as S


class WDT:
    def __init__(self, id=0, timeout=5000, callback=None, context=None):
        pass

    def feed(self):
        if S.pending_restart[0]:
            S.pending_restart[0] = False
            raise RuntimeError("soak: watchdog feed failed")
        S.feeds[0] += 1


class UART:
    """The REPL UART with nothing from the host (the soak sends no commands)."""
    UARTHS = 4

    @staticmethod
    def repl_uart():
        return UART()

    def any(self):
        return 0

    def read(self, n=-1):
        return None
