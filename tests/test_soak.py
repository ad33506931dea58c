"""Soak: the unchanged device app (device/main.py, the real HALs and pfcore) for 10,000 camera
frames per firmware family in the simulator, a fault every 50 frames (camera, KPU/TFLM run,
MemoryError, an exception escaping main(), the model vanishing and coming back, a garbled config;
tests/soak_faults.py), and, shorter, under real MicroPython (wasm) with gc.mem_free.

Checked: the loop never stops; the watchdog is fed on every pass; each fault gives exactly its
error lines and nothing else does; the host decoder accepts every line; memory is flat after
warm-up (CPython: tracemalloc). Under the MicroPython wasm runner gc.collect() frees nothing while a
script runs (measured: 200 calls that each drop 5 KB of garbage leave mem_alloc 1.35 MB higher after
gc.collect(), every time: the pyscript variant collects only from top-level C, between calls into
Python, micropython/micropython#15095), so there the test bounds what the app allocates per pass
instead of checking that the heap is flat."""

import itertools
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import soak_faults as sf  # noqa: E402
from conftest import ROOT  # noqa: E402

from pfcore import protocol  # noqa: E402
from picoface import mprun  # noqa: E402
from picoface.sim import world as world_mod  # noqa: E402
from picoface.sim.runner import run_app  # noqa: E402

FRAMES = 10000
GRID = (5, 4)
WATCHDOG_MS = 32000     # > run()'s longest pause between restarts (30 s); OpenMV's WDT allows 32 s
MEM_SLACK = 64 * 1024   # traced bytes the process may grow by over 9,000 frames (~7 B a frame)
APP_SLACK = 32 * 1024   # of which allocated by device/ code (CPython's type caches keep a few
                        # attribute-name strings per start of the app: ~200 B a restart, bounded)
FIGURES = {}

FAMILIES = [("maix_dock", "maixpy", (320, 240)), ("maix_dock", "canmv", (320, 240)),
            ("openmv_h7", "openmv", (240, 176))]
FAULT_TEXT = {"camera": "Sensor Timeout", "inference": "injected", "memory": "MemoryError", "fatal": "EIO",
              "config": "score must be a number"}


@pytest.mark.slow
@pytest.mark.parametrize("board,firmware,size", FAMILIES)
def test_soak_10000_frames_with_faults(board, firmware, size, tmp_path):
    model = tmp_path / "oracle.bin"
    model.write_bytes(sf.oracle_model())
    scene = list(itertools.islice(world_mod.synthetic_scene(320, 240), 4))
    plan = sf.Plan(every=50, first=100)
    soak = sf.Soak(board, plan, size, GRID, warmup=1000, end_at=FRAMES - 60)
    with soak.installed():
        s = run_app(board, firmware=firmware, frames=itertools.islice(itertools.cycle(scene), FRAMES),
                    model_path=model, contract=sf.oracle_contract(board, GRID, size),
                    config={"watchdog_ms": WATCHDOG_MS, "model_retry_ms": 1000}, clock={"max_ms": 0})
    fig = soak.figures()
    FIGURES[firmware] = fig
    print("soak %s: %s" % (firmware, json.dumps(fig)))

    # the loop stayed alive to the last camera frame
    assert s["end"] == "frames exhausted" and s["traceback"] is None and s["fault"] is None, (s["end"], s["traceback"])
    # a camera fault costs a snapshot but no scene frame; the last call found no frame: the source
    # ended, not the app
    faults = sum(fig["faults"].values())
    assert s["snapshots"] == FRAMES + fig["faults"]["camera"] + 1
    assert soak.seqs_ok and not s["warnings"]
    # one fault every 50 frames, every kind many times
    assert faults == sum(1 for i in range(s["snapshots"]) if plan.kind_at(i)) >= 198
    assert min(fig["faults"].values()) >= 33
    # each fault gave exactly its error lines, in order, and no error line came from anywhere else
    assert soak.codes == soak.expected
    for code, words in FAULT_TEXT.items():
        assert words in soak.texts[code], (code, soak.texts[code])
    # every line decoded by the host decoder; one hello per start of the app
    assert fig["undecodable"] == 0 and s["corrupt"] == 0
    restarts = fig["faults"]["restart"] + fig["faults"]["model"] + fig["faults"]["config"]
    assert fig["hellos"] == fig["app_starts"] == 1 + restarts
    # a frame line for every pass without a fault; the planted face comes and goes (decoded by
    # pfcore or the firmware's region layer)
    assert fig["frames"] == s["snapshots"] - 1 - faults
    assert fig["face_frames"] > 0.4 * fig["frames"] and fig["events"] >= fig["frames"] // 100
    # the watchdog: fed before every frame line, twice when a faulted pass came in between (also
    # across a restart), and never more than one pass apart (the longest: the backoff after a fault)
    assert soak.feeds_per_frame == {1: fig["frames"] - faults, 2: faults}
    assert fig["max_feed_gap_ms"] <= 1500
    # memory flat after warm-up (frame 1,000 -> frame ~9,900, the same point of the loop)
    assert fig["mem_end"] - fig["mem_start"] <= MEM_SLACK, fig
    assert fig["mem_app_end"] - fig["mem_app_start"] <= APP_SLACK, fig


