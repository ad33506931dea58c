"""picoface monitor --mqtt against a real Mosquitto (tests/mqttbroker.py): every topic and payload,
Home Assistant discovery, rate limits, the last will, broker restarts, the queue bound, bad
logins and silent brokers, and two simulated boards on two ptys. Skips without mosquitto."""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import tty
from pathlib import Path

import pytest

import fakeboard
from mqttbroker import Broker, Recorder, retained
from pfcore import protocol as P
from picoface.cli import main as cli_main
from picoface.protocol import decode_bytes
from usbport import FakeUsbPort

DATA = Path(__file__).resolve().parent / "data"
PICOFACE = [sys.executable, "-m", "picoface"]
HELLO = P.encode_hello(board="maix_dock", firmware="maixpy/KPU", app="0.1.0", model="pf", model_bytes=1234,
                       model_hash="ab" * 8, input_w=320, input_h=240, cam_w=320, cam_h=240, score=0.5, nms=0.3)


@pytest.fixture
def broker(tmp_path):
    b = Broker(tmp_path / "broker").start()
    yield b
    b.stop()


def monitor(args, env=None, **kw):
    e = dict(os.environ, PYTHONUNBUFFERED="1")
    e.pop("PICOFACE_MQTT_PASSWORD", None)
    e.update(env or {})
    return subprocess.Popen(PICOFACE + ["monitor", "--plain", "--every", "1000"] + args, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, env=e, **kw)


def finish(proc, timeout=60):
    if getattr(proc, "lines", None) is not None:
        err = proc.stderr.read()
        proc.wait(timeout)
        proc.reader.join(timeout)
        return proc.returncode, "".join(proc.lines), err
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def attached(proc, timeout=30):
    """Wait until the monitor has opened its port (pyserial drops what was buffered before)."""
    proc.lines = []

    def read():
        for line in proc.stdout:
            proc.lines.append(line)

    proc.reader = threading.Thread(target=read, daemon=True)
    proc.reader.start()
    end = time.monotonic() + timeout
    while not any("monitor: connected to" in x for x in proc.lines):
        assert time.monotonic() < end and proc.poll() is None, "".join(proc.lines) + proc.stderr.read()
        time.sleep(0.05)
    return proc


class PtyBoard:
    """The board end of a pty: the test writes protocol lines, the monitor opens ``path``."""

    def __init__(self):
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.path = os.ttyname(self.slave)

    def send(self, line):
        os.write(self.master, line.encode() + b"\r\n")

    def close(self):
        for fd in (self.master, self.slave):
            os.close(fd)


def frame(seq, n):
    return P.encode_frame(seq, seq * 33, 30.0, [[10 * i, 20, 30, 40, 0.9] for i in range(n)])


def event(seq, kind):
    return P.encode_event(seq, seq * 33, kind, 1 if kind == "enter" else 0)


# -- no broker needed --------------------------------------------------------------------------------------------
def test_frame_payload_carries_each_faces_class():
    """A frame of a multi-class model: each face's label after its score; a 1-class frame as before;
    an identified face (mode recognise) keeps its box and score."""
    from picoface.mqtt.topics import frame_payload

    d = P.decode(P.encode_frame(5, 50, 10.0, [[10, 20, 30, 40, 0.9, 1], [1, 2, 3, 4, 0.5, 0, "ann", 0.7]],
                                ["mask", "no_mask"]))
    assert json.loads(frame_payload(d))["faces"] == [[10, 20, 30, 40, 0.9, "no_mask"], [1, 2, 3, 4, 0.5, "mask"]]
    one = P.decode(P.encode_frame(5, 50, 10.0, [[10, 20, 30, 40, 0.9]]))
    assert frame_payload(one) == '{"faces":[[10,20,30,40,0.9]],"fps":10.0,"ms":50,"n":1,"seq":5}'


def test_url_parsing_and_redaction():
    from picoface.mqtt import url

    u = url.parse("mqtts://cam:pa%40ss@broker.lan/home/picoface")
    assert (u.host, u.port, u.prefix, u.user, u.password, u.tls) == ("broker.lan", 8883, "home/picoface", "cam",
                                                                     "pa@ss", True)
    assert u.redacted() == "mqtts://cam:***@broker.lan:8883/home/picoface" and "pa@ss" not in repr(u)
    assert url.parse("mqtt://h:1884/p").port == 1884
    assert url.resolve_password(url.parse("mqtt://cam@h/p"), environ={url.PASSWORD_ENV: "from-env"}).password \
        == "from-env"


