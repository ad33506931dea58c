"""Run kflash (K210 ISP flasher) as a subprocess with an argv list; check its exit code.

The command is ``python -m kflash`` from this interpreter unless ``PICOFACE_KFLASH`` (or the
``cmd`` argument) names another one, e.g. ``PICOFACE_KFLASH="kflash"`` for a console script on
PATH. kflash opens the port itself and runs the board's ISP reset (``-B dan``); our own port
must be closed while it runs.
"""

import os
import re
import shlex
import subprocess
import sys

from picoface.errors import PicofaceError

ENV = "PICOFACE_KFLASH"


def command(cmd=None):
    cmd = cmd or os.environ.get(ENV)
    if cmd:
        return shlex.split(cmd)
    return [sys.executable, "-m", "kflash"]


def argv(board, port, image, baud=None, cmd=None):
    """kflash argv writing ``image`` (.bin at 0x0, or a .kfpkg) to ``board`` on ``port``."""
    kb = board.flash.get("kflash_board")
    if not kb:
        raise PicofaceError("board %s has no [flash] kflash_board" % board.name, "it is not flashed with kflash")
    return command(cmd) + ["-p", str(port), "-b", str(int(baud or board.flash.get("kflash_baud", 115200))),
                           "-B", kb, str(image)]


# (regex on kflash's output, hint)
_HINTS = [
    (r"Greeting fail|ISP.*(fail|timeout)|No valid Kendryte K210 found",
     "the board did not enter ISP mode: check --port, unplug other boards, try a lower --kflash-baud (115200), "
     "or hold BOOT while pressing RESET"),
    (r"Permission denied", "add yourself to the dialout group: `sudo usermod -aG dialout $USER`, then log in again"),
    (r"Device or resource busy|could not exclusively lock",
     "close the program that uses the port (IDE, terminal, monitor)"),
    (r"No such file or directory|could not open port", "the port is gone: check the cable and --port"),
    (r"sha256|SHA256|checksum", "the written data did not verify: retry at a lower --kflash-baud"),
]


def hint(output):
    for rx, text in _HINTS:
        if re.search(rx, output, re.I):
            return text
    return "run the printed kflash command by hand to see its full output"


ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-_]")  # kflash colours its output


def plain(line):
    """A line of kflash output without its colour codes or other control characters."""
    return "".join(ch for ch in ANSI.sub("", line) if ch.isprintable() or ch == "\t")


def run(args, echo=None, timeout=900):
    """Run kflash; ``echo(line)`` gets each output line. Raises PicofaceError on failure."""
    try:
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                errors="replace", bufsize=1)
    except FileNotFoundError:
        raise PicofaceError("kflash command %r not found" % args[0],
                            "run `make setup` (installs kflash) or set %s" % ENV) from None
    lines = []
    try:
        for line in proc.stdout:
            line = plain(line.rstrip("\r\n"))
            lines.append(line)
            if echo is not None:
                echo(line)
        rc = proc.wait(timeout=timeout)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    if rc != 0:
        tail = [x.strip() for x in lines[-5:] if x.strip()]
        raise PicofaceError("kflash failed (exit code %d): %s" % (rc, " | ".join(tail)[-300:] or "no output"),
                            hint("\n".join(tail)))
    return lines
