"""Run a Python script under real MicroPython (the WebAssembly port) from the host.

Node runs ``mp_runner.mjs`` beside this file; it loads the npm package
@micropython/micropython-webassembly-pyscript from the repository's node_modules (`make setup`
installs it with npm), copies device/pfcore to /lib/pfcore of the wasm filesystem and each mount
(a host file or folder) to its wasm path, then runs the script as __main__ with the global
ARGV = [script, args...]. Exit status: 0, 1 for an uncaught exception (traceback on stderr), N for
sys.exit(N), 2 for bad usage of the runner.

    from picoface import mprun
    r = mprun.run("device/bench/recognise.py", 20, heap=512 * 1024)
    r.returncode, r.stdout, r.stderr

``run`` raises PicofaceError when Node or the wasm package is missing; tests that cannot run without
them skip instead (tests/conftest.py, fixture ``node``).
"""

import shutil
import subprocess
from pathlib import Path

from picoface.errors import PicofaceError
from picoface.paths import REPO_ROOT

RUNNER = Path(__file__).resolve().parent / "mp_runner.mjs"
PACKAGE = REPO_ROOT / "node_modules" / "@micropython" / "micropython-webassembly-pyscript" / "micropython.mjs"
DEFAULT_HEAP = 4 * 1024 * 1024      # the runner's own default (mp_runner.mjs)


def find_node():
    """The node executable, or PicofaceError when it or the MicroPython wasm package is missing."""
    exe = shutil.which("node")
    if not exe:
        raise PicofaceError("Node is not installed: it runs MicroPython's WebAssembly port",
                            "install Node.js with npm, then run make setup")
    if not PACKAGE.is_file():
        raise PicofaceError("the MicroPython WebAssembly package is missing (%s)" % PACKAGE,
                            "run make setup with npm available (npm ci installs it into node_modules)")
    return exe


def command(node, script, *args, mounts=None, heap=None):
    """The argv that runs script under MicroPython; mounts maps host paths to wasm paths."""
    cmd = [str(node), str(RUNNER)]
    for src, dest in (mounts or {}).items():
        cmd += ["--mount", "%s:%s" % (Path(src).resolve(), dest)]
    if heap:
        cmd += ["--heap", str(int(heap))]
    return cmd + [str(script)] + [str(a) for a in args]


def run(script, *args, mounts=None, heap=None, timeout=120, node=None):
    """CompletedProcess (text stdout/stderr) of script under MicroPython, run from the repository root.
    ``heap``: the MicroPython GC heap in bytes (default DEFAULT_HEAP); ``node``: the executable
    (default: found on PATH, with the wasm package checked)."""
    node = node or find_node()
    return subprocess.run(command(node, script, *args, mounts=mounts, heap=heap), capture_output=True,
                          text=True, timeout=timeout, cwd=REPO_ROOT)
