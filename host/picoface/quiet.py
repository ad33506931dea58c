"""Start-up banners of TensorFlow, absl and LiteRT kept off the user's terminal.

TensorFlow 2.21 prints, from C++ and before absl's logging is initialised, "WARNING: All log
messages before absl::InitializeLog() is called are written to STDERR" and an INFO line "oneDNN
custom operations are on ..." (twice, while ``import tensorflow`` runs), whatever
TF_CPP_MIN_LOG_LEVEL says; LiteRT prints "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."
when an interpreter applies its default delegate. Both write to file descriptor 2 directly, so
Python cannot filter them: ``native_stderr()`` points fd 2 at a temporary file while such a call
runs, then passes on every line that is not a log line below the level TF_CPP_MIN_LOG_LEVEL asks
to hide (unset or 0: nothing is hidden). The CLI sets TF_CPP_MIN_LOG_LEVEL=2 (``quiet_tensorflow``).
"""

import contextlib
import importlib.abc
import importlib.machinery
import os
import re
import sys
import tempfile

# absl's C++ format: "I0000 00:00:1796620164.013738    4502 port.cc:153] text"
_ABSL = re.compile(rb"^([IWE])\d{4} \d\d:\d\d:[\d.]+\s+\d+ [^\]]+\] ")
# TFLite's minimal logger: "INFO: text", "WARNING: text", "ERROR: text"
_TFLITE = re.compile(rb"^(INFO|WARNING|ERROR): ")
_PRE_INIT = b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
_RANK = {b"I": 0, b"INFO": 0, b"W": 1, b"WARNING": 1, b"E": 2, b"ERROR": 2}


def hidden_level():
    """Log lines below this severity are hidden (0 INFO, 1 WARNING, 2 ERROR; 0: none hidden), from
    TF_CPP_MIN_LOG_LEVEL as TensorFlow reads it."""
    try:
        return max(0, min(3, int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0"))))
    except ValueError:
        return 0


def keep_line(line, level):
    """False for a native log line below ``level`` (``hidden_level``)."""
    if level <= 0:
        return True
    s = line.rstrip(b"\r\n")
    if s == _PRE_INIT:
        return False
    m = _ABSL.match(s) or _TFLITE.match(s)
    return not (m and _RANK[m.group(1)] < level)


@contextlib.contextmanager
def native_stderr():
    """While the block runs, fd 2 goes to a temporary file; afterwards its lines go on to the real
    stderr, less the log lines TF_CPP_MIN_LOG_LEVEL hides. A no-op when nothing is hidden."""
    level = hidden_level()
    if level <= 0:
        yield
        return
    try:
        sys.stderr.flush()
    except (AttributeError, ValueError):
        pass
    try:
        saved = os.dup(2)
    except OSError:     # no fd 2 (a detached process): nothing to filter
        yield
        return
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            try:
                sys.stderr.flush()
            except (AttributeError, ValueError):
                pass
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            kept = b"".join(line for line in tmp.read().splitlines(True) if keep_line(line, level))
            if kept:
                os.write(2, kept)


class _FilteredLoader(importlib.abc.Loader):
    """A module loader whose exec_module runs under ``native_stderr()``."""

    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        with native_stderr():
            self._loader.exec_module(module)

    def __getattr__(self, name):
        return getattr(self._loader, name)


class _QuietImport(importlib.abc.MetaPathFinder):
    """Finds the first import of each of ``names`` and gives it a ``_FilteredLoader``."""

    def __init__(self, names):
        self.names = set(names)

    def find_spec(self, name, path=None, target=None):
        if name not in self.names:
            return None
        self.names.discard(name)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return None
        spec.loader = _FilteredLoader(spec.loader)
        return spec


def quiet_imports(names=("tensorflow",)):
    """Import ``names`` (when something imports them later) under ``native_stderr()``; once per process."""
    if any(isinstance(f, _QuietImport) for f in sys.meta_path):
        return
    todo = [n for n in names if n not in sys.modules]
    if todo:
        sys.meta_path.insert(0, _QuietImport(todo))
