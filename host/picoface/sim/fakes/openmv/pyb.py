"""Fake OpenMV (STM32) `pyb`: LED(1..4); 1 red, 2 green, 3 blue, 4 IR. Switch only on a board whose
[button] kind is "pyb_switch": modpyb.c lists it only when MICROPY_HW_HAS_SWITCH, which no OpenMV
Cam board sets (docs/firmware.md, "The button")."""
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


class USB_VCP:
    """The USB CDC port the REPL and the app share (openmv/micropython@fff2e1fb
    ports/stm32/usb.c:773-781 any() is a bool, :895 and :914-923 read(n) never blocks and gives
    None when nothing came; receive buffer MICROPY_HW_USB_CDC_RX_DATA_SIZE 512 on OpenMV boards,
    511 usable, the rest of a packet dropped: usbd_cdc_interface.c:405-409)."""

    def __init__(self, id=0):
        if id != 0:
            raise ValueError("USB_VCP(%s) doesn't exist" % (id,))

    def any(self):
        w = W()
        w.pull_rx()
        return len(w.rx) > 0

    def read(self, n=-1):
        w = W()
        w.pull_rx()
        if not w.rx:
            return None
        return w.take_rx(len(w.rx) if n is None or n < 0 else n)

    def setinterrupt(self, c):
        W().kbd_intr = int(c)


if W().board.button.get("kind") == "pyb_switch":
    class Switch:
        """pyb.Switch(): value() is True while the user switch is pressed."""

        def value(self):
            return bool(W().button_down())

        def __call__(self):
            return self.value()
