"""picoface sim / demo and the camera sources (no TensorFlow: a tiny kmodel on the KPU emulator)."""

import json
import socket
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

import fakeboard
from picoface.cli import main as cli_main
from picoface.errors import PicofaceError
from picoface.sim import sources

ROOT = Path(__file__).resolve().parents[1]
PICOFACE = [sys.executable, "-m", "picoface"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return fakeboard.tiny_kmodel(tmp_path_factory.mktemp("tiny"))


# -- sources -------------------------------------------------------------------------------------------------
def test_builtin_scene_moves_people_in_and_out():
    s = sources.BuiltinScene(size=(320, 240), frames=120)
    frames = list(s)
    assert len(frames) == 120 and frames[0].shape == (240, 320, 3) and frames[0].dtype == np.uint8
    counts = [len(s.truth(i)) for i in range(120)]
    assert counts[0] == 0 and max(counts) == 2 and counts[-1] == 0          # empty, two people, empty
    assert any(a == 0 and b > 0 for a, b in zip(counts, counts[1:]))         # someone enters
    assert any(a > 0 and b == 0 for a, b in zip(counts, counts[1:]))         # everyone leaves
    mid = frames[60].astype(int)
    assert np.abs(mid - frames[0].astype(int)).mean() > 10                  # people are drawn
    x, y, w, h = s.truth(60)[0]
    face = frames[60][int(y):int(y + h), int(x):int(x + w)].astype(int)
    assert np.abs(face - s._bg[int(y):int(y + h), int(x):int(x + w)]).mean() > 20  # the face is in its box
    again = sources.BuiltinScene(size=(320, 240), frames=2)
    assert np.array_equal(list(again)[1], frames[1])                         # deterministic
    small = list(sources.BuiltinScene(size=(128, 128), frames=1))[0]
    assert small.shape == (128, 128, 3)


def test_folder_and_video_sources(tmp_path):
    import cv2

    rng = np.random.default_rng(0)
    imgs = [rng.integers(0, 255, (60, 80, 3), dtype=np.uint8) for _ in range(3)]
    d = tmp_path / "imgs"
    d.mkdir()
    for i, im in reversed(list(enumerate(imgs))):
        cv2.imwrite(str(d / ("f%02d.png" % i)), cv2.cvtColor(im, cv2.COLOR_RGB2BGR))
    (d / "notes.txt").write_text("not an image")
    got = list(sources.open_source(str(d)))
    assert len(got) == 3 and all(np.array_equal(a, b) for a, b in zip(got, imgs))  # sorted, RGB
    sized = list(sources.open_source(str(d), size=(40, 40), frames=2))
    assert len(sized) == 2 and sized[0].shape == (40, 40, 3)
    vid = tmp_path / "v.avi"
    w = cv2.VideoWriter(str(vid), cv2.VideoWriter_fourcc(*"MJPG"), 10, (80, 60))
    for k in range(5):
        w.write(np.full((60, 80, 3), (k * 40, 0, 255 - k * 40), np.uint8))  # BGR
    w.release()
    frames = list(sources.open_source(str(vid), size=(80, 60)))
    assert len(frames) == 5 and frames[0].shape == (60, 80, 3)
    assert frames[0][..., 0].mean() > 200 and frames[0][..., 2].mean() < 40  # BGR red -> RGB channel 0


@pytest.mark.parametrize("spec,msg", [("webcam:x", "bad webcam index"), ("/nope/none.mp4", "not found"),
                                      ("webcam:97", "cannot open webcam 97")])
def test_source_errors(spec, msg, tmp_path):
    with pytest.raises(PicofaceError, match=msg):
        list(sources.open_source(spec, frames=1))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(PicofaceError, match="no images"):
        sources.open_source(str(empty))


# -- picoface sim ------------------------------------------------------------------------------------------------
def test_sim_stdout_streams_protocol_lines(tiny, tmp_path):
    r = subprocess.run(PICOFACE + ["sim", "--model", str(tiny), "--frames", "6", "--serial", "stdout",
                                   "--lcd-dir", str(tmp_path / "lcd")], capture_output=True, timeout=600, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    from picoface.protocol import decode_bytes

    msgs, dec = decode_bytes(r.stdout)
    assert dec.counters()["corrupt"] == 0
    hello = [m for m in msgs if m["type"] == "hello"][0]
    assert hello["board"] == "maix_dock" and hello["model"] == "tiny_test" and hello["input"] == [320, 240]
    assert [m["seq"] for m in msgs if m["type"] == "frame"] == [1, 2, 3, 4, 5, 6]
    assert b"6 frames in" in r.stderr and b"end: max_frames" in r.stderr
    assert len(list((tmp_path / "lcd").glob("*.png"))) == 6


def test_sim_to_a_socket_url(tiny):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    got = bytearray()

    def serve():
        conn, _ = srv.accept()
        while True:
            b = conn.recv(65536)
            if not b:
                break
            got.extend(b)

    th = threading.Thread(target=serve, daemon=True)
    th.start()
    r = subprocess.run(PICOFACE + ["sim", "--model", str(tiny), "--frames", "3", "--serial",
                                   "socket://127.0.0.1:%d" % srv.getsockname()[1]], capture_output=True, text=True,
                       timeout=600, cwd=ROOT)
    th.join(10)
    srv.close()
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("serial: socket://")
    assert got.count(b"@PF 1 F ") == 3 and b"@PF 1 H " in got


def test_sim_without_a_model_says_how_to_get_one(monkeypatch, capsys, tmp_path):
    from picoface.flash import models

    monkeypatch.setattr(models, "models_dir", lambda: tmp_path)
    assert cli_main(["sim", "--frames", "1"]) == 1
    err = capsys.readouterr().err
    assert "no shipped model for board maix_dock" in err and "make train" in err and "--model" in err
    assert cli_main(["demo", "--frames", "1"]) == 1
    assert "no shipped model" in capsys.readouterr().err


# -- picoface demo (what `make demo` runs) ------------------------------------------------------------------------
def test_demo_smoke_frames_20(tiny, tmp_path):
    """`make demo`-equivalent: simulated board (child process) -> pty -> monitor, no TTY (plain
    output, as in CI), ends by itself after 20 frames and leaves a log."""
    log = tmp_path / "demo.jsonl"
    r = subprocess.run(PICOFACE + ["demo", "--frames", "20", "--model", str(tiny), "--log", str(log), "--pace", "0"],
                       capture_output=True, text=True, timeout=900, cwd=tmp_path, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "hello: board=maix_dock" in r.stdout and "monitor summary" in r.stdout
    assert "log: %s" % log in r.stdout
    recs = [json.loads(x) for x in log.read_text().splitlines()]
    assert any(x["type"] == "text" and "MaixPy" in x["text"] for x in recs)   # the boot banner is kept
    recs = [x for x in recs if x["type"] != "text"]
    assert recs[0]["type"] == "hello" and recs[0]["model"] == "tiny_test"
    frames = [x for x in recs if x["type"] == "frame"]
    assert [f["seq"] for f in frames] == list(range(1, 21))   # all 20 frames crossed the pty
    cap = log.with_suffix(".log")
    assert cap.read_bytes().count(b"@PF 1 F ") == 20           # raw capture for --replay


def _shipped_demo_model():
    from picoface.boards import load_board
    from picoface.flash.models import shipped

    found = shipped(load_board("maix_dock"), allow_standin=True)
    return found[0][0] if found else None


_SHIPPED = _shipped_demo_model()


@pytest.mark.parametrize("model", [pytest.param(
    _SHIPPED, marks=[pytest.mark.skipif(_SHIPPED is None, reason="no shipped model in models/ yet (make train)")]
    + ([pytest.mark.tf] if _SHIPPED is not None and _SHIPPED.suffix == ".tflite" else []))])
def test_make_demo_with_the_shipped_model(model, tmp_path):
    """Exactly what `make demo ARGS="--frames 20"` runs: no --model, the shipped one is found."""
    r = subprocess.run(PICOFACE + ["demo", "--frames", "20", "--pace", "0"], capture_output=True, text=True,
                       timeout=900, cwd=tmp_path, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "hello: board=maix_dock" in r.stdout and "20 frames" in r.stdout
    assert list((tmp_path / "build" / "demo").glob("demo-*.jsonl"))
