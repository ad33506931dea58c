"""Each firmware path of the device app against what the firmware's own source does (issue 24,
docs/firmware.md):

- MaixPy: kpu.forward's kpu_fmap is decoded through memoryview(fmap) (Maix_kpu.c: buffer protocol
  'f'), never copied with fmap[:]; the simulator's and the MicroPython stubs' fmap behave as the
  firmware's; the per-frame heap and time under real MicroPython (tests/vectors/bench_fmap.py).
- MaixPy: run_yolo2 (static obj_info_t.obj[10], written without a bound) is never reached; a
  crowded scene runs.
- OpenMV: ml.Model.predict() returns float32 dequantised arrays without a post-processor (all ml
  firmware) and the raw tensor with one (>= 4.8); the app checks what it got. One real output of
  the shipped OpenMV model decodes identically on every path. YoloV2 gets its anchors as an ndarray.
- Every firmware generation (picoface.sim.generations, docs/firmware.md "Firmware matrix"): the
  fakes differ where the releases' sources differ (MaixPy v0.5.0 without machine.WDT and
  utils.flash_read, v0.5.x's one-block SHA engine; OpenMV tf.classify refusing a grid, tf.segment's
  planes, csi as the sensor module on 4.6-4.7), and the unchanged app runs on each.
- main.py's backoff stays a small int; the bring-up examples read the model's contract.
"""

import base64
import itertools
import json
import math
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fakeboard  # noqa: E402
import tiny_model  # noqa: E402
from conftest import ROOT  # noqa: E402
from test_firmware_limits import head_kmodel  # noqa: E402

from pfcore import geom, protocol, region  # noqa: E402
from picoface.boards import load_board  # noqa: E402
from picoface.sim import generations  # noqa: E402
from picoface.sim import runners as sim_runners  # noqa: E402
from picoface.sim import world as world_mod  # noqa: E402
from picoface.sim.fakes import _yolo2  # noqa: E402
from picoface.sim.runner import firmware_sandbox, run_app  # noqa: E402

VECTORS = ROOT / "tests" / "vectors"
ADDRESS = 0x300000
K210_GC_HEAP = 524288


# ------------------------------------------------------------------------------ stand-in outputs
class Planted:
    """A KPU stand-in: 320x240 in, NCHW float32 out on a gw x gh grid, 5 anchors x 6; frame n
    plants counts[n % len(counts)] faces in anchor 0, 4 cells apart (NMS keeps them all)."""

    input_size = (320, 240)
    output_layout = "NCHW"

    def __init__(self, gw, gh, counts):
        self.output_shape = (gh, gw, 30)
        self.counts = list(counts)
        self.frame = 0
        cells = [(r, c) for r in range(1, gh, 3) for c in range(1, gw, 3)]
        self.outs = []
        for k in self.counts:
            out = np.full((5, 6, gh, gw), -6.0, np.float32)
            out[:, 2:4] = -0.5
            for r, c in cells[:k]:
                out[0, 4, r, c] = 4.0
            self.outs.append(out.reshape(-1))

    def run(self, rgb):
        out = self.outs[self.frame % len(self.outs)]
        self.frame += 1
        return out


def _vector():
    v = json.loads((VECTORS / "openmv_240x176_output.json").read_text())
    v["q"] = np.frombuffer(base64.b64decode(v["int8_base64"]), np.int8).reshape(v["shape"])
    return v


class Replay:
    """A TFLite stand-in that returns the stored real output of the shipped OpenMV model."""

    input_size = (240, 176)
    channels = 3
    output_layout = "NHWC"
    in_dtype = np.dtype(np.uint8)
    out_dtype = np.dtype(np.int8)
    in_scale, in_zero = 1.0 / 255.0, 0

    def __init__(self, v):
        self.q = v["q"][0]
        self.output_shape = tuple(self.q.shape)
        self.out_scale, self.out_zero = v["scale"], v["zero_point"]

    def run_raw(self, rgb):
        return self.q.copy()

    def dequantize(self, raw):
        return ((raw.astype(np.float32) - self.out_zero) * self.out_scale).astype(np.float32)

    def run(self, rgb):
        return self.dequantize(self.q).reshape(-1)


