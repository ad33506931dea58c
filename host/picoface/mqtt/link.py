"""One MQTT connection (paho-mqtt) with a last will, a bounded outbox and a sender thread.

The serial side only calls ``publish`` (a non-blocking ``Outbox.put``). The sender thread takes
messages from the outbox while the broker is connected and hands them to paho, keeping at most
``max_inflight`` unacknowledged; paho's own thread (``loop_start``) does the network I/O,
reconnects after a broker restart and re-sends the unacknowledged QoS 1 messages (with DUP set:
at-least-once, so a subscriber may see a message twice). ``live`` messages (face counts, frames:
only their latest value matters) are not queued while the broker is down, only counted.

``probe`` checks, before anything is read from a board, that the broker answers and accepts the
login, so a wrong password or an unreachable broker is one clear error instead of a silent retry.
"""

import socket
import ssl
import threading
import time

from picoface.errors import PicofaceError
from picoface.mqtt.outbox import Outbox

RECONNECT_MIN, RECONNECT_MAX = 1, 8   # seconds between reconnect attempts (doubling)


def _paho():
    try:
        import paho.mqtt.client as mqtt
    except ImportError:  # pragma: no cover - paho-mqtt is in requirements.txt
        raise PicofaceError("paho-mqtt is not installed", "run `make setup` (or pip install paho-mqtt)") from None
    return mqtt


def _refusal(url, reason):
    """PicofaceError for a CONNACK refusal (the reason code's text, never the credentials)."""
    text = str(reason)
    low = text.lower()
    if "user name or password" in low or "not authori" in low or "bad user" in low:
        return PicofaceError("MQTT broker %s refused the login (%s)" % (url.where(), text),
                             "check the user name in --mqtt and the password ($PICOFACE_MQTT_PASSWORD or "
                             "--mqtt-password-file)")
    if "identifier" in low:
        return PicofaceError("MQTT broker %s refused the client id (%s)" % (url.where(), text),
                             "pass another --mqtt-client-id")
    return PicofaceError("MQTT broker %s refused the connection (%s)" % (url.where(), text),
                         "check the broker's log and settings")


def _socket_error(url, e):
    text = getattr(e, "strerror", None) or str(e) or type(e).__name__
    if isinstance(e, ssl.SSLError):
        return PicofaceError("TLS with MQTT broker %s failed (%s)" % (url.where(), text),
                             "check that the port speaks TLS (mqtts://, usually 8883) and --mqtt-cafile")
    if isinstance(e, (socket.timeout, TimeoutError)):
        return PicofaceError("MQTT broker %s did not answer the TCP connection" % url.where(),
                             "check the host, the port and any firewall")
    return PicofaceError("cannot reach MQTT broker %s (%s)" % (url.where(), text),
                         "check the host and port in --mqtt and that the broker runs")


def make_client(url, client_id, keepalive, will=None, cafile=None, clean_session=True):
    mqtt = _paho()
    c = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                    protocol=mqtt.MQTTv311, clean_session=clean_session)
    if url.user is not None:
        c.username_pw_set(url.user, url.password)
    if url.tls:
        c.tls_set(ca_certs=cafile)
    if will is not None:
        c.will_set(will[0], will[1], qos=1, retain=True)
    c.reconnect_delay_set(RECONNECT_MIN, RECONNECT_MAX)
    c.connect_timeout = 5.0
    return c


def probe(url, client_id, keepalive=30, timeout=10.0, cafile=None):
    """Connect once and disconnect; raise PicofaceError when the broker is unreachable, silent for
    ``timeout`` seconds, or refuses the login."""
    c = make_client(url, client_id + "-probe", keepalive, cafile=cafile)
    answer = {}
    done = threading.Event()

    def on_connect(client, userdata, flags, reason, properties):
        answer["reason"] = reason
        done.set()

    c.on_connect = on_connect
    try:
        c.connect(url.host, url.port, keepalive)
    except (OSError, ssl.SSLError) as e:
        raise _socket_error(url, e) from None
    c.loop_start()
    try:
        if not done.wait(timeout):
            raise PicofaceError("MQTT broker %s did not answer within %g s (no CONNACK)" % (url.where(), timeout),
                                "check that HOST:PORT is an MQTT broker (mqtts:// for a TLS port) or raise "
                                "--mqtt-timeout")
        reason = answer["reason"]
        if reason.is_failure:
            raise _refusal(url, reason)
    finally:
        c.disconnect()
        c.loop_stop()


