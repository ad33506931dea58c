"""Run a flash Plan against a board: kflash, raw-REPL file writes, soft reset, hello check."""

import tempfile
import time
from pathlib import Path

from picoface.errors import PicofaceError
from picoface.flash import files as ffiles
from picoface.flash import kflash
from picoface.flash.rawrepl import RawRepl


def _progress(total, desc, enabled):
    if not enabled:
        return None, (lambda n: None)
    from tqdm import tqdm

    bar = tqdm(total=total, desc=desc, unit="B", unit_scale=True, leave=False)
    return bar, bar.update


def run_kflash(plan, echo, workdir):
    argv = list(plan.kflash_argv)
    if "<kfpkg>" in argv:
        from picoface.kmodel import kfpkg

        pkg = Path(workdir) / ("picoface-%s.kfpkg" % plan.board.name)
        kfpkg.build(pkg, plan.model_bytes, plan.board, firmware=plan.firmware_bytes)
        argv[argv.index("<kfpkg>")] = str(pkg)
    echo("$ " + " ".join(argv))
    kflash.run(argv, echo=lambda line: echo("  kflash: " + line))


def write_files(plan, repl, echo, progress=True):
    board = plan.board
    chip = ffiles.probe_chip(repl)
    want = "k210" if board.is_k210 else "openmv"
    if chip is not None and chip != want:
        raise PicofaceError("the board on %s runs %s firmware, but --board %s is a %s board" % (
            plan.port, chip, board.name, want), "pass the right --board (see `picoface boards`)")
    if chip is None:
        echo("warning: could not tell the firmware family; continuing")
    for d in plan.dirs:
        repl.exec(ffiles.snippet_mkdir(d))
    for path, data, label in plan.files:
        if label.startswith("model"):
            folder = path.rsplit("/", 1)[0] or "/"
            free = ffiles.free_bytes(repl, folder, replacing=path)
            if free is not None and free < len(data):
                raise PicofaceError("the model (%d B) does not fit in %s (%d B free)" % (len(data), folder, free),
                                    "delete files on the board, use an SD card, or a smaller model")
    total = sum(len(d) for _, d, _ in plan.files)
    bar, tick = _progress(total, "writing files", progress)
    try:
        for path, data, label in plan.files:
            echo("write %s (%d B, %s)" % (path, len(data), label))
            ffiles.put_file(repl, path, data, progress=tick)
    finally:
        if bar is not None:
            bar.close()


def read_boot(transport, timeout=30.0, settle=15.0, echo=None, board=None):
    """Read the boot: lines until the hello, then until the first frame line.

    Returns (hello, errors before the first frame, first frame or None). Raises PicofaceError
    when no hello comes within ``timeout`` seconds.
    """
    from picoface.protocol import StreamDecoder

    dec = StreamDecoder(strict_version=True, keep_text=True)
    hello, errors, texts = None, [], []
    crash = None  # index in texts where a top-level traceback starts
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        data = transport.read(4096, timeout=0.2)
        for msg in dec.feed(data):
            t = msg["type"]
            if t == "text":
                text = msg["text"].strip()
                if text:
                    texts.append(text)
                    if echo is not None:
                        echo("  board: " + text)
                    if text.startswith("Traceback (most recent call last)"):
                        crash = len(texts) - 1
                    elif crash is not None and (text.startswith(">>>") or text.startswith("MicroPython")):
                        tb = [x for x in texts[crash:-1] if not x.startswith("File ")]
                        raise PicofaceError("the app crashed at boot: %s" % (tb[-1] if tb else "traceback"),
                                            "see the traceback above; the board is at its REPL")
            elif t == "hello":
                hello, errors = msg, []
                deadline = time.monotonic() + settle
            elif t == "error":
                errors.append(msg)
                if echo is not None:
                    echo("  board error: %s %s" % (msg.get("code"), msg.get("text")))
            elif t == "frame" and hello is not None:
                return hello, errors, msg
    if hello is not None:
        return hello, errors, None
    tail = "; ".join(texts[-3:])
    errs = "; ".join("%s %s" % (e.get("code"), e.get("text")) for e in errors[:3])
    hint = "watch it with `picoface monitor --port %s`; a traceback there tells what failed" % transport.port
    if board is not None and board.is_k210:
        hint += ("; with an SD card inserted MaixPy's _boot.py changes to /sd and takes main.py from there, "
                 "not from /flash: take the card out and reset")
    raise PicofaceError("no hello line from the board within %.0f s after the reset%s%s" % (
        timeout, (" (errors: %s)" % errs) if errs else "", (" (last output: %s)" % tail) if tail else ""), hint)


