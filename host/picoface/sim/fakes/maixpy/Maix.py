"""Fake MaixPy `Maix` module: GPIO (GPIOHS), utils, freq. utils.flash_read and utils.heap_free
arrive in v0.5.1 (sipeed/MaixPy-v1@v0.5.1 components/micropython/port/src/Maix/Maix_utils.c; at
v0.5.0 utils has gc_heap_size only): generation feature ``flash_read``."""
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


if not _k210.W().fw["flash_read"]:
    del utils.heap_free, utils.flash_read


class freq:
    @staticmethod
    def get():
        return (400, 400)
