"""Transport: DTR/RTS idle levels before open, URLs, error hints, reset sequences, the sim's pty port."""

import os
import socket
import threading
import time

import pytest
import serial

from picoface.boards import load_board
from picoface.errors import PicofaceError
from picoface.transport import MAX_LINE, PtyPort, Transport, classify


class FakeSerial:
    """Records every modem-line change and open(), like a pyserial port (defaults: both asserted)."""

    def __init__(self, url, **kw):
        self.url, self.kw = url, kw
        self.log = []
        self.is_open = False
        self._dtr = self._rts = True
        self.timeout = kw.get("timeout")
        self.rx = bytearray()

    @property
    def dtr(self):
        return self._dtr

    @dtr.setter
    def dtr(self, v):
        self._dtr = v
        self.log.append(("dtr", v, self.is_open))

    @property
    def rts(self):
        return self._rts

    @rts.setter
    def rts(self, v):
        self._rts = v
        self.log.append(("rts", v, self.is_open))

    def open(self):
        self.log.append(("open", self._dtr, self._rts))
        self.is_open = True

    def close(self):
        self.is_open = False

    @property
    def in_waiting(self):
        return len(self.rx)

    def read(self, n=1):
        out = bytes(self.rx[:n])
        del self.rx[:n]
        return out

    def write(self, b):
        return len(b)

    def flush(self):
        pass


def made(t):
    return t.serial


@pytest.mark.parametrize("board,dtr,rts", [("maix_dock", False, False), ("maix_bit", False, False),
                                           ("openmv_h7", True, False)])
def test_idle_levels_are_set_before_open(board, dtr, rts):
    t = Transport("/dev/ttyUSB0", board=load_board(board), serial_factory=FakeSerial).open()
    log = made(t).log
    opened = log.index(next(e for e in log if e[0] == "open"))
    before = log[:opened]
    assert ("dtr", dtr, False) in before and ("rts", rts, False) in before   # set while still closed
    assert log[opened] == ("open", dtr, rts)                                   # open() applies them
    assert made(t).kw["do_not_open"] is True and made(t).kw["exclusive"] is True
    assert made(t).kw["baudrate"] == 115200


def test_no_board_means_both_lines_low_and_overrides_win():
    t = Transport("/dev/ttyUSB0", serial_factory=FakeSerial).open()
    assert made(t).log[-1] == ("open", False, False)
    t = Transport("/dev/ttyUSB0", board=load_board("maix_dock"), dtr=True, baud=1500000,
                  serial_factory=FakeSerial).open()
    assert made(t).log[-1] == ("open", True, False) and made(t).kw["baudrate"] == 1500000


def test_reset_sequences_run_through_resets_and_return_to_idle():
    board = load_board("maix_dock")
    t = Transport("/dev/ttyUSB0", board=board, serial_factory=FakeSerial).open()
    made(t).log.clear()
    waits = []
    assert t.hard_reset(sleep=waits.append)
    # D0|R1|W0.1|R0|W0.5, then back to idle (D0, R0)
    assert made(t).log == [("dtr", False, True), ("rts", True, True), ("rts", False, True),
                           ("dtr", False, True), ("rts", False, True)]
    assert waits == [0.1, 0.5]
    made(t).log.clear()
    assert t.enter_bootloader(sleep=waits.append)
    assert made(t).log[:2] == [("dtr", True, True), ("rts", True, True)] and made(t).log[-2:] == [
        ("dtr", False, True), ("rts", False, True)]
    omv = Transport("/dev/ttyACM0", board=load_board("openmv_h7"), serial_factory=FakeSerial).open()
    assert omv.hard_reset() is False  # USB CDC boards have no modem-line reset


def test_loop_url_lines():
    with Transport("loop://") as t:
        t.write(b"first\r\nsecond\npartial")
        assert t.read_line(1) == b"first"
        assert t.read_line(1) == b"second"
        assert t.read_line(0.2) is None           # no newline yet
        t.write(b" end\n")
        assert t.read_line(1) == b"partial end"
        t.write(b"x" * 3000)                       # loop:// holds 4 KiB: send the long line in parts
        assert t.read_line(0.2) is None
        t.write(b"x" * (MAX_LINE + 10 - 3000) + b"\n")
        assert t.read_line(1) == b"x" * MAX_LINE   # an endless line is cut, not hoarded
        assert t.read_line(1) == b"x" * 10


def test_socket_url():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]

    def serve():
        conn, _ = srv.accept()
        assert conn.recv(100) == b"hi"  # pyserial flushes input right after connecting: talk after that
        conn.sendall(b"@PF hello over tcp\r\n")
        conn.recv(100)
        conn.close()

    th = threading.Thread(target=serve, daemon=True)
    th.start()
    with Transport("socket://127.0.0.1:%d" % port) as t:
        assert t.is_virtual()
        t.write(b"hi")
        assert t.read_line(5) == b"@PF hello over tcp"
        t.write(b"bye")
    th.join(5)
    srv.close()


def test_rfc2217_refused_gives_a_network_hint():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    with pytest.raises(PicofaceError, match="cannot connect to rfc2217"):
        Transport("rfc2217://127.0.0.1:%d" % port).open()


