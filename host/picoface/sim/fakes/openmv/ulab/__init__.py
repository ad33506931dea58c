"""Fake `ulab` (built into every OpenMV firmware): ``from ulab import numpy as np``. Its ndarrays
are numpy arrays (float32 for ulab's float on the OpenMV Cams' single-precision builds)."""
from . import numpy  # noqa: F401
