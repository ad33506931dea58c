"""Fault scenarios of the device app on simulated boards: each one produces a protocol error
line (and an LCD message / red LED) and the loop goes on - no crash, no watchdog reset."""

import itertools
import os
import runpy
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent))
import tiny_model  # noqa: E402
from conftest import ROOT  # noqa: E402

from picoface.sim import world as world_mod  # noqa: E402
from picoface.sim.runner import firmware_sandbox, run_app  # noqa: E402

BOARDS = [("maix_dock", "maixpy"), ("maix_dock", "canmv"), ("openmv_h7", "openmv")]


def scene(n):
    return itertools.islice(world_mod.synthetic_scene(), n)


def dummy_model(tmp_path, board):
    """A model file that is never parsed (the faults below stop the loader first) + contract."""
    p = tmp_path / "dummy.tflite"
    p.write_bytes(b"\x1c\x00\x00\x00TFL3" + bytes(4000))
    grid = (20, 15) if board.startswith("maix") else (8, 8)
    size = (320, 240) if board.startswith("maix") else (128, 128)
    contract = {"name": "dummy", "bytes": 4008, "sha256": "ab" * 32,
                "input": {"w": size[0], "h": size[1], "fit": "stretch"},
                "output": {"grid_w": grid[0], "grid_h": grid[1], "anchors": tiny_model.ANCHORS, "classes": 1,
                           "layout": "NHWC", "dtype": "int8", "scale": 0.1, "zero_point": 0},
                "thresholds": {"score": 0.5, "nms": 0.3}}
    return p, contract


def codes(s):
    return [e["code"] for e in s["errors"]]


def red_blinks(s):
    return len([e for e in s["led"] if e[1] == "red" and e[2]])


def assert_alive(s, n):
    assert s["traceback"] is None and s["end"] == "max_frames", (s["end"], s["traceback"])
    assert s["hello"] is not None and s["corrupt"] == 0
    assert [f["seq"] for f in s["frames"]] == list(range(1, n + 1))


@pytest.mark.parametrize("board,firmware", BOARDS)
@pytest.mark.parametrize("fault,expect", [("missing", None), ("corrupt", None), ("oversize", None)])
def test_model_faults_degrade_and_retry(board, firmware, fault, expect, tmp_path):
    model, contract = dummy_model(tmp_path, board)
    s = run_app(board, firmware=firmware, frames=scene(40), model_path=model, contract=contract, max_frames=40,
                faults={"model": fault}, config={"model_retry_ms": 500})
    assert_alive(s, 40)
    assert all(f["n"] == 0 for f in s["frames"])            # keeps streaming with no faces
    c = codes(s)
    assert set(c) == {"model_load"}
    # first try at boot, then one retry every 500 ms of the ~1.5 s run
    assert 2 <= len(c) <= 5, s["errors"]
    texts = " ".join(e["text"] for e in s["errors"])
    if board.startswith("maix") and firmware == "maixpy":
        assert {"missing": "2002", "corrupt": "2002", "oversize": "2006"}[fault] in texts
    if fault == "oversize":
        assert "2006" in texts or "MemoryError" in texts
    if board == "openmv_h7" and fault == "missing":
        assert "OSError" in texts
    assert red_blinks(s) == len(c)
    if board.startswith("maix"):                             # the LCD says why there are no boxes
        msgs = [e[2][2] for e in s["lcd"] if e[1] == "draw_string"]
        assert any("no model" in m for m in msgs) and any("model_load" in m for m in msgs)


@pytest.mark.parametrize("board,firmware", BOARDS)
def test_camera_exceptions_are_retried(board, firmware):
    s = run_app(board, firmware=firmware, frames=scene(20), max_frames=20,
                faults={"camera_raise": [3, 4, 10]}, config={"model_retry_ms": 100000})
    assert_alive(s, 20)
    assert codes(s).count("camera") == 3
    assert "Sensor Timeout" in [e for e in s["errors"] if e["code"] == "camera"][0]["text"]
    # red on at: boot (model_load, no model), frames 3-4 (stays on across the pair), frame 10
    assert red_blinks(s) == 3
    assert [e for e in s["led"] if e[1] == "red"][-1][2] is False   # off again once frames flow
    if board.startswith("maix"):
        assert any(e[1] == "clear" for e in s["lcd"])      # red error screen


@pytest.mark.parametrize("board,firmware", BOARDS)
def test_camera_dead_at_boot_recovers(board, firmware):
    s = run_app(board, firmware=firmware, frames=scene(10), max_frames=10, faults={"camera_reset_raise": 3},
                config={"model_retry_ms": 100000})
    assert_alive(s, 10)
    # reset 1 (in init) fails quietly; resets 2 and 3 (retried by snapshot) each report one
    assert codes(s).count("camera") == 2
    assert all("Sensor control failed" in e["text"] for e in s["errors"] if e["code"] == "camera")


def test_camera_backoff_keeps_the_watchdog_fed():
    s = run_app("maix_dock", firmware="maixpy", frames=scene(12), max_frames=12,
                faults={"camera_raise": list(range(2, 10))}, config={"watchdog_ms": 1500, "model_retry_ms": 100000})
    assert_alive(s, 12)
    assert codes(s).count("camera") == 8
    assert s["watchdog_ms"] == 1500