def _use_runner(monkeypatch, runner):
    monkeypatch.setattr(sim_runners, "open_runner", lambda data, layout="NHWC": runner)


def _k210_world(tmp_path, model, gen="maixpy-0.6.2"):
    w = world_mod.World(load_board("maix_dock"), "maixpy", gen, tmp_path,
                        frames=itertools.islice(world_mod.synthetic_scene(), 20))
    w.put_flash(ADDRESS, Path(model).read_bytes())
    return w


def _image():
    import sensor

    sensor.reset()
    sensor.set_pixformat(sensor.RGB565)
    sensor.set_framesize(sensor.QVGA)
    return sensor.snapshot()


# ------------------------------------------------------------------------- 1. MaixPy kpu_fmap
@pytest.fixture(scope="module")
def big(tmp_path_factory):
    return head_kmodel(tmp_path_factory.mktemp("big"), 8)        # 40x30x5x6 = 36,000 floats


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return fakeboard.tiny_kmodel(tmp_path_factory.mktemp("small"))   # 20x15x5x6 = 9,000 floats


def test_sim_kpu_fmap_behaves_as_maix_kpu_c(small, big, tmp_path):
    w = _k210_world(tmp_path, small)
    with firmware_sandbox(w, "maixpy"):
        import KPU as kpu

        task = kpu.load(ADDRESS)
        fmap = kpu.forward(task, _image())
        mv = memoryview(fmap)                               # buffer protocol, typecode 'f'
        assert mv.format == "f" and mv.nbytes == fmap.size() == 9000 * 4 and len(mv) == 9000
        assert isinstance(fmap[0], float) and fmap[-1] == mv[8999] == pytest.approx(-5.0)
        with pytest.raises(IndexError, match="kpu_fmap index out of range"):
            fmap[9000]
        with pytest.raises(TypeError):
            len(fmap)
        with pytest.raises(OSError, match="step=1"):
            fmap[0:10:2]
        part = fmap[0:100]                                  # a tuple of new floats on the GC heap
        assert isinstance(part, tuple) and len(part) == 100
        assert w.fmap_slice_bytes == 16 + 100 * 40
        with pytest.raises(world_mod.FirmwareFault, match="0x66"):
            fmap.typecode()
    w = _k210_world(tmp_path / "big", big)
    with firmware_sandbox(w, "maixpy"):
        import KPU as kpu

        fmap = kpu.forward(kpu.load(ADDRESS), _image())
        assert len(memoryview(fmap)) == 36000 and fmap.w() == (36000 * 4) & 0xFFFF
        with pytest.raises(MemoryError, match="allocating 1440016 bytes"):
            fmap[:]                                         # the old HAL's copy: 1.44 MB > 512 KiB


@pytest.mark.parametrize("gen", [g.name for g in generations.of_family("maixpy")])
def test_maixpy_app_decodes_a_40x30_output_through_memoryview(big, gen, monkeypatch):
    """The stride-8 grid (40x30x5x6 = 36,000 floats): fmap[:] would need 1.44 MB of a 512 KiB heap,
    run_yolo2 overflows its stack (6000 boxes); the app takes neither."""
    _use_runner(monkeypatch, Planted(40, 30, [3]))
    s = run_app("maix_dock", firmware=gen, frames=itertools.islice(world_mod.synthetic_scene(), 10),
                model_path=big, max_frames=8)
    assert s["end"] == "max_frames", (s["end"], s["fault"], s["errors"][:2])
    assert s["errors"] == [] and len(s["frames"]) == 8
    assert all(f["n"] == 3 for f in s["frames"])


K210_HAL = {"maixpy-0.5.0": "maixpy/KPU-old", "maixpy-0.5.1": "maixpy/KPU-old", "maixpy-0.6.2": "maixpy/KPU-old",
            "canmv-1.0.7": "canmv/maix.KPU"}