def hello_field(hello, *names):
    for n in names:
        if hello.get(n) not in (None, ""):
            return hello[n]
    return None


def check_boot(hello, errors, frame, plan):
    """The hello must match the plan; the model must load; frames must follow."""
    bad = [e for e in errors if e.get("code") in ("model_load", "config", "fatal")]
    mismatch = None
    try:
        check_hello(hello, plan)
    except PicofaceError as x:
        if not bad or not x.what.startswith("model hash mismatch"):
            raise
        mismatch = x.what   # the hash the board computed from its flash: reported with the load error
    if bad:
        e = bad[0]
        raise PicofaceError("the app reports %s after flashing: %s%s" % (
            e.get("code"), e.get("text"), ("; " + mismatch) if mismatch else ""),
            "check the model fits the board (`picoface kmodel check`) and watch `picoface monitor`")
    if frame is None:
        raise PicofaceError("the app said hello but sent no frame line afterwards",
                            "watch `picoface monitor --port %s` for errors (camera?)" % plan.port)


def check_hello(hello, plan):
    """Compare the hello line with what was flashed; raise PicofaceError on a mismatch."""
    exp = plan.expect
    board = hello_field(hello, "board")
    if board is not None and board != exp["board"]:
        raise PicofaceError("the board says it is %s, expected %s" % (board, exp["board"]),
                            "flash with --board %s, or check the port" % board)
    fw = str(hello_field(hello, "firmware") or "")
    if fw and fw.split("/")[0] not in exp["firmware"].split("|"):
        raise PicofaceError("the board runs %s firmware, board %s needs %s" % (fw, exp["board"], exp["firmware"]),
                            "flash a supported firmware (--firmware) or pass the right --board")
    want = exp.get("model_sha256")
    got = str(hello_field(hello, "model_hash") or "")
    if want and hello.get("model_bytes") not in (None, 0, plan.expect.get("model_bytes")):
        raise PicofaceError("the board loaded a %d B model, the flashed one has %d B" % (
            hello["model_bytes"], plan.expect["model_bytes"]), "flash again and watch for kflash/REPL errors")
    if want and hello_field(hello, "no_hash") and not got:
        return   # the firmware cannot hash (MaixPy < v0.6.0's SHA engine, docs/firmware.md): frames prove the load
    if want:
        if not got:
            raise PicofaceError("the app reports no model after the reset (the model did not load)",
                                "watch `picoface monitor` for the error; check the model fits the board")
        n = min(len(got), len(want))
        if n < 8 or got[:n].lower() != want[:n].lower():
            raise PicofaceError("model hash mismatch after flashing: the board runs %s, expected %s" % (got[:16], want),
                                "flash again; on K210 check nothing else overlaps the model at 0x%x" % (
                                    plan.board.model.get("flash_address") or 0))
    app = exp.get("app")
    got_app = hello_field(hello, "app")
    if app and got_app is not None and str(got_app) != app:
        raise PicofaceError("the board runs app %s, expected %s" % (got_app, app),
                            "an older main.py may be on the SD card (/sd/main.py runs first): remove it")


def execute(plan, echo=print, transport=None, progress=True, hello_timeout=30.0, boot_wait=1.5):
    """Run ``plan``; returns {"hello": dict, "seconds": float, "bytes": int}."""
    from picoface.transport import Transport, check_port

    if transport is None:
        check_port(plan.port, plan.board)   # before kflash or the raw REPL touch it
    t0 = time.monotonic()
    if plan.kflash_argv:
        if transport is not None and transport.is_open:
            transport.close()
        with tempfile.TemporaryDirectory(prefix="picoface-flash-") as tmp:
            run_kflash(plan, echo, tmp)
        time.sleep(boot_wait)
    t = transport or Transport(plan.port, baud=plan.baud, board=plan.board)
    t.open()
    try:
        repl = RawRepl(t)
        echo("entering the raw REPL on %s" % plan.port)
        repl.enter()
        write_files(plan, repl, echo, progress)
        echo("soft reset; waiting for the hello line")
        repl.soft_reset()
        hello, errors, frame = read_boot(t, timeout=hello_timeout, echo=echo, board=plan.board)
        check_boot(hello, errors, frame, plan)
    finally:
        t.close()
    return {"hello": hello, "errors": errors, "frame": frame, "seconds": time.monotonic() - t0,
            "bytes": sum(len(d) for _, d, _ in plan.files)}
