"""picoface sim: run the unchanged device app on a simulated board (picoface.sim.runner.run_app).

The camera is --source (webcam[:N], a video file, a folder of images, or the builtin scene);
the board's serial port goes to --serial: stdout (raw protocol lines), pty (a pseudo-terminal;
its path is printed as "serial: /dev/pts/N" so `picoface monitor --port /dev/pts/N` can
attach), or a pyserial URL / device path (socket://host:port, rfc2217://..., /dev/ttyUSB1).

Model: --model, else the board's shipped model from models/ (model.json); on K210 boards a
shipped TFLite with the right input size stands in for the kmodel (the simulated KPU runs it)
when no kmodel is shipped. Without any, the command stops with a PicofaceError that says how
to get one (`make train`, or --model). A model that breaks a static limit of the simulated
firmware (boards/firmware.toml: region boxes, anchors, output size) is refused before the board
starts (``check_limits``), as `kmodel pack` and `flash` refuse it; a limit the fake firmware hits
while running (e.g. more than 10 run_yolo2 results) stops the run with a PicofaceError.
"""

import struct
import sys
import time
from pathlib import Path

from picoface.errors import PicofaceError


def add_arguments(p):
    p.add_argument("--board", default="maix_dock", help="board name (boards/*.toml)")
    p.add_argument("--firmware", help="firmware generation to simulate, e.g. maixpy-0.5.0, or a family (its newest); "
                                      "'list' prints them (default: the newest of the board's first family)")
    p.add_argument("--source", default="builtin", help="webcam[:N] | VIDEO | DIR of images | builtin")
    p.add_argument("--model", help="model artifact (.kmodel/.tflite) or its folder (default: shipped model)")
    p.add_argument("--frames", type=int, help="stop after N frames (default: when the source ends)")
    p.add_argument("--seconds", type=float, help="stop after S seconds of wall time (default: when the source "
                                                 "ends or after --frames)")
    p.add_argument("--serial", default="stdout", help="stdout | pty | URL or device path")
    p.add_argument("--pace", type=float, default=0.0, help="at most this many frames per second of wall "
                                                           "time (0: as fast as the host runs)")
    p.add_argument("--show", action="store_true", help="show the LCD (or the annotated camera) in a window")
    p.add_argument("--lcd-dir", help="write every LCD frame as PNG into DIR")
    p.add_argument("--seed", type=int, default=0, help="builtin scene seed")
    p.add_argument("--mode", choices=("detect", "gate", "recognise"), default="detect",
                   help="detect: the detector every frame (default); gate: only while the gate model sees a face; "
                        "recognise: also name the largest face (the recognition nets of --recog)")
    p.add_argument("--gate", metavar="DIR", help="gate folder for --mode gate: gate.kmodel (K210) or gate_int8.tflite "
                                                 "(OpenMV) and its contract (default models/picoface_gate_96x96)")
    p.add_argument("--recog", metavar="DIR", help="recognition export for --mode recognise: model.json with the "
                                                  "landmark and embedding nets (default models/picoface_recog)")
    p.add_argument("--press", metavar="FRAME[,FRAME...]", help="press the board's button at these frame numbers "
                   "(1 = the first frame; held for 3 frames; boards without a button ignore it)")
    p.add_argument("--storage", metavar="DIR", help="keep the board's /flash and /sd in DIR across runs (what "
                   "the app writes there, e.g. its gallery, survives a restart; default: a fresh board each run)")


class SerialOut:
    """Where the simulated board's serial lines go; counts them."""

    def __init__(self, spec, announce):
        self.spec = spec
        self.lines = 0
        self.pty = self.transport = self.stream = None
        if spec == "stdout":
            self.stream = sys.stdout.buffer  # taken now: run_app swaps sys.stdout while it runs
        elif spec == "pty":
            from picoface.transport import PtyPort

            self.pty = PtyPort()
            announce("serial: %s" % self.pty.path)
            print("attach with: picoface monitor --port %s" % self.pty.path, file=sys.stderr, flush=True)
        else:
            from picoface.transport import Transport

            self.transport = Transport(spec).open()
            announce("serial: %s" % spec)

    def __call__(self, line):
        self.lines += 1
        if self.stream is not None:
            try:
                self.stream.write(line)
                self.stream.flush()
            except BrokenPipeError:
                raise PicofaceError("stdout was closed", "pipe into a program that reads everything") from None
        elif self.pty is not None:
            self.pty.write(line)
        else:
            self.transport.write(line)

    def incoming(self):
        """What the host sent to the simulated board since the last call (commands): from the pty
        or the serial URL; b"" for stdout."""
        if self.pty is not None:
            return self.pty.take()
        if self.transport is not None:
            return self.transport.read(4096, timeout=0)
        return b""

    @property
    def dropped(self):
        return self.pty.dropped if self.pty is not None else 0

    def close(self):
        if self.pty is not None:
            self.pty.close()
        if self.transport is not None:
            self.transport.close()