@pytest.mark.parametrize("spec, msg", [
    ("http://h/p", "must start with mqtt:// or mqtts://"), ("mqtt://h:99999/p", "port is not a number"),
    ("mqtt://h", "no topic prefix"), ("mqtt://h/a/#", "wildcard"), ("mqtt:///p", "no broker host")])
def test_bad_urls_are_one_clear_line(spec, msg, capsys, tmp_path):
    assert cli_main(["monitor", "--replay", str(DATA / "sim_maix_dock.log"), "--mqtt", spec]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("picoface: --mqtt: ") and msg in err[0], err


def test_outbox_drops_the_oldest_and_counts():
    from picoface.mqtt.outbox import Outbox

    q = Outbox(bound=3)
    for i in range(5):
        q.put(i)
    assert (q.dropped, len(q), q.high_water) == (2, 3, 3)
    assert [q.get(0) for _ in range(4)] == [2, 3, 4, None]


def test_board_ids_are_sanitised_and_unique():
    from picoface.mqtt.board import Ids
    from picoface.mqtt.topics import sanitise

    assert sanitise("MAIX Dock #1/+") == "maix_dock_1" and sanitise("../") == "board"
    ids = Ids()
    assert [ids.claim("maix_dock"), ids.claim("maix_dock"), ids.claim("hall")] == ["maix_dock", "maix_dock-2", "hall"]


# -- against mosquitto -------------------------------------------------------------------------------------------
def test_replay_publishes_every_topic_and_ha_discovery(broker, tmp_path):
    stream = tmp_path / "stream.log"
    stream.write_bytes((DATA / "sim_maix_dock.log").read_bytes()
                       + (P.encode_error("camera", "snapshot failed: timeout") + "\r\n").encode())
    rec = Recorder(broker)
    t0 = time.monotonic()
    rc, out, err = finish(monitor(["--replay", str(stream), "--replay-rate", "60", "--mqtt", broker.url(),
                                   "--mqtt-faces-rate", "2", "--mqtt-frames", "3"]))
    took = time.monotonic() - t0
    assert rc == 0, out + err
    assert "mqtt maix_dock: " in out and "0 dropped" in out and "NOT delivered" not in out
    time.sleep(0.5)
    msgs, _ = decode_bytes(stream.read_bytes())
    frames = {m["seq"]: m for m in msgs if m["type"] == "frame"}
    base = "picoface/maix_dock/"

    states = [json.loads(p) for p in rec.payloads(base + "state")]
    assert states[0]["state"] == "online" and states[-1]["state"] == "offline"   # clean end: offline, said so
    assert {k: states[0][k] for k in ("board", "firmware", "app", "model", "model_hash")} == {
        "board": "maix_dock", "firmware": "maixpy/KPU-old", "app": "0.1.0", "model": "maixpy_stock_face",
        "model_hash": "e3c6669f96761e69"}
    assert rec.payloads(base + "presence") == ["ON", "OFF"]
    assert [json.loads(p) for p in rec.payloads(base + "event")] == [
        {"kind": "enter", "n": 2, "seq": 29, "ms": 2747}, {"kind": "leave", "n": 0, "seq": 91, "ms": 7273}]
    assert [json.loads(p) for p in rec.payloads(base + "error")] == [{"code": "camera",
                                                                      "text": "snapshot failed: timeout"}]
    # faces: only changes, never more than 2 a second, and the last one is the stream's last count
    faces = rec.on(base + "faces")
    assert faces and faces[-1][2] == str(msgs[-2]["n"] if msgs[-1]["type"] == "error" else msgs[-1]["n"])
    assert len(faces) <= 2 * took + 2
    assert all(b[0] - a[0] > 0.3 for a, b in zip(faces, faces[1:])), [f[0] for f in faces]
    # frames: at most 3 a second, each exactly a frame of the stream
    fr = [json.loads(p) for p in rec.payloads(base + "frame")]
    assert 1 <= len(fr) <= 3 * took + 2
    for f in fr:
        src = frames[f["seq"]]
        assert (f["n"], f["ms"], f["fps"]) == (src["n"], src["ms"], src["fps"])
        assert f["faces"] == [[x, y, w, h, round(s, 3)] for x, y, w, h, s in src["faces"]]
    # Home Assistant discovery
    pres = json.loads(rec.payloads("homeassistant/binary_sensor/maix_dock_presence/config")[-1])
    cnt = json.loads(rec.payloads("homeassistant/sensor/maix_dock_faces/config")[-1])
    for cfg in (pres, cnt):
        assert cfg["availability"] == [{"topic": base + "state", "value_template": "{{ value_json.state }}",
                                        "payload_available": "online", "payload_not_available": "offline"}]
        assert cfg["device"]["identifiers"] == ["picoface_maix_dock"] and cfg["device"]["model"] == "maix_dock"
        assert cfg["device"]["sw_version"] == "app 0.1.0 fw maixpy/KPU-old"
    assert (pres["state_topic"], pres["payload_on"], pres["payload_off"], pres["device_class"]) == (
        base + "presence", "ON", "OFF", "occupancy")
    assert (cnt["state_topic"], cnt["unique_id"]) == (base + "faces", "picoface_maix_dock_faces")
    rec.close()
    # what Home Assistant sees when it (re)starts: the retained messages
    kept = retained(broker)
    assert json.loads(kept[base + "state"])["state"] == "offline"
    assert kept[base + "presence"] == "OFF" and kept[base + "faces"] == faces[-1][2]
    assert set(kept) >= {"homeassistant/binary_sensor/maix_dock_presence/config",
                         "homeassistant/sensor/maix_dock_faces/config"}
    assert base + "event" not in kept and base + "frame" not in kept


def test_no_ha_discovery_and_custom_prefix(broker):
    rec = Recorder(broker)
    rc, out, err = finish(monitor(["--replay", str(DATA / "sim_maix_dock.log"), "--mqtt", broker.url("home/cams"),
                                   "--no-ha-discovery"]))
    assert rc == 0, out + err
    time.sleep(0.5)
    topics = {m[1] for m in rec.msgs}
    assert "home/cams/maix_dock/state" in topics and not any(t.startswith("homeassistant/") for t in topics)
    rec.close()


def test_last_will_marks_the_board_offline_when_the_monitor_dies(broker):
    board = PtyBoard()
    rec = Recorder(broker)
    proc = attached(monitor(["--port", board.path, "--mqtt", broker.url(), "--mqtt-keepalive", "5"]))
    try:
        board.send(HELLO)
        for i in range(1, 6):
            board.send(frame(i, 1))
        assert rec.wait(lambda: any('"online"' in p for p in rec.payloads("picoface/maix_dock/state")))
        proc.send_signal(signal.SIGKILL)   # no goodbye: only the broker's last will can say it
        proc.wait(10)
        assert rec.wait(lambda: rec.payloads("picoface/maix_dock/state")[-1] == '{"state":"offline"}', 15)
        assert json.loads(retained(broker)["picoface/maix_dock/state"])["state"] == "offline"
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        board.close()
        rec.close()


def write_events(board, count, rate, first=1):
    """``count`` enter/leave events (one frame before each), ``rate`` per second; returns their seqs."""
    seqs = []
    for i in range(count):
        seq = first + i
        board.send(frame(seq, i % 2))
        board.send(event(seq, "enter" if i % 2 == 0 else "leave"))
        seqs.append(seq)
        time.sleep(1.0 / rate)
    return seqs


def test_broker_restart_loses_no_qos1_event(broker):
    """Events keep coming while the broker is down for ~2.5 s: every one arrives after it is back
    (at-least-once: duplicates are counted, not failed)."""
    board = PtyBoard()
    rec = Recorder(broker, topics=("picoface/+/event",))
    proc = attached(monitor(["--port", board.path, "--mqtt", broker.url(), "--duration", "14", "--mqtt-drain", "15"]))
    try:
        board.send(HELLO)
        time.sleep(1.0)
        sent = []
        box = {}

        def outage():
            time.sleep(1.5)
            broker.stop()
            box["down"] = time.monotonic()
            time.sleep(2.5)
            broker.start()
            box["up"] = time.monotonic()

        t = threading.Thread(target=outage)
        t.start()
        sent = write_events(board, 100, 20)     # 5 s of events, 20 a second
        t.join()
        rc, out, err = finish(proc, 60)
        assert rc == 0, out + err
        assert rec.wait(lambda: len({json.loads(p)["seq"] for p in rec.payloads("picoface/maix_dock/event")})
                        >= len(sent), 20)
    finally:
        if proc.poll() is None:
            proc.kill()
        board.close()
        rec.close()
    got = [json.loads(p)["seq"] for p in rec.payloads("picoface/maix_dock/event")]
    assert set(got) == set(sent)
    dups = len(got) - len(set(got))
    print("\nbroker restart: outage %.1f s, %d events sent, %d received (%d distinct, %d duplicates); %s" % (
        box["up"] - box["down"], len(sent), len(got), len(set(got)), dups,
        [x for x in out.splitlines() if x.startswith("mqtt ")][0]))
    assert "0 dropped" in out and "NOT delivered" not in out


def test_queue_bound_drops_the_oldest_and_says_how_many(broker, tmp_path):
    """Broker down, queue bound 10: the newest 10 messages wait, the older ones are counted as
    dropped; the serial side never waits for the network (every event is in the log)."""
    board = PtyBoard()
    log = tmp_path / "run.jsonl"
    proc = attached(monitor(["--port", board.path, "--mqtt", broker.url(), "--duration", "9", "--mqtt-queue", "10",
                             "--mqtt-drain", "10", "--log", str(log)]))
    rec = None
    try:
        board.send(HELLO)
        time.sleep(2.0)
        broker.stop()
        time.sleep(0.5)
        sent = write_events(board, 20, 50)     # 20 events = 40 messages (event + presence) while down
        time.sleep(0.3)
        broker.start()
        rec = Recorder(broker, topics=("picoface/+/event",), client_id="late")
        rc, out, err = finish(proc, 60)
        assert rc == 0, out + err
    finally:
        if proc.poll() is None:
            proc.kill()
        board.close()
    line = [x for x in out.splitlines() if x.startswith("mqtt maix_dock:")][0]
    assert "30 dropped (queue bound 10, peak 10)" in line, line
    time.sleep(0.5)
    got = sorted({json.loads(p)["seq"] for p in rec.payloads("picoface/maix_dock/event")})
    rec.close()
    assert got == sent[-5:]          # the newest 5 events (and their presence) were kept
    assert retained(broker)["picoface/maix_dock/presence"] == "OFF"   # the last event was a leave
    assert [json.loads(x)["seq"] for x in log.read_text().splitlines() if '"event"' in x] == sent


def test_wrong_password_is_one_clear_line_and_the_right_one_works(tmp_path):
    b = Broker(tmp_path / "broker", users={"cam": "s3cret-pw"}).start()
    try:
        cap = str(DATA / "sim_maix_dock.log")
        for url, env in ((b.url(auth="cam@"), {"PICOFACE_MQTT_PASSWORD": "wrong-pw"}),
                         (b.url(auth="cam:wrong-pw@"), {}), (b.url(), {})):
            rc, out, err = finish(monitor(["--replay", cap, "--mqtt", url], env=env))
            lines = err.strip().splitlines()
            assert rc == 1 and len(lines) == 1, err
            assert lines[0].startswith("picoface: MQTT broker 127.0.0.1:%d refused the login (" % b.port), lines
            assert "wrong-pw" not in out + err and "Traceback" not in err
        pwfile = tmp_path / "pw"
        pwfile.write_text("s3cret-pw\n")
        rec = Recorder(b, user="cam", password="s3cret-pw")
        rc, out, err = finish(monitor(["--replay", cap, "--mqtt", b.url(auth="cam@"), "--mqtt-password-file",
                                       str(pwfile)]))
        assert rc == 0, out + err
        assert "s3cret-pw" not in out + err
        assert rec.wait(lambda: rec.payloads("picoface/maix_dock/state"))
        rc, out, err = finish(monitor(["--replay", cap, "--mqtt", b.url("cams", auth="cam:s3cret-pw@")]))
        assert rc == 0 and "s3cret-pw" not in out + err, out + err
        assert "mqtt: publishing to mqtt://cam:***@127.0.0.1:%d/cams (QoS 1" % b.port in err
        assert rec.wait(lambda: rec.payloads("cams/maix_dock/state"))
        rec.close()
    finally:
        b.stop()


def test_a_broker_that_never_answers_times_out_with_one_line():
    with socket.socket() as s:              # accepts TCP (the kernel does), never says a word
        s.bind(("127.0.0.1", 0))
        s.listen(5)
        port = s.getsockname()[1]
        t0 = time.monotonic()
        rc, out, err = finish(monitor(["--replay", str(DATA / "sim_maix_dock.log"), "--mqtt",
                                       "mqtt://127.0.0.1:%d/picoface" % port, "--mqtt-timeout", "2"]), 30)
    assert rc == 1 and time.monotonic() - t0 < 15
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "picoface: MQTT broker 127.0.0.1:%d did not answer within 2 s (no CONNACK) — " % port), err
    assert "monitor summary" not in out      # nothing was read from the board


