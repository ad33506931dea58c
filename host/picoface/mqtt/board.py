"""A monitor sink per board: protocol messages in, MQTT messages out (``picoface.mqtt.topics``).

The board id is fixed at the first protocol message: the name the user gave, else the port's
USB serial number, else the hello's ``uid`` (or ``board``) when the first message is a hello, else
the port or capture file name; sanitised, and made unique within one monitor process. Its
``Link`` (one connection per board, so each board has its own last will) starts then.
"""

import threading
import time

from picoface.mqtt import discovery, topics
from picoface.mqtt.link import Link


class Ids:
    """Board ids claimed in one process: a second "maix_dock" becomes "maix_dock-2"."""

    def __init__(self):
        self._taken = set()
        self._lock = threading.Lock()

    def claim(self, want):
        with self._lock:
            got, i = want, 1
            while got in self._taken:
                i += 1
                got = "%s-%d" % (want, i)
            self._taken.add(got)
            return got


class RateLimit:
    """At most ``rate`` values a second on average (a token bucket holding up to a fifth of a
    second's worth, at least one, so a board's frame jitter does not halve a 30/s stream); a value
    held back is sent by ``due`` once allowed, so the latest value always gets out. rate 0: nothing."""

    def __init__(self, rate):
        self.rate = float(rate or 0)
        self.cap = max(1.0, self.rate / 5.0)
        self.tokens = self.cap
        self.t = None
        self.held = None

    def _refill(self, now):
        if self.t is not None:
            self.tokens = min(self.cap, self.tokens + (now - self.t) * self.rate)
        self.t = now

    def offer(self, value, now):
        if self.rate <= 0:
            return None
        self._refill(now)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            self.held = None
            return value
        self.held = value
        return None

    def due(self, now):
        if self.held is None:
            return None
        self._refill(now)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            v, self.held = self.held, None
            return v
        return None


class Settings:
    """What every board's publisher shares (from the command line)."""

    def __init__(self, url, client_id="picoface", keepalive=30, qos=1, bound=10000, faces_rate=2.0,
                 frame_rate=0.0, ha=True, ha_prefix=discovery.DEFAULT_PREFIX, cafile=None, drain=10.0):
        self.url, self.client_id, self.keepalive, self.qos = url, client_id, keepalive, qos
        self.bound, self.faces_rate, self.frame_rate = bound, faces_rate, frame_rate
        self.ha, self.ha_prefix, self.cafile, self.drain = ha, ha_prefix, cafile, drain


class BoardPublisher:
    """Monitor sink: ``message(msg)``, ``link(up, text)``, ``tick()``; ``close()`` at the end."""

    def __init__(self, settings, ids, name=None, serial_number=None, source=None, link_factory=Link):
        self.s, self.ids = settings, ids
        self.name, self.serial_number, self.source = name, serial_number, source
        self.board_id = None
        self.link = None
        self.hello = None
        self.presence = None
        self.faces = None
        self.serial_up = True
        self._faces_rl = RateLimit(settings.faces_rate)
        self._frame_rl = RateLimit(settings.frame_rate)
        self._factory = link_factory
        self._lock = threading.Lock()

    # -- ids and topics ---------------------------------------------------------------------------------
    def _pick_id(self, first):
        if self.name:
            want = self.name
        elif self.serial_number:
            want = self.serial_number
        elif first.get("type") == "hello":
            want = first.get("uid") or first.get("board")
        else:
            want = self.source
        return self.ids.claim(topics.sanitise(want))

    def topic(self, leaf):
        return topics.topic(self.s.url.prefix, self.board_id, leaf)

    def _start(self, first):
        self.board_id = self._pick_id(first)
        self.link = self._factory(self.s.url, "%s-%s" % (self.s.client_id, self.board_id), keepalive=self.s.keepalive,
                                  qos=self.s.qos, will=(self.topic("state"), topics.will_payload()), bound=self.s.bound,
                                  on_connect=self._retained, cafile=self.s.cafile)
        self.link.start()

    def _state(self):
        up = topics.ONLINE if self.serial_up else topics.OFFLINE
        return (self.topic("state"), topics.state_payload(up, self.hello, self.source), True)

    def _discovery(self):
        if not self.s.ha:
            return []
        return [(t, p, True) for t, p in discovery.configs(self.s.ha_prefix, self.s.url.prefix, self.board_id,
                                                           self.hello)]

    def _retained(self):
        """What is (re)published on every connect: the broker may have lost it in a restart."""
        with self._lock:
            out = self._discovery() + [self._state()]
            if self.presence is not None:
                out.append((self.topic("presence"), self.presence, True))
            if self.faces is not None:
                out.append((self.topic("faces"), topics.faces_payload(self.faces), True))
            return out

    # -- sink interface -------------------------------------------------------------------------------
    def message(self, msg):
        t = msg.get("type")
        if t == "text":
            return
        if t == "hello":
            with self._lock:
                self.hello = msg       # before the link starts: its first connect publishes it
        if self.link is None:
            self._start(msg)
        now = time.monotonic()
        pub = self.link.publish
        if t == "hello":
            for topic, payload, retain in self._discovery():
                pub(topic, payload, retain)
            pub(*self._state())
        elif t == "event":
            pub(self.topic("event"), topics.event_payload(msg))
            if msg["kind"] in ("enter", "leave"):       # known/stranger (mode recognise) leave presence alone
                with self._lock:
                    self.presence = topics.presence_payload(msg["kind"])
                pub(self.topic("presence"), self.presence, True)
        elif t == "error":
            pub(self.topic("error"), topics.error_payload(msg))
        elif t == "frame":
            if msg["n"] != self.faces:
                with self._lock:
                    self.faces = msg["n"]
                n = self._faces_rl.offer(msg["n"], now)
                if n is not None:
                    pub(self.topic("faces"), topics.faces_payload(n), True, live=True)
            f = self._frame_rl.offer(msg, now)
            if f is not None:
                pub(self.topic("frame"), topics.frame_payload(f), live=True)

    def tick(self):
        if self.link is None:
            return
        now = time.monotonic()
        n = self._faces_rl.due(now)
        if n is not None:
            self.link.publish(self.topic("faces"), topics.faces_payload(n), True, live=True)
        f = self._frame_rl.due(now)
        if f is not None:
            self.link.publish(self.topic("frame"), topics.frame_payload(f), live=True)

    def link_state(self, up):
        """The serial link to the board went down (unplugged) or came back."""
        self.serial_up = up
        if self.link is not None:
            self.link.publish(*self._state())

    def close(self):
        """Send what is held back, mark the board offline, wait for delivery (``settings.drain``).
        Returns the link's counters (with "undelivered"), or None when the board sent nothing."""
        if self.link is None:
            return None
        n = self._faces_rl.held
        if n is not None:
            self.link.publish(self.topic("faces"), topics.faces_payload(n), True, live=True)
        self.serial_up = False
        left = self.link.close(self.s.drain, last=[self._state()])
        c = self.link.counters()
        c["undelivered"] = left
        return c