@pytest.mark.parametrize("gen", sorted(K210_HAL))
def test_app_runs_on_every_k210_generation(small, gen):
    """The unchanged app, 4 frames on each K210 generation. MaixPy v0.5.0 has no machine.WDT (the
    app ran main() again and again on its ImportError) and no utils.flash_read; v0.5.x's uhashlib
    gives a wrong digest for a model (the app sent it; now it sends no hash there)."""
    assert sorted(K210_HAL) == sorted(g.name for g in generations.GENERATIONS if g.family in ("maixpy", "canmv"))
    fw = generations.get(gen)
    s = run_app("maix_dock", firmware=gen, frames=itertools.islice(world_mod.synthetic_scene(), 6),
                model_path=small, max_frames=4, config={"watchdog_ms": 5000})
    assert s["end"] == "max_frames", (s["end"], s["errors"][:2], s["traceback"])
    assert s["errors"] == [] and len(s["frames"]) == 4 and s["generation"] == gen
    assert s["hello"]["firmware"] == K210_HAL[gen]
    assert s["lines"][:2] == list(fw.banner)
    sha = json.loads((Path(small).parent / "model.json").read_text())["sha256"]
    right = fw["flash_read"] and fw["sha256_length"]
    assert s["hello"]["model_hash"] == (sha[:16] if right else "")
    # the hello says why there is no hash where the SHA engine is broken (picoface flash then skips the check)
    assert s["hello"].get("no_hash", "") == ("" if fw["sha256_length"] else "sha_engine")
    assert s["watchdog_ms"] == (5000 if fw["wdt"] else None)


def test_maixpy_fakes_follow_each_releases_source(small, tmp_path):
    """What differs between the MaixPy generations, as their sources have it."""
    import hashlib

    data = bytes(range(256)) * 4
    seen = {}
    for gen in ("maixpy-0.5.0", "maixpy-0.5.1", "maixpy-0.6.2"):
        w = _k210_world(tmp_path / gen, small, gen)
        with firmware_sandbox(w, "maixpy"):
            import KPU as kpu
            import machine
            import uhashlib
            import uos
            from Maix import utils

            task = kpu.load(ADDRESS)
            img = _image()
            fmap = kpu.forward(task, img)
            got = {"wdt": hasattr(machine, "WDT"), "flash_read": hasattr(utils, "flash_read"),
                   "size": fmap.size(), "floats": len(memoryview(fmap)), "version": uos.uname().version}
            try:
                kpu.forward(task, img, dma=1)
                got["dma"] = True
            except TypeError:
                got["dma"] = False
            h = uhashlib.sha256()
            h.update(data[:100])
            h.update(data[100:])
            got["hash_ok"] = h.digest() == hashlib.sha256(data).digest()
            got["short_ok"] = uhashlib.sha256(data[:55]).digest() == hashlib.sha256(data[:55]).digest()
            seen[gen] = got
    assert seen["maixpy-0.5.0"] == {"wdt": False, "flash_read": False, "size": 36001, "floats": 9000, "dma": False,
                                    "version": "v0.5.0 on 2019-11-29", "hash_ok": False, "short_ok": True}
    assert seen["maixpy-0.5.1"] == {"wdt": True, "flash_read": True, "size": 36000, "floats": 9000, "dma": True,
                                    "version": "v0.5.1 on 2020-08-19", "hash_ok": False, "short_ok": True}
    assert seen["maixpy-0.6.2"] == {"wdt": True, "flash_read": True, "size": 36000, "floats": 9000, "dma": True,
                                    "version": "v0.6.2 on 2020-12-16", "hash_ok": True, "short_ok": True}