def test_nothing_listening_is_one_clear_line():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    rc, out, err = finish(monitor(["--replay", str(DATA / "sim_maix_dock.log"), "--mqtt",
                                   "mqtt://127.0.0.1:%d/picoface" % port]), 30)
    lines = err.strip().splitlines()
    assert rc == 1 and len(lines) == 1
    assert lines[0].startswith("picoface: cannot reach MQTT broker 127.0.0.1:%d (" % port), lines


# -- several boards -----------------------------------------------------------------------------------------------
def start_sim(tiny, frames, seed):
    proc = subprocess.Popen(PICOFACE + ["sim", "--model", str(tiny), "--serial", "pty", "--frames", str(frames),
                                        "--pace", "8", "--seed", str(seed)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"))
    for line in proc.stdout:
        if line.startswith("serial: "):
            return proc, line.split(" ", 1)[1].strip()
    proc.kill()
    raise AssertionError("sim did not start: %s" % proc.stderr.read())


def test_two_simulated_boards_on_two_ptys_one_monitor(broker, tmp_path):
    tiny = fakeboard.tiny_kmodel(tmp_path / "tiny")
    (a, pa), (b, pb) = start_sim(tiny, 80, 1), start_sim(tiny, 80, 2)   # 10 s each
    boards = tmp_path / "boards.toml"
    boards.write_text('[[board]]\nname = "hall"\nport = "%s"\n\n[[board]]\nname = "desk"\nport = "%s"\n' % (pa, pb))
    rec = Recorder(broker)
    log = tmp_path / "run.jsonl"
    try:
        rc, out, err = finish(monitor(["--boards", str(boards), "--mqtt", broker.url(), "--log", str(log),
                                       "--duration", "16"]), 120)
    finally:
        for p in (a, b):
            p.wait(60)
    assert rc == 0, out + err
    time.sleep(0.5)
    rec.close()
    for name in ("hall", "desk"):
        base = "picoface/%s/" % name
        st = [json.loads(p) for p in rec.payloads(base + "state")]
        assert st[0] == {"state": "online", "source": name} and st[-1]["state"] == "offline"
        assert rec.payloads(base + "faces") and rec.payloads("homeassistant/sensor/%s_faces/config" % name)
        assert "[%s] monitor: connected to " % name in out and "mqtt %s: " % name in out
        # each board's frames in its own log, in order (the ones sent before the monitor opened the
        # pty are gone: pyserial empties the input buffer on open, as with a board that was running)
        seqs = [json.loads(x)["seq"] for x in (tmp_path / ("run-%s.jsonl" % name)).read_text().splitlines()
                if '"frame"' in x]
        assert len(seqs) >= 40 and seqs == list(range(seqs[0], 81))
    topics = {m[1] for m in rec.msgs}
    assert {t.split("/")[1] for t in topics if t.startswith("picoface/")} == {"hall", "desk"}


def test_two_replays_one_process(broker, tmp_path, capsys):
    """--replay twice: one line prefix and one log per board; both hellos say maix_dock, so the
    second board id gets a suffix (name boards with NAME=PORT or --boards for ids that never move)."""
    for name in ("a", "b"):
        (tmp_path / ("%s.log" % name)).write_bytes((DATA / "sim_maix_dock.log").read_bytes())
    rec = Recorder(broker)
    log = tmp_path / "run.jsonl"
    assert cli_main(["monitor", "--plain", "--every", "1000", "--replay", str(tmp_path / "a.log"), "--replay",
                     str(tmp_path / "b.log"), "--log", str(log), "--mqtt", broker.url()]) == 0
    out = capsys.readouterr().out
    for name in ("a", "b"):
        assert "[%s] hello: board=maix_dock" % name in out and "[%s] monitor summary: 125 lines" % name in out
        recs = (tmp_path / ("run-%s.jsonl" % name)).read_text().splitlines()
        assert sum('"frame"' in x for x in recs) == 120
    assert rec.wait(lambda: {m[1].split("/")[1] for m in rec.msgs if m[1].endswith("/event")}
                    == {"maix_dock", "maix_dock-2"})
    assert sorted(x.split(":")[0] for x in out.splitlines() if x.startswith("mqtt ")) == ["mqtt maix_dock",
                                                                                          "mqtt maix_dock-2"]
    rec.close()


def test_boards_table_has_a_row_per_board(tmp_path):
    import io

    from rich.console import Console

    from picoface import monitor as mon
    from picoface.watch import BoardsView

    view = BoardsView(console=Console(file=io.StringIO(), width=220, force_terminal=False))
    for name in ("hall", "desk"):
        mon.Monitor(view=view.row(name)).replay(DATA / "sim_maix_dock.log")
    text = view.console.file.getvalue() + str(view.render().columns[0]._cells)
    view.console.file = io.StringIO()
    view.console.print(view.render())
    table = view.console.file.getvalue()
    assert "2 boards" in table and "hall" in table and "desk" in table
    assert table.count("maixpy/KPU-old / 0.1.0 / maixpy_stock_face") == 2 and "frames 120 dropped 0" in table
    assert "leave (0)" in table and text


@pytest.mark.parametrize("toml, msg", [
    ("[[board]]\nname = 'x'\n", "needs exactly one of port or replay"),
    ("[[board]]\nport = '/dev/x'\nbaud = 9\n", "unknown key(s) baud"),
    ("nothing = 1\n", "lists no boards"), ("[[board]\n", "is not valid TOML")])
def test_boards_file_errors(toml, msg, tmp_path, capsys):
    f = tmp_path / "boards.toml"
    f.write_text(toml)
    assert cli_main(["monitor", "--boards", str(f)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("picoface: ") and msg in err[0], err


def test_figures_at_30fps_10_faces(broker, tmp_path):
    """For the lead: MQTT message rates and payload sizes for a board at 30 fps with 10 faces
    (synthetic stream, 10 s, face count wobbling 9/10, an enter/leave every 2 s), every frame on
    .../frame (--mqtt-frames 30) and the default face-count limit (2/s). Printed; sanity-checked."""
    lines, seconds, fps = [HELLO], 10, 30
    for i in range(1, seconds * fps + 1):
        n = 10 if (i // 4) % 2 else 9
        lines.append(P.encode_frame(i, i * 33, 30.0, [[20 * k + i % 7, 30 + k, 48, 64, 0.875] for k in range(n)]))
        if i % (2 * fps) == 0:
            lines.append(event(i, "enter" if (i // (2 * fps)) % 2 else "leave"))
    stream = tmp_path / "synthetic.log"
    stream.write_text("\r\n".join(lines) + "\r\n")
    rec = Recorder(broker)
    t0 = time.monotonic()
    rc, out, err = finish(monitor(["--replay", str(stream), "--replay-rate", str(len(lines) / seconds), "--mqtt",
                                   broker.url(), "--mqtt-frames", "30"]), 60)
    took = time.monotonic() - t0
    assert rc == 0, out + err
    time.sleep(0.5)
    rec.close()
    by = {}
    for _, t, p, _ in rec.msgs:
        by.setdefault(t.rsplit("/", 1)[-1], []).append(len(p.encode()))
    serial = sum(len(x) + 2 for x in lines)
    report = ["figures (30 fps, 10 faces, %d s stream, monitor ran %.1f s; serial %d B/s, longest line %d B):"
              % (seconds, took, serial // seconds, max(len(x) + 2 for x in lines))]
    total = 0
    for leaf in sorted(by):
        sizes = by[leaf]
        total += sum(sizes)
        report.append("  %-8s %4d msgs  %5.1f msg/s  payload %d-%d B (mean %.0f)" % (
            leaf, len(sizes), len(sizes) / seconds, min(sizes), max(sizes), sum(sizes) / len(sizes)))
    report.append("  total payload %.0f B/s; %s" % (total / seconds, [x for x in out.splitlines()
                                                                      if x.startswith("mqtt ")][0]))
    print("\n" + "\n".join(report))
    assert len(by["frame"]) >= 0.9 * seconds * fps and max(by["frame"]) < 400
    assert len(by["faces"]) <= 2 * took + 2 and len(by["event"]) == seconds // 2


def test_mqtts_with_a_private_ca(tmp_path):
    from mqttbroker import make_certs

    ca, cert, key = make_certs(tmp_path / "certs")
    b = Broker(tmp_path / "broker", tls=(ca, cert, key)).start()
    try:
        url = "mqtts://127.0.0.1:%d/picoface" % b.port
        rc, out, err = finish(monitor(["--replay", str(DATA / "sim_maix_dock.log"), "--mqtt", url,
                                       "--mqtt-cafile", str(ca), "--mqtt-qos", "0"]))
        assert rc == 0, out + err
        line = [x for x in out.splitlines() if x.startswith("mqtt maix_dock: ")][0]
        sent = int(line.split(": ")[1].split(" sent")[0])
        assert sent > 5 and "%d sent, %d acknowledged" % (sent, sent) in line, line
        rc, out, err = finish(monitor(["--replay", str(DATA / "sim_maix_dock.log"), "--mqtt", url]))  # system CAs
        lines = err.strip().splitlines()
        assert rc == 1 and len(lines) == 1 and lines[0].startswith(
            "picoface: TLS with MQTT broker 127.0.0.1:%d failed (" % b.port), err
        rc, out, err = finish(monitor(["--replay", str(DATA / "sim_maix_dock.log"), "--mqtt",
                                       "mqtt://127.0.0.1:%d/picoface" % b.port, "--mqtt-timeout", "3"]))  # no TLS
        assert rc == 1 and len(err.strip().splitlines()) == 1 and "picoface: " in err, err
    finally:
        b.stop()


def test_usb_serial_number_is_the_id_and_unplugging_says_offline(broker, tmp_path, monkeypatch, capsys):
    """No name given: the id is the USB adapter's serial number (sanitised), the same after the
    board is unplugged and plugged back; while it is unplugged its state is offline."""
    from serial.tools import list_ports

    port = FakeUsbPort(tmp_path / "ttyPICO")
    port.plug()

    class Info:        # what pyserial reports for a CH340 with a serial number (the hardware is faked)
        def __init__(self):
            self.device, self.serial_number = os.path.realpath(port.link), "5A7B:00-1F"
            self.vid, self.pid = 0x1a86, 0x7523

    monkeypatch.setattr(list_ports, "comports", lambda *a, **k: [Info()])
    rec = Recorder(broker)
    rc = []
    th = threading.Thread(target=lambda: rc.append(cli_main(["monitor", "--plain", "--port", str(port.link), "--mqtt",
                                                             broker.url(), "--duration", "8"])))
    th.start()
    base = "picoface/5a7b_00-1f/"

    def states():
        return [json.loads(p)["state"] for p in rec.payloads(base + "state")]

    time.sleep(2.0)
    port.send(HELLO)
    port.send(frame(1, 1))
    assert rec.wait(lambda: "online" in states(), 10), rec.msgs
    port.unplug()
    assert rec.wait(lambda: states()[-1] == "offline", 10)
    port.plug()
    time.sleep(1.0)
    port.send(frame(50, 0))
    assert rec.wait(lambda: states()[-1] == "online" and rec.payloads(base + "faces")[-1] == "0", 10)
    th.join(30)
    port.unplug()
    rec.close()
    assert rc == [0]
    assert states()[-1] == "offline" and {m[1].split("/")[1] for m in rec.msgs if m[1].startswith("picoface/")} \
        == {"5a7b_00-1f"}
    assert "mqtt 5a7b_00-1f: " in capsys.readouterr().out
