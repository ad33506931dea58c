"""Run the unchanged ``device/main.py`` on CPython against fake firmware (a simulated board).

Public API (stable; ``picoface sim`` and ``picoface demo`` are built on it)::

    from picoface.sim.runner import run_app
    summary = run_app("maix_dock", firmware="maixpy", frames=iter(rgb_frames),
                      model_path="models/x/picoface.kmodel", max_frames=100,
                      serial=lambda b: sys.stdout.buffer.write(b))

``run_app(board, firmware=None, frames=None, model_path=None, contract=None, max_frames=None,
serial=None, lcd_dir=None, show=False, faults=None, config=None, clock=None, serial_in=None,
storage=None, gate_path=None, gate_contract=None, recog_path=None, presses=None) -> dict``

board
    Board name (``"maix_dock"``) or a ``picoface.boards.Board``.
firmware
    Firmware generation the simulated board runs, by name (``picoface.sim.generations``:
    ``"maixpy-0.5.0"``, ``"maixpy-0.5.1"``, ``"maixpy-0.6.2"``, ``"canmv-1.0.7"``,
    ``"openmv-tf-4.5.5"``, ``"openmv-ml-4.5.9"``, ``"openmv-ml-4.7.0"``, ``"openmv-ml-4.8.0"``), or a
    family name (``"maixpy"``, ``"canmv"``, ``"openmv"``: its newest generation). Default: the newest
    generation of the board's first family. Its family must be one the board runs.
frames
    Any iterator of RGB uint8 HxWx3 numpy frames (any size). Each frame is what the lens sees:
    the fake sensor centre-crops it to the framesize aspect ratio, resizes it (area
    interpolation) to the board's framesize and quantises it to RGB565, as the sensor would.
    When the iterator is exhausted the run ends (``summary["end"] == "frames exhausted"``).
    None: a built-in moving synthetic scene (endless; use max_frames).
model_path
    Path of the model artifact (``.kmodel`` or ``.tflite``). It is placed where the board
    keeps it (K210 ``placement = "flash"``: raw at the flash address; else the board's
    ``file_path`` under the simulated /flash or /sd). On K210 boards a ``.tflite`` is accepted
    as a stand-in for the KPU (runs with tf.lite.Interpreter, output given in the KPU's NCHW
    float layout); a ``.kmodel`` runs on the KPU emulator (``picoface.kmodel.emulator``).
    None: no model on the board (the app streams frames with 0 faces and retries loading).
contract
    The model contract (dict or path of model.json). Default: ``model.json`` beside model_path.
    Its subset goes into the device config (``picoface.boards.device_config``).
max_frames
    Stop after this many frames: written to the device config key ``max_frames`` (a key the app
    honours only for the simulator/tests). None: run until frames are exhausted.
serial
    ``callable(bytes)``: called once per line the board writes to its USB serial port (REPL
    stdout), each ending in ``b"\\r\\n"`` - firmware banner, hello, frame/event/error lines.
    None: lines are only kept in the summary.
lcd_dir
    Folder: every LCD ``display()`` is written there as ``lcd_00000.png`` ... (boards with an
    LCD; OpenMV boards have none, their frames are not drawn).
show
    True: show LCD frames (or the annotated camera frame on boards without LCD) in a cv2
    window (needs a cv2 build with GUI support; PicofaceError otherwise).
faults
    Fault injection (dict), each key optional:
      ``camera_raise``: frame numbers (0-based snapshot calls) where snapshot() raises;
      ``camera_reset_raise``: how many sensor resets fail first (camera dead at boot);
      ``infer_raise``: frame numbers where the KPU/TFLM run raises;
      ``memory_error``: frame numbers where inference raises MemoryError;
      ``model``: ``"missing"`` | ``"corrupt"`` (header garbled) | ``"oversize"`` (padded past
      the board's model budget);
      ``model_appears_at_ms``: with ``model="missing"``, the model file appears at this
      simulated time (tests the app's periodic reload);
      ``config``: ``"bad"`` (invalid JSON) or ``"bad_values"`` (wrong types/ranges).
serial_in
    ``callable() -> bytes``: what the host sent to the board's serial port since the last call
    (must not block). The fake firmware calls it whenever the app reads its input (K210
    ``UART.repl_uart().any()/read()``, OpenMV ``pyb.USB_VCP().any()/read()``) and keeps the
    bytes in a receive buffer of the firmware's size (K210 2048, OpenMV 511; the rest dropped,
    ``summary["rx_dropped"]``); an interrupt byte (0x03) stops the app with KeyboardInterrupt, as
    on the board (``summary["end"]``). None: the host sends nothing.
storage
    A folder that holds the board's /flash and /sd (``storage/flash``, ``storage/sd``) across runs, so
    a restart finds what the app wrote (its gallery); the model and config are placed again at each
    boot. None: a fresh temporary board each run.
gate_path
    A gate model (``gate.kmodel`` on K210 boards, ``gate_int8.tflite`` on OpenMV) for ``mode: gate``:
    placed at the board's ``[model] gate_path`` and described in the device config's ``gate`` from
    ``gate_contract`` (dict or path; default: ``gate_kmodel.json`` / ``gate_int8.json`` beside it). The
    config's ``mode`` stays as given (``config={"mode": "gate"}``); ``summary["model_runs"]`` counts the
    accelerator runs of each model.
recog_path
    A recognition export (its folder or model.json, ``picoface recog export``) for ``mode: recognise``:
    the board's format of both nets (``picoface.recog.contract.load_recog``: kmodel v3 on K210 boards,
    int8 TFLite on the OpenMV H7 Plus) placed at the board's ``[model] recog_landmarks_path`` /
    ``recog_embed_path``, and the device config's ``recog`` from its model.json. The config's ``mode``
    stays as given (``config={"mode": "recognise"}``); ``summary["model_runs"]`` then also counts the
    runs of each net under ``"landmarks"`` and ``"embed"``.
presses
    Frame numbers (1 = the first camera frame) at which the board's button (boards/*.toml
    ``[button]``) is pressed: held down for ``picoface.sim.world.PRESS_FRAMES`` frames, as the fake
    firmware's pin reads it (K210 ``GPIO`` on the button's pad, OpenMV ``pyb.Switch`` /
    ``machine.Pin``). A board without a button ignores them, as the real one would.
config
    Dict of device-config overrides (thresholds, ``model_retry_ms`` ...) merged last.
clock
    ``"host"`` or a dict of simulated timings in ms: ``{"frame_ms": 33, "infer_ms": 40, "load_ms": 300,
    "max_ms": 3600000}`` (max_ms: the run ends with ``end == "time limit"`` after that much
    simulated time).
    The simulated clock is what the app's ``ticks_ms`` sees; the run takes real time only
    for the model runs. With these fixed timings the fps in the app's frame lines is
    1000 / (frame_ms + infer_ms), a constant, not a measurement: for tests only.
    ``"host"``: frames, model loads and inferences advance the clock by the host time they
    took (measured), so the app's fps is the simulated board's frame rate on this host
    (``picoface sim`` and ``picoface demo`` use it). Neither is an estimate for a real board.

Returns a summary dict::

    {"board": str, "firmware": str,           # firmware as reported by the HAL, e.g. "maixpy/KPU-old"
     "generation": str,                       # the simulated generation, e.g. "maixpy-0.6.2"
     "lines": [str, ...],                     # every serial line (without "\\r\\n")
     "hello": dict | None,                    # decoded hello line
     "frames": [dict, ...],                   # decoded frame lines
     "events": [dict, ...], "errors": [dict, ...], "acks": [dict, ...],
     "other": int,                            # non-protocol lines (banner ...)
     "led": [(ms, colour, on), ...],          # LED log from the fake pins
     "lcd": [(ms, kind, args), ...],          # LCD/draw call log (display, draw_rectangle, draw_string, clear)
     "lcd_frames": int, "sim_ms": int,        # LCD displays, simulated time at the end
     "corrupt": int,                          # framed lines that failed to decode (0 expected)
     "snapshots": int, "warnings": [str, ...],  # camera snapshots; firmware misuse noticed by the fakes
     "watchdog_ms": int | None,               # the watchdog the app started (None: none)
     "end": "max_frames" | "frames exhausted" | "time limit" | "watchdog reset" | "machine reset"
            | "firmware fault" | "app exited" | "crash: <exc>",
     "fault": dict | None,                    # end == "firmware fault": {"text", "todo", "source"}
     "traceback": str | None}                 # set only when the app raised at top level

A fake firmware call that reaches a limit of boards/firmware.toml where the real firmware
overflows a buffer or its stack (``picoface.sim.world.FirmwareFault``, e.g. MaixPy run_yolo2 with
more than 1500 region boxes or more than 10 results) ends the run: ``end == "firmware fault"``,
``fault["text"]`` names the number, the limit and its source.

Isolation: the app runs in this process (so ``frames`` and ``serial`` can be any Python
objects). For the run, the fake family folder and ``device/`` go first on ``sys.path``;
firmware-named modules (sensor, image, lcd, KPU, maix, Maix, fpioa_manager, board, machine,
utime, uos, csi, ml, ulab, tf, pyb, hal*, main; ``time`` on OpenMV, whose fake delegates everything but
ticks/sleep/clock to CPython's) and ``pfcore.*`` are removed from ``sys.modules``
before and after (pfcore is re-imported so that ``pfcore.compat`` binds the fake ``utime``),
``builtins.open`` maps ``/flash/...`` and ``/sd/...`` to the World's folders, and stdout is
captured as the board's serial port. Everything is restored afterwards, also on errors.
Not thread-safe: one run at a time per process.
"""