def paced(frames, fps):
    """Yield from ``frames`` at most ``fps`` per second (0: no limit)."""
    if not fps or fps <= 0:
        yield from frames
        return
    period = 1.0 / fps
    nxt = time.monotonic()
    for f in frames:
        delay = nxt - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        nxt = max(nxt + period, time.monotonic() - period)
        yield f


def resolve_model(board, model):
    from picoface.flash.models import resolve

    return resolve(board, model, allow_standin=True)


def check_limits(board, model, contract, firmware=None):
    """Raise PicofaceError when ``model`` breaks a static limit of the firmware family the board is
    simulated with (``firmware``: a generation or family name, default the board's newest): a v3 kmodel by
    its real output (picoface.kmodel.budget.check_firmware), anything else by its model.json. Bytes
    that are no v3 kmodel are left to the simulated loader, which rejects them as the board does."""
    from picoface import firmware as limits
    from picoface.sim.runner import parse_firmware

    family, _ = parse_firmware(board, firmware)
    model = Path(model)
    subject = "model %s" % model.name
    if model.suffix.lower() == ".kmodel":
        from picoface.kmodel import budget, detect_version

        data = model.read_bytes()
        try:
            facts = budget.facts(data) if detect_version(data) == 3 else None
        except (PicofaceError, ValueError, IndexError, struct.error):
            facts = None
        if facts is not None and facts["output"]:
            budget.check_firmware(facts, board, contract, families=[family], subject=subject)
        return family
    det = limits.detector_from_contract(contract)
    if det is not None:
        limits.check_board(board, families=[family], subject=subject, **det)
    return family


def gate_artifact(board, mode, gate_dir):
    """The gate file for --mode gate on this board (None in mode detect)."""
    from picoface.paths import resolve_path

    if mode != "gate":
        if gate_dir:
            raise PicofaceError("--gate is for --mode gate", "add --mode gate, or drop --gate")
        return None
    d = resolve_path(gate_dir or "models/picoface_gate_96x96")
    p = d / ("gate.kmodel" if board.is_k210 else "gate_int8.tflite")
    if not p.is_file():
        raise PicofaceError("no gate model %s" % p, "train it: picoface train --config models/picoface_gate_96x96/train.yaml")
    return p


def recog_artifact(board, mode, recog_dir):
    """The recognition export's folder for --mode recognise on this board (None in the other modes);
    PicofaceError when it is absent or the board cannot hold the nets."""
    from picoface.paths import resolve_path
    from picoface.recog.contract import load_recog

    if mode != "recognise":
        if recog_dir:
            raise PicofaceError("--recog is for --mode recognise", "add --mode recognise, or drop --recog")
        return None
    d = resolve_path(recog_dir or "models/picoface_recog")
    if not (d / "model.json").is_file() and not (d.suffix == ".json" and d.is_file()):
        raise PicofaceError("no recognition nets in %s (no model.json)" % d, "export them: picoface recog export")
    load_recog(d, board)        # the board's format present and intact: one line now, not a load error later
    return d


def simulate(board, source="builtin", model=None, frames=None, serial=None, firmware=None, show=False,
             lcd_dir=None, pace=0.0, seed=0, contract=None, on_skip=None, seconds=None, serial_in=None,
             storage=None, gate=None, presses=None, recog=None):
    """Run the app once; returns (summary dict, wall seconds, frames seen by the camera). The
    summary's "skipped" lists the (path, reason) of a folder's files that gave no image
    (``on_skip(path, reason)`` is called as each is met). ``seconds``: the camera stops after that
    much wall time, and the run ends as "time limit (S s)". ``serial_in``: what the host sends the
    board (``run_app``'s)."""
    from picoface.sim.runner import run_app
    from picoface.sim.sources import open_source

    src = open_source(source, size=board.camera_size, frames=frames, seed=seed, on_skip=on_skip)
    seen = [0]
    timed_out = []

    def counted(it):
        for f in it:
            if seconds is not None and time.perf_counter() - t0 >= seconds:
                timed_out.append(True)
                return
            seen[0] += 1
            yield f

    mode_config = {"mode": "gate"} if gate is not None else ({"mode": "recognise"} if recog is not None else None)
    t0, c0 = time.perf_counter(), time.process_time()
    summary = run_app(board, firmware=firmware, frames=counted(paced(iter(src), pace)), model_path=model,
                      contract=contract, max_frames=frames, serial=serial, lcd_dir=lcd_dir, show=show,
                      clock="host", serial_in=serial_in, storage=storage,  # the app's fps: measured on this host
                      gate_path=gate, recog_path=recog, presses=presses, config=mode_config)
    summary = dict(summary, cpu_seconds=time.process_time() - c0, skipped=list(getattr(src, "skipped", [])))
    if timed_out and summary.get("end") == "frames exhausted":
        summary["end"] = "time limit (%g s)" % seconds
    return summary, time.perf_counter() - t0, seen[0]


