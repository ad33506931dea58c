"""What differs between MicroPython and CPython, in one place.

const, ticks_ms, ticks_us, ticks_diff, sleep_ms: utime on boards, time.ticks_* on newer
MicroPython, and a CPython fallback (monotonic clock, wrapping like MicroPython's ticks).
json: ujson or json (loads/dumps).
"""

try:
    from micropython import const
except ImportError:
    def const(x):
        return x

try:
    import ujson as json
except ImportError:
    import json

try:
    import utime as _t
except ImportError:
    import time as _t

if hasattr(_t, "ticks_ms"):
    ticks_ms = _t.ticks_ms
    ticks_diff = _t.ticks_diff
    sleep_ms = _t.sleep_ms
    if hasattr(_t, "ticks_us"):
        ticks_us = _t.ticks_us
    else:
        def ticks_us():
            return _t.ticks_ms() * 1000
else:
    # CPython: ticks wrap at 2**30 like MicroPython's; ticks_diff handles the wrap.
    _PERIOD = 1 << 30

    def ticks_ms():
        return int(_t.monotonic() * 1000) & (_PERIOD - 1)

    def ticks_us():
        return int(_t.monotonic() * 1000000) & (_PERIOD - 1)

    def ticks_diff(a, b):
        d = (a - b) & (_PERIOD - 1)
        if d >= _PERIOD // 2:
            d -= _PERIOD
        return d

    def sleep_ms(ms):
        if ms > 0:
            _t.sleep(ms / 1000.0)


def sha256():
    """A sha256 object (update/digest): uhashlib on MaixPy, CanMV and older ports, hashlib else."""
    try:
        import uhashlib as h
    except ImportError:
        import hashlib as h
    return h.sha256()


def hex_digest(h):
    # MaixPy's uhashlib.sha256 has no hexdigest()
    return "".join(["%02x" % b for b in h.digest()])


def sha256_read(read, size, chunk=4096):
    """sha256 hex of ``size`` bytes that ``read(offset, n)`` returns, ``chunk`` bytes at a time
    (a K210 model read back from SPI flash: Maix.utils.flash_read(address + offset, n))."""
    h = sha256()
    off = 0
    while off < size:
        b = read(off, min(chunk, size - off))
        if not b:
            break
        h.update(b)
        off += len(b)
    return hex_digest(h)


def sha256_file(path, chunk=4096):
    """sha256 hex of a file, read ``chunk`` bytes at a time."""
    h = sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(chunk)
            if not b:
                break
            h.update(b)
    return hex_digest(h)