import builtins
import contextlib
import gc
import json
import runpy
import sys
import tempfile
import traceback
from pathlib import Path

from picoface.errors import PicofaceError
from picoface.paths import REPO_ROOT

DEVICE_DIR = REPO_ROOT / "device"
FAKES_DIR = Path(__file__).resolve().parent / "fakes"

# Module names the run installs fresh (fakes, app, core); removed before and after each run.
_ISOLATED = ("sensor", "image", "lcd", "KPU", "maix", "Maix", "fpioa_manager", "board", "machine",
             "utime", "uos", "csi", "ml", "tf", "pyb", "omv", "micropython", "hal", "hal_maixpy",
             "hal_canmv", "hal_openmv", "hal_k210", "main", "pfcore", "ulab", "uhashlib")


def parse_firmware(board, firmware):
    """(family, generation name) for a generation or family name (None: the board's default);
    PicofaceError if unknown or not a family the board runs (picoface.sim.generations)."""
    from picoface.sim import generations

    gen = generations.for_board(board, firmware)
    return gen.family, gen.name


def device_model(contract, board, nbytes=None):
    """The model subset the device config carries (flat keys of pfcore.config.MODEL_KEYS)."""
    inp = contract.get("input", {})
    out = contract.get("output", {})
    sub = {"name": contract.get("name", ""), "bytes": int(contract.get("bytes", nbytes or 0)),
           "sha256": contract.get("sha256", ""), "w": int(inp.get("w", board.input_size[0])),
           "h": int(inp.get("h", board.input_size[1])), "fit": inp.get("fit", "stretch"),
           "grid_w": int(out["grid_w"]), "grid_h": int(out["grid_h"]),
           "anchors": [[float(a[0]), float(a[1])] for a in out["anchors"]],
           "classes": int(out.get("classes", 1))}
    if out.get("labels") is not None:
        # the class names (model.json output.labels) the board sends with each face; checked here as
        # pfcore.config checks them on the board, so flash and sim refuse what the board would drop
        from pfcore import config, protocol

        p = config.check_model_labels(out["labels"], sub["classes"])
        if p is not None:
            raise PicofaceError("model %s: %s" % (sub["name"] or "contract", p),
                                "give output.labels one distinct name per class, each at most %d bytes "
                                "on the wire, without commas (docs/protocol.md)" % protocol.MAX_LABEL)
        sub["labels"] = list(out["labels"])
    if board.is_k210:
        # the KPU hands the region layer float32 CHW whatever the artifact's own layout is
        sub.update(layout="NCHW", dtype="float32", scale=1.0, zero_point=0)
    else:
        sub.update(layout="NHWC", dtype=out.get("dtype", "float32"), scale=float(out.get("scale", 1.0)),
                   zero_point=int(out.get("zero_point", 0)))
    return sub