def parse_presses(text):
    """--press "10,40" -> [10, 40]; PicofaceError for anything but positive frame numbers."""
    if not text:
        return []
    try:
        frames = [int(t) for t in text.split(",")]
    except ValueError:
        frames = []
    if not frames or min(frames) < 1:
        raise PicofaceError("--press %s: give frame numbers from 1, separated by commas" % text, "e.g. --press 30,90")
    return frames


def list_generations(out=None):
    """One generation name a line, oldest first within each family (picoface.sim.generations)."""
    from picoface.sim import generations

    for name in generations.names():
        print(name, file=out or sys.stdout)


def run(args):
    from picoface.boards import load_board
    from picoface.monitor import plural

    if args.firmware == "list":
        list_generations()
        return 0
    board = load_board(args.board)
    from picoface.sim.runner import parse_firmware

    parse_firmware(board, args.firmware)          # a wrong generation: one line before the model
    model, contract = resolve_model(board, args.model)
    if args.frames is not None and args.frames <= 0:
        raise PicofaceError("--frames must be positive", "e.g. --frames 100")
    if args.seconds is not None and args.seconds <= 0:
        raise PicofaceError("--seconds must be positive", "e.g. --seconds 30")
    check_limits(board, model, contract, args.firmware)
    gate = gate_artifact(board, args.mode, args.gate)
    recog = recog_artifact(board, args.mode, args.recog)
    presses = parse_presses(args.press)

    def announce(text):
        print(text, flush=True)  # stdout: `picoface demo` and scripts read the pty path from here

    note = sys.stderr if args.serial == "stdout" else sys.stdout

    def skipped(path, reason):
        print("sim: skipped %s: %s" % (path, reason), file=sys.stderr, flush=True)

    out = SerialOut(args.serial, announce)
    try:
        summary, wall, seen = simulate(board, args.source, model, args.frames, out, args.firmware, args.show,
                                       args.lcd_dir, args.pace, args.seed, contract, on_skip=skipped,
                                       seconds=args.seconds, serial_in=out.incoming, storage=args.storage,
                                       gate=gate, presses=presses, recog=recog)
    finally:
        out.close()
    n = len(summary.get("frames", []))
    cpu = summary.get("cpu_seconds") or 0.0
    dropped = (", %d dropped (nobody reading)" % out.dropped) if out.dropped else ""
    bad = summary.get("skipped") or []
    if gate is not None:
        r = summary.get("model_runs", {})
        print("sim: mode gate: the gate ran on %s, the detector on %d" % (plural(r.get("gate", 0), "frame"),
                                                                         r.get("detector", 0)), file=note, flush=True)
    if recog is not None:
        r = summary.get("model_runs", {})
        print("sim: mode recognise: the landmark net ran %s, the embedding net %s" % (
            plural(r.get("landmarks", 0), "time"), plural(r.get("embed", 0), "time")), file=note, flush=True)
    print("sim: %s on %s, model %s: %s in %.1f s (%.1f frames/s on this host, measured; %.1f per CPU "
          "second; not a board estimate), %s%s%s; "
          "end: %s" % ("%s (%s)" % (summary.get("firmware"), summary.get("generation")), board.name, model.name,
                       plural(n, "frame"), wall, n / wall if wall > 0 else 0.0, n / cpu if cpu > 0 else 0.0,
                       plural(out.lines, "serial line"), dropped,
                       ", %s skipped (unreadable)" % plural(len(bad), "image file") if bad else "",
                       summary.get("end")), file=note, flush=True)
    if bad and not seen:
        raise PicofaceError("none of the %s in %s gave an image" % (plural(len(bad), "image file"), args.source),
                            "replace the files named above with readable images")
    if summary.get("traceback"):
        print(summary["traceback"], file=sys.stderr)
        return 1
    fault = summary.get("fault")
    if fault:
        raise PicofaceError("the simulated board stopped: %s" % fault["text"], fault["todo"] or "see docs/firmware.md")
    return 0