def test_maixpy_sha_engine_check_reads_the_release_tag(monkeypatch):
    """uos.uname().version is MICROPY_GIT_TAG " on " the build date (moduos.c:69): releases before
    v0.6.0, and builds after v0.5.1 that git describes from it, have the one-block SHA engine."""
    class Uname:
        version = None

    class Uos:
        @staticmethod
        def uname():
            return Uname

    monkeypatch.syspath_prepend(str(ROOT / "device"))
    monkeypatch.setitem(sys.modules, "uos", Uos)
    for name in ("hal_maixpy", "hal_k210"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    import hal_maixpy

    want = {"v0.5.0 on 2019-11-29": True, "v0.5.1-12-gabc1234 on 2020-09-01": True,
            "v0.6.0 on 2020-11-26": False, "v0.6.2-54-g897214100 on 2021-04-30": False, "garbage": False}
    got = {}
    for v in want:
        Uname.version = v
        got[v] = hal_maixpy.sha_engine_broken()
    assert got == want
    for name in ("hal_maixpy", "hal_k210"):
        sys.modules.pop(name, None)


def _mp_app(node, tmp_path, grid):
    """device/main.py + HALs + pfcore under MicroPython (wasm) with the MaixPy stubs."""
    from test_device_app import MP_CONFIG, run_stub_app

    cfg = dict(MP_CONFIG)
    cfg["model"] = dict(cfg["model"], grid_w=grid[0], grid_h=grid[1])
    out, _ = run_stub_app(node, tmp_path, cfg, cpython=False, timeout=300)
    msgs = [d for d in (protocol.decode(ln) for ln in out.splitlines()) if d]
    return [d for d in msgs if d["type"] == "frame"], [d for d in msgs if d["type"] == "error"]


@pytest.mark.micropython
def test_micropython_app_decodes_a_40x30_fmap(node, tmp_path):
    """Real MicroPython, a kpu_fmap stub with the board's slice cost: the 40x30 output is decoded
    in place (the old fmap[:] raised MemoryError on every frame)."""
    frames, errors = _mp_app(node, tmp_path, (40, 30))
    assert [e["code"] for e in errors] == ["camera"]         # the stubs' one camera fault
    assert len(frames) == 5 and all(f["n"] == 1 for f in frames)
    x, y, w, h, score = frames[0]["faces"][0]
    assert (x, y, w, h, score) == (152, 107, 25, 33, 0.953)   # anchor 0 at row 15, column 20


@pytest.mark.micropython
def test_forward_decode_heap_and_time_on_micropython(node):
    """tests/vectors/bench_fmap.py under the MicroPython wasm runner: the shipped K210 model's
    20x15x5x6 float output decoded through memoryview allocates less than 64 KiB a frame (garbage
    included, the collector off), on an empty scene, 1, 10 and a crowd of 35 faces; fmap[:]
    alone allocated 180 KB. Figures are printed, the times never asserted."""
    from test_micropython import run_micropython

    r = run_micropython(node, VECTORS / "bench_fmap.py", 100, timeout=300)
    assert r.returncode == 0, r.stderr
    rows = [json.loads(ln) for ln in r.stdout.strip().splitlines()]
    scenes = [x for x in rows if "faces_in_scene" in x and x["grid"] == "20x15x5x6"]
    assert [x["faces_in_scene"] for x in scenes] == [0, 1, 10, 35]
    for x in scenes:
        assert x["impl"] == "micropython" and x["faces"] == min(x["faces_in_scene"], 10)
        assert x["candidates"] == 2 * x["faces_in_scene"]
        assert 0 < x["alloc_bytes"] < 65536, x
    old = [x for x in rows if "old_tuple_bytes" in x]
    assert old[0]["values"] == 9000 and old[0]["old_tuple_bytes"] > 65536
    print("\nMaixPy forward path under MicroPython (wasm), per frame:")
    for x in rows:
        print("  ", json.dumps(x, sort_keys=True))


def test_region_decode_reads_a_memoryview_as_a_list():
    rng = np.random.default_rng(5)
    for _ in range(10):
        out = rng.normal(0, 2, size=9000).astype(np.float32)
        out[4 * 300:5 * 300] -= 3.0
        arr = __import__("array").array("f", out.tobytes())
        want = region.decode([float(v) for v in out], 20, 15, tiny_model.ANCHORS, 1, "NCHW", 0.5)
        assert region.decode(memoryview(arr), 20, 15, tiny_model.ANCHORS, 1, "NCHW", 0.5) == want
        fit = geom.Fit(320, 240, 320, 240, "stretch")
        spec = {"grid_w": 20, "grid_h": 15, "anchors": tiny_model.ANCHORS, "classes": 1, "layout": "NCHW"}
        from pfcore import nms

        full = nms.nms(fit.map(want), 0.3, 10)
        assert region.postprocess(memoryview(arr), spec, fit, 0.5, 0.3, 10) == full


# ------------------------------------------------------------------ 2. MaixPy: no run_yolo2
def test_crowded_scene_never_reaches_run_yolo2(small, monkeypatch):
    """Frames of 0, 5, 10, 11 and 35 faces on MaixPy (run_yolo2 is in every release):
    one KPU run a frame, run_yolo2 never called, at most max_faces (10) reported, no fault."""
    import time

    counts = [0, 5, 10, 11, 35]
    _use_runner(monkeypatch, Planted(20, 15, counts))
    calls = {"run_yolo2": 0, "kpu": 0}
    real_results, real_infer = _yolo2.results, world_mod.World.check_infer_fault

    def results(*a, **k):
        calls["run_yolo2"] += 1
        return real_results(*a, **k)

    def infer(self):
        calls["kpu"] += 1
        return real_infer(self)

    monkeypatch.setattr(_yolo2, "results", results)
    monkeypatch.setattr(world_mod.World, "check_infer_fault", infer)
    t0 = time.perf_counter()
    s = run_app("maix_dock", firmware="maixpy", frames=itertools.islice(world_mod.synthetic_scene(), 30),
                model_path=small, max_frames=25)
    host_ms = (time.perf_counter() - t0) * 1000.0 / 25
    assert s["end"] == "max_frames", (s["end"], s["fault"])
    assert s["hello"]["firmware"] == "maixpy/KPU-old" and s["errors"] == []
    assert calls == {"run_yolo2": 0, "kpu": 25}
    assert [f["n"] for f in s["frames"]] == [min(counts[i % 5], 10) for i in range(25)]
    print("\ncrowded scene on simulated MaixPy (faces planted a frame: %s): faces reported %s, KPU runs %d for "
          "25 frames, run_yolo2 calls %d, host %.1f ms a frame (app + fakes, not the board)"
          % (counts, [f["n"] for f in s["frames"][:5]], calls["kpu"], calls["run_yolo2"], host_ms))


# -------------------------------------------------------------------------------- 3. OpenMV
def test_openmv_vector_is_the_shipped_models_output():
    v = _vector()
    model = ROOT / v["model"]
    import hashlib

    assert hashlib.sha256(model.read_bytes()).hexdigest() == v["model_sha256"], \
        "the model changed: run tests/vectors/make_openmv_output.py"
    spec = json.loads((model.parent / "model.json").read_text())["output"]
    assert v["shape"] == [1, spec["grid_h"], spec["grid_w"], len(spec["anchors"]) * (5 + spec["classes"])]
    assert v["dtype"] == "int8" and v["scale"] == pytest.approx(spec["scale"]) and v["zero_point"] == spec["zero_point"]


@pytest.mark.tf
def test_openmv_vector_reproduces_with_the_tflite_interpreter(shared):
    import cv2

    v = _vector()
    photo = ROOT / v["photo"]
    if not photo.is_file():
        pytest.skip("%s is absent" % v["photo"])
    rgb = cv2.cvtColor(cv2.imread(str(photo)), cv2.COLOR_BGR2RGB)
    from picoface.litert import interpreter

    it = interpreter(ROOT / v["model"], num_threads=1)
    it.set_tensor(it.get_input_details()[0]["index"], cv2.resize(rgb, (240, 176), interpolation=cv2.INTER_AREA)[None])
    it.invoke()
    assert np.array_equal(it.get_tensor(it.get_output_details()[0]["index"]), v["q"])


def _frame_line(faces):
    return protocol.encode_frame(1, 0, 0.0, faces)


def test_openmv_output_decodes_identically_on_every_path():
    """int8 bytes (a post-processor's raw tensor), float32 as py_ml.c dequantises it (ml 4.5.6+,
    no post-processor) and floats as tf.classify returns them: the same faces."""
    v = _vector()
    spec = json.loads((ROOT / v["model"]).parent.joinpath("model.json").read_text())["output"]
    fspec = dict(spec, dtype="float32", scale=1.0, zero_point=0)
    fit = geom.Fit(240, 176, 240, 176, "stretch")
    # py_ml.c: float v = (q - zero_point); v * output_scale (float32)
    f32 = (v["q"].astype(np.int32) - v["zero_point"]).astype(np.float32) * np.float32(v["scale"])
    assert f32.dtype == np.float32
    paths = {
        "int8": region.postprocess(v["q"].tobytes(), spec, fit, v["score"], v["nms"], 10),
        "float32": region.postprocess(f32.reshape(-1), fspec, fit, v["score"], v["nms"], 10),
        "tf floats": region.postprocess([float(x) for x in f32.reshape(-1)], fspec, fit, v["score"], v["nms"], 10),
    }
    want = v["faces"]
    assert len(want) >= 3          # a photo with several faces
    for name, faces in paths.items():
        assert _frame_line(faces) == _frame_line(want), name
        for f, g in zip(faces, want):
            assert f == pytest.approx(g, abs=1e-4), name
    # the old HAL decoded the float32 array's bytes as int8
    garbage = region.postprocess(f32.tobytes(), spec, fit, v["score"], v["nms"], 10)
    assert _frame_line(garbage) != _frame_line(want)


def test_openmv_generations_decode_the_real_output(monkeypatch):
    """The unchanged app on each OpenMV generation, the model's output replayed: pfcore paths
    (ml 4.5.6-4.7 floats; tf <= 4.5.5 tf.segment's 8-bit planes) give the same faces as the int8
    bytes; YoloV2 (>= 4.8, raw int8, ndarray anchors) the same faces and scores, boxes within 2 px
    (its integer boxes, soft-NMS). Before, the app read tf.classify (which refuses a grid output:
    an inference error every frame on tf) and csi.CSI (absent on 4.6-4.7: a camera error every
    frame)."""
    v = _vector()
    _use_runner(monkeypatch, Replay(v))
    model = ROOT / v["model"]
    faces = {}
    hal = {"openmv-tf-4.5.5": "openmv/tf+sensor", "openmv-ml-4.5.9": "openmv/ml+sensor",
           "openmv-ml-4.7.0": "openmv/ml+sensor", "openmv-ml-4.8.0": "openmv/ml+csi"}
    assert sorted(hal) == sorted(g.name for g in generations.of_family("openmv"))
    for fw in hal:
        s = run_app("openmv_h7", firmware=fw, frames=itertools.islice(world_mod.synthetic_scene(), 4),
                    model_path=model, max_frames=3)
        assert s["end"] == "max_frames" and s["errors"] == [], (fw, s["errors"][:2])
        assert s["generation"] == fw and s["hello"]["firmware"] == hal[fw]
        assert len({json.dumps(f["faces"]) for f in s["frames"]}) == 1
        faces[fw] = s["frames"][0]["faces"]
    fit = geom.Fit(320, 240, 240, 176, "stretch")
    spec = json.loads((model.parent / "model.json").read_text())["output"]
    want = [[round(x) for x in f[:4]] + [round(f[4], 3)] for f in
            region.postprocess(v["q"].tobytes(), spec, fit, v["score"], v["nms"], 10)]
    assert len(want) >= 3          # a photo with several faces
    assert faces["openmv-ml-4.5.9"] == faces["openmv-ml-4.7.0"] == faces["openmv-tf-4.5.5"] == want
    yolo = faces["openmv-ml-4.8.0"]
    assert [f[4] for f in yolo] == [f[4] for f in want]
    for f, g in zip(yolo, want):
        assert all(abs(f[i] - g[i]) <= 2 for i in range(4)), (yolo, want)


def test_tf_app_refuses_a_float_model(monkeypatch):
    """tf.segment writes a float output as value x 255 cut to 8 bits: the app says so at load."""
    v = _vector()
    r = Replay(v)
    r.out_dtype = np.dtype(np.float32)
    _use_runner(monkeypatch, r)
    s = run_app("openmv_h7", firmware="openmv-tf-4.5.5", frames=itertools.islice(world_mod.synthetic_scene(), 3),
                model_path=ROOT / v["model"], max_frames=2)
    assert s["end"] == "max_frames" and [f["n"] for f in s["frames"]] == [0, 0]
    assert s["errors"][0]["code"] == "model_load" and "float model cannot be read on tf firmware" in s["errors"][0]["text"]


def _openmv_world(tmp_path, gen, model):
    w = world_mod.World(load_board("openmv_h7"), "openmv", gen, tmp_path,
                        frames=itertools.islice(world_mod.synthetic_scene(), 6))
    w.put_file("/flash/picoface.tflite", Path(model).read_bytes())
    return w


@pytest.mark.parametrize("gen", ["openmv-ml-4.5.9", "openmv-ml-4.7.0", "openmv-ml-4.8.0"])
def test_ml_fake_predict_returns_what_py_ml_c_returns(gen, tmp_path, monkeypatch):
    v = _vector()
    _use_runner(monkeypatch, Replay(v))
    w = _openmv_world(tmp_path, gen, ROOT / v["model"])
    with firmware_sandbox(w, "openmv"):
        import ml
        import sensor

        sensor.reset()
        sensor.set_framesize(sensor.QVGA)
        img = sensor.snapshot()
        seen = []
        model = ml.Model("/flash/picoface.tflite", postprocess=lambda m, i, o: seen.append(o[0]) or o)
        out = model.predict([img])[0]
        if gen == "openmv-ml-4.8.0":             # >= 4.8: the post-processor gets the raw tensor
            assert seen[0].dtype == np.int8 and seen[0].itemsize == 1
            assert np.array_equal(seen[0], v["q"])
            model = ml.Model("/flash/picoface.tflite")
            out = model.predict([img])[0]
        else:                                    # 4.5.6 - 4.7.0: postprocess= is ignored
            assert seen == []
        spec = json.loads((ROOT / v["model"]).parent.joinpath("model.json").read_text())["output"]
        assert out.dtype == np.float32 and out.itemsize == 4 and \
            out.shape == (1, spec["grid_h"], spec["grid_w"], 5 * (5 + spec["classes"]))
        want = ((v["q"].astype(np.int32) - v["zero_point"]).astype(np.float32) * np.float32(v["scale"]))
        assert np.array_equal(out, want)
        cb = model.predict([img], callback=lambda m, i, o: o)[0]
        assert cb.dtype == (np.int8 if gen == "openmv-ml-4.8.0" else np.float32)
        with pytest.raises(ValueError, match="Expected a list"):
            model.predict(img)


@pytest.mark.parametrize("gen", [g.name for g in generations.of_family("openmv")])
def test_openmv_fakes_follow_each_releases_source(gen, tmp_path, monkeypatch):
    """csi, tf and ml.postprocessing as each generation's source has them."""
    v = _vector()
    _use_runner(monkeypatch, Replay(v))
    fw = generations.get(gen)
    w = _openmv_world(tmp_path, gen, ROOT / v["model"])
    with firmware_sandbox(w, "openmv"):
        import sensor

        try:
            import csi
        except ImportError:
            csi = None
        assert (csi is None) == (fw["camera"] == "sensor")
        if fw["camera"] == "csi-module":              # one module, two names, no CSI class
            assert csi is sensor and not hasattr(csi, "CSI")
        if fw["camera"] == "csi-class":
            with pytest.raises(TypeError):
                csi.CSI(0)                               # cid is keyword-only (py_csi_ng.c:1335)
            cam = csi.CSI()
            cam.reset()
            with pytest.raises(TypeError):
                cam.snapshot(1000)                       # time is keyword-only (:190)
        try:
            from ml.postprocessing.darknet import YoloV2  # noqa: F401
            darknet = True
        except ImportError:
            darknet = False
        assert darknet == (fw["postprocessing"] == "package")
        if fw["model"] == "ml":
            with pytest.raises(ImportError):
                __import__("tf")
            return
        with pytest.raises(ImportError):
            import ml  # noqa: F401
        import tf

        sensor.reset()
        sensor.set_framesize(sensor.QVGA)
        img = sensor.snapshot()
        net = tf.load("/flash/picoface.tflite", load_to_fb=True)
        assert (net.output_height(), net.output_width(), net.output_datatype()) == (11, 15, "int8")
        with pytest.raises(ValueError, match="Expected model output height to be 1!"):
            tf.classify(net, img)                         # py_tf.c:382-384
        planes = tf.segment(net, img)
        q = v["q"][0]
        assert len(planes) == q.shape[2] == net.output_channels()
        for c, p in enumerate(planes):
            assert (p.width(), p.height()) == (15, 11)
            want = (q[:, :, c].astype(np.int16) + 128).astype(np.uint8)     # the byte XOR 0x80
            assert bytes(p.bytearray()) == want.tobytes() and p.get_pixel(3, 2) == want[2, 3]


def test_yolov2_fake_needs_ndarray_anchors_only_once_something_is_detected(tmp_path, monkeypatch):
    v = _vector()
    _use_runner(monkeypatch, Replay(v))
    w = _openmv_world(tmp_path, "openmv-ml-4.8.0", ROOT / v["model"])
    anchors = json.loads((ROOT / v["model"]).parent.joinpath("model.json").read_text())["output"]["anchors"]
    with firmware_sandbox(w, "openmv"):
        import csi
        import ml
        from ml.postprocessing.darknet import YoloV2
        from ulab import numpy as np_ulab

        cam = csi.CSI()
        cam.reset()
        cam.framesize(csi.QVGA)
        img = cam.snapshot()
        model = ml.Model("/flash/picoface.tflite")
        assert model.predict([img], callback=YoloV2(threshold=0.9999, anchors=anchors)) == ()
        with pytest.raises(TypeError, match="input is not an array"):
            model.predict([img], callback=YoloV2(threshold=0.43, anchors=anchors))
        res = model.predict([img], callback=YoloV2(threshold=0.43, anchors=np_ulab.array(anchors)))
        assert len(res) == 1 and len(res[0]) >= 3


# ------------------------------------------------------------------------ 4. backoff, examples
def test_backoff_shift_stays_a_small_int(small, monkeypatch):
    """40 camera faults in a row: the pause 50 << backoff must stay a small int (< 2**30, the
    31-bit small ints of a 32-bit port; without long ints a bigger shift is an OverflowError)."""
    seen = []

    def tracer(frame, event, arg):
        if frame.f_code.co_name == "main" and frame.f_code.co_filename.endswith("main.py"):
            if "backoff" in frame.f_locals:
                seen.append(frame.f_locals["backoff"])
            return tracer
        return None

    sys.settrace(tracer)
    try:
        s = run_app("maix_dock", firmware="maixpy", frames=itertools.islice(world_mod.synthetic_scene(), 60),
                    model_path=small, max_frames=5, faults={"camera_raise": list(range(40))})
    finally:
        sys.settrace(None)
    assert s["end"] == "max_frames" and len(s["errors"]) == 40
    assert max(seen) >= 5 and (50 << max(seen)) < 2 ** 30


def test_model_example_reads_the_models_contract(small, tmp_path):
    anchors = [[1.3604, 1.7797], [1.9361, 2.6205], [2.9127, 3.8835], [4.9377, 6.1454], [8.8089, 10.0]]  # not Sipeed's
    w = _k210_world(tmp_path, small)
    cfg = {"model": {"address": ADDRESS, "anchors": anchors, "grid_w": 20, "grid_h": 15}, "score": 0.61, "nms": 0.27}
    w.put_file("/flash/picoface.json", json.dumps(cfg))
    with firmware_sandbox(w, "maixpy"):
        g = runpy.run_path(str(ROOT / "device" / "examples" / "model_one_inference.py"), run_name="__main__")
    rl = g["task"].rl
    assert [float(a) for a in rl.anchors] == pytest.approx([a for p in anchors for a in p])
    assert float(rl.threshold) == pytest.approx(0.61) and float(rl.nms_value) == pytest.approx(0.27)
    assert any(ln.startswith("faces: 0 ") for ln in w.lines), w.lines


def test_openmv_example_decodes_the_raw_int8_it_gets(tmp_path, monkeypatch):
    v = _vector()
    _use_runner(monkeypatch, Replay(v))
    w = _openmv_world(tmp_path, "openmv-ml-4.8.0", ROOT / v["model"])
    w.put_file("/flash/picoface.json", json.dumps({"model": {"path": "/flash/picoface.tflite", "classes": 1}}))
    with firmware_sandbox(w, "openmv"):
        with pytest.raises(world_mod.SimulationEnd):
            runpy.run_path(str(ROOT / "device" / "examples" / "openmv_model_fps.py"), run_name="__main__")
    best = (float(v["q"].reshape(-1)[4::6].max()) - v["zero_point"]) * v["scale"]
    want = "max score %.3f" % (1.0 / (1.0 + math.exp(-best)))
    lines = [ln for ln in w.lines if ln.startswith("max score")]
    assert len(lines) >= 4 and all(ln.startswith(want) for ln in lines), (want, lines)
