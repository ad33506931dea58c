"""File transfer over the raw REPL: tiny, fixed Python snippets the board runs.

Every snippet is built here from a fixed template plus literal values (paths as quoted
strings, data as base64 bytes literals), so that the board needs no helper module and a fake
board can recognise them. Old MicroPython grammar only (MaixPy v0.6 era).
"""

import base64
import hashlib

from picoface.errors import PicofaceError

CHUNK = 384          # raw bytes per w(...) call (512 base64 characters)
CALLS_PER_EXEC = 4   # w(...) calls per raw-REPL exec

_OS = "try:\n import uos as os\nexcept ImportError:\n import os\n"


def _q(path):
    path = str(path)
    if not path.startswith("/") or any(c in path for c in "'\\\n\r") or not path.isascii():
        raise PicofaceError("bad board path %r" % path, "use an absolute ASCII path like /flash/main.py")
    return "'%s'" % path


def snippet_mkdir(path):
    return _OS + "try:\n os.mkdir(%s)\nexcept OSError:\n pass\n" % _q(path)


def snippet_free(folder, replacing=None):
    """Prints the bytes free in ``folder`` (plus the size of ``replacing`` when it exists)."""
    code = _OS + "s=os.statvfs(%s)\nn=0\n" % _q(folder)
    if replacing:
        code += "try:\n n=os.stat(%s)[6]\nexcept OSError:\n pass\n" % _q(replacing)
    return code + "print(s[0]*s[3]+n)\n"


def snippet_open(path):
    return ("try:\n from ubinascii import a2b_base64 as a2b\nexcept ImportError:\n"
            " from binascii import a2b_base64 as a2b\nf=open(%s,'wb')\nw=f.write\n" % _q(path))


def snippet_write(chunks):
    return "".join("w(a2b(b'%s'))\n" % base64.b64encode(c).decode("ascii") for c in chunks)


def snippet_close():
    return "f.close()\n"


def snippet_sha256(path):
    return ("try:\n import uhashlib as H\nexcept ImportError:\n import hashlib as H\n"
            "try:\n import ubinascii as B\nexcept ImportError:\n import binascii as B\n"
            "h=H.sha256()\nf=open(%s,'rb')\nwhile 1:\n b=f.read(512)\n if not b:\n  break\n h.update(b)\n"
            "f.close()\nprint(B.hexlify(h.digest()).decode())\n" % _q(path))


def free_bytes(repl, folder, replacing=None):
    """Bytes free in ``folder`` on the board; None when the firmware cannot tell (no statvfs).
    A missing folder (no SD card) raises the board's error."""
    from picoface.flash.rawrepl import RemoteError

    try:
        out = repl.exec(snippet_free(folder, replacing)).decode("ascii", "replace").strip()
    except RemoteError as e:
        if "AttributeError" in e.remote or "NameError" in e.remote or "ImportError" in e.remote:
            return None
        raise
    try:
        return int(out.splitlines()[-1])
    except (ValueError, IndexError):
        return None  # a filesystem without statvfs: skip the check


def remote_sha256(repl, path):
    out = repl.exec(snippet_sha256(path), timeout=60).decode("ascii", "replace").strip()
    return out.splitlines()[-1].strip().lower() if out else ""


def put_file(repl, path, data, progress=None, verify=True):
    """Write ``data`` to ``path`` on the board, then compare its SHA-256 read back from the board."""
    repl.exec(snippet_open(path))
    chunks = [data[i:i + CHUNK] for i in range(0, len(data), CHUNK)]
    try:
        for i in range(0, len(chunks), CALLS_PER_EXEC):
            group = chunks[i:i + CALLS_PER_EXEC]
            repl.exec(snippet_write(group), timeout=30)
            if progress is not None:
                progress(sum(len(c) for c in group))
    finally:
        repl.exec(snippet_close())
    if verify:
        want = hashlib.sha256(data).hexdigest()
        got = remote_sha256(repl, path)
        if got != want:
            raise PicofaceError("%s on the board has SHA-256 %s, expected %s" % (path, got[:16] or "?", want[:16]),
                                "the transfer was corrupted: retry at a lower --baud, or use another USB cable")


# Modules whose presence tells the firmware family (importing them has no side effect).
PROBE_MODULES = ("Maix", "maix", "KPU", "omv", "pyb")


def snippet_probe():
    return ("r=[]\nfor m in %r:\n try:\n  __import__(m)\n  r.append(m)\n except ImportError:\n  pass\n"
            "print(' '.join(r))\n" % (PROBE_MODULES,))


def probe_chip(repl):
    """'k210', 'openmv' or None (unknown firmware) from the modules the board can import."""
    found = set(repl.exec(snippet_probe()).decode("ascii", "replace").split())
    if found & {"Maix", "maix", "KPU"}:
        return "k210"
    if "omv" in found:
        return "openmv"
    return None
