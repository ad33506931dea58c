"""picoface flash: the plan (--dry-run), input errors, and full flashes of a fake board on a pty.

The fake board (tests/fakeboard.py) runs in a child process: it speaks the raw REPL, stores
the files it receives, and on soft reset boots the simulated app (run_app) from them. The
kflash step runs the fake kflash (``python tests/fakeboard.py kflash``), which checks the argv
and the .kfpkg like kflash 1.1.6 reads it and writes the images into the fake SPI flash; the
K210 ISP protocol itself is not emulated.
"""

import hashlib
import json
import os
import shlex
import sys
from pathlib import Path

import pytest

import fakeboard
from picoface.cli import main as cli_main
from picoface.errors import PicofaceError

ROOT = Path(__file__).resolve().parents[1]
DEVICE = ROOT / "device"
FAKE_KFLASH = "%s %s kflash" % (sys.executable, Path(fakeboard.__file__).resolve())


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return fakeboard.tiny_kmodel(tmp_path_factory.mktemp("tiny"))


def fake_tflite(path, size):
    """Bytes with the TFLite magic (enough for plan checks, which never run the model)."""
    path.write_bytes(b"\x1c\x00\x00\x00TFL3" + b"\x00" * (size - 8))
    return path


K210_SKIPS = ("hal_openmv.py",)                            # MaixPy and CanMV never import it
OPENMV_SKIPS = ("hal_maixpy.py", "hal_canmv.py", "hal_k210.py")


def app_files(skip=K210_SKIPS):
    """The device files a board gets (a MAIX Dock by default: every HAL but OpenMV's)."""
    return [p for p in sorted(DEVICE.glob("*.py")) + sorted((DEVICE / "pfcore").glob("*.py")) if p.name not in skip]