def _load_contract(contract, model_path):
    if isinstance(contract, dict):
        return contract
    p = Path(contract) if contract else (Path(model_path).parent / "model.json" if model_path else None)
    if p is None:
        return None
    if not p.is_file():
        raise PicofaceError("model contract %s not found" % p, "put model.json beside the model or pass contract=")
    try:
        return json.loads(p.read_text())
    except ValueError as e:
        raise PicofaceError("model contract %s is not valid JSON: %s" % (p, e), "re-export the model") from None


def _place_model(world, board, data, faults):
    """Put the model where the board keeps it; returns the bytes placed (after faults)."""
    kind = faults.get("model")
    if kind == "corrupt":
        data = bytes(b ^ 0x5A for b in data[:64]) + data[64:]
    elif kind == "oversize":
        data = data + bytes(world.model_budget() + 1 - len(data))
    elif kind not in (None, "missing"):
        raise PicofaceError("unknown model fault %r" % kind, "use missing, corrupt or oversize")
    at = faults.get("model_appears_at_ms") if kind == "missing" else None
    if kind == "missing" and at is None:
        return data
    m = board.model
    if m["placement"] == "flash":
        world.put_flash(m["flash_address"], data, at_ms=at)
    else:
        world.put_file(m["file_path"], data, at_ms=at)
    return data


