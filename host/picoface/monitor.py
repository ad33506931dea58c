"""Watch what a board streams: decode protocol v1, show it live, log it, survive unplugging.

``Monitor`` pulls bytes from a ``picoface.transport.Transport`` (or a capture file for
``replay``), decodes them with ``picoface.protocol.StreamDecoder`` (parsing only: nothing the
board sends is ever evaluated), keeps ``Stats``, and hands every message to sinks: a log
writer (JSONL or CSV), a raw capture file, and a view (rich live table, or plain lines when
there is no terminal). When the port disappears (board unplugged) it waits for it to come back
and reopens it with the same DTR/RTS care.
"""

import csv
import json
import sys
import time
from pathlib import Path

from picoface.errors import PicofaceError
from picoface.protocol import VERSION, StreamDecoder, version_error

WRAP = 1 << 30        # seq numbers wrap here (pfcore.protocol.WRAP)
MAX_EVENTS = 8        # events kept for the live view


def hash_text(hello):
    """The hello's model hash with what it cost the board (hash_ms), or why there is none (no_hash)."""
    h = hello.get("model_hash") or ""
    if not h:
        return "none (%s)" % hello["no_hash"] if hello.get("no_hash") else "none"
    return "%s in %s ms" % (h, hello["hash_ms"]) if hello.get("hash_ms") not in (None, "") else h


class Stats:
    """Everything the view and the summary show; ``counts()`` adds up (see ``check``)."""

    def __init__(self):
        self.hello = None
        self.last_frame = None
        self.events = []          # (host time, event dict)
        self.errors = []          # (host time, error dict)
        self.texts = []           # last non-protocol lines (banners, tracebacks)
        self.frames = 0
        self.dropped = 0          # frames missing according to seq numbers
        self.reboots = 0          # hello lines after the first
        self.reconnects = 0
        self.connected = False
        self.status = "starting"
        self.version_seen = None  # another protocol version seen on the wire
        self._seq = None
        self.t0 = time.monotonic()

    def on_message(self, msg):
        t = msg.get("type")
        if t == "hello":
            if self.hello is not None and msg.get("asked") != "1":   # a hello sent on request is no restart
                self.reboots += 1
            self.hello = msg
            self._seq = None
        elif t == "frame":
            self.frames += 1
            if self._seq is not None:
                gap = (msg["seq"] - self._seq - 1) % WRAP
                if gap < WRAP // 2:   # a gap forward; a jump backward is a restart, not a loss
                    self.dropped += gap
            self._seq = msg["seq"]
            self.last_frame = msg
        elif t == "event":
            self.events.append((time.time(), msg))
            del self.events[:-MAX_EVENTS]
        elif t == "error":
            self.errors.append((time.time(), msg))
            del self.errors[:-MAX_EVENTS]
        elif t == "text":
            self.texts.append(msg["text"])
            del self.texts[:-MAX_EVENTS]

    def resync(self):
        """After a reconnect the next seq may jump: do not count it as dropped frames."""
        self._seq = None


