"""Fake `utime` on the World's simulated clock."""
from picoface.sim.fakes._common import (Clock, sleep, sleep_ms, sleep_us, ticks_add, ticks_diff,  # noqa: F401
                                        ticks_ms, ticks_us)
from picoface.sim.fakes._common import time_s as time  # noqa: F401


def clock():
    return Clock()
