# Soak `KPU` for MicroPython (tests/test_soak.py): the minimal stub (mounted as _kpu_stub) whose
# forward() raises when soak_state plans a KPU run error or a MemoryError for this pass.
import _kpu_stub as _k
import soak_state as S

load = _k.load
fmap_free = _k.fmap_free
deinit = _k.deinit


def forward(task, img, out_index=0, dma=-1):
    kind = S.pending_infer[0]
    S.pending_infer[0] = None
    if kind == "kpu":
        raise OSError("[MAIXPY]kpu: run error (injected)")
    if kind == "memory":
        raise MemoryError("memory allocation failed, allocating 153600 bytes")
    return _k.forward(task, img, out_index, dma)
