"""Hardware-free device core (runs unchanged on CPython and MicroPython)."""