def _config_text(board, contract, placed, faults, config, max_frames, gate=None, recog=None):
    model = device_model(contract, board, len(placed)) if contract else None
    if model is not None and faults.get("model") == "oversize":
        model["bytes"] = len(placed)
    from picoface.boards import device_config

    cfg = device_config(board, model)
    if gate is not None:
        cfg["gate"] = gate
    if recog is not None:
        cfg["recog"] = recog
    if contract and contract.get("thresholds"):
        th = contract["thresholds"]
        cfg["score"] = float(th.get("score", 0.5))
        cfg["nms"] = float(th.get("nms", 0.3))
    if max_frames:
        cfg["max_frames"] = int(max_frames)
    cfg.update(config or {})
    bad = faults.get("config")
    if bad == "bad":
        return json.dumps(cfg)[:-7] + "}}, oops"
    if bad == "bad_values":
        cfg.update({"score": "high", "max_faces": 99, "enter_frames": -1})
    elif bad is not None:
        raise PicofaceError("unknown config fault %r" % bad, "use bad or bad_values")
    return json.dumps(cfg)


@contextlib.contextmanager
def firmware_sandbox(world, family):
    """Context in which `import sensor` etc. give the fakes of ``family`` talking to ``world``:
    fake firmware first on sys.path, fresh firmware/app/pfcore modules, /flash + /sd mapped,
    stdout = the board's serial port; all restored afterwards (tests use it directly)."""
    from picoface.sim import world as world_mod

    isolated = _ISOLATED + (("time",) if family == "openmv" else ())

    def ours(name):
        return name.split(".")[0] in isolated

    saved_mods = {k: v for k, v in sys.modules.items() if ours(k)}
    saved_path = list(sys.path)
    saved_open = builtins.open
    saved_stdout = sys.stdout
    for k in saved_mods:
        del sys.modules[k]
    # MaixPy and CanMV (a MaixPy fork) share the K210 camera/LCD/pin/machine fakes in fakes/k210.
    shared = [str(FAKES_DIR / "k210")] if family in ("maixpy", "canmv") else []
    sys.path[:0] = [str(FAKES_DIR / family)] + shared + [str(DEVICE_DIR)]
    world_mod.activate(world)
    if family == "openmv":
        # `time` is a built-in module (found before sys.path): install the fake explicitly
        import importlib.util

        spec = importlib.util.spec_from_file_location("time", FAKES_DIR / "openmv" / "time.py")
        fake_time = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(fake_time)
        sys.modules["time"] = fake_time
    builtins.open = world_mod.device_open_factory(world, saved_open)
    sys.stdout = world_mod.SerialStdout(world)
    # The app calls gc.collect() every frame (CPython's gc). Freeze the host's heap (TensorFlow
    # ...) so a collection scans only what the app allocates: ~1 ms instead of ~1 s.
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
        sys.stdout = saved_stdout
        builtins.open = saved_open
        world_mod.activate(None)
        sys.path[:] = saved_path
        for k in [k for k in sys.modules if ours(k)]:
            del sys.modules[k]
        sys.modules.update(saved_mods)


def _decode(lines):
    from pfcore import protocol

    out = {"hello": None, "frames": [], "events": [], "errors": [], "acks": [], "commands": [], "other": 0,
           "corrupt": 0}
    for line in lines:
        try:
            d = protocol.decode(line)
        except protocol.ProtocolError:
            out["corrupt"] += 1
            continue
        if d is None:
            out["other"] += 1
        elif d["type"] == "hello":
            if out["hello"] is None:
                out["hello"] = d
        else:
            out[d["type"] + "s"].append(d)
    return out


