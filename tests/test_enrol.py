"""Enrolment (issue 26): the board verb `enrol NAME SHOTS` (pfcore.commands: parsed, handed to the app as
enrol_request, refused outside mode recognise) and `picoface enrol` against a simulated board in mode detect
and scripted v2 / v1 boards on a pty: the deferred ack, progress lines, and one-line errors."""

import subprocess
import threading
import time

import pytest

import fakeboard
from conftest import ROOT
from picoface.cli import main as cli_main
from picoface.transport import PtyPort
from pfcore import commands, protocol
from test_board_cmd import PICOFACE, start_sim, stop


def _enrol(mode, *args):
    c = commands.Commands({"mode": mode})
    return c.handle({"id": 42, "verb": "enrol", "args": list(args)}), c


def test_enrol_verb_parses_and_hands_over_to_the_app():
    (ok, text, todo), c = _enrol("recognise", "ana", "5")
    assert (ok, text, todo) == (True, "", "enrol") and c.enrol_request == (42, "ana", 5)
    assert "enrol" in commands.VERBS
    for args in (["ana", "1"], ["chloé", "20"]):
        assert _enrol("recognise", *args)[0][0]
    for args, want in ((["ana", "0"], "shots must be 1-20"), (["ana", "21"], "shots must be 1-20"),
                       (["ana", "x"], "shots must be 1-20"), (["ana", "2.5"], "shots must be 1-20"),
                       (["ana", "true"], "shots must be 1-20"), (["a:b", "5"], "','"),
                       (["x" * 25, "5"], "longer than 24"), (["ana"], "enrol NAME SHOTS"),
                       (["ana", "5", "6"], "enrol NAME SHOTS")):
        (ok, text, todo), c = _enrol("recognise", *args)
        assert not ok and want in text and todo == "" and c.enrol_request is None, (args, text)
    for mode in ("detect", "gate"):
        (ok, text, todo), c = _enrol(mode, "ana", "5")
        assert (ok, text, todo) == (False, "enrol needs mode recognise", "") and c.enrol_request is None


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return fakeboard.tiny_kmodel(tmp_path_factory.mktemp("tiny"))


@pytest.mark.slow
def test_enrol_on_a_board_in_mode_detect_is_refused(tiny):
    p, port = start_sim("maix_dock", tiny)
    try:
        r = subprocess.run(PICOFACE + ["enrol", "--port", port, "--name", "ana", "--timeout", "20"],
                           capture_output=True, text=True, timeout=120, cwd=ROOT)
        err = r.stderr.strip().splitlines()
        assert r.returncode == 1 and len(err) == 1, r.stderr
        assert "did not enrol ana: enrol needs mode recognise" in err[0] and "mode recognise in the board's config" in err[0]
    finally:
        stop(p)


class ScriptedBoard:
    """A v2 board on a pty: answers ping, sends a frame line every 50 ms, and answers enrol with
    ``enrol_ack`` ((ok, text), or None: never) after a few frames."""

    def __init__(self, enrol_ack, version=2):
        self.pty = PtyPort()
        self.enrol_ack = enrol_ack
        self.version = version
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _line(self, body):
        s = "@PF %d %s" % (self.version, body)
        self.pty.write((s + "*%04X\r\n" % protocol.crc16(s)).encode())

    def _run(self):
        reader = protocol.LineReader()
        pending = None
        seq = 0
        while not self.stop.is_set():
            for cmd in reader.feed(self.pty.take()):
                if self.version == 1:
                    continue
                if cmd["verb"] == "ping":
                    self.pty.write((protocol.encode_ack(cmd["id"], True, "pong") + "\r\n").encode())
                elif cmd["verb"] == "enrol":
                    pending = (cmd["id"], seq + 4)
            seq += 1
            self._line("F %d %d 20.0 %d%s" % (seq, seq * 50, 1 if seq % 10 > 2 else 0,
                                               " 10,20,30,40,900" if seq % 10 > 2 else ""))
            if pending and seq >= pending[1] and self.enrol_ack is not None:
                self.pty.write((protocol.encode_ack(pending[0], *self.enrol_ack) + "\r\n").encode())
                pending = None
            time.sleep(0.05)

    def close(self):
        self.stop.set()
        self.thread.join(2)
        self.pty.close(linger=0)


@pytest.mark.parametrize("ack, rc, want", [
    ((True, "ana 5"), 0, "enrolled ana: 5 shots"),
    ((False, "no face for 10 s"), 1, "did not enrol ana: no face for 10 s — face the camera"),
    (None, 1, "no answer to enrol from the board on"),
])
def test_enrol_waits_for_the_deferred_ack(ack, rc, want, capsys):
    board = ScriptedBoard(ack)
    try:
        assert cli_main(["enrol", "--port", board.pty.path, "--name", "ana", "--timeout", "1.5"]) == rc
        out, err = capsys.readouterr()
        assert "enrolling ana: look at the camera" in out and "face in view" in out    # progress lines
        if rc == 0:
            assert out.strip().splitlines()[-1] == want
        else:
            lines = err.strip().splitlines()
            assert len(lines) == 1 and want in lines[0], err
            if ack is None:
                assert "--timeout" in lines[0]
    finally:
        board.close()


def test_enrol_on_a_v1_board_and_bad_arguments(capsys):
    board = ScriptedBoard(None, version=1)
    try:
        assert cli_main(["enrol", "--port", board.pty.path, "--name", "ana", "--timeout", "20"]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "speaks protocol v1, which has no commands" in err[0]
    finally:
        board.close()
    for words, want in ((["--name", "a,b"], "--name: name 'a,b' has a ','"), (["--name", "ana", "--shots", "0"],
                                                                             "--shots must be 1-20"),
                        (["--name", "ana", "--timeout", "0"], "--timeout must be positive")):
        assert cli_main(["enrol", "--port", "/dev/nonexistent-port"] + words) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and want in err[0], err
