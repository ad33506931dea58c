"""A numpy emulator of the K210 KPU running kmodel v3 files with the hardware's integer math.

Follows ../shared/docs/KMODEL.md §3-4: every K210_CONV reads its input from a simulated 2 MiB KPU
RAM through its own layout registers (channel_switch/row_switch/group), computes

    acc = S + ((arg_x*SX) >> shr_x) + ((arg_w*SW) >> shr_w) + arg_add*g_ic
    v   = ((acc*norm_mul) >> norm_shift) + norm_add
    y   = clamp(round_shift((v - x_start[j])*y_mul[j], shift[j]) + bias[j], 0, 255)

(j = last segment with x_start < v), pools, and writes the result back through the write-back
layout (and dense CHW to main memory for KLF_MAIN_MEM_OUT). The CPU layers the SDK executes
(DEQUANTIZE, QUANTIZE, REQUANTIZE, UPLOAD, ADD/REMOVE_PADDING, CONCAT, QUANTIZED_ADD, global
average pool, softmax, logistic, L2-norm, fully connected) run on a simulated main buffer.

    outs = emulator.run(model, chw_uint8)             # list of numpy arrays (float32 after DEQUANTIZE)
    outs = emulator.run("face_v4.kmodel", chw_uint8)  # paths/bytes: v3, or pure-KPU v4 (lifted, see v4.to_v3)
    emu = emulator.Emulator(model, rounding="away")   # compile once, run many images
    outs = emu.run(chw_uint8); emu.layer_outputs[i]   # per-layer results for debugging

Rounding of the activation shift: "even" (nncase 1.9, ties to even) or "away" (nncase 0.1 / SDK,
half away from zero); which one the silicon uses is unverified. ``boundary="strict"`` picks the
segment with x_start < v (nncase 1.9), "inclusive" uses x_start <= v (nncase 0.1's emulator).

Convolutions are exact: products and sums stay below 2^53, so float64 BLAS matmuls give the same
integers as int64 arithmetic.
"""

import contextlib
import ctypes
import glob
import os

import numpy as np
from numpy.lib.stride_tricks import as_strided

from picoface.errors import PicofaceError
from picoface.kmodel import v3

ROUNDINGS = ("even", "away")
BOUNDARIES = ("strict", "inclusive")