def run_app(board, firmware=None, frames=None, model_path=None, contract=None, max_frames=None,
            serial=None, lcd_dir=None, show=False, faults=None, config=None, clock=None, serial_in=None,
            storage=None, gate_path=None, gate_contract=None, presses=None, recog_path=None):
    import contextlib

    from picoface.boards import Board, load_board
    from picoface.sim import world as world_mod

    if not isinstance(board, Board):
        board = load_board(board)
    family, gen = parse_firmware(board, firmware)
    faults = dict(faults or {})
    data = b""
    if model_path is not None:
        p = Path(model_path)
        if not p.is_file():
            raise PicofaceError("model file %s not found" % p, "check the path")
        data = p.read_bytes()
    contract = _load_contract(contract, model_path)
    gate_data, gate_sub = b"", None
    if gate_path is not None:
        from picoface.gate.contract import device_gate, load_gate

        gate_data, gc_ = load_gate(gate_path, gate_contract, board)
        gate_sub = device_gate(gc_, board, len(gate_data))
    recog_files, recog_sub = {}, None
    if recog_path is not None:
        from picoface.recog.contract import device_recog, load_recog

        recog_files, rc_ = load_recog(recog_path, board)
        recog_sub = device_recog(rc_, board)
    if model_path is None and "model" not in faults:
        faults["model"] = "missing"
    if storage is not None:
        Path(storage).mkdir(parents=True, exist_ok=True)
    keep = contextlib.nullcontext(str(storage)) if storage is not None else None
    with keep or tempfile.TemporaryDirectory(prefix="picoface-sim-") as tmp:
        world = world_mod.World(board, family, gen, tmp, frames=frames, serial=serial, lcd_dir=lcd_dir,
                                show=show, faults=faults, clock=clock, serial_in=serial_in, presses=presses)
        placed = _place_model(world, board, data, faults) if data else b""
        if placed:
            # Build the runner (imports TensorFlow / the KPU emulator) before the sandbox freezes
            # the host heap, so the app's per-frame gc.collect() stays cheap.
            try:
                world.open_runner(placed, world.runner_layout(), load_time=False)
            except Exception:
                pass  # bytes the firmware will reject: the app reports it
        if gate_data:
            world.put_file(board.model["gate_path"], gate_data)
            try:
                world.open_runner(gate_data, world.runner_layout(), load_time=False)
            except Exception:
                pass
        for net, rdata in recog_files.items():
            world.put_file(recog_sub[net + "_path"], rdata)
            try:
                world.open_runner(rdata, world.runner_layout(), load_time=False)
            except Exception:
                pass
        world.put_file("/flash/picoface.json", _config_text(board, contract, placed or data, faults, config, max_frames,
                                                            gate_sub, recog_sub))
        end, tb, fault = "app exited", None, None
        with firmware_sandbox(world, family):
            for line in world.fw.banner:
                world.serial_write(line + "\n")
            try:
                runpy.run_path(str(DEVICE_DIR / "main.py"), run_name="__main__")
                if max_frames:
                    end = "max_frames"
            except world_mod.SimulationEnd as e:
                end = str(e) or "frames exhausted"
            except world_mod.WatchdogReset:
                end = "watchdog reset"
            except world_mod.MachineReset:
                end = "machine reset"
            except KeyboardInterrupt:
                if not world.host_interrupt:
                    raise           # Ctrl-C on this host, not a byte the host sent to the board
                end = "interrupted by the host (Ctrl-C byte)"
            except world_mod.FirmwareFault as e:  # the real board would corrupt memory here
                end = "firmware fault"
                fault = {"text": str(e), "todo": e.todo, "source": e.limit.source if e.limit else None}
            except Exception as e:  # the app let an exception escape: a crash on the board
                end = "crash: %s: %s" % (type(e).__name__, e)
                tb = traceback.format_exc()
            finally:
                if family == "openmv":
                    from picoface.sim.fakes import _openmv
                    _openmv.flush_framebuffer()
                world.flush_serial()
    summary = {"board": board.name, "firmware": family + "/" + gen, "generation": gen, "lines": list(world.lines),
               "led": list(world.led_log), "lcd": list(world.lcd_log), "lcd_frames": world.lcd_frames,
               "sim_ms": world.now_ms, "end": end, "traceback": tb, "fault": fault, "warnings": list(world.warnings),
               "snapshots": world.snapshots, "rx_dropped": world.rx_dropped,
               "watchdog_ms": world.wdt["timeout"] if world.wdt else None,
               "model_runs": {"detector": world.runs.get(hash(bytes(placed)), 0) if data else 0,
                              "gate": world.runs.get(hash(bytes(gate_data)), 0) if gate_data else 0}}
    for net, rdata in recog_files.items():          # "landmarks", "embed": only with recog_path
        summary["model_runs"][net] = world.runs.get(hash(rdata), 0)
    summary.update(_decode(world.lines))
    if summary["hello"] is not None:
        summary["firmware"] = summary["hello"].get("firmware", summary["firmware"])
    return summary