# ---- the same faults under real MicroPython (wasm): memory by gc.mem_free ------------------------------
MP_FRAMES = 500
MP_ALLOC_PER_PASS = 8 * 1024   # bytes the app may allocate per pass (measured: ~5.3 KB with a 5x4 grid)
MP_CONFIG = {"board": "maix_dock", "camera": {"w": 320, "h": 240, "framesize": "QVGA", "pixformat": "RGB565"},
             "model": {"name": "soak", "placement": "flash", "address": 0x300000, "bytes": 4096, "w": 320, "h": 240,
                       "grid_w": GRID[0], "grid_h": GRID[1], "anchors": [[1, 1.2], [2, 2.4], [3, 3.6], [4, 4.8], [5, 6]],
                       "classes": 1, "layout": "NCHW", "dtype": "float32"},
             "score": 0.5, "nms": 0.3, "led": True, "lcd": True, "watchdog_ms": 5000, "max_frames": 0,
             "model_retry_ms": 1000}


@pytest.mark.slow
@pytest.mark.micropython
def test_soak_under_micropython_memory_is_flat(node, tmp_path):
    """device/main.py + the MaixPy HAL + pfcore on the MicroPython wasm port with the minimal MaixPy stubs
    (tests/device_mp_fakes/maixpy) and the soak's overrides (tests/soak_mp: a camera that faults, a KPU that
    raises and runs out of memory, a watchdog that counts feeds and fails twice): 500 frames, a fault every
    20 from frame 40, gc.mem_free / gc.mem_alloc after a collection at frames 100 and 480."""
    cfg = tmp_path / "picoface.json"
    cfg.write_text(json.dumps(MP_CONFIG))
    stubs = ROOT / "tests" / "device_mp_fakes" / "maixpy"
    soak_mp = ROOT / "tests" / "soak_mp"
    mounts = {stubs: "/lib", stubs / "KPU.py": "/lib/_kpu_stub.py", soak_mp: "/lib", cfg: "/flash/picoface.json"}
    for p in sorted((ROOT / "device").glob("hal*.py")):
        mounts[p] = "/lib/%s" % p.name
    r = mprun.run(ROOT / "device" / "main.py", mounts=mounts, heap=512 * 1024, timeout=600, node=node)
    out = r.stdout.splitlines()
    assert r.returncode == 3, (r.returncode, r.stderr[-2000:], out[-10:])   # the camera stub ended the run
    codes, frames, mem, injected, feeds_bad = [], 0, {}, {}, 0
    for line in out:
        if line.startswith("SOAK "):
            f = line.split()
            if f[1] == "mem":
                mem[int(f[2])] = {"free": int(f[3]), "alloc": int(f[4])}
            elif f[1] == "fault":
                injected[f[2]] = injected.get(f[2], 0) + 1
            elif f[1] == "feeds" and f[2] != "1":
                feeds_bad += 1
            continue
        d = protocol.decode(line)                      # ProtocolError for any corrupt framed line
        if d and d["type"] == "error":
            codes.append(d["code"])
        elif d and d["type"] == "frame":
            frames += 1
    expect = []
    for line in out:
        if line.startswith("SOAK fault "):
            expect += {"camera": ["camera"], "kpu": ["inference"], "memory": ["memory"], "restart": ["fatal"]}[
                line.split()[2]]
    FIGURES["micropython"] = {"frames": frames, "faults": injected, "error_lines": len(codes), "gc": mem}
    print("soak micropython: %s" % json.dumps(FIGURES["micropython"]))
    assert sum(injected.values()) == 23 and set(injected) == {"camera", "kpu", "memory", "restart"}
    assert codes == expect                             # each fault: exactly its error line
    assert frames == MP_FRAMES - sum(injected.values()) + injected["restart"]   # the failed feed comes after a frame
    assert feeds_bad == 0                              # one feed per pass, between two snapshots
    assert set(mem) == {100, 480}
    # This wasm build's gc.collect() reclaims nothing while a script runs (a loop of garbage keeps every
    # byte: see the module notes), so gc.mem_free after a collection cannot show a flat heap here; what
    # it does show is what the app allocates per pass, the GC pressure on the board's 512 KB heap.
    per_pass = (mem[480]["alloc"] - mem[100]["alloc"]) / 380.0
    FIGURES["micropython"]["alloc_per_pass"] = round(per_pass)
    print("soak micropython: %.0f B allocated per pass" % per_pass)
    assert 0 < per_pass <= MP_ALLOC_PER_PASS, mem