class Link:
    """A paho client that keeps reconnecting; ``publish`` queues, the sender thread sends."""

    def __init__(self, url, client_id, keepalive=30, qos=1, will=None, bound=10000, max_inflight=100,
                 on_connect=None, cafile=None):
        self.url, self.client_id, self.qos = url, client_id, qos
        self.keepalive = keepalive
        self.outbox = Outbox(bound)
        self.max_inflight = max_inflight
        self.on_connect_cb = on_connect      # () -> [(topic, payload, retain)] re-sent on every (re)connect
        self.client = make_client(url, client_id, keepalive, will=will, cafile=cafile)
        self.client.max_inflight_messages_set(max_inflight)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_publish
        self.connected = threading.Event()
        self._lock = threading.Lock()
        self._can_send = threading.Condition(self._lock)
        self._inflight = set()
        self._early = set()
        self._stop = threading.Event()
        self._thread = None
        self.sent = 0           # handed to paho
        self.acked = 0          # acknowledged by the broker (QoS 1) or written (QoS 0)
        self.skipped = 0        # live messages not queued while the broker was down
        self.connects = 0
        self.last_refusal = None

    # -- paho callbacks (paho's network thread) -----------------------------------------------------
    def _on_connect(self, client, userdata, flags, reason, properties):
        if reason.is_failure:
            self.last_refusal = str(reason)
            return
        self.connects += 1
        for topic, payload, retain in (self.on_connect_cb() if self.on_connect_cb else []):
            self._send(topic, payload, retain)
        self.connected.set()
        with self._lock:
            self._can_send.notify_all()

    def _on_disconnect(self, client, userdata, flags, reason, properties):
        self.connected.clear()

    def _on_publish(self, client, userdata, mid, reason, properties):
        with self._lock:
            if mid in self._inflight:
                self._inflight.discard(mid)
                self.acked += 1
            else:
                self._early.add(mid)
            self._can_send.notify_all()

    # -- life cycle ----------------------------------------------------------------------------------
    def start(self):
        try:
            self.client.connect_async(self.url.host, self.url.port, self.keepalive)
        except (OSError, ValueError) as e:  # pragma: no cover - connect_async only stores the address
            raise _socket_error(self.url, e) from None
        self.client.loop_start()
        self._thread = threading.Thread(target=self._sender, name="mqtt-%s" % self.client_id, daemon=True)
        self._thread.start()
        return self

    def publish(self, topic, payload, retain=False, live=False):
        """Queue one message; never blocks. ``live``: skip it (counted) while the broker is down."""
        if live and not self.connected.is_set():
            self.skipped += 1
            return
        self.outbox.put((topic, payload, retain))

    def pending(self):
        with self._lock:
            return len(self.outbox) + len(self._inflight)

    def _send(self, topic, payload, retain):
        info = self.client.publish(topic, payload, qos=self.qos, retain=retain)
        with self._lock:
            self.sent += 1
            if info.mid in self._early:
                self._early.discard(info.mid)
                self.acked += 1
            else:
                self._inflight.add(info.mid)

    def _sender(self):
        while not self._stop.is_set():
            if not self.connected.wait(0.2):
                continue
            with self._lock:
                if len(self._inflight) >= self.max_inflight:
                    self._can_send.wait(0.2)
                    continue
            item = self.outbox.get(timeout=0.2)
            if item is None:
                continue
            if not self.connected.is_set():
                self.outbox.unget(item)
                continue
            self._send(*item)

    def close(self, drain=10.0, last=()):
        """Queue ``last`` messages, wait up to ``drain`` seconds for everything to be acknowledged,
        then disconnect cleanly (no last will). Returns the number of messages not delivered."""
        for topic, payload, retain in last:
            self.publish(topic, payload, retain)
        end = time.monotonic() + drain
        while self.pending() and time.monotonic() < end:
            time.sleep(0.05)
        left = self.pending()
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)
        try:
            self.client.disconnect()
        finally:
            self.client.loop_stop()
        return left

    def counters(self):
        with self._lock:
            inflight = len(self._inflight)
        return {"queued": len(self.outbox), "inflight": inflight, "sent": self.sent, "acked": self.acked,
                "dropped": self.outbox.dropped, "skipped": self.skipped, "connects": self.connects,
                "bound": self.outbox.bound, "high_water": self.outbox.high_water}