def test_missing_port_lists_candidates_by_vid_pid(monkeypatch):
    from serial.tools import list_ports

    class Port:
        def __init__(self, dev, vid, pid):
            self.device, self.vid, self.pid, self.description = dev, vid, pid, "USB2.0-Serial"

    monkeypatch.setattr(list_ports, "comports", lambda: [Port("/dev/ttyUSB1", 0x1A86, 0x7523),
                                                         Port("/dev/ttyACM0", 0x37C5, 0x1204)])
    with pytest.raises(PicofaceError) as e:
        Transport("/dev/ttyUSB9", board=load_board("maix_dock")).open()
    msg = str(e.value)
    assert "serial port /dev/ttyUSB9 not found" in msg and "/dev/ttyUSB1 (1a86:7523" in msg
    assert "/dev/ttyACM0" not in msg  # an OpenMV cam is not a candidate for the Dock
    monkeypatch.setattr(list_ports, "comports", lambda: [])
    with pytest.raises(PicofaceError, match="no USB serial port with 1a86:7523 or 0403:6010"):
        Transport("/dev/ttyUSB9", board=load_board("maix_dock")).open()


def test_busy_port_is_reported():
    master, slave = os.openpty()
    path = os.ttyname(slave)
    try:
        with Transport(path):
            with pytest.raises(PicofaceError, match="busy — close the other program"):
                Transport(path).open()
    finally:
        os.close(master)
        os.close(slave)


def test_permission_and_other_errors_map_to_hints():
    def refuse(url, **kw):
        raise serial.SerialException("[Errno 13] could not open port %s: [Errno 13] Permission denied: '%s'"
                                     % (url, url))

    with pytest.raises(PicofaceError, match="dialout"):
        Transport("/dev/ttyUSB0", serial_factory=refuse).open()
    # on Windows "Access is denied" means another program holds the port
    assert classify("could not open port 'COM4': PermissionError(13, 'Access is denied.', None, 5)") == "busy"
    assert classify("[Errno 16] Device or resource busy: '/dev/ttyUSB0'") == "busy"
    assert classify("[Errno 2] No such file or directory: '/dev/ttyUSB0'") == "not_found"
    assert classify("something else") is None


def test_pty_port_feeds_a_transport_and_drops_when_nobody_reads():
    p = PtyPort()
    try:
        with Transport(p.path) as t:
            assert t.is_virtual()
            p.write(b"@PF line one\r\n")
            assert t.read_line(2) == b"@PF line one"
        # nobody reads now: the pty fills up and further lines are dropped, never blocking
        t0 = time.monotonic()
        for _ in range(20000):
            p.write(b"x" * 60 + b"\r\n")
        assert time.monotonic() - t0 < 10
        assert p.dropped > 0 and p.unread() > 0
    finally:
        p.close(linger=0)
    assert p.write(b"after close\n") is False


def test_monitor_guesses_idle_levels_from_vid_pid(monkeypatch, tmp_path):
    from serial.tools import list_ports

    from picoface.transport import boards_for_port, idle_levels_for_port

    class Port:
        def __init__(self, dev, vid, pid):
            self.device, self.vid, self.pid, self.description = dev, vid, pid, "x"

    link = tmp_path / "by-id-openmv"
    link.symlink_to("/dev/ttyACM5")
    monkeypatch.setattr(list_ports, "comports", lambda: [Port("/dev/ttyACM5", 0x37C5, 0x1204),
                                                         Port("/dev/ttyUSB5", 0x0403, 0x6010)])
    assert idle_levels_for_port(str(link)) == (True, False)          # OpenMV: DTR asserted = host listens
    assert {b.name for b in boards_for_port("/dev/ttyUSB5")} == {"maix_dock", "maix_bit"}
    assert idle_levels_for_port("/dev/ttyUSB5") == (False, False)     # both K210 boards agree
    assert idle_levels_for_port("/dev/ttyS0") is None and idle_levels_for_port("socket://h:1") is None


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # pyserial 3.5 uses setDaemon/setName
def test_rfc2217_url_round_trip():
    """A tiny RFC 2217 server (pyserial's PortManager) in front of a loop:// port: what we send
    comes back, and the idle DTR/RTS levels reach the remote port."""
    import select

    from serial import rfc2217

    backing = serial.serial_for_url("loop://", timeout=0.05)
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    stop = threading.Event()

    def serve():
        conn, _ = srv.accept()

        class Conn:  # PortManager writes its telnet answers with .write()
            write = conn.sendall

        pm = rfc2217.PortManager(backing, Conn())
        while not stop.is_set():
            r, _, _ = select.select([conn], [], [], 0.02)
            if r:
                data = conn.recv(1024)
                if not data:
                    break
                backing.write(b"".join(pm.filter(data)))
            data = backing.read(backing.in_waiting or 1)
            if data:
                conn.sendall(b"".join(pm.escape(data)))
        conn.close()

    th = threading.Thread(target=serve, daemon=True)
    th.start()
    try:
        with Transport("rfc2217://127.0.0.1:%d" % srv.getsockname()[1], board=load_board("maix_dock")) as t:
            t.write(b"@PF over rfc2217\r\n")
            assert t.read_line(5) == b"@PF over rfc2217"
            time.sleep(0.2)
            assert backing.dtr is False and backing.rts is False
    finally:
        stop.set()
        th.join(5)
        srv.close()


def test_monitor_reset_pulses_rts_after_the_idle_open(monkeypatch):
    from picoface import monitor as mon

    made_ports = []

    def factory(url, **kw):
        made_ports.append(FakeSerial(url, **kw))
        return made_ports[-1]

    monkeypatch.setattr("time.sleep", lambda s: None)
    t = Transport("/dev/ttyUSB0", board=load_board("maix_dock"), serial_factory=factory)
    m = mon.Monitor()
    m.run(t, duration=0.2, reset=True)
    assert m.stats.status.endswith("(board reset)")
    log = made_ports[0].log
    i = log.index(("open", False, False))
    # after an open with both lines idle: RTS pulses (reset) while DTR (BOOT) stays released
    assert ("rts", True, True) in log[i:] and ("dtr", True, True) not in log[i:]
    assert log[-2:] == [("dtr", False, True), ("rts", False, True)]
