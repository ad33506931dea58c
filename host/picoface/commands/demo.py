"""picoface demo: a simulated board on the builtin scene, watched by the monitor (what `make demo` runs).

The board is a child process (`picoface sim --serial pty`), exactly as a real board is a
separate device: its serial port is a pseudo-terminal, which this process opens like a USB
serial port and decodes with the monitor (live table on a terminal, plain lines otherwise,
e.g. in CI). The demo ends after --seconds or --frames, or on Ctrl-C, and leaves a JSONL log
of every message plus the raw capture (replay it with `picoface monitor --replay`).
"""

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from picoface.errors import PicofaceError


def add_arguments(p):
    p.add_argument("--board", default="maix_dock", help="board name (boards/*.toml)")
    p.add_argument("--source", default="builtin", help="camera source (default: the builtin scene)")
    p.add_argument("--model", help="model artifact or folder (default: the board's shipped model)")
    p.add_argument("--seconds", type=float, default=30.0, help="stop after S seconds (default 30)")
    p.add_argument("--frames", type=int, help="stop after N frames")
    p.add_argument("--pace", type=float, default=12.0, help="simulated camera frames per second of wall time "
                                                            "(0: as fast as possible; default 12)")
    p.add_argument("--show", action="store_true", help="open a window with the simulated LCD")
    p.add_argument("--plain", action="store_true", help="plain lines instead of the live table")
    p.add_argument("--log", help="JSONL/CSV log (default: build/demo/demo-<time>.jsonl)")
    p.add_argument("--start-timeout", type=float, default=180.0, help="seconds to wait for the simulator to start")


def _tail(path, n=12):
    try:
        lines = Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(lines[-n:])


def start_board(args, stderr_path):
    """Spawn `picoface sim --serial pty`; return (process, pty path, stdout lines reader)."""
    cmd = [sys.executable, "-m", "picoface", "sim", "--board", args.board, "--source", args.source,
           "--serial", "pty", "--pace", str(args.pace), "--seconds", str(args.seconds)]
    if args.frames:
        cmd += ["--frames", str(args.frames)]
    if args.model:
        cmd += ["--model", str(args.model)]
    if args.show:
        cmd += ["--show"]
    err = open(stderr_path, "w")
    env = dict(os.environ, PYTHONUNBUFFERED="1", TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"))
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL, text=True, env=env)
    err.close()
    lines = []
    got = threading.Event()

    def reader():
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("serial: "):
                got.set()
        got.set()

    threading.Thread(target=reader, daemon=True).start()
    if not got.wait(args.start_timeout) or not any(x.startswith("serial: ") for x in lines):
        proc.kill()
        proc.wait()
        raise PicofaceError("the simulated board did not start:\n%s" % (_tail(stderr_path) or "(no output)"),
                            "run `picoface sim --board %s --serial stdout --frames 5` to see why" % args.board)
    path = next(x for x in lines if x.startswith("serial: ")).split(" ", 1)[1]
    return proc, path, lines


def stop_board(proc, grace=10.0, interrupt=False):
    """The board's exit code: it ends by itself (--seconds / --frames / its source) within ``grace``
    seconds, else (or at once when ``interrupt``: the user pressed Ctrl-C) it gets a Ctrl-C, then a kill."""
    import signal

    for sig in ([] if interrupt else [None]) + [signal.SIGINT, signal.SIGKILL]:
        if proc.poll() is not None:
            break
        if sig is not None:
            proc.send_signal(sig)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            pass
    return proc.wait()


def run(args):
    from picoface import monitor as mon
    from picoface.boards import load_board
    from picoface.commands.sim import check_limits, resolve_model
    from picoface.transport import Transport

    board = load_board(args.board)
    model, contract = resolve_model(board, args.model)  # fail fast, with the how-to-get-a-model hint
    check_limits(board, model, contract)                # and before the board starts: firmware limits
    stamp = time.strftime("%Y%m%d-%H%M%S")
    log_path = Path(args.log or Path("build") / "demo" / ("demo-%s.jsonl" % stamp))
    capture_path = log_path.with_suffix(".log")
    stderr_path = log_path.with_name(log_path.stem + "-sim.txt")
    log_path.parent.mkdir(parents=True, exist_ok=True)

    proc, port, out_lines = start_board(args, stderr_path)
    view = mon.make_view(plain=True if args.plain else None)
    if isinstance(view, mon.PlainView):
        view.every = 5
    # the simulated board's clock is the host's: its fps is how fast this host runs the app and
    # the emulated model, measured; not a figure for a real board (none is estimated)
    view.fps_label = "host fps (simulated board)"
    log, capture = mon.open_log(log_path), mon.open_capture(capture_path)
    m = mon.Monitor(view=view, log=log, capture=capture)
    interrupted = False
    try:
        # the board stops itself after --seconds (its own clock starts a moment later); the monitor
        # reads until it has, with a margin in case it hangs
        m.run(Transport(port, board=board), duration=args.seconds + 15.0, stop=lambda: proc.poll() is not None,
              reconnect_wait=1.0)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        rc = stop_board(proc, interrupt=interrupted)
        mon.close_all(log, capture)
    for line in out_lines:
        if line.startswith("sim: "):
            print(line)
    print("log: %s (raw capture: %s; replay with `picoface monitor --replay %s`)" % (
        log_path, capture_path, capture_path))
    if interrupted:
        return 0
    if rc not in (0, None, -2, 130) or m.stats.hello is None or m.stats.frames == 0:
        raise PicofaceError("the demo board sent %s (simulator exit code %s):\n%s" % (
            "no hello line" if m.stats.hello is None else "no frames", rc, _tail(stderr_path)),
            "run `picoface sim --board %s --serial stdout --frames 5` to see the board's output" % args.board)
    return 0