def round_shift(x, shift, rounding="even"):
    """Integer x / 2^shift rounded to nearest (int64 arrays; shift scalar or array, >= 0)."""
    x = np.asarray(x, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    # shifts >= 62 give 0 for every |x| < 2^61 either way; clipping keeps 1 << (s - 1) in int64
    s = np.clip(shift, 1, 62)
    half = np.left_shift(np.int64(1), s - 1)
    if rounding == "away":
        mag = np.right_shift(np.abs(x) + half, s)
        r = np.where(x < 0, -mag, mag)
    elif rounding == "even":
        q = np.right_shift(x, s)
        rem = x - np.left_shift(q, s)
        r = q + ((rem > half) | ((rem == half) & ((q & 1) == 1)))
    else:
        raise PicofaceError("unknown rounding %r" % (rounding,), "use 'even' or 'away'")
    return np.where(shift > 0, r, x)


_BLAS_LOCAL = []


def _blas_thread_setter():
    """OpenBLAS's thread-local thread-count setter from numpy's bundled library, or None."""
    if not _BLAS_LOCAL:
        fn = None
        base = os.path.dirname(os.path.dirname(np.__file__))
        for lib in glob.glob(os.path.join(base, "numpy.libs", "*openblas*")) + glob.glob(
                os.path.join(os.path.dirname(np.__file__), ".libs", "*openblas*")):
            try:
                f = ctypes.CDLL(lib).openblas_set_num_threads_local
            except (OSError, AttributeError):
                continue
            f.argtypes, f.restype = [ctypes.c_int], ctypes.c_int
            fn = f
            break
        _BLAS_LOCAL.append(fn)
    return _BLAS_LOCAL[0]


@contextlib.contextmanager
def single_thread_blas():
    """Run BLAS single-threaded in this thread: the emulator's matmuls are small, and threaded
    OpenBLAS is 10-30x slower on a busy machine. No-op when the setter is not available."""
    fn = _blas_thread_setter()
    if fn is None:
        yield
        return
    prev = fn(1)
    try:
        yield
    finally:
        fn(prev if prev > 0 else 0)


# ---------------------------------------------------------------------------------------------
# KPU RAM views
# ---------------------------------------------------------------------------------------------

def _pitch(groups):
    return {1: 64, 2: 32, 4: 16}.get(groups)


def _ram_view(ram, base_line, c, h, w, ch_switch, row_switch, groups, what):
    """A (Q, groups, H, W) strided view of KPU RAM for a C x H x W map (Q = ceil(C/groups))."""
    pitch = _pitch(groups)
    if pitch is None:
        raise PicofaceError("%s: KPU channel group %d is not 1, 2 or 4" % (what, groups),
                            "the layer registers are corrupt")
    if w > (row_switch * 64 if groups == 1 else pitch):
        raise PicofaceError("%s: width %d does not fit the layout (row_switch %d, group %d)"
                            % (what, w, row_switch, groups), "the layer registers are corrupt")
    q = (c + groups - 1) // groups
    base = base_line * 64
    last = base + (q - 1) * ch_switch * 64 + (groups - 1) * pitch + (h - 1) * row_switch * 64 + w
    if last > ram.size:
        raise PicofaceError("%s: feature map at KPU line %d runs past the 2 MiB KPU RAM (to byte %d)"
                            % (what, base_line, last), "re-plan the KPU RAM addresses")
    view = as_strided(ram[base:], shape=(q, groups, h, w), strides=(ch_switch * 64, pitch, row_switch * 64, 1),
                      writeable=True)
    return view


def kpu_read(ram, base_line, c, h, w, ch_switch, row_switch, groups, what="read"):
    v = _ram_view(ram, base_line, c, h, w, ch_switch, row_switch, groups, what)
    return v.reshape(-1, h, w)[:c].copy()


def kpu_write(ram, base_line, fmap, ch_switch, row_switch, groups, what="write"):
    c, h, w = fmap.shape
    v = _ram_view(ram, base_line, c, h, w, ch_switch, row_switch, groups, what)
    for r in range(groups):
        n = len(range(r, c, groups))
        if n:
            v[:n, r] = fmap[r::groups]


def kpu_write_default(ram, base_line, fmap):
    """Write a CHW map in the standard layout for its width (what K210_UPLOAD does)."""
    c, h, w = fmap.shape
    groups, row_len, _ = v3.kpu_layout(w)
    kpu_write(ram, base_line, fmap, row_len * h, row_len, groups, "upload")


# ---------------------------------------------------------------------------------------------
# Compiled conv layer
# ---------------------------------------------------------------------------------------------

POOLS = {0: ("none", 1, 1), 1: ("max", 2, 2), 2: ("mean", 2, 2), 3: ("max", 4, 4), 4: ("mean", 4, 4),
         5: ("pick", 2, 2), 6: ("pickr", 2, 2), 7: ("pick", 4, 4), 8: ("mean", 2, 1), 9: ("max", 2, 1)}


def pool2d(x, pool_type):
    """KPU pooling on a uint8 (C, H, W) map (KMODEL.md §4.4)."""
    if pool_type not in POOLS:
        raise PicofaceError("unknown KPU pool_type %d" % pool_type, "the layer registers are corrupt")
    op, f, s = POOLS[pool_type]
    if op == "none":
        return x
    c, h, w = x.shape
    oh, ow = h // s, w // s
    if op in ("pick", "pickr"):
        dx = 1 if op == "pickr" else 0
        return x[:, 0:oh * s:s, dx:dx + ow * s:s].copy()
    if s == f:
        taps = [x[:, dy:oh * f:f, dx:ow * f:f] for dy in range(f) for dx in range(f)]
        if op == "max":
            return np.maximum.reduce(taps)
        return (sum(t.astype(np.int32) for t in taps) // (f * f)).astype(np.uint8)
    # stride 1, filter 2: windows at (y..y+1, x..x+1)
    if op == "max":  # out-of-range values count as 0
        p = np.zeros((c, h + 1, w + 1), np.uint8)
        p[:, :h, :w] = x
    else:  # mean: indices clamped to the image
        p = np.pad(x, ((0, 0), (0, 1), (0, 1)), mode="edge")
    taps = [p[:, dy:dy + oh, dx:dx + ow] for dy in range(f) for dx in range(f)]
    if op == "max":
        return np.maximum.reduce(taps)
    return (sum(t.astype(np.int32) for t in taps) // (f * f)).astype(np.uint8)


def _max_pool_any(x, f, s):
    """Max pool of any-dtype (C, H, W) over in-range values (KPU pool 1, 3 or 9 geometry)."""
    c, h, w = x.shape
    oh, ow = h // s, w // s
    if s == f:
        taps = [x[:, dy:oh * f:f, dx:ow * f:f] for dy in range(f) for dx in range(f)]
        out = np.maximum(taps[0], taps[1])
        for t in taps[2:]:
            np.maximum(out, t, out=out)
        return out
    p = np.pad(x, ((0, 0), (0, 1), (0, 1)), mode="edge")
    return np.maximum.reduce([p[:, dy:dy + oh, dx:dx + ow] for dy in range(f) for dx in range(f)])


class _Conv:
    def __init__(self, idx, layer, bytes_per_weight):
        r = layer.regs
        self.idx, self.layer, self.r = idx, layer, r
        what = "layer %d (K210_CONV)" % idx
        if bytes_per_weight != 1:
            raise PicofaceError("%s: 16-bit KPU mode is not emulated" % what, "use an 8-bit kmodel")
        if r.kernel_type not in (0, 1):
            raise PicofaceError("%s: kernel_type %d is not 1x1 (0) or 3x3 (1)" % (what, r.kernel_type),
                                "the layer registers are corrupt")
        self.iw, self.ih, self.ic = r.in_shape
        self.ow, self.oh, self.oc = r.out_shape
        self.k = r.kernel
        self.dw = r.depthwise
        if self.dw and self.ic != self.oc:
            raise PicofaceError("%s: depthwise with %d in and %d out channels" % (what, self.ic, self.oc),
                                "the layer registers are corrupt")
        op, f, s = POOLS.get(r.pool_type, (None, 0, 1))
        if op is None:
            raise PicofaceError("%s: unknown pool_type %d" % (what, r.pool_type), "the layer registers are corrupt")
        if (self.iw // s, self.ih // s) != (self.ow, self.oh):
            raise PicofaceError("%s: output %dx%d does not match input %dx%d with pool %d"
                                % (what, self.ow, self.oh, self.iw, self.ih, r.pool_type),
                                "the layer registers are corrupt")
        k2 = self.k * self.k
        w = np.frombuffer(layer.weights, np.uint8)
        if self.dw:
            self.w = w.reshape(self.oc, k2).astype(np.int64)  # (O, taps)
            self.wf = self.w.astype(np.float32)  # 9 * 255 * 255 < 2^24: float32 sums are exact
            self.sw = self.w.sum(axis=1)
        else:
            wm = w.reshape(self.oc, self.ic, k2)
            # im2col rows ordered (tap, ic): weights reshaped to (O, taps*IC)
            # uint8 products are >= 0, so every partial sum is <= K*255*255: float32 is exact while
            # that stays below 2^24 (K <= 258), float64 (exact below 2^53) otherwise.
            ftype = np.float32 if k2 * self.ic * 255 * 255 < (1 << 24) else np.float64
            self.wmat = np.ascontiguousarray(wm.transpose(0, 2, 1).reshape(self.oc, k2 * self.ic)).astype(ftype)
            self.sw = wm.reshape(self.oc, -1).astype(np.int64).sum(axis=1)
        bn = np.array(layer.bn, dtype=np.int64).reshape(-1, 3)
        self.bn_mul, self.bn_add, self.bn_shift = (bn[:, i].reshape(-1, 1, 1) for i in range(3))
        segs = np.array(layer.act.segments, dtype=np.int64)
        self.xs, self.ymul, self.ashift, self.abias = (segs[:, i] for i in range(4))
        self.sorted = bool(np.all(np.diff(self.xs) > 0))
        self.g_ic = 1 if self.dw else self.ic
        self.w_term = ((r.arg_w * self.sw) >> r.shr_w) + r.arg_add * self.g_ic  # per output channel
        self.bn_nonneg = bool(np.all(self.bn_mul >= 0))
        # float64 forms (exact: power-of-two scalings of integers with < 53 significant bits)
        self.x_coef = float(r.arg_x) * 2.0 ** -r.shr_x
        self.w_term_f = self.w_term.astype(np.float64).reshape(-1, 1, 1)
        self.bn_coef_f = self.bn_mul.astype(np.float64) * np.ldexp(1.0, -self.bn_shift)
        self.bn_add_f = self.bn_add.astype(np.float64)
        self.bn_mul_max = float(np.abs(self.bn_mul).max()) if self.bn_mul.size else 0.0
        self.pool = r.pool_type
        # Merged table for the fast exact float64 path: consecutive constant segments with the same
        # bias give the same output, so they collapse into one. y = rint((v - x_start) * k) + bias.
        # The segment index J(v) = last j with x_start[j] < v never decreases as v grows, so only
        # segments that start below every later start are reachable; their starts increase.
        keep = [0]
        for j in range(1, 16):
            later = self.xs[j + 1:]
            if later.size and not self.xs[j] < later.min():
                continue  # unreachable: a later segment starts at or below it
            p = keep[-1]
            if not (self.ymul[j] == 0 and self.ymul[p] == 0 and self.abias[j] == self.abias[p]):
                keep.append(j)
        self.mj = np.array(keep)
        self.m_xs = self.xs[self.mj]  # value origin of each piece
        self.m_start = self.m_xs.copy()  # where each piece starts (piece 0 is the default)
        self.m_start[0] = -(1 << 62)
        self.m_start_f = self.m_start.astype(np.float64)
        self.m_xs_f = self.m_xs.astype(np.float64)
        self.m_k_f = self.ymul[self.mj].astype(np.float64) * np.ldexp(1.0, -self.ashift[self.mj])
        self.m_bias_f = self.abias[self.mj].astype(np.float64)
        self.m_ymul = self.ymul[self.mj]
        # "relu fusion": where a constant piece c is followed by a rising piece that is <= c up to
        # the boundary and >= c after it, the pair equals clip(rising piece, c, 255)
        self.m_fuse = {(rd, bd): [False] + [self._fusable(i, rd, bd) for i in range(1, len(keep))]
                       for rd in ROUNDINGS for bd in BOUNDARIES}
        # for monotonicity checks: boundary i (between merged pieces i-1 and i) is non-decreasing
        self.m_bnd_ok = {(rd, bd): np.array([True] + [self._boundary_ok(int(self.m_xs[i]), rd, bd)
                                                       for i in range(1, len(keep))])
                         for rd in ROUNDINGS for bd in BOUNDARIES}

    # activation as a plain Python function of one value (reference, also used for checks)
    def act_value(self, v, rounding="even", boundary="strict"):
        j = 0
        for i in range(1, 16):
            if (self.xs[i] < v) if boundary == "strict" else (self.xs[i] <= v):
                j = i
        y = int(round_shift(np.int64((v - int(self.xs[j])) * int(self.ymul[j])), int(self.ashift[j]), rounding))
        return min(255, max(0, y + int(self.abias[j])))

    def _raw_piece(self, i, v, rounding):
        j = int(self.mj[i])
        return int(round_shift(np.int64((v - int(self.xs[j])) * int(self.ymul[j])), int(self.ashift[j]), rounding)) + int(
            self.abias[j])

    def _fusable(self, i, rounding, boundary):
        a, b = int(self.mj[i - 1]), int(self.mj[i])
        if self.ymul[a] != 0 or self.ymul[b] < 0:
            return False
        c = min(255, max(0, int(self.abias[a])))
        x = int(self.m_xs[i])
        last_a, first_b = (x, x + 1) if boundary == "strict" else (x - 1, x)
        return self._raw_piece(i, last_a, rounding) <= c <= self._raw_piece(i, first_b, rounding)

    def _boundary_ok(self, x, rounding, boundary):
        lo, hi = (x, x + 1) if boundary == "strict" else (x - 1, x)
        return self.act_value(lo, rounding, boundary) <= self.act_value(hi, rounding, boundary)

    def _pieces(self, lo, hi, side):
        """Indices (into the merged table) of the first and last piece that values in [lo, hi] hit."""
        return (int(np.clip(np.searchsorted(self.m_start, q, side=side) - 1, 0, len(self.m_xs) - 1)) for q in (lo, hi))

    def monotone_in(self, lo, hi, rounding, boundary):
        """True when the activation is non-decreasing on [lo, hi] (max-pool then commutes with it)."""
        a, b = self._pieces(lo, hi, "left" if boundary == "strict" else "right")
        return bool(np.all(self.m_ymul[a:b + 1] >= 0) and np.all(self.m_bnd_ok[(rounding, boundary)][a + 1:b + 1]))

    def _taps(self, x, pick):
        """Conv input taps (list of (C, h', w') uint8 views), only at picked positions for pick pools."""
        r = self.r
        c, h, w = x.shape
        if self.k == 3:
            xp = np.full((c, h + 2, w + 2), r.pad_value, np.uint8)
            xp[:, 1:-1, 1:-1] = x
        else:
            xp = x
        k = self.k
        if pick is None:
            return [xp[:, dy:dy + h, dx:dx + w] for dy in range(k) for dx in range(k)], xp
        s, ox = pick
        oh, ow = h // s, w // s
        return [xp[:, dy:dy + oh * s:s, dx + ox:dx + ox + ow * s:s] for dy in range(k) for dx in range(k)], None

    def compute(self, x, rounding="even", boundary="strict", trace=None):
        """One KPU layer on a uint8 (C, H, W) input -> uint8 output after pooling.

        Integer semantics throughout; the arrays are float64 wherever every value is an integer
        below 2^53 (then +, *, floor and power-of-two scaling are exact), int64 otherwise."""
        r = self.r
        c = x.shape[0]
        op, f, st = POOLS[self.pool]
        pick = (st, 1 if op == "pickr" else 0) if op in ("pick", "pickr") else None
        taps, xp = self._taps(x, pick)
        h, w = taps[0].shape[1:]
        if self.dw:
            # all terms are >= 0 and the sums stay below 2^24: float32 is exact
            s = np.zeros((c, h, w), np.float32)
            sx = np.zeros((c, h, w), np.float32)
            for t, tap in enumerate(taps):
                ft = tap.astype(np.float32)
                s += ft * self.wf[:, t].reshape(-1, 1, 1)
                sx += ft
        else:
            cols = np.concatenate([t.reshape(c, -1) for t in taps], axis=0).astype(self.wmat.dtype)
            s = (self.wmat @ cols).reshape(self.oc, h, w)
            if len(taps) == 1:
                sx = taps[0].sum(axis=0, dtype=np.float64)[None]
            elif pick is None:
                ps = xp.sum(axis=0, dtype=np.float64)
                sx = sum(ps[dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3))[None]
            else:
                sx = sum(t.sum(axis=0, dtype=np.float64) for t in taps)[None]
        # acc = S + ((arg_x * SX) >> shr_x) + ((arg_w * SW) >> shr_w) + arg_add * g_ic
        acc = s.astype(np.float64)
        acc += np.floor(sx.astype(np.float64) * self.x_coef)
        acc += self.w_term_f
        if trace is not None:
            trace.update(acc=acc.astype(np.int64))
        amin, amax = float(acc.min()), float(acc.max())
        float_bn = max(abs(amin), abs(amax)) * self.bn_mul_max < 2.0 ** 52
        pooled = False
        if op == "max" and trace is None and self.bn_nonneg:
            # BN is non-decreasing per channel: bound v from the acc range
            vlo = int((((int(amin) * self.bn_mul) >> self.bn_shift) + self.bn_add).min())
            vhi = int((((int(amax) * self.bn_mul) >> self.bn_shift) + self.bn_add).max())
            if self.monotone_in(vlo, vhi, rounding, boundary):
                acc = _max_pool_any(acc, f, st)
                pooled = True
        if float_bn:  # v = ((acc * mul) >> shift) + add, exact: |acc * mul| < 2^52
            v = np.floor(acc * self.bn_coef_f)
            v += self.bn_add_f
        else:
            v = ((acc.astype(np.int64) * self.bn_mul) >> self.bn_shift) + self.bn_add
        if op == "max" and trace is None and not pooled and v.size and self.monotone_in(
                int(v.min()), int(v.max()), rounding, boundary):
            v = _max_pool_any(v, f, st)
            pooled = True
        y = self.activate(v, rounding, boundary)
        if trace is not None:
            trace.update(bn=v.astype(np.int64), act=y)
        if pick is not None or pooled:
            return y
        return pool2d(y, self.pool)

    def activate(self, v, rounding="even", boundary="strict"):
        """The 16-segment activation on an integer-valued array (int64 or float64) -> uint8."""
        if boundary not in BOUNDARIES:
            raise PicofaceError("unknown boundary %r" % (boundary,), "use 'strict' or 'inclusive'")
        if v.size == 0:
            return v.astype(np.uint8)
        lo, hi = int(v.min()), int(v.max())
        side = "left" if boundary == "strict" else "right"
        a, b = self._pieces(lo, hi, side)
        d_max = max(max(abs(lo - int(o)), abs(hi - int(o))) for o in self.m_xs[a:b + 1])
        if d_max >= (1 << 37) or max(abs(lo), abs(hi)) >= (1 << 52) or np.any(np.abs(self.ymul) >= (1 << 15)):
            return self._activate_int(v.astype(np.int64), rounding, boundary)
        # exact: |v - x_start| < 2^37 and |y_mul| < 2^15, so the product has < 53 bits
        fv = v if v.dtype == np.float64 else v.astype(np.float64)
        lo_clip = 0.0
        if a == b:
            q = (fv - self.m_xs_f[a]) * self.m_k_f[a]
            bias = self.m_bias_f[a]
        elif b == a + 1 and self.m_fuse[(rounding, boundary)][b]:
            q = (fv - self.m_xs_f[b]) * self.m_k_f[b]
            bias = self.m_bias_f[b]
            lo_clip = min(255.0, max(0.0, self.m_bias_f[a]))
        else:
            if b - a <= 3:
                j = np.full(v.shape, a, np.int64)
                for i in range(a + 1, b + 1):
                    j += (fv > self.m_start_f[i]) if side == "left" else (fv >= self.m_start_f[i])
            else:
                j = np.clip(np.searchsorted(self.m_start_f, fv, side=side) - 1, 0, len(self.m_xs) - 1)
            q = (fv - self.m_xs_f.take(j)) * self.m_k_f.take(j)
            bias = self.m_bias_f.take(j)
        if rounding == "even":
            y = np.rint(q)
        else:
            y = np.trunc(q + np.copysign(0.5, q))
        y += bias
        return np.clip(y, lo_clip, 255, out=y).astype(np.uint8)

    def _segment_index(self, v, boundary):
        j = np.zeros(v.shape, np.int64)
        for i in range(1, 16):
            hit = (self.xs[i] < v) if boundary == "strict" else (self.xs[i] <= v)
            j = np.where(hit, i, j)
        return j

    def _activate_int(self, v, rounding, boundary):
        """Reference integer path (used when values are too large for the exact float path)."""
        if self.sorted:
            side = "left" if boundary == "strict" else "right"
            j = np.clip(np.searchsorted(self.xs, v, side=side) - 1, 0, 15)
        else:
            j = self._segment_index(v, boundary)
        prod = (v - self.xs[j]) * self.ymul[j]
        y = round_shift(prod, self.ashift[j], rounding) + self.abias[j]
        return np.clip(y, 0, 255).astype(np.uint8)

    def read_input(self, ram):
        r = self.r
        return kpu_read(ram, r.image_src_addr, self.ic, self.ih, self.iw, r.channel_switch_addr,
                        r.row_switch_addr, r.coef_group, "layer %d input" % self.idx)

    def write_output(self, ram, out):
        r = self.r
        kpu_write(ram, r.image_dst_addr, out, r.wb_channel_switch_addr, r.wb_row_switch_addr, r.wb_group,
                  "layer %d output" % self.idx)


# ---------------------------------------------------------------------------------------------
# The emulator
# ---------------------------------------------------------------------------------------------

FLOAT_LAYERS = (v3.DequantizeLayer, v3.GlobalAveragePoolLayer, v3.ChannelOpLayer, v3.FullyConnectedLayer)


class Emulator:
    """Compile a v3 Model once, then ``run(chw_uint8)`` as often as needed."""

    def __init__(self, model, rounding="even", boundary="strict"):
        self.input_pad = None
        if isinstance(model, (bytes, bytearray, memoryview, str)) or hasattr(model, "__fspath__"):
            from picoface.kmodel import detect_version, load, read_file

            data = bytes(model) if isinstance(model, (bytes, bytearray, memoryview)) else read_file(model)
            if detect_version(data) == 4:  # a pure-KPU nncase 0.2 graph, lifted into v3 objects
                from picoface.kmodel import v4

                model, self.input_pad = v4.to_v3(data)
            else:
                model = load(data)
        if rounding not in ROUNDINGS:
            raise PicofaceError("unknown rounding %r" % (rounding,), "use 'even' or 'away'")
        if boundary not in BOUNDARIES:
            raise PicofaceError("unknown boundary %r" % (boundary,), "use 'strict' or 'inclusive'")
        self.model = model
        self.rounding = rounding
        self.boundary = boundary
        if not model.layers or not isinstance(model.layers[0], v3.ConvLayer):
            raise PicofaceError("the first layer is not K210_CONV, so the SDK refuses to run this model",
                                "build the model with a conv layer first")
        self.plan = []
        for i, layer in enumerate(model.layers):
            if isinstance(layer, v3.ConvLayer):
                self.plan.append(_Conv(i, layer, model.bytes_per_weight))
            elif isinstance(layer, v3.RawLayer):
                name = v3.LAYER_TYPES.get(layer.type_id, str(layer.type_id))
                raise PicofaceError("layer %d (%s) is not emulated (the SDK %s)" % (
                    i, name, "executes it" if layer.type_id in v3.SDK_EXECUTES else "has no executor for it"),
                    "use a model made of K210_CONV and the common CPU layers")
            else:
                self.plan.append(layer)
        first = self.plan[0]
        self.input_shape = (first.ic, first.ih, first.iw)
        if self.input_pad is not None:
            if tuple(self.input_pad.out_shape[1:]) != self.input_shape:
                raise PicofaceError("the v4 pad makes %s but the first KPU layer reads %s"
                                    % (self.input_pad.out_shape[1:], self.input_shape), "the model is inconsistent")
            self.input_shape = tuple(self.input_pad.in_shape[1:])
        self.main_size = max(model.main_mem_usage, max((a + s for a, s in model.outputs), default=0)) + 8
        self.kpu_ram = None
        self.main = None
        self.layer_outputs = []
        self.traces = []

    # main memory helpers -----------------------------------------------------------------
    def _mm(self, addr, n, what):
        if addr < 0 or addr + n > self.main.size:
            raise PicofaceError("%s: main-memory range %d..%d is outside the %d-byte main buffer"
                                % (what, addr, addr + n, self.main.size - 8), "the model's addresses are corrupt")
        return self.main[addr:addr + n]

    def _f32(self, addr, n, what):
        return self._mm(addr, 4 * n, what).copy().view(np.float32)

    def _put_f32(self, addr, arr, what):
        arr = np.ascontiguousarray(arr, dtype=np.float32)
        self._mm(addr, 4 * arr.size, what)[:] = arr.view(np.uint8).ravel()

    # run ---------------------------------------------------------------------------------
    def run(self, chw_uint8, trace=False):
        """Run one image (planar uint8, shape (C, H, W)); returns the model outputs."""
        x = np.asarray(chw_uint8)
        if x.dtype != np.uint8:
            raise PicofaceError("the KPU input must be uint8, got %s" % x.dtype, "pass planar uint8 RGB")
        if x.shape != self.input_shape:
            raise PicofaceError("input shape %s does not match the model's first layer %s (C, H, W)"
                                % (tuple(x.shape), self.input_shape), "resize the image to the model input")
        if self.input_pad is not None:
            x = self.input_pad.apply(x)
        self.kpu_ram = np.zeros(v3.KPU_RAM_BYTES, np.uint8)
        self.main = np.zeros(self.main_size, np.uint8)
        self.layer_outputs = []
        self.traces = []
        first = self.plan[0]
        r = first.r
        kpu_write(self.kpu_ram, r.image_src_addr, x, r.channel_switch_addr, r.row_switch_addr, r.coef_group, "input")
        written_float = {}
        with single_thread_blas():
            self._run_layers(trace, written_float)
        outs = []
        for addr, size in self.model.outputs:
            if written_float.get(addr):
                outs.append(self._f32(addr, size // 4, "output"))
            else:
                outs.append(self._mm(addr, size, "output").copy())
        return outs

    def _run_layers(self, trace, written_float):
        for i, step in enumerate(self.plan):
            what = "layer %d (%s)" % (i, v3.layer_type_name(step.layer if isinstance(step, _Conv) else step))
            t = {} if trace else None
            out = self._step(step, what, t, written_float)
            self.layer_outputs.append(out)
            if trace:
                self.traces.append(t)

    def _step(self, step, what, t, written_float):
        m = self.main
        if isinstance(step, _Conv):
            x = step.read_input(self.kpu_ram)
            out = step.compute(x, self.rounding, self.boundary, t)
            step.write_output(self.kpu_ram, out)
            if step.layer.main_mem_out:
                flat = out.ravel()
                self._mm(step.layer.main_mem_out_address, flat.size, what)[:] = flat
                written_float[step.layer.main_mem_out_address] = False
            return out
        L = step
        if isinstance(L, v3.DequantizeLayer):
            q = self._mm(L.main_mem_in_address, L.count, what)
            y = q.astype(np.float32) * np.float32(L.scale) + np.float32(L.bias)
            self._put_f32(L.main_mem_out_address, y, what)
            written_float[L.main_mem_out_address] = True
            return y
        if isinstance(L, v3.QuantizeLayer):
            xf = self._f32(L.main_mem_in_address, L.count, what)
            z = (xf - np.float32(L.bias)) * (np.float32(1) / np.float32(L.scale))
            q = np.clip(np.sign(z) * np.floor(np.abs(z) + 0.5), 0, 255).astype(np.uint8)
            self._mm(L.mem_out_address, L.count, what)[:] = q
            written_float[L.mem_out_address] = False
            return q
        if isinstance(L, v3.RequantizeLayer):
            tab = np.frombuffer(L.table, np.uint8)
            q = tab[self._mm(L.main_mem_in_address, L.count, what)]
            self._mm(L.main_mem_out_address, L.count, what)[:] = q
            written_float[L.main_mem_out_address] = False
            return q
        if isinstance(L, v3.UploadLayer):
            n = L.width * L.height * L.channels
            src = self._mm(L.main_mem_in_address, n, what).reshape(L.channels, L.height, L.width)
            kpu_write_default(self.kpu_ram, L.kpu_mem_out_address, src)
            return src.copy()
        if isinstance(L, v3.AddPaddingLayer):
            src = self._mm(L.main_mem_in_address, L.channels, what)
            base = L.kpu_mem_out_address * 64
            c = np.arange(L.channels)
            idx = base + (c // 4) * 4 * 64 + (c % 4) * 16
            if L.channels and idx[-1] >= self.kpu_ram.size:
                raise PicofaceError("%s: writes past the KPU RAM" % what, "the model's addresses are corrupt")
            self.kpu_ram[idx] = src
            return src.copy()
        if isinstance(L, v3.RemovePaddingLayer):
            src = self._mm(L.main_mem_in_address, 16 * max(L.channels - 1, 0) + 1, what)
            q = src[::16][:L.channels].copy()
            self._mm(L.main_mem_out_address, L.channels, what)[:] = q
            written_float[L.main_mem_out_address] = False
            return q
        if isinstance(L, v3.ConcatLayer):
            parts = [self._mm(s, n, what).copy() for s, n in L.inputs]
            data = np.concatenate(parts) if parts else np.zeros(0, np.uint8)
            self._mm(L.main_mem_out_address, data.size, what)[:] = data
            written_float[L.main_mem_out_address] = any(written_float.get(s) for s, _ in L.inputs)
            return data
        if isinstance(L, v3.QuantizedAddLayer):
            n = (L.count + 7) // 8 * 8
            a = self._mm(L.main_mem_in_a_address, n, what).astype(np.int64)
            b = self._mm(L.main_mem_in_b_address, n, what).astype(np.int64)
            a = (a + L.in_a_offset) * L.in_a_mul
            b = (b + L.in_b_offset) * L.in_b_mul
            if L.in_a_shift == L.in_b_shift:
                s = (a + b) >> L.in_a_shift
            else:
                s = (a >> L.in_a_shift) + (b >> L.in_b_shift)
            s = round_shift(s * L.out_mul, L.out_shift, "away") + L.out_offset
            q = np.clip(s, 0, 255).astype(np.uint8)
            self._mm(L.main_mem_out_address, n, what)[:] = q
            written_float[L.main_mem_out_address] = False
            return q[:L.count]
        if isinstance(L, v3.GlobalAveragePoolLayer):
            xf = self._f32(L.main_mem_in_address, L.kernel_size * L.channels, what)
            y = xf.reshape(L.channels, L.kernel_size).mean(axis=1, dtype=np.float32)
            self._put_f32(L.main_mem_out_address, y, what)
            written_float[L.main_mem_out_address] = True
            return y
        if isinstance(L, v3.ChannelOpLayer):
            xf = self._f32(L.main_mem_in_address, L.channels, what)
            if L.type_id == 15:
                e = np.exp(xf - xf.max())
                y = e / e.sum()
            elif L.type_id == 25:
                y = 1 / (1 + np.exp(-xf))
            else:
                y = xf / np.sqrt(max(float((xf * xf).sum()), 1e-10))
            y = y.astype(np.float32)
            self._put_f32(L.main_mem_out_address, y, what)
            written_float[L.main_mem_out_address] = True
            return y
        if isinstance(L, v3.FullyConnectedLayer):
            xf = self._f32(L.main_mem_in_address, L.in_channels, what)
            wt = np.frombuffer(L.weights, np.float32).reshape(L.out_channels, L.in_channels)
            y = wt @ xf + np.frombuffer(L.bias, np.float32)
            if L.act == 1:
                y = np.maximum(y, 0)
            elif L.act == 2:
                y = np.clip(y, 0, 6)
            y = y.astype(np.float32)
            self._put_f32(L.main_mem_out_address, y, what)
            written_float[L.main_mem_out_address] = True
            return y
        raise PicofaceError("%s is not emulated" % what, "use K210_CONV and the common CPU layers")


def run(model, chw_uint8, rounding="even", boundary="strict"):
    """Run one planar uint8 image through a v3 Model (or bytes / a path); list of numpy outputs."""
    return Emulator(model, rounding=rounding, boundary=boundary).run(chw_uint8)


def hwc_to_chw(rgb):
    """RGB uint8 HxWx3 (host convention) -> planar CHW (what the K210 AI buffer holds)."""
    return np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8).transpose(2, 0, 1))


def benchmark(model, frames=5, rounding="even"):
    """Milliseconds per frame (median wall time and mean CPU time) on random planar input."""
    import time

    emu = model if isinstance(model, Emulator) else Emulator(model, rounding=rounding)
    x = np.random.default_rng(0).integers(0, 256, emu.input_shape, dtype=np.uint8)
    emu.run(x)
    walls = []
    cpu0 = time.process_time()
    for _ in range(frames):
        t = time.perf_counter()
        emu.run(x)
        walls.append(time.perf_counter() - t)
    cpu = (time.process_time() - cpu0) / frames
    return {"wall_ms": 1000 * float(np.median(walls)), "cpu_ms": 1000 * cpu, "frames": frames}


if __name__ == "__main__":  # python -m picoface.kmodel.emulator FILE.kmodel [frames]
    import sys

    r = benchmark(Emulator(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 5)
    print("%s: %.1f ms/frame wall (median), %.1f ms/frame CPU, %d frames"
          % (sys.argv[1], r["wall_ms"], r["cpu_ms"], r["frames"]))
