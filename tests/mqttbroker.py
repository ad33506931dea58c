"""A real Mosquitto for tests: started on a free loopback port with a generated config, stopped
and restarted at will; and a paho subscriber that records everything it receives."""

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest


def mosquitto_exe():
    exe = shutil.which("mosquitto") or next((p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")
                                             if os.access(p, os.X_OK)), None)
    if exe is None:
        pytest.skip("mosquitto is not installed (a system tool: apt-get install mosquitto; .ci/run installs it)")
    return exe


def make_certs(d):
    """A throw-away CA and a server certificate for 127.0.0.1 (openssl); returns (ca, cert, key)."""
    exe = shutil.which("openssl")
    if exe is None:
        pytest.skip("openssl is not installed")
    d = Path(d)
    d.mkdir(parents=True, exist_ok=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run = lambda *a: subprocess.run([exe, *a], check=True, capture_output=True, cwd=d)  # noqa: E731
    run("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=picoface test CA")
    run("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out",
        "server.crt", "-days", "2", "-extfile", "san.ext")
    return d / "ca.crt", d / "server.crt", d / "server.key"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10.0, up=True):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            if up:
                return
        except OSError:
            if not up:
                return
        time.sleep(0.05)
    raise AssertionError("port %d did not come %s" % (port, "up" if up else "down"))


class Broker:
    """mosquitto on 127.0.0.1:<free port>; ``users`` {name: password} turns on a password file;
    persistence on (a restart keeps retained messages and persistent sessions, as on a real server)."""

    def __init__(self, workdir, users=None, tls=None):
        self.exe = mosquitto_exe()
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.proc = None
        conf = ["listener %d 127.0.0.1" % self.port, "persistence true",
                *(["cafile %s" % tls[0], "certfile %s" % tls[1], "keyfile %s" % tls[2]] if tls else []),
                "persistence_location %s/" % self.dir, "log_dest file %s" % (self.dir / "mosquitto.log"),
                "log_type all"]
        if os.geteuid() == 0:
            conf.append("user root")  # keep the rights on the temporary folder instead of dropping to 'mosquitto'
        if users:
            pw = self.dir / "passwd"
            pw.write_text("")
            for name, password in users.items():
                subprocess.run([shutil.which("mosquitto_passwd") or "mosquitto_passwd", "-b", str(pw), name, password],
                               check=True, capture_output=True)
            conf += ["allow_anonymous false", "password_file %s" % pw]
        else:
            conf.append("allow_anonymous true")
        self.conf = self.dir / "mosquitto.conf"
        self.conf.write_text("\n".join(conf) + "\n")

    def url(self, prefix="picoface", auth=""):
        return "mqtt://%s127.0.0.1:%d/%s" % (auth, self.port, prefix)

    def start(self):
        self.proc = subprocess.Popen([self.exe, "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        wait_port(self.port)
        return self

    def stop(self):
        """SIGTERM: mosquitto saves its database and closes every connection."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(10)
        self.proc = None

    def log(self):
        p = self.dir / "mosquitto.log"
        return p.read_text(errors="replace") if p.exists() else ""


class Recorder:
    """Subscribes to ``topics`` at QoS 1 with a persistent session; ``msgs`` holds
    (host time, topic, payload str, retain flag). Reconnects (and resubscribes) by itself."""

    def __init__(self, broker, topics=("#",), client_id="recorder", user=None, password=None, persistent=True):
        import paho.mqtt.client as mqtt

        self.msgs = []
        self.lock = threading.Lock()
        self.connected = threading.Event()
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=not persistent)
        if user:
            self.c.username_pw_set(user, password)
        self.c.reconnect_delay_set(0.2, 1)

        def on_connect(c, u, flags, reason, props):
            for t in topics:
                c.subscribe(t, 1)
            self.connected.set()

        def on_message(c, u, m):
            with self.lock:
                self.msgs.append((time.monotonic(), m.topic, m.payload.decode(errors="replace"), bool(m.retain)))

        self.c.on_connect = on_connect
        self.c.on_message = on_message
        self.c.on_disconnect = lambda *a: self.connected.clear()
        self.c.connect("127.0.0.1", broker.port)
        self.c.loop_start()
        assert self.connected.wait(10), "recorder could not connect"
        time.sleep(0.2)   # the SUBACK

    def on(self, topic):
        with self.lock:
            return [m for m in self.msgs if m[1] == topic]

    def payloads(self, topic):
        return [m[2] for m in self.on(topic)]

    def wait(self, cond, timeout=20.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if cond():
                return True
            time.sleep(0.05)
        return False

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()


def retained(broker, topics=("#",), settle=1.0):
    """What a newcomer sees right after subscribing: {topic: payload} of the retained messages."""
    r = Recorder(broker, topics, client_id="newcomer-%d" % time.monotonic_ns(), persistent=False)
    time.sleep(settle)
    r.close()
    return {t: p for _, t, p, ret in r.msgs if ret}
