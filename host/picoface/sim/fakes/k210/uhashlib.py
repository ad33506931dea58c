"""Fake MaixPy / CanMV `uhashlib` (moduhashlib_maixpy.c): sha256(data=None) with update() and
digest() only (no hexdigest), on the K210's SHA-256 engine.

From MaixPy v0.6.0 (commit a4c31bece, "fix sha256 bug, now can support 4194168 bytes") and on
CanMV, update() tells the engine the running length (sha256_update_length), so digest() is the
SHA-256 of the data: CPython's hashlib here. MaixPy v0.5.x initialises the engine for 0xffffffff
bytes (v0.5.1 moduhashlib_maixpy.c:38); the engine's block count is 16 bits (the fix's 4,194,168 B
= 65,535 blocks x 64 - 72), so it holds (0xffffffff + 72) / 64 mod 65,536 = 1 block and is done
after the first 64 bytes: digest() is the SHA-256 state after compressing that one block, unpadded
(right only for data of at most 55 bytes, which fit one padded block). Generation feature
``sha256_length``. The engine's behaviour is read from the Kendryte SDK's sha256.c, not run on
a board."""
import hashlib as _hashlib
import struct as _struct

from picoface.sim.fakes._common import W

_K = (
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2)
_H0 = (0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19)


def _rotr(x, n):
    return ((x >> n) | (x << (32 - n))) & 0xFFFFFFFF


def _one_block(block):
    """The SHA-256 state after compressing one 64-byte block from the initial state."""
    w = list(_struct.unpack(">16I", block))
    for i in range(16, 64):
        s0 = _rotr(w[i - 15], 7) ^ _rotr(w[i - 15], 18) ^ (w[i - 15] >> 3)
        s1 = _rotr(w[i - 2], 17) ^ _rotr(w[i - 2], 19) ^ (w[i - 2] >> 10)
        w.append((w[i - 16] + s0 + w[i - 7] + s1) & 0xFFFFFFFF)
    a, b, c, d, e, f, g, h = _H0
    for i in range(64):
        t1 = (h + (_rotr(e, 6) ^ _rotr(e, 11) ^ _rotr(e, 25)) + ((e & f) ^ (~e & g)) + _K[i] + w[i]) & 0xFFFFFFFF
        t2 = ((_rotr(a, 2) ^ _rotr(a, 13) ^ _rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) & 0xFFFFFFFF
        a, b, c, d, e, f, g, h = (t1 + t2) & 0xFFFFFFFF, a, b, c, (d + t1) & 0xFFFFFFFF, e, f, g
    return _struct.pack(">8I", *[(x + y) & 0xFFFFFFFF for x, y in zip(_H0, (a, b, c, d, e, f, g, h))])


class sha256:
    def __init__(self, data=None):
        self._h = _hashlib.sha256()
        self._first = b""
        self._length = W().fw["sha256_length"]
        if data is not None:
            self.update(data)

    def update(self, data):
        data = memoryview(data)
        self._h.update(data)
        if len(self._first) < 64:
            self._first += bytes(data[:64 - len(self._first)])

    def digest(self):
        if self._length or len(self._first) < 56:
            return self._h.digest()
        # the engine's one block: the first 64 bytes of data, or of data + sha256_final's padding
        return _one_block((self._first + b"\x80" + bytes(64))[:64])
