"""Fake MaixPy / CanMV `uhashlib` (moduhashlib_maixpy.c): sha256(data=None) with update() and
digest() only (no hexdigest), backed by CPython's hashlib."""
import hashlib as _hashlib


class sha256:
    def __init__(self, data=None):
        self._h = _hashlib.sha256()
        if data is not None:
            self.update(data)

    def update(self, data):
        self._h.update(memoryview(data))

    def digest(self):
        return self._h.digest()
