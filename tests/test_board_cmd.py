"""Protocol v2 commands end to end: `picoface cmd` and `picoface monitor` talking to the unchanged app on
a simulated board over a pty (the fake firmware's REPL UART / USB VCP), on every firmware family; a v1
board, a silent port and bad commands refused with one line."""

import re
import subprocess
import sys
import threading
import time

import pytest

import fakeboard
from conftest import ROOT
from picoface.cli import main as cli_main
from picoface.transport import PtyPort
from pfcore import protocol

PICOFACE = [sys.executable, "-m", "picoface"]
SHIPPED_OPENMV = ROOT / "models" / "picoface_openmv_240x176" / "picoface_int8.tflite"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return fakeboard.tiny_kmodel(tmp_path_factory.mktemp("tiny"))


def start_sim(board, model, firmware=None, storage=None):
    """A simulated board on a pty for up to 90 s of wall time; returns (process, pty path)."""
    argv = PICOFACE + ["sim", "--board", board, "--model", str(model), "--serial", "pty", "--seconds", "90",
                       "--pace", "20"]
    if firmware:
        argv += ["--firmware", firmware]
    if storage:
        argv += ["--storage", str(storage)]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    line = p.stdout.readline()
    m = re.match(r"serial: (/dev/\S+)", line)
    assert m, line + p.stderr.read()
    return p, m.group(1)


def cmd(port, *words, timeout=20):
    return subprocess.run(PICOFACE + ["cmd", "--port", port, "--timeout", str(timeout)] + list(words),
                          capture_output=True, text=True, timeout=120, cwd=ROOT)


def stop(p):
    p.terminate()
    try:
        p.wait(20)
    except subprocess.TimeoutExpired:
        p.kill()


@pytest.mark.slow
def test_commands_to_a_simulated_maixpy_board(tiny):
    p, port = start_sim("maix_dock", tiny)
    try:
        r = cmd(port, "ping")
        assert r.returncode == 0 and r.stdout.strip() == "pong", r.stderr
        r = cmd(port, "set", "score", "0.9")
        assert r.returncode == 0 and r.stdout.strip() == "score=0.900", r.stderr
        assert cmd(port, "get", "score").stdout.strip() == "score=0.900"
        r = cmd(port, "hello")
        assert r.returncode == 0 and "board: maix_dock" in r.stdout and "asked: 1" in r.stdout
        assert "score: 0.9" in r.stdout            # the hello carries the threshold in use now
        bad = cmd(port, "set", "score", "2")
        err = bad.stderr.strip().splitlines()
        assert bad.returncode == 1 and len(err) == 1 and err[0].startswith("picoface: the board refused `set score 2`: ")
        assert "score=2 is out of range" in err[0] and " — " in err[0]
        # a monitor that attaches after the boot asks the board for its hello and does not count a restart
        mon = subprocess.run(PICOFACE + ["monitor", "--port", port, "--plain", "--duration", "6"],
                             capture_output=True, text=True, timeout=120, cwd=ROOT)
        assert "asked it for its hello" in mon.stdout and "hello: board=maix_dock" in mon.stdout, mon.stdout
        assert "reboot" not in mon.stdout.split("\n")[-2]
    finally:
        stop(p)


@pytest.mark.slow
@pytest.mark.parametrize("board, model, firmware", [
    ("maix_dock", "tiny", "canmv"), ("maix_dock", "tiny", "maixpy-0.5.0"),
    ("openmv_h7", SHIPPED_OPENMV, "openmv-ml-4.8.0"), ("openmv_h7", SHIPPED_OPENMV, "openmv-tf-4.5.5")])
def test_commands_on_every_family(board, model, firmware, tiny):
    p, port = start_sim(board, tiny if model == "tiny" else model, firmware)
    try:
        r = cmd(port, "set", "leave_frames", "7")
        assert r.returncode == 0 and r.stdout.strip() == "leave_frames=7", r.stderr
        r = cmd(port, "hello")
        assert r.returncode == 0 and "board: %s" % board in r.stdout, r.stderr
    finally:
        stop(p)


def _talker(pty, lines, stop):
    while not stop.is_set():
        for line in lines:
            pty.write((line + "\r\n").encode())
        time.sleep(0.1)


