"""Fake OpenMV `time` (MicroPython): ticks_*, sleep*, clock() on the World's simulated clock.

Only code that imports `time` while a simulated OpenMV board runs gets this module; any other
attribute (time(), monotonic(), perf_counter(), ...) is CPython's, so host libraries that
import `time` lazily during the run keep working."""
import importlib.util as _ilu
import sys as _sys

from picoface.sim.fakes._common import (Clock, sleep, sleep_ms, sleep_us, ticks_add, ticks_diff,  # noqa: F401
                                        ticks_ms, ticks_us)


def _real_time():
    # CPython's time is a built-in module: load a private copy of it
    spec = _ilu.find_spec("time", None) if "time" not in _sys.builtin_module_names else None
    if spec is None:
        import importlib.machinery as _m
        spec = _m.BuiltinImporter.find_spec("time")
    mod = _ilu.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


_REAL = _real_time()


def clock():
    return Clock()


def __getattr__(name):
    return getattr(_REAL, name)
