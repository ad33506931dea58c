"""Fake MaixPy `Maix` module: GPIO (GPIOHS), utils, freq."""
from picoface.sim.fakes import _k210

GPIO = _k210.GPIO


class utils:
    @staticmethod
    def gc_heap_size(size=None):
        if size is None:
            return _k210.W().board.memory["gc_heap_bytes"]
        raise OSError("changing the GC heap needs machine.reset(); not simulated")

    @staticmethod
    def heap_free():
        return 1 << 20


class freq:
    @staticmethod
    def get():
        return (400, 400)