def test_a_v1_board_and_a_silent_port_are_named(capsys):
    v1 = "@PF 1 F 1 100 9.0 0"
    v1 += "*%04X" % protocol.crc16(v1)
    pty = PtyPort()
    stop = threading.Event()
    th = threading.Thread(target=_talker, args=(pty, [v1], stop), daemon=True)
    th.start()
    try:
        assert cli_main(["cmd", "--port", pty.path, "--timeout", "1", "ping"]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "speaks protocol v1, which has no commands" in err[0] and "picoface flash" in err[0]
        # the command line went out as v2
        assert b"@PF 2 C " in pty.take()
    finally:
        stop.set()
        th.join(2)
        pty.close(linger=0)
    silent = PtyPort()
    try:
        assert cli_main(["cmd", "--port", silent.path, "--timeout", "0.5", "ping"]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "no answer to ping" in err[0] and "nothing from the app was heard" in err[0]
    finally:
        silent.close(linger=0)


def test_commands_that_cannot_be_sent_fail_before_the_port(capsys):
    for words, text in ((["Reboot"], "use a-z and _"), (["set", "x" * 70, "y" * 70], "reads at most 120"),
                        (["set", "a", "b", "c", "d", "e"], "at most 4")):
        assert cli_main(["cmd", "--port", "/dev/nonexistent-port", "--timeout", "1"] + words) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and text in err[0] and err[0].startswith("picoface: cannot send"), err


def test_sim_board_input_buffer_and_interrupt_byte(tiny):
    """The fake firmware keeps the host's bytes in a buffer of the firmware's size and drops the
    rest; a 0x03 byte stops the app with KeyboardInterrupt, as on the board."""
    from picoface.sim.runner import run_app

    first = protocol.encode_command(1, "ping").encode() + b"\n" + b"x" * 5000
    sent = [first]
    s = run_app("maix_dock", firmware="maixpy", model_path=tiny, max_frames=4,
                serial_in=lambda: sent.pop(0) if sent else b"", clock={"frame_ms": 33, "infer_ms": 5})
    acks = [protocol.decode(line) for line in s["lines"] if "@PF 2 A" in line]
    assert [a["text"] for a in acks] == ["pong"]
    assert s["rx_dropped"] == len(first) - 2048 and s["end"] == "max_frames"
    ctrl_c = [b"\x03"]
    s = run_app("openmv_h7", firmware="openmv", model_path=SHIPPED_OPENMV, max_frames=4,
                serial_in=lambda: ctrl_c.pop(0) if ctrl_c else b"", clock={"frame_ms": 33, "infer_ms": 5})
    assert s["end"] == "interrupted by the host (Ctrl-C byte)"


@pytest.mark.slow
@pytest.mark.parametrize("board, model", [("maix_dock", "tiny"), ("openmv_h7", SHIPPED_OPENMV)])
def test_gallery_list_rename_remove_survive_a_restart(board, model, tiny, tmp_path):
    from pfcore import gallery

    storage = tmp_path / "board"
    (storage / "flash").mkdir(parents=True)
    people = ["ana", "bob", "chloé"] + ["guest%02d" % i for i in range(9)]
    entries = [[n, bytes(range(16))] for n in people] + [["bob", bytes(16)]]
    (storage / "flash" / "gallery.a").write_bytes(gallery.pack(1, 16, entries))
    p, port = start_sim(board, tiny if model == "tiny" else model, storage=storage)
    try:
        r = subprocess.run(PICOFACE + ["gallery", "list", "--port", port, "--timeout", "20"], capture_output=True,
                           text=True, timeout=120, cwd=ROOT)
        assert r.returncode == 0, r.stderr
        rows = [line.split("\t") for line in r.stdout.strip().splitlines()[:-1]]
        assert [n for n, _ in rows] == sorted(people) and dict(rows)["bob"] == "2"     # several pages
        assert r.stdout.strip().splitlines()[-1] == "12 people, 13 faces"
        r = subprocess.run(PICOFACE + ["gallery", "rename", "bob", "robert", "--port", port, "--timeout", "20"],
                           capture_output=True, text=True, timeout=120, cwd=ROOT)
        assert r.returncode == 0 and r.stdout.strip() == "renamed 2 faces", r.stderr
        r = subprocess.run(PICOFACE + ["gallery", "rm", "guest03", "--port", port, "--timeout", "20"],
                           capture_output=True, text=True, timeout=120, cwd=ROOT)
        assert r.returncode == 0 and r.stdout.strip() == "removed 1 face", r.stderr
        r = subprocess.run(PICOFACE + ["gallery", "rm", "nobody", "--port", port, "--timeout", "20"],
                           capture_output=True, text=True, timeout=120, cwd=ROOT)
        err = r.stderr.strip().splitlines()
        assert r.returncode == 1 and len(err) == 1 and "no face named 'nobody'" in err[0]
    finally:
        stop(p)
    # the board restarts on the same flash: the changes are there, written to the other slot
    assert (storage / "flash" / "gallery.b").is_file()
    p, port = start_sim(board, tiny if model == "tiny" else model, storage=storage)
    try:
        r = subprocess.run(PICOFACE + ["gallery", "list", "--port", port, "--timeout", "20"], capture_output=True,
                           text=True, timeout=120, cwd=ROOT)
        names = [line.split("\t")[0] for line in r.stdout.strip().splitlines()[:-1]]
        assert "robert" in names and "bob" not in names and "guest03" not in names and len(names) == 11
    finally:
        stop(p)
