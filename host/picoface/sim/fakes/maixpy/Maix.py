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

    @staticmethod
    def flash_read(addr, length):
        """bytes of SPI flash at addr (Maix_utils.c py_flash_read: w25qxx_read_data_dma)."""
        return _k210.W().read_flash(int(addr), int(length))


class freq:
    @staticmethod
    def get():
        return (400, 400)
