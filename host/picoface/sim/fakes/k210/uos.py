"""Fake `uos`: /flash and /sd map to the World's folders."""
from picoface.sim.fakes._common import listdir, stat  # noqa: F401
