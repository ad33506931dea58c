"""Fake OpenMV `machine`: WDT(id=0, timeout) (no stop on STM32), LED("LED_RED"), UART, reset(), Pin (only
the board's button pin by name, boards/*.toml [button] pin_name, e.g. "SW" on the RT1062)."""
from picoface.sim.fakes import _common
from picoface.sim.fakes._common import W

reset = _common.machine_reset


class WDT:
    """machine.WDT(id=0, timeout=5000) of MicroPython's stm32 port (micropython@v1.23.0
    extmod/machine_wdt.c:44-55, ports/stm32/machine_wdt.c:42-66): id 0 only; the timeout is
    halved up to 6 times while >= 512, then x 8 must be 1..0xfff (so at most 32,767 ms)."""

    def __init__(self, id=0, timeout=5000):
        if id != 0:
            raise ValueError("WDT(%d) doesn't exist" % id)
        t = int(timeout)
        prescaler = 0
        while prescaler < 6 and t >= 512:
            prescaler += 1
            t //= 2
        t *= 8
        if t <= 0:
            raise ValueError("WDT timeout too short")
        if t > 0xFFF:
            raise ValueError("WDT timeout too long")
        W().wdt_start(int(timeout))

    def feed(self):
        W().wdt_feed()


class LED:
    _NAMES = {"LED_RED": "red", "LED_GREEN": "green", "LED_BLUE": "blue", "LED_IR": "ir"}

    def __init__(self, name):
        if name not in self._NAMES:
            raise ValueError("invalid LED name %r" % (name,))
        self._c = self._NAMES[name]

    def on(self):
        W().led(self._c, True)

    def off(self):
        W().led(self._c, False)

    def toggle(self):
        W().led(self._c, not W().led_state.get(self._c, False))

    def value(self, v=None):
        if v is None:
            return int(W().led_state.get(self._c, False))
        W().led(self._c, bool(v))


class UART:
    def __init__(self, id, baudrate=115200, bits=8, parity=None, stop=1, timeout=0):
        self.id = id

    def write(self, buf):
        W().lcd_event("uart%s" % self.id, bytes(buf))
        return len(buf)


class Pin:
    """machine.Pin(name, mode): only the board's button pin is simulated (any other name raises as
    an unknown pin does); value() reads 1 released, 0 while a simulated press holds an active-low
    button (World.button_level)."""
    IN, OUT = 0, 1
    PULL_UP, PULL_DOWN = 1, 2

    def __init__(self, id, mode=-1, pull=-1):
        b = W().board.button
        if b.get("kind") != "machine_pin" or id != b.get("pin_name"):
            raise ValueError("Pin(%s) doesn't exist" % (id,))
        self.name = id
        self.pull = pull

    def value(self, v=None):
        if v is not None:
            raise ValueError("pin is an input")
        return W().button_level(self.name, self.pull == Pin.PULL_UP)

    def __call__(self, v=None):
        return self.value(v)
