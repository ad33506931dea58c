"""Fake `ulab.numpy`: the few names device code uses. dtype constants are ulab's int codes
(v923z/micropython-ulab code/ndarray.h: NDARRAY_UINT8 = 'B', NDARRAY_INT8 = 'b', NDARRAY_FLOAT = 'f';
code/numpy/numpy.c exports them as ints); array() returns a numpy array of that dtype."""
import numpy as _np

uint8 = ord("B")
int8 = ord("b")
uint16 = ord("H")
int16 = ord("h")
float = ord("f")  # noqa: A001  (ulab's name)
bool = ord("?")  # noqa: A001

_DTYPES = {uint8: _np.uint8, int8: _np.int8, uint16: _np.uint16, int16: _np.int16, float: _np.float32,
           bool: _np.bool_}

ndarray = _np.ndarray


def array(values, dtype=float):
    if dtype not in _DTYPES:
        raise TypeError("data type not understood")
    return _np.array(values, dtype=_DTYPES[dtype])