def printable(text):
    """``text`` with every character a terminal would act on (ESC, BEL, CR, C1 controls such as
    CSI, ...) written as a visible escape (``\\x1b``): what a board sends is shown, never obeyed."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ("\\x%02x" % ord(ch) if ord(ch) < 0x100 else "\\u%04x" % ord(ch))
                   for ch in text)


def plural(n, word):
    """"1 face", "2 faces" (also for the other commands' counts)."""
    return "%d %s%s" % (n, word, "" if n == 1 else "s")


def face_label(msg, i):
    """The class label of face i of a frame message, or None (a 1-class model's faces have none)."""
    c = msg.get("classes")
    return c[i] if c and i < len(c) else None


def _faces_text(msg):
    """ "x y w h s;..." (+ " label" for a face with a class, + " name sim" for an identified one,
    text escaped as on the wire: no spaces or ";")."""
    from pfcore.protocol import token

    out = []
    for i, f in enumerate(msg["faces"]):
        t = "%d %d %d %d %.3f" % tuple(f[:5])
        label = face_label(msg, i)
        if label is not None:
            t += " " + token(label)
        if len(f) > 6:
            t += " %s %.3f" % (token(f[5]), f[6])
        out.append(t)
    return ";".join(out)


def face_words(msg, i):
    """One face of a frame message for people: "[x,y,w,h 0.91 no_mask] ann 0.82"."""
    f = msg["faces"][i]
    label = face_label(msg, i)
    t = "[%d,%d,%d,%d %.2f%s]" % (tuple(f[:5]) + ("" if label is None else " " + printable(label),))
    if len(f) > 6:
        t += " %s %.2f" % (printable(f[5] or "-"), f[6])
    return t


class JsonlLog:
    """One JSON object per message: {"t": unix time, ...message}."""

    def __init__(self, path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.f = open(self.path, "w", encoding="utf-8")

    def write(self, msg):
        rec = {"t": round(time.time(), 3)}
        rec.update(msg)
        self.f.write(json.dumps(rec, sort_keys=True) + "\n")

    def close(self):
        self.f.close()


class CsvLog:
    """One row per message: t,type,seq,ms,fps,n,faces,kind,code,text (faces as "x y w h s;...", each
    with its class label after the score when the model has classes)."""

    FIELDS = ("t", "type", "seq", "ms", "fps", "n", "faces", "kind", "code", "text")

    def __init__(self, path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.f = open(self.path, "w", newline="", encoding="utf-8")
        self.w = csv.DictWriter(self.f, fieldnames=self.FIELDS, extrasaction="ignore")
        self.w.writeheader()

    def write(self, msg):
        row = {"t": "%.3f" % time.time()}
        row.update({k: msg[k] for k in self.FIELDS if k in msg and k != "faces"})
        if "faces" in msg:
            row["faces"] = _faces_text(msg)
        if msg.get("type") == "hello":
            row["text"] = " ".join("%s=%s" % (k, v) for k, v in sorted(msg.items()) if k not in ("type", "v"))
        self.w.writerow(row)

    def close(self):
        self.f.close()


def open_log(path):
    if path is None:
        return None
    p = Path(path)
    if p.suffix.lower() == ".csv":
        return CsvLog(p)
    if p.suffix.lower() in (".jsonl", ".json", ".ndjson"):
        return JsonlLog(p)
    raise PicofaceError("log file %s: unknown format" % p, "name it .jsonl or .csv")


# -- views ------------------------------------------------------------------------------------------
class PlainView:
    """One line per message, for pipes, CI logs and --plain."""

    fps_label = "fps"   # the board's own figure (its ticks_ms); `picoface demo` names the host's

    def __init__(self, out=None, every=1):
        self.out = out or sys.stdout
        self.every = max(1, int(every))

    def start(self, stats, source):
        self._p("monitor: %s (protocol v%d)" % (source, VERSION))

    def _p(self, text):
        try:
            self.out.write(printable(text) + "\n")
            self.out.flush()
        except (BrokenPipeError, ValueError):
            pass

    def message(self, msg, stats):
        t = msg["type"]
        if t == "hello":
            self._p("hello: board=%s fw=%s app=%s model=%s (%d B, hash %s) input=%s camera=%s" % (
                msg.get("board"), msg.get("firmware"), msg.get("app"), msg.get("model"), msg.get("model_bytes", 0),
                hash_text(msg), "x".join(map(str, msg.get("input", []))),
                "x".join(map(str, msg.get("camera", [])))))
        elif t == "frame":
            if stats.frames % self.every == 0:
                faces = " ".join(face_words(msg, i) for i in range(len(msg["faces"])))
                self._p("frame %d %s %.1f faces %d %s" % (msg["seq"], self.fps_label, msg["fps"], msg["n"], faces))
        elif t == "event":
            who = " %s" % printable(msg["name"]) if "name" in msg else ""
            self._p("event: %s%s (%s) at frame %d" % (msg["kind"], who, plural(msg["n"], "face"), msg["seq"]))
        elif t == "error":
            self._p("board error: %s %s" % (msg.get("code"), msg.get("text")))
        elif t == "text":
            if msg["text"].strip():
                self._p("board: %s" % msg["text"].strip())

    def status(self, text, stats):
        self._p("monitor: " + text)

    def tick(self, stats, counters):
        pass

    def stop(self, stats, counters):
        self._p(summary_text(stats, counters))


class RichView:
    """A rich Live table: hello info, fps, faces with boxes, events, counters."""

    fps_label = "fps"   # the board's own figure (its ticks_ms); `picoface demo` names the host's

    def __init__(self, console=None, refresh=8):
        from rich.console import Console

        self.console = console or Console()
        self.refresh = refresh
        self.live = None
        self.source = ""
        self._counters = {}

    def start(self, stats, source):
        from rich.live import Live

        self.source = source
        self.live = Live(self._render(stats), console=self.console, refresh_per_second=self.refresh,
                         transient=False)
        self.live.start()

    def message(self, msg, stats):
        pass  # the table is rebuilt on tick()

    def status(self, text, stats):
        stats.status = text

    def tick(self, stats, counters):
        self._counters = counters
        if self.live is not None:
            self.live.update(self._render(stats))

    def stop(self, stats, counters):
        self._counters = counters
        if self.live is not None:
            self.live.update(self._render(stats))
            self.live.stop()
        self.console.print(summary_text(stats, counters), highlight=False, markup=False)

    def _render(self, stats):
        from rich.table import Table
        from rich.text import Text

        c = self._counters
        t = Table(title="picoface monitor — %s" % self.source, show_header=False, expand=False)
        t.add_column("what", style="bold")
        t.add_column("value")

        def shown(text, style=""):  # board text as plain characters: no rich markup, no control bytes
            return Text(printable(text), style=style)

        t.add_row("status", shown(stats.status, style="green" if stats.connected else "yellow"))
        h = stats.hello
        if h:
            t.add_row("board", shown("%s  fw %s  app %s" % (h.get("board"), h.get("firmware"), h.get("app"))))
            t.add_row("model", shown("%s  %d B  hash %s" % (h.get("model"), h.get("model_bytes", 0), hash_text(h))))
            t.add_row("input/camera", shown("%s / %s  score %.2f nms %.2f" % (
                "x".join(map(str, h.get("input", []))), "x".join(map(str, h.get("camera", []))),
                h.get("score", 0), h.get("nms", 0))))
        else:
            t.add_row("board", "(no hello line yet: reset the board to see it)")
        f = stats.last_frame
        if f:
            t.add_row(self.fps_label, "%.1f  (frame %d)" % (f["fps"], f["seq"]))
            rows = []
            for i, b in enumerate(f["faces"]):
                label = face_label(f, i)
                rows.append("x %4d y %4d w %4d h %4d  score %.2f" % tuple(b[:5])
                            + ("" if label is None else "  " + printable(label))
                            + (" %s %.2f" % (printable(b[5] or "-"), b[6]) if len(b) > 6 else ""))
            t.add_row("faces: %d" % f["n"], shown("\n".join(rows) or "-"))
        ev = "\n".join("%s %s (%s, frame %d)" % (time.strftime("%H:%M:%S", time.localtime(ts)), printable(e["kind"]),
                                                 plural(e["n"], "face"), e["seq"]) for ts, e in stats.events[-4:])
        t.add_row("events", Text(ev or "-"))
        if stats.errors:
            t.add_row("board errors", Text("\n".join(printable("%s %s" % (e.get("code"), e.get("text")))
                                                     for _, e in stats.errors[-3:]), style="red"))
        if stats.version_seen is not None:
            t.add_row("protocol", Text(str(version_error(stats.version_seen)), style="red"))
        t.add_row("lines", "frames %d  dropped %d  corrupt %d  skipped %d  other-version %d  overlong %d" % (
            stats.frames, stats.dropped, c.get("corrupt", 0), c.get("skipped", 0), c.get("version", 0),
            c.get("overlong", 0)))
        t.add_row("link", "reconnects %d  reboots %d  %.0f s" % (stats.reconnects, stats.reboots,
                                                                 time.monotonic() - stats.t0))
        return t


def summary_text(stats, counters):
    by = counters.get("by_type", {})
    return ("monitor summary: %s: %s (%d dropped by seq), %s, %s, %d hello, "
            "%d skipped (not protocol), %d corrupt, %d other protocol version, %d overlong; %s" % (
                plural(counters.get("lines", 0), "line"), plural(by.get("frame", 0), "frame"), stats.dropped,
                plural(by.get("event", 0), "event"), plural(by.get("error", 0), "board error"), by.get("hello", 0),
                counters.get("skipped", 0), counters.get("corrupt", 0), counters.get("version", 0),
                counters.get("overlong", 0), plural(stats.reconnects, "reconnect")))


def make_view(plain=None, out=None):
    """RichView on a terminal, PlainView otherwise (or when ``plain``)."""
    out = out or sys.stdout
    if plain is None:
        plain = not (hasattr(out, "isatty") and out.isatty())
    if plain:
        return PlainView(out)
    from rich.console import Console

    return RichView(Console(file=out))


# -- the loop -------------------------------------------------------------------------------------------
class Monitor:
    def __init__(self, view=None, log=None, capture=None, decoder=None, sinks=(), ask_hello=True):
        self.dec = decoder or StreamDecoder(strict_version=False, keep_text=True)
        # attached to a running v2 board (no hello seen): ask it for its hello once (run() only)
        self.ask_hello = ask_hello
        self._asked = False
        self._v2 = False
        self.sinks = list(sinks)    # e.g. picoface.mqtt.board.BoardPublisher: message(m), tick(), link_state(up)
        self.stats = Stats()
        self.view = view
        self.log = log
        self.capture = capture      # binary file: every byte received, for --replay later
        self.messages = 0

    def counters(self):
        return self.dec.counters()

    def feed(self, data):
        """Decode a chunk of bytes; returns the messages (text lines included)."""
        if self.capture is not None:
            self.capture.write(data)
        msgs = self.dec.feed(data)
        self._handle(msgs)
        return msgs

    def finish(self):
        msgs = self.dec.flush()
        self._handle(msgs)
        return msgs

    def _handle(self, msgs):
        if self.dec.seen_version is not None and self.stats.version_seen is None:
            self.stats.version_seen = self.dec.seen_version
            if self.view is not None:
                self.view.status(str(version_error(self.dec.seen_version)), self.stats)
        for m in msgs:
            if m.get("v", 1) >= 2:
                self._v2 = True
            if m["type"] in ("ack", "command"):
                continue        # command traffic (ours or another tool's), not what the board saw
            self.stats.on_message(m)
            if m["type"] != "text":
                self.messages += 1
            if self.log is not None and (m["type"] != "text" or m["text"].strip()):
                self.log.write(m)  # text lines too: a board's traceback belongs in the log
            if self.view is not None:
                self.view.message(m, self.stats)
            for s in self.sinks:
                s.message(m)

    def _tick(self):
        for s in self.sinks:
            s.tick()
        if self.view is not None:
            self.view.tick(self.stats, self.counters())

    def run(self, transport, duration=None, stop=None, reconnect_wait=None, tick=0.25, reset=False, stop_grace=2.0):
        """Read ``transport`` until ``duration`` seconds pass or ``stop()`` is true.

        ``reset``: after opening, run the board's reset sequence (boards/*.toml ``[serial] reset``)
        so that its boot and hello line are seen; boards without one are left alone.

        On a read error (unplugged board) the port is reopened when it comes back, for up to
        ``reconnect_wait`` seconds each time (None: as long as the monitor runs). With ``stop``, a
        read error followed within ``stop_grace`` seconds by ``stop()`` is the end, not a loss (a
        simulated board closes its port, then its process ends).
        """
        end = None if duration is None else time.monotonic() + duration

        def done():
            return (end is not None and time.monotonic() >= end) or (stop is not None and stop())

        source = transport.port
        transport.open()  # a wrong port fails here, before any view is drawn
        if self.view is not None:
            self.view.start(self.stats, source)
        try:
            self.stats.connected, self.stats.status = True, "connected to %s at %d baud" % (source, transport.baud)
            if reset:
                done_reset = transport.hard_reset()
                self.stats.status += " (board reset)" if done_reset else " (this board has no reset line)"
            if self.view is not None:
                self.view.status(self.stats.status, self.stats)
            last_tick = 0.0
            while not done():
                try:
                    data = transport.read(4096, timeout=0.1)
                except Exception as e:  # the device vanished (SerialException/OSError)
                    if stop is not None and _soon(done, stop_grace):
                        break
                    self._lost(transport, e)
                    left = None if end is None else max(0.0, end - time.monotonic())
                    wait = min(x for x in (reconnect_wait, left, 1e9) if x is not None)
                    if not transport.reopen(wait=wait, stop=done):
                        if done():
                            break
                        continue
                    self.stats.reconnects += 1
                    self.stats.resync()
                    self.stats.connected, self.stats.status = True, "reconnected to %s" % source
                    for s in self.sinks:
                        s.link_state(True)
                    if self.view is not None:
                        self.view.status(self.stats.status, self.stats)
                    continue
                if data:
                    self.feed(data)
                    self._maybe_ask(transport)
                now = time.monotonic()
                if now - last_tick >= tick:
                    last_tick = now
                    self._tick()
            self.finish()
        finally:
            transport.close()
            if self.view is not None:
                self.view.stop(self.stats, self.counters())
        return self.stats

    def _maybe_ask(self, transport):
        """A v2 board seen without its hello (the monitor attached after boot): ask for it once."""
        if not self.ask_hello or self._asked or not self._v2 or self.stats.hello is not None:
            return
        from picoface.board_cmd import command_line

        self._asked = True
        transport.write(command_line("hello")[1])
        if self.view is not None:
            self.view.status("attached after the board's hello: asked it for its hello", self.stats)

    def _lost(self, transport, exc):
        self.stats.connected = False
        for s in self.sinks:
            s.link_state(False)
        self.stats.status = "lost %s (%s): waiting for it to come back" % (transport.port, str(exc)[:60] or "closed")
        if self.view is not None:
            self.view.status(self.stats.status, self.stats)
            self.view.tick(self.stats, self.counters())
        transport.close()

    def replay(self, path, chunk=4096, speed=None, lines_per_s=None, stop=None):
        """Feed a captured raw stream (bytes as received) through the monitor; ``lines_per_s``:
        one line at a time at that pace (a board's real-time stream, e.g. for MQTT); ``stop()``:
        end early when true."""
        p = Path(path)
        try:
            data = p.read_bytes()
        except OSError as e:
            raise PicofaceError("cannot read capture %s (%s)" % (p, e.strerror or e), "check the path") from None
        if self.view is not None:
            self.view.start(self.stats, "replay of %s" % p)
        self.stats.connected, self.stats.status = True, "replaying %s" % p
        try:
            if lines_per_s:
                parts, period = data.splitlines(keepends=True), 1.0 / lines_per_s
            else:
                parts, period = [data[i:i + chunk] for i in range(0, len(data), chunk)], None
            nxt = time.monotonic()
            for part in parts:
                if stop is not None and stop():
                    break
                self.feed(part)
                self._tick()
                if period:
                    nxt += period
                    time.sleep(max(0.0, nxt - time.monotonic()))
                elif speed:
                    time.sleep(chunk / speed)
            self.finish()
        finally:
            if self.view is not None:
                self.view.stop(self.stats, self.counters())
        return self.stats


def _soon(cond, seconds, poll=0.05):
    """True as soon as ``cond()`` is, False after ``seconds``."""
    end = time.monotonic() + seconds
    while not cond():
        if time.monotonic() >= end:
            return False
        time.sleep(poll)
    return True


def open_capture(path):
    if path is None:
        return None
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    return open(p, "wb")


def close_all(*things):
    for t in things:
        if t is not None:
            try:
                t.close()
            except (OSError, ValueError):
                pass


__all__ = ["Monitor", "Stats", "JsonlLog", "CsvLog", "open_log", "PlainView", "RichView", "make_view",
           "summary_text", "open_capture", "close_all"]
