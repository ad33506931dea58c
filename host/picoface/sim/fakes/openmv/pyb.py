"""Fake OpenMV (STM32) `pyb`: LED(1..4); 1 red, 2 green, 3 blue, 4 IR."""
from picoface.sim.fakes._common import W

_NAMES = {1: "red", 2: "green", 3: "blue", 4: "ir"}


class LED:
    def __init__(self, id):
        if isinstance(id, bool) or not isinstance(id, int) or id not in _NAMES:
            raise ValueError("LED(%s) doesn't exist" % (id,))
        self._c = _NAMES[id]

    def on(self):
        W().led(self._c, True)

    def off(self):
        W().led(self._c, False)

    def toggle(self):
        W().led(self._c, not W().led_state.get(self._c, False))

    def intensity(self, value=None):
        return 255 if W().led_state.get(self._c) else 0


def millis():
    return W().now_ms


def delay(ms):
    W().advance(int(ms))
