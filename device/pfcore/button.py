"""A push button read once a frame: Edge(ms).update(down, now_ms) -> True once per press.

The HAL samples the button's level between camera frames (never waits for it) and passes it
here with compat.ticks_ms(). A change of level counts only when the last counted change is at
least `ms` old, so contact bounce (a few ms of flicker) cannot make a second press. A press is
reported at its first sample, so a tap shorter than a frame is still seen when a sample lands
in it. The first sample only sets the state: a button held down at boot is not a press.
"""

from pfcore.compat import ticks_diff

DEBOUNCE_MS = 50


class Edge:
    def __init__(self, ms=DEBOUNCE_MS):
        self.ms = ms
        self.down = None        # None until the first sample
        self.at = None          # ticks_ms of the last counted change

    def update(self, down, now):
        down = bool(down)
        if self.down is None:
            self.down = down
            self.at = now
            return False
        if down == self.down:
            return False
        if ticks_diff(now, self.at) < self.ms:
            return False        # bounce: too soon after the last change
        self.down = down
        self.at = now
        return down


class Button:
    """pressed() -> True once per press, never raises, never waits. opener() is called once, at
    the first pressed(): it returns a function that reads the level (True while held down), or
    None when the board has no button; an opener that raises means no button too."""

    def __init__(self, opener, clock, ms=DEBOUNCE_MS):
        self.opener = opener
        self.clock = clock
        self.read = None
        self.opened = False
        self.edge = Edge(ms)

    def pressed(self):
        try:
            if not self.opened:
                self.opened = True
                self.read = self.opener()
            if self.read is None:
                return False
            return self.edge.update(self.read(), self.clock())
        except Exception:
            return False
