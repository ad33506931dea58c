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
    assert b"sim: maixpy/KPU-old (maixpy-0.6.2) on maix_dock" in r.stderr    # the newest generation
    assert len(list((tmp_path / "lcd").glob("*.png"))) == 6


# -- picoface sim --firmware -----------------------------------------------------------------------------------
def test_sim_firmware_list_names_every_generation():
    from picoface.boards import load_board
    from picoface.sim import generations
    from picoface.sim.runner import parse_firmware

    r = subprocess.run(PICOFACE + ["sim", "--firmware", "list"], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    names = r.stdout.split()
    assert names == r.stdout.splitlines() == generations.names()
    assert names == ["maixpy-0.5.0", "maixpy-0.5.1", "maixpy-0.6.2", "canmv-1.0.7", "openmv-tf-4.5.5",
                     "openmv-ml-4.5.9", "openmv-ml-4.7.0", "openmv-ml-4.8.0"]
    boards = {"maixpy": "maix_dock", "canmv": "maix_bit", "openmv": "openmv_h7_plus"}
    for name in names:
        family = name.split("-")[0]
        assert parse_firmware(load_board(boards[family]), name) == (family, name)
    # a family name or nothing: the family's newest
    assert parse_firmware(load_board("maix_dock"), None) == ("maixpy", "maixpy-0.6.2")
    assert parse_firmware(load_board("maix_dock"), "canmv") == ("canmv", "canmv-1.0.7")
    assert parse_firmware(load_board("openmv_h7"), None) == ("openmv", "openmv-ml-4.8.0")


@pytest.mark.parametrize("argv,want", [
    (["--board", "openmv_h7", "--firmware", "maixpy-0.5.0"],
     "picoface: board openmv_h7 does not run maixpy firmware (maixpy-0.5.0) — use one of: openmv-tf-4.5.5, "
     "openmv-ml-4.5.9, openmv-ml-4.7.0, openmv-ml-4.8.0"),
    (["--firmware", "openmv-ml-4.8.0"],
     "picoface: board maix_dock does not run openmv firmware (openmv-ml-4.8.0) — use one of: maixpy-0.5.0, "
     "maixpy-0.5.1, maixpy-0.6.2, canmv-1.0.7"),
    (["--firmware", "maixpy-0.4.0"],
     "picoface: unknown firmware 'maixpy-0.4.0' — use one of: maixpy-0.5.0, maixpy-0.5.1, maixpy-0.6.2, "
     "canmv-1.0.7 (picoface sim --firmware list)"),
])
def test_sim_firmware_of_another_family_is_one_line(argv, want, capsys, tiny):
    assert cli_main(["sim", "--model", str(tiny), "--frames", "1"] + argv) == 1
    cap = capsys.readouterr()
    assert cap.err.strip().splitlines() == [want] and "@PF" not in cap.out


@pytest.mark.parametrize("gen", ["maixpy-0.5.0", "canmv-1.0.7"])
def test_sim_runs_the_generation_it_is_given(gen, tiny):
    r = subprocess.run(PICOFACE + ["sim", "--model", str(tiny), "--frames", "2", "--serial", "stdout",
                                   "--firmware", gen], capture_output=True, timeout=600, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    from picoface.protocol import decode_bytes

    msgs, _ = decode_bytes(r.stdout)
    hello = [m for m in msgs if m["type"] == "hello"][0]
    assert hello["firmware"] == {"maixpy-0.5.0": "maixpy/KPU-old", "canmv-1.0.7": "canmv/maix.KPU"}[gen]
    assert [m["seq"] for m in msgs if m["type"] == "frame"] == [1, 2] and not [m for m in msgs if m["type"] == "error"]
    assert ("(%s) on maix_dock" % gen).encode() in r.stderr
    banner = {"maixpy-0.5.0": b"MicroPython v0.5.0 on 2019-11-29", "canmv-1.0.7": b"MicroPython v1.0.7 on 2024-04-10"}
    assert banner[gen] in r.stdout


def _image_folder(d, good=4):
    """``good`` readable JPEGs plus three bad files: text named .jpg, an empty .jpg, a JPEG cut in half."""
    import cv2

    d.mkdir()
    rng = np.random.default_rng(3)
    for i in range(good):
        cv2.imwrite(str(d / ("good%d.jpg" % i)), rng.integers(0, 255, (120, 160, 3), dtype=np.uint8))
    (d / "notes.jpg").write_text("not an image\n")
    (d / "empty.jpg").write_bytes(b"")
    whole = cv2.imencode(".jpg", rng.integers(0, 255, (120, 160, 3), dtype=np.uint8))[1].tobytes()
    (d / "cut.jpg").write_bytes(whole[:len(whole) // 2])
    return {"notes.jpg": "not a decodable image", "empty.jpg": "empty file",
            "cut.jpg": "truncated JPEG (no end-of-image marker after its last scan)"}


def test_folder_source_skips_unreadable_files(tmp_path):
    bad = _image_folder(tmp_path / "imgs")
    seen = []
    src = sources.open_source(str(tmp_path / "imgs"), size=(80, 60), on_skip=lambda p, why: seen.append((p.name, why)))
    frames = list(src)
    assert len(frames) == 4 and all(f.shape == (60, 80, 3) for f in frames)
    assert sorted(seen) == sorted(bad.items()) and [(p.name, w) for p, w in src.skipped] == seen
    # a JPEG with bytes after its end marker (a camera trailer) is whole
    whole = (tmp_path / "imgs" / "good0.jpg").read_bytes()
    assert not sources.jpeg_cut_short(whole + b"TRAILER") and sources.jpeg_cut_short(whole[:-100])
    # looping: each bad file is reported once
    loop = sources.FolderSource(tmp_path / "imgs", frames=9, loop=True, on_skip=lambda p, why: seen.append(p))
    assert len(list(loop)) == 9 and len(seen) == 6


def test_sim_folder_with_bad_files(tiny, tmp_path):
    """Each bad file is skipped with one warning naming it, every good image is a frame, the summary
    counts the skipped files; a folder of bad files only is an error."""
    bad = _image_folder(tmp_path / "imgs")
    r = subprocess.run(PICOFACE + ["sim", "--model", str(tiny), "--source", str(tmp_path / "imgs"), "--serial",
                                   "stdout"], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    warnings = [line for line in r.stderr.splitlines() if line.startswith("sim: skipped ")]
    assert sorted(warnings) == sorted("sim: skipped %s: %s" % (tmp_path / "imgs" / n, why) for n, why in bad.items())
    assert r.stdout.count("@PF 2 F ") == 4
    assert "4 frames in" in r.stderr and "3 image files skipped (unreadable)" in r.stderr
    assert "end: frames exhausted" in r.stderr and "picoface:" not in r.stderr

    only_bad = tmp_path / "bad"
    only_bad.mkdir()
    for n in bad:
        (tmp_path / "imgs" / n).rename(only_bad / n)
    r = subprocess.run(PICOFACE + ["sim", "--model", str(tiny), "--source", str(only_bad), "--serial", "stdout"],
                       capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert r.returncode == 1 and r.stdout.count("@PF 2 F ") == 0
    assert r.stderr.count("sim: skipped ") == 3
    assert r.stderr.strip().splitlines()[-1] == ("picoface: none of the 3 image files in %s gave an image — "
                                                 "replace the files named above with readable images" % only_bad)


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
    assert got.count(b"@PF 2 F ") == 3 and b"@PF 2 H " in got


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
    assert "host fps (simulated board)" in r.stdout and "frames/s on this host, measured" in r.stdout
    recs = [json.loads(x) for x in log.read_text().splitlines()]
    assert any(x["type"] == "text" and "MaixPy" in x["text"] for x in recs)   # the boot banner is kept
    recs = [x for x in recs if x["type"] != "text"]
    assert recs[0]["type"] == "hello" and recs[0]["model"] == "tiny_test"
    frames = [x for x in recs if x["type"] == "frame"]
    assert [f["seq"] for f in frames] == list(range(1, 21))   # all 20 frames crossed the pty
    cap = log.with_suffix(".log")
    assert cap.read_bytes().count(b"@PF 2 F ") == 20           # raw capture for --replay


def test_demo_board_stops_by_itself_after_seconds(tiny, tmp_path):
    """A demo that runs its time out (what `make demo` does after 30 s) ends normally: the simulated
    board stops itself at --seconds, so its stderr (-sim.txt) holds no "interrupted"."""
    log = tmp_path / "demo.jsonl"
    r = subprocess.run(PICOFACE + ["demo", "--seconds", "3", "--pace", "5", "--model", str(tiny), "--log", str(log)],
                       capture_output=True, text=True, timeout=900, cwd=tmp_path, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "end: time limit (3 s)" in r.stdout and "monitor: lost" not in r.stdout
    sim_err = log.with_name("demo-sim.txt").read_text()
    assert "interrupted" not in sim_err and "picoface:" not in sim_err, sim_err
    frames = [json.loads(x) for x in log.read_text().splitlines() if '"frame"' in x]
    assert len(frames) >= 5


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


def test_sim_fps_is_measured_on_the_host_not_a_constant(tiny):
    """The app's fps in `picoface sim` comes from the host's clock: at --pace 5 the board can run at
    most 5 frames/s, never the 13.7 that fixed 33 ms frame + 40 ms inference constants would give."""
    r = subprocess.run(PICOFACE + ["sim", "--model", str(tiny), "--frames", "12", "--serial", "stdout",
                                   "--pace", "5"], capture_output=True, timeout=600, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    from picoface.protocol import decode_bytes

    msgs, _ = decode_bytes(r.stdout)
    fps = [m["fps"] for m in msgs if m["type"] == "frame"]
    assert len(fps) == 12
    assert 3.0 <= fps[-1] <= 5.3, fps
    assert b"frames/s on this host, measured" in r.stderr and b"not a board estimate" in r.stderr


def test_monitor_view_names_its_fps():
    import io

    from picoface import monitor as mon

    out = io.StringIO()
    view = mon.make_view(plain=True, out=out)
    view.fps_label = "host fps (simulated board)"
    view.message({"type": "frame", "seq": 5, "fps": 9.5, "n": 0, "faces": []}, mon.Stats())
    assert "frame 5 host fps (simulated board) 9.5 faces 0" in out.getvalue()