# -- the plan -------------------------------------------------------------------------------------------------
def test_dry_run_maix_dock(capsys, tiny):
    rc = cli_main(["flash", "--board", "maix_dock", "--port", "/dev/ttyUSB7", "--model", str(tiny), "--dry-run"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "-m kflash -p /dev/ttyUSB7 -b 1500000 -B dan <kfpkg>" in out
    assert "0x300000  picoface.kmodel" in out and "%d B" % tiny.stat().st_size in out
    for p in app_files():
        assert "/flash/" + p.relative_to(DEVICE).as_posix() in out
    assert "/flash/picoface.json" in out and "config (generated)" in out
    assert "DTR=0 RTS=0" in out  # the Dock's idle levels: no reset, no ISP
    assert "model_sha256=%s" % hashlib.sha256(tiny.read_bytes()).hexdigest()[:16] in out
    assert "/sd/picoface.kmodel" not in out  # flash placement: the model goes by kflash only


def test_dry_run_firmware_and_model_in_one_package(capsys, tiny, tmp_path):
    fw = tmp_path / "maixpy.bin"
    fw.write_bytes(os.urandom(1_000_000))
    assert cli_main(["flash", "--model", str(tiny), "--firmware", str(fw), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "0x000000  firmware.bin" in out and "(+sha256 prefix)" in out and "0x300000  picoface.kmodel" in out
    assert out.count("kflash -p") == 1


def test_dry_run_model_as_file_and_openmv(capsys, tiny, tmp_path):
    assert cli_main(["flash", "--model", str(tiny), "--model-placement", "file", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "kflash" not in out and "/sd/picoface.kmodel" in out
    m = fake_tflite(tmp_path / "m.tflite", 50_000)
    assert cli_main(["flash", "--board", "openmv_h7", "--model", str(m), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "kflash" not in out and "/flash/picoface.tflite" in out and "DTR=1 RTS=0" in out
    for p in app_files(OPENMV_SKIPS):
        assert "/flash/" + p.relative_to(DEVICE).as_posix() in out
    for name in OPENMV_SKIPS:
        assert "/flash/" + name not in out


def test_flash_sends_only_the_hals_of_the_boards_firmware(capsys, tiny):
    """A K210 board gets the MaixPy and CanMV HALs and their shared hal_k210.py, never hal_openmv.py."""
    assert cli_main(["flash", "--board", "maix_dock", "--port", "/dev/ttyUSB7", "--model", str(tiny),
                     "--dry-run"]) == 0
    out = capsys.readouterr().out
    for name in ("hal.py", "hal_maixpy.py", "hal_canmv.py", "hal_k210.py", "main.py"):
        assert "/flash/" + name in out
    assert "hal_openmv.py" not in out


@pytest.mark.parametrize("case", ["too_big", "wrong_format", "firmware_overlap", "elf", "no_port", "v5"])
def test_input_errors(case, capsys, tiny, tmp_path, monkeypatch):
    argv = ["flash", "--dry-run", "--model", str(tiny)]
    if case == "too_big":
        big = fake_tflite(tmp_path / "m.tflite", 96_000)
        argv = ["flash", "--board", "openmv_h7", "--dry-run", "--model", str(big)]
        want = "more than the 95000 B"
    elif case == "wrong_format":
        argv = ["flash", "--board", "openmv_h7", "--dry-run", "--model", str(tiny)]
        want = "not a TFLite"
    elif case == "firmware_overlap":
        fw = tmp_path / "fw.bin"
        fw.write_bytes(b"\x01" * 0x300000)
        argv += ["--firmware", str(fw)]
        want = "would overlap the model"
    elif case == "elf":
        fw = tmp_path / "fw.elf"
        fw.write_bytes(b"\x7fELF" + b"\0" * 100)
        argv += ["--firmware", str(fw)]
        want = "is an ELF file"
    elif case == "v5":
        m = tmp_path / "v5.kmodel"
        m.write_bytes(b"LDMK" + (5).to_bytes(4, "little") + b"\0" * 64)
        argv = ["flash", "--dry-run", "--model", str(m)]
        want = "is a kmodel v5; stock MaixPy/CanMV on maix_dock load v3 — convert the float model to a v3 kmodel " \
               "(`picoface kmodel convert MODEL.tflite --board maix_dock --calib DIR --out X.kmodel`)"
    else:
        from serial.tools import list_ports

        class P:
            device, vid, pid, description = "/dev/ttyUSB3", 0x1A86, 0x7523, "USB Serial"

        monkeypatch.setattr(list_ports, "comports", lambda: [P()])
        argv = ["flash", "--model", str(tiny)]
        want = "ports that look like maix_dock: /dev/ttyUSB3 (1a86:7523"
    assert cli_main(argv) == 1
    assert want in capsys.readouterr().err


def test_hello_checks():
    from picoface.boards import load_board
    from picoface.flash import plan as fplan
    from picoface.flash.execute import check_boot

    p = fplan.Plan(board=load_board("maix_dock"), port="x", baud=115200)
    p.expect = {"board": "maix_dock", "firmware": "maixpy|canmv", "model_sha256": "0123456789abcdef",
                "model_bytes": 100, "app": "0.1.0"}
    good = {"board": "maix_dock", "firmware": "maixpy/KPU-old", "app": "0.1.0", "model_hash": "0123456789abcdef",
            "model_bytes": 100}
    frame = {"type": "frame"}
    check_boot(good, [], frame, p)
    for change, msg in [({"board": "openmv_h7"}, "says it is openmv_h7"), ({"firmware": "openmv"}, "runs openmv"),
                        ({"model_hash": "ffff456789abcdef"}, "model hash mismatch"), ({"model_hash": ""}, "no model"),
                        ({"app": "0.0.9"}, "runs app 0.0.9"), ({"model_bytes": 99}, "a 99 B model")]:
        with pytest.raises(PicofaceError, match=msg):
            check_boot(dict(good, **change), [], frame, p)
    # MaixPy < v0.6.0 cannot hash (its SHA engine stops after one block): the hello says so, and
    # the frames that follow are the proof the model loaded; a wrong hash is still refused
    check_boot(dict(good, model_hash="", no_hash="sha_engine"), [], frame, p)
    with pytest.raises(PicofaceError, match="model hash mismatch"):
        check_boot(dict(good, model_hash="ffff456789abcdef", no_hash="sha_engine"), [], frame, p)
    with pytest.raises(PicofaceError, match="model_load"):
        check_boot(dict(good, model_hash="", no_hash="sha_engine"), [{"code": "model_load", "text": "OSError"}], frame, p)
    with pytest.raises(PicofaceError, match="model_load"):
        check_boot(good, [{"code": "model_load", "text": "OSError"}], frame, p)
    with pytest.raises(PicofaceError, match="no frame"):
        check_boot(good, [], None, p)


# -- full flashes of the fake board ----------------------------------------------------------------------------
@pytest.fixture
def board_proc(tmp_path):
    procs = []

    def start(board="maix_dock", **kw):
        root = tmp_path / "board"
        proc, port = fakeboard.spawn(root, board=board, **kw)
        procs.append(proc)
        return root, port

    yield start
    for p in procs:
        fakeboard.stop(p)


def check_received(root, model=None, model_at=None):
    for p in app_files():
        assert (root / "flash" / p.relative_to(DEVICE)).read_bytes() == p.read_bytes()
    assert not (root / "flash" / "hal_openmv.py").exists()
    cfg = json.loads((root / "flash" / "picoface.json").read_text())
    assert cfg["board"] == "maix_dock"
    if model is not None:
        data = model.read_bytes()
        assert cfg["model"]["sha256"] == hashlib.sha256(data).hexdigest()
        assert cfg["model"]["grid_w"] == 20 and len(cfg["model"]["anchors"]) == 5
        assert model_at.read_bytes() == data
    return cfg


def test_full_flash_maix_dock_kflash_and_raw_repl(board_proc, tiny, capsys, monkeypatch):
    root, port = board_proc("maix_dock", max_frames=100000, boot=True)
    monkeypatch.setenv("PICOFACE_KFLASH", FAKE_KFLASH)
    monkeypatch.setenv("PICOFACE_FAKE_SPIFLASH", str(root / "spiflash"))
    rc = cli_main(["flash", "--board", "maix_dock", "--port", port, "--model", str(tiny), "--hello-timeout", "90",
                   "--quiet"])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    assert "ok: maix_dock runs app 0.1.0, firmware maixpy" in cap.out
    assert "hash %s" % hashlib.sha256(tiny.read_bytes()).hexdigest()[:16] in cap.out
    argv = json.loads((root / "spiflash" / "kflash-argv.json").read_text())
    assert argv[:6] == ["-p", port, "-b", "1500000", "-B", "dan"] and argv[6].endswith(".kfpkg")
    check_received(root, tiny, root / "spiflash" / "0x300000.bin")
    # flash again while the app runs (it never stops: max_frames is huge): Ctrl-C must break in
    rc = cli_main(["flash", "--port", port, "--model", str(tiny), "--no-kflash", "--hello-timeout", "90", "--quiet"])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    assert "--no-kflash: the model at 0x300000 is not rewritten" in cap.out


def test_full_flash_model_as_file_and_firmware(board_proc, tiny, capsys, monkeypatch, tmp_path):
    """Model on the SD card over the raw REPL; the firmware alone goes by kflash as a plain .bin."""
    root, port = board_proc("maix_dock", max_frames=5)
    monkeypatch.setenv("PICOFACE_KFLASH", FAKE_KFLASH)
    monkeypatch.setenv("PICOFACE_FAKE_SPIFLASH", str(root / "spiflash"))
    fw = tmp_path / "maixpy_v0.6.3_minimum.bin"
    fw.write_bytes(os.urandom(700_000))
    rc = cli_main(["flash", "--port", port, "--model", str(tiny), "--model-placement", "file", "--firmware",
                   str(fw), "--hello-timeout", "90", "--quiet"])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    cfg = check_received(root, tiny, root / "sd" / "picoface.kmodel")
    assert cfg["model"]["placement"] == "file" and cfg["model"]["path"] == "/sd/picoface.kmodel"
    assert (root / "spiflash" / "0x000000.bin").read_bytes() == fw.read_bytes()
    assert json.loads((root / "spiflash" / "kflash-argv.json").read_text())[-1] == str(fw)
    assert not (root / "spiflash" / "0x300000.bin").exists()


def test_flash_no_model_in_flash_is_reported(board_proc, tiny, capsys):
    """--no-kflash on a board whose flash holds no model: the app's model_load error surfaces."""
    root, port = board_proc("maix_dock", max_frames=5)
    rc = cli_main(["flash", "--port", port, "--model", str(tiny), "--no-kflash", "--hello-timeout", "90", "--quiet"])
    err = capsys.readouterr().err
    assert rc == 1
    assert "the app reports model_load after flashing" in err
    # the hello line's hash is what the board read back from its (erased) flash, not the config's
    assert "model hash mismatch after flashing" in err


def test_a_stopped_board_leaves_no_temporary_folder(tiny, tmp_path):
    """A booted fake board runs the app with run_app, whose simulated filesystem is a temporary
    folder: stopping the board as board_proc does removes it, even while the app streams into a
    pty nobody reads."""
    import time

    from picoface.boards import load_board
    from picoface.flash import plan as fplan

    board = load_board("maix_dock")
    root = tmp_path / "board"
    plan = fplan.build(board, port="/dev/null", model=str(tiny))
    for path, data, _ in plan.files:
        dest = root / path.lstrip("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)
    (root / "spiflash").mkdir()
    (root / "spiflash" / ("0x%06x.bin" % board.model["flash_address"])).write_bytes(plan.model_bytes)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    proc, _ = fakeboard.spawn(root, boot=True, max_frames=100000, env={"TMPDIR": str(tmp)})
    try:
        deadline = time.monotonic() + 120
        while not list(tmp.glob("picoface-sim-*")) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        assert list(tmp.glob("picoface-sim-*")), "the app did not start"
        time.sleep(2)   # frames fill the pty's buffer: the app blocks writing
    finally:
        fakeboard.stop(proc)
    why = "board exit %s, its stderr: %s" % (proc.returncode, proc.stderr.read()[-3000:])
    assert list(tmp.iterdir()) == [] and proc.returncode == 0, why


def test_flash_wrong_board_and_full_filesystem(tmp_path, tiny, capsys):
    """In-process fake boards (no boot needed): the probe stops a K210 flash on an OpenMV cam,
    and a model that does not fit the SD card is refused before writing."""
    fb = fakeboard.FakeBoard(tmp_path / "omv", board="openmv_h7")
    try:
        rc = cli_main(["flash", "--board", "maix_dock", "--port", fb.port, "--model", str(tiny), "--no-kflash",
                       "--quiet"])
        assert rc == 1
        assert "runs openmv firmware, but --board maix_dock is a k210 board" in capsys.readouterr().err
        assert not any((tmp_path / "omv" / "flash").iterdir())  # nothing was written
    finally:
        fb.close()
    fb = fakeboard.FakeBoard(tmp_path / "dock", board="maix_dock", free_bytes=1000)
    try:
        rc = cli_main(["flash", "--port", fb.port, "--model", str(tiny), "--model-placement", "file", "--quiet"])
        assert rc == 1
        assert "does not fit in /sd" in capsys.readouterr().err
    finally:
        fb.close()


def test_flash_no_sd_card(tmp_path, tiny, capsys):
    fb = fakeboard.FakeBoard(tmp_path / "dock", board="maix_dock", sd_card=False)
    try:
        rc = cli_main(["flash", "--port", fb.port, "--model", str(tiny), "--model-placement", "file", "--quiet"])
        assert rc == 1
        assert "no SD card" in capsys.readouterr().err
    finally:
        fb.close()


def test_fake_board_refuses_arbitrary_code(tmp_path):
    from picoface.flash.rawrepl import RawRepl, RemoteError
    from picoface.transport import Transport

    fb = fakeboard.FakeBoard(tmp_path)
    try:
        with Transport(fb.port) as t:
            r = RawRepl(t)
            with pytest.raises(RemoteError, match="does not run arbitrary code"):
                r.exec("import os\nos.remove('/flash/main.py')\n")
            assert r.exec("f.close()\n") == b""  # a known snippet still works afterwards
    finally:
        fb.close()


def _marking_kflash(marker, *lines, rc=0):
    """A kflash command that leaves ``marker`` behind, prints ``lines`` and exits with ``rc``."""
    code = "open(%r, 'w').close()\nfor l in %r: print(l)\nraise SystemExit(%d)" % (str(marker), lines, rc)
    return "%s -c %s" % (sys.executable, shlex.quote(code))


def test_missing_port_is_one_line_before_any_tool_runs(tiny, tmp_path, capsys, monkeypatch):
    marker = tmp_path / "kflash-ran"
    monkeypatch.setenv("PICOFACE_KFLASH", _marking_kflash(marker))
    rc = cli_main(["flash", "--port", "/dev/does_not_exist", "--model", str(tiny), "--quiet"])
    cap = capsys.readouterr()
    assert rc == 1 and not marker.exists() and cap.out == ""
    assert cap.err.count("\n") == 1 and "\x1b" not in cap.err
    assert cap.err.startswith("picoface: serial port /dev/does_not_exist not found — ")
    assert cap.err.rstrip().endswith("pass the right --port")


def test_kflash_failure_is_reported_with_a_hint(tiny, tmp_path, capsys, monkeypatch):
    master, slave = os.openpty()   # a port that exists; kflash fails on it
    try:
        port = os.ttyname(slave)
        monkeypatch.setenv("PICOFACE_KFLASH", _marking_kflash(
            tmp_path / "ran", "\x1b[32m[INFO]\x1b[0m Trying to Enter the ISP Mode...",
            "\x1b[31m\x1b[1m[ERROR]\x1b[0m Greeting fail, check serial port", "\x1b[1m\x1b[31m[ERROR]\x1b[0m done", rc=1))
        rc = cli_main(["flash", "--port", port, "--model", str(tiny), "--quiet"])
        err = capsys.readouterr().err
        assert rc == 1 and (tmp_path / "ran").exists()
        assert "\x1b" not in err   # neither in kflash's echoed output nor in the error
        assert "  kflash: [ERROR] Greeting fail, check serial port\n" in err
        last = err.rstrip("\n").splitlines()[-1]
        assert err.count("picoface:") == 1 and last.startswith(
            "picoface: kflash failed (exit code 1): [INFO] Trying to Enter the ISP Mode... | [ERROR] Greeting "
            "fail, check serial port | [ERROR] done — the board did not enter ISP mode")
        monkeypatch.setenv("PICOFACE_KFLASH", "/no/such/kflash")
        assert cli_main(["flash", "--port", port, "--model", str(tiny), "--quiet"]) == 1
        assert "kflash command '/no/such/kflash' not found" in capsys.readouterr().err
    finally:
        os.close(master)
        os.close(slave)


def test_default_model_resolution(tmp_path, monkeypatch, tiny):
    """models/*/model.json: the board's own format first; a TFLite only stands in for the simulator."""
    from picoface.boards import load_board
    from picoface.flash import models

    monkeypatch.setattr(models, "models_dir", lambda: tmp_path)
    dock = load_board("maix_dock")
    t = tmp_path / "picoface_k210_320x240"
    t.mkdir()
    data = fake_tflite(t / "m.tflite", 1000).read_bytes()
    c = json.loads((tiny.parent / "model.json").read_text())
    c.update(format="tflite-int8", file="m.tflite", bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
    c["input"].update(layout="NHWC")
    c["output"].update(layout="NHWC", dtype="int8", scale=0.05, zero_point=-10)
    (t / "model.json").write_text(json.dumps(c))
    art, c = models.resolve(dock, None, allow_standin=True)          # sim/demo: the TFLite stands in
    assert art == t / "m.tflite" and c["format"] == "tflite-int8"
    with pytest.raises(PicofaceError, match="needs a kmodel-v3 model; models/ ships only .*picoface kmodel convert"):
        models.resolve(dock, None)                                      # flash: a kmodel is required
    k = tmp_path / "k"
    k.mkdir()
    (k / "picoface_tiny.kmodel").write_bytes(tiny.read_bytes())
    (k / "model.json").write_text((tiny.parent / "model.json").read_text())
    assert models.resolve(dock, None)[0] == k / "picoface_tiny.kmodel"
    assert models.resolve(dock, None, allow_standin=True)[0] == k / "picoface_tiny.kmodel"  # exact first
    assert models.resolve(dock, str(k))[0] == k / "picoface_tiny.kmodel"                   # a folder works
    with pytest.raises(PicofaceError, match="no shipped model for board openmv_h7"):
        models.resolve(load_board("openmv_h7"), None)
