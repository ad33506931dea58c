"""Unstructured magnitude pruning with the three selection rules of the embedded face recognition
thesis (section 2.5.2.1), and the size of a pruned layer stored dense or as CSR (2.5.2.2).

A conv kernel is read as the thesis's matrix W: one row per output channel (neuron), one column per
weight of its im2col filter (kh * kw * in for a Conv2D, kh * kw for a depthwise one). Rules, with a
pruning parameter gamma (``threshold``):

- ``abs``:    prune |W_ij| <= gamma                               (eq. 2.15, one gamma for every layer)
- ``layer``:  prune |W_ij| <= gamma * sigma(W) + mu(W)            (eq. 2.16, the layer's distribution)
- ``neuron``: prune |W_ij| <= gamma * sigma(W_j) + mu(W_j)        (eq. 2.18, each output channel's)

The study asks for a sparsity: gamma is found by bisection so that the pruned share of all the
model's weights is the target (one gamma for all layers, as in the thesis).

CSR (values, column indices, row pointers of m + 1 entries) is smaller than dense storage when the
number of pruned weights alpha satisfies
    (m n - alpha)(v + c) + (m + 1) r < m n v   <=>   alpha > (m n c + (m + 1) r) / (v + c)
for v-bit values, c-bit column indices and r-bit row pointers. With the thesis's 32-bit everything
this is alpha > m n / 2 + (m + 1) / 2 (the thesis prints m n / 2 - (m + 1); its own example, a 4 x 5
matrix with 11 of 20 pruned, is 80 B dense and 92 B as CSR, which the form above gets right).
"""

import math

import numpy as np

from picoface.errors import PicofaceError

RULES = ("abs", "layer", "neuron")


def as_matrix(kernel, depthwise):
    """The kernel as W: (output channels, weights per channel)."""
    k = np.asarray(kernel)
    if depthwise:                       # (kh, kw, ch, 1)
        return k.reshape(-1, k.shape[2] * k.shape[3]).T
    return k.reshape(-1, k.shape[3]).T  # (kh*kw*in, out) -> (out, kh*kw*in)


def threshold(w, rule, gamma):
    """Per-weight threshold of a matrix W (rows = output channels) under ``rule``."""
    if rule == "abs":
        return np.full(w.shape, gamma)
    if rule == "layer":
        return np.full(w.shape, gamma * w.std() + w.mean())
    if rule == "neuron":
        return (gamma * w.std(axis=1) + w.mean(axis=1))[:, None] * np.ones((1, w.shape[1]))
    raise PicofaceError("unknown pruning rule %r" % rule, "use one of: %s" % ", ".join(RULES))


def _pruned(mats, rule, gamma):
    return [np.abs(w) <= threshold(w, rule, gamma) for w in mats]


def masks(kernels, depthwise, rule, sparsity, iters=60):
    """Keep-masks (same shapes as ``kernels``, 1 = kept) pruning ``sparsity`` of all the weights with
    one gamma of ``rule``; and that gamma."""
    mats = [as_matrix(k, d).astype(np.float64) for k, d in zip(kernels, depthwise)]
    total = sum(w.size for w in mats)
    if not 0.0 <= sparsity < 1.0:
        raise PicofaceError("sparsity %g is not in [0, 1)" % sparsity, "give percentages from 0 to 99")
    if sparsity == 0:
        gamma = None
        pruned = [np.zeros(w.shape, bool) for w in mats]
    else:
        lo, hi = -1e3, 1e3 * max(1.0, max(float(np.abs(w).max()) for w in mats))
        for _ in range(iters):          # the pruned share grows with gamma
            mid = (lo + hi) / 2.0
            share = sum(int(p.sum()) for p in _pruned(mats, rule, mid)) / total
            if share < sparsity:
                lo = mid
            else:
                hi = mid
        gamma = hi
        pruned = _pruned(mats, rule, gamma)
    out = []
    for k, d, p in zip(kernels, depthwise, pruned):
        out.append((~p).astype(np.float32).T.reshape(k.shape))   # back to the kernel's layout
    return out, gamma


def index_bits(count):
    """Bits of an unsigned integer that holds ``count`` different values (0 .. count - 1): 8, 16 or 32."""
    for b in (8, 16, 32):
        if count <= 2 ** b:
            return b
    return 64


def csr_bytes(m, n, nnz, value_bits, col_bits, ptr_bits):
    return (nnz * (value_bits + col_bits) + (m + 1) * ptr_bits) / 8.0


def break_even(m, n, value_bits, col_bits, ptr_bits):
    """The fewest pruned weights alpha for which CSR is smaller than dense (alpha may exceed m n:
    then CSR never wins)."""
    return int(math.floor((m * n * col_bits + (m + 1) * ptr_bits) / float(value_bits + col_bits))) + 1


def layer_storage(kernel, depthwise, value_bits=8):
    """{"m", "n", "pruned", "dense", "csr", "alpha", "col_bits", "ptr_bits"} of a (pruned) kernel: bytes
    dense and as CSR with the index widths its shape needs."""
    w = as_matrix(kernel, depthwise)
    m, n = w.shape
    nnz = int(np.count_nonzero(w))
    cb, pb = index_bits(n), index_bits(m * n + 1)   # columns 0..n-1; row pointers 0..m n
    return {"m": m, "n": n, "pruned": m * n - nnz, "dense": m * n * value_bits / 8.0,
            "csr": csr_bytes(m, n, nnz, value_bits, cb, pb), "alpha": break_even(m, n, value_bits, cb, pb),
            "col_bits": cb, "ptr_bits": pb}
