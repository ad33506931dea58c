"""Keep freed tensor memory in the process while training on the CPU (glibc's malloc).

Each train step allocates and frees the same large activation and gradient buffers. glibc hands
buffers over its mmap threshold straight back to the kernel on free (munmap) and trims the heap
top, so the next step maps and faults the same pages in again: on a 2-core machine that was 40 %
of the training process's CPU time in the kernel (docs/TRAINING.md, Budget and schedule).
``keep_freed_memory`` turns mmapped chunks off (raising the mmap threshold is not enough: a 320x240
batch has activations far above glibc's largest threshold, 32 MB, and with them mapped full-frame
epochs spent half their time in the kernel) and puts the trim threshold out of reach, so freed
buffers are reused; the process keeps its peak heap, which training has anyway.
It does nothing where the C library is not glibc.
"""

import ctypes
import sys

M_TRIM_THRESHOLD = -1
M_TOP_PAD = -2
M_MMAP_MAX = -4
INT_MAX = (1 << 31) - 1


def keep_freed_memory():
    """Set glibc's malloc to reuse freed large buffers; True when it took effect."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False                 # not glibc (musl has no mallopt)
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    settings = ((M_MMAP_MAX, 0), (M_TRIM_THRESHOLD, INT_MAX), (M_TOP_PAD, 256 << 20))
    return all(mallopt(param, value) == 1 for param, value in settings)
