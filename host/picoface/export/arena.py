"""TFLite Micro arena size, measured with the tflite-micro Python interpreter.

The minimum arena is found by bisection: the smallest ``arena_size`` for which
``tflite_micro.runtime.Interpreter.from_bytes(data, arena_size=N)`` allocates and one
``invoke()`` succeeds (TOOLCHAIN §5). Probes run in a child process so that a native abort on
a too-small arena cannot take the caller down.
"""

import subprocess
import sys
import tempfile
from pathlib import Path

from picoface.errors import PicofaceError

_PROBE = r"""
import sys, numpy as np
from tflite_micro import runtime
data = open(sys.argv[1], 'rb').read()
lo, hi = int(sys.argv[2]), int(sys.argv[3])
def ok(n):
    try:
        it = runtime.Interpreter.from_bytes(data, arena_size=n)
        d = it.get_input_details(0)
        x = np.zeros(d['shape'], dtype=d['dtype'])
        it.set_input(x, 0)
        it.invoke()
        it.get_output(0)
        return True
    except Exception:
        return False
if not ok(hi):
    print('FAIL', hi); sys.exit(0)
while hi - lo > 16:
    mid = (lo + hi) // 2
    if ok(mid):
        hi = mid
    else:
        lo = mid
print('ARENA', hi)
"""


def tflm_available():
    try:
        import tflite_micro  # noqa: F401
        return True
    except ImportError:
        return False


def measure_arena(data, upper=None, timeout=600):
    """Minimum TFLM arena (bytes, rounded up to 16) that runs this TFLite model."""
    if not tflm_available():
        raise PicofaceError("tflite-micro is not installed", "run `make setup` (it pins tflite-micro)")
    upper = int(upper or max(4 * 1024 * 1024, 12 * len(data)))
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "m.tflite"
        p.write_bytes(data)
        r = subprocess.run([sys.executable, "-c", _PROBE, str(p), "0", str(upper)], capture_output=True,
                           text=True, timeout=timeout)
    for line in r.stdout.splitlines():
        if line.startswith("ARENA"):
            return int(line.split()[1])
        if line.startswith("FAIL"):
            raise PicofaceError("tflite-micro cannot run this model even with a %d-byte arena" % upper,
                                "check the model's ops (int8 builtins only)")
    raise PicofaceError("tflite-micro arena probe failed: %s" % (r.stderr.strip().splitlines()[-1:] or ["?"])[0],
                        "check the tflite-micro install")


def check_board_budget(board, model_bytes, arena_bytes):
    """PicofaceError when an int8 TFLite model or its arena exceeds the board's budget."""
    mem = board.memory
    problems = []
    if "model_bytes" in mem and model_bytes > mem["model_bytes"]:
        problems.append("model file %d B > budget %d B" % (model_bytes, mem["model_bytes"]))
    if arena_bytes is not None and "tflm_arena_bytes" in mem and arena_bytes > mem["tflm_arena_bytes"]:
        problems.append("TFLM arena %d B > budget %d B" % (arena_bytes, mem["tflm_arena_bytes"]))
    if problems:
        raise PicofaceError("too big for %s: %s" % (board.name, "; ".join(problems)),
                            "use a smaller width multiplier or input, or another board")