def test_watchdog_bites_when_not_fed(tmp_path):
    """Control for the test above: the simulated WDT really resets a stalled app."""
    from picoface.boards import load_board

    w = world_mod.World(load_board("maix_dock"), "maixpy", "maixpy-0.6.2", tmp_path, frames=scene(3))
    with firmware_sandbox(w, "maixpy"):
        from machine import WDT
        import utime

        WDT(id=0, timeout=1000)
        with pytest.raises(world_mod.WatchdogReset):
            utime.sleep_ms(1500)


@pytest.mark.parametrize("kind", ["bad", "bad_values"])
def test_invalid_config_gives_one_error_and_defaults(kind):
    s = run_app("maix_dock", firmware="maixpy", frames=scene(15), max_frames=15, faults={"config": kind},
                config={"model_retry_ms": 100000})
    c = codes(s)
    assert c.count("config") == 1
    text = [e["text"] for e in s["errors"] if e["code"] == "config"][0]
    if kind == "bad":
        assert "JSON" in text and s["hello"]["board"] == ""      # all defaults
        assert s["end"] == "time limit" or s["frames"]            # max_frames was in the broken file
    else:
        assert "score" in text and s["hello"]["board"] == "maix_dock"
        assert s["hello"]["score"] == 0.5                         # default kept
        assert_alive(s, 15)


def test_unexpected_exception_restarts_the_app(tmp_path):
    """An exception escaping main() becomes one 'fatal' error line and the app starts again."""
    from picoface.boards import device_config, load_board

    board = load_board("maix_dock")
    w = world_mod.World(board, "maixpy", "maixpy-0.6.2", tmp_path, frames=scene(6))
    cfg = device_config(board)
    cfg["max_frames"] = 5
    w.put_file("/flash/picoface.json", __import__("json").dumps(cfg))
    with firmware_sandbox(w, "maixpy"):
        import hal

        real = hal.select
        calls = []

        def flaky(c):
            calls.append(1)
            if len(calls) == 1:
                raise RuntimeError("boom")
            return real(c)

        hal.select = flaky
        runpy.run_path(str(ROOT / "device" / "main.py"), run_name="__main__")
    from pfcore import protocol

    decoded = [protocol.decode(line) for line in w.lines]
    errors = [d for d in decoded if d and d["type"] == "error"]
    assert errors[0]["code"] == "fatal" and "boom" in errors[0]["text"]
    assert len([d for d in decoded if d and d["type"] == "frame"]) == 5
    assert w.now_ms >= 1000                                       # it paused before restarting



def test_restart_pause_starts_again_after_a_healthy_run(tmp_path):
    """Faults close together double the pause (1 s, 2 s, ...); a fault after a long healthy run waits
    1 s again, not the doubled pause of faults hours ago."""
    from picoface.boards import device_config, load_board

    board = load_board("maix_dock")
    w = world_mod.World(board, "maixpy", "maixpy-0.6.2", tmp_path, frames=scene(6))
    cfg = device_config(board)
    cfg["max_frames"] = 3
    w.put_file("/flash/picoface.json", __import__("json").dumps(cfg))
    starts = []
    with firmware_sandbox(w, "maixpy"):
        import hal

        real = hal.select

        def flaky(c):
            starts.append(w.now_ms)
            if len(starts) == 3:
                w.now_ms += 120000            # this start ran for two minutes before its fault
            if len(starts) <= 3:
                raise RuntimeError("boom %d" % len(starts))
            return real(c)

        hal.select = flaky
        runpy.run_path(str(ROOT / "device" / "main.py"), run_name="__main__")
    pauses = [b - a for a, b in zip(starts, starts[1:])]
    assert 1000 <= pauses[0] < 1100 and 2000 <= pauses[1] < 2100
    assert 121000 <= pauses[2] < 121100             # 2 min of running, then 1 s (was 4 s)

# ---- faults that need a running model -------------------------------------------------------------
def _tiny(board):
    return tiny_model.cached(320, 240)["int8"] if board.startswith("maix") else tiny_model.cached(128, 128)["int8"]


@pytest.mark.tf
@pytest.mark.parametrize("board,firmware", BOARDS)
@pytest.mark.parametrize("fault,code", [("infer_raise", "inference"), ("memory_error", "memory")])
def test_inference_faults_are_reported_and_skipped(board, firmware, fault, code):
    s = run_app(board, firmware=firmware, frames=scene(21), model_path=_tiny(board), max_frames=20,
                faults={fault: [5]})
    assert_alive(s, 20)
    assert codes(s) == [code]
    assert s["snapshots"] == 21                                   # the failed frame was dropped
    assert red_blinks(s) == 1


@pytest.mark.tf
@pytest.mark.parametrize("board,firmware", [("maix_dock", "maixpy"), ("openmv_h7", "openmv")])
def test_model_that_appears_later_is_loaded(board, firmware):
    s = run_app(board, firmware=firmware, frames=scene(40), model_path=_tiny(board), max_frames=40,
                faults={"model": "missing", "model_appears_at_ms": 1200}, config={"model_retry_ms": 400})
    assert_alive(s, 40)
    c = codes(s)
    assert c and set(c) == {"model_load"}
    # after the file appears the next retry loads it: no more errors, frames without "no model"
    assert len(c) <= 4
    if board.startswith("maix"):
        no_model = [e[0] for e in s["lcd"] if e[1] == "draw_string" and "no model" in e[2][2]]
        assert no_model and max(no_model) < 1200 + 400 + 200 and len(no_model) < 40
