"""Several boards in one monitor process: what to watch (``Source``), one reader thread per board,
and views that share one terminal (``PrefixedPlainView`` lines, ``BoardsView`` table rows).

Sources come from ``--port [NAME=]PORT`` (repeatable), ``--replay FILE`` (repeatable) or a TOML
file (``--boards``)::

    [[board]]
    name = "hall"                       # board id on MQTT and in logs (optional)
    port = "/dev/serial/by-id/usb-..."  # or: replay = "capture.log"
    board = "maix_dock"                 # DTR/RTS idle levels (optional)
    log = "hall.jsonl"                  # optional
"""

import re
import threading
import time
import tomllib
from pathlib import Path

from picoface.errors import PicofaceError
from picoface.monitor import PlainView, plural, printable, summary_text

_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


class Source:
    def __init__(self, port=None, replay=None, name=None, board=None, log=None):
        self.port, self.replay, self.name, self.board, self.log = port, replay, name, board, log

    @property
    def where(self):
        return self.port or str(self.replay)

    @property
    def label(self):
        """Short name for views and log files: the given name, else the port's or file's base name."""
        if self.name:
            return self.name
        base = Path(str(self.where).split("://")[-1]).name
        base = base.rsplit(".", 1)[0] if self.replay else base
        return re.sub(r"[^A-Za-z0-9_.-]+", "_", base) or "board"


def parse_port(text):
    """``NAME=PORT`` or ``PORT`` -> (name or None, port). A pyserial URL's ``?a=b`` is not a name."""
    head, sep, tail = str(text).partition("=")
    if sep and tail and "://" not in head and _NAME.match(head):
        return head, tail
    return None, text


def load_sources(path):
    p = Path(path)
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as e:
        raise PicofaceError("cannot read %s (%s)" % (p, e.strerror or e), "check the path given to --boards") from None
    except tomllib.TOMLDecodeError as e:
        raise PicofaceError("%s is not valid TOML (%s)" % (p, e), "fix the file (see `picoface monitor --help`)") \
            from None
    boards = raw.get("board")
    if not isinstance(boards, list) or not boards:
        raise PicofaceError("%s lists no boards" % p, 'add [[board]] tables with port = "..." (and name = "...")')
    out = []
    for i, b in enumerate(boards, 1):
        unknown = sorted(set(b) - {"name", "port", "replay", "board", "log"})
        if unknown:
            raise PicofaceError("%s: board %d has unknown key(s) %s" % (p, i, ", ".join(unknown)),
                                "use name, port, replay, board, log")
        if bool(b.get("port")) == bool(b.get("replay")):
            raise PicofaceError("%s: board %d needs exactly one of port or replay" % (p, i),
                                'e.g. port = "/dev/ttyUSB0"')
        replay = b.get("replay")
        if replay and not Path(replay).is_absolute():
            replay = str(p.parent / replay)
        out.append(Source(port=b.get("port"), replay=replay, name=b.get("name"), board=b.get("board"),
                          log=b.get("log")))
    return out


def unique_labels(sources):
    """Make labels unique (a second "ttyUSB0" log would overwrite the first); returns the labels."""
    seen, out = {}, []
    for s in sources:
        lab = s.label
        seen[lab] = seen.get(lab, 0) + 1
        out.append(lab if seen[lab] == 1 else "%s-%d" % (lab, seen[lab]))
    return out


def per_board_path(path, label, many):
    """``run.jsonl`` -> ``run-<label>.jsonl`` when several boards share one --log/--capture."""
    if path is None or not many:
        return path
    p = Path(path)
    return str(p.with_name("%s-%s%s" % (p.stem, label, p.suffix)))


# -- views for several boards ----------------------------------------------------------------------
class PrefixedPlainView(PlainView):
    """PlainView whose lines start with ``[label]``; one lock per terminal keeps lines whole."""

    def __init__(self, label, out=None, every=1, lock=None):
        super().__init__(out, every)
        self.label = label
        self.lock = lock or threading.Lock()

    def _p(self, text):
        with self.lock:
            super()._p("[%s] %s" % (self.label, text))


class BoardsView:
    """One rich live table, a row per board; ``row(label)`` is the view each board's Monitor gets."""

    def __init__(self, console=None, refresh=4):
        from rich.console import Console

        self.console = console or Console()
        self.refresh = refresh
        self.rows = {}          # label -> _Row
        self.mqtt = {}          # label -> BoardPublisher
        self.live = None

    def row(self, label, publisher=None):
        r = self.rows[label] = _Row(label)
        if publisher is not None:
            self.mqtt[label] = publisher
        return r

    def start(self):
        from rich.live import Live

        self.live = Live(self.render(), console=self.console, refresh_per_second=self.refresh)
        self.live.start()

    def update(self):
        if self.live is not None:
            self.live.update(self.render())

    def stop(self):
        if self.live is not None:
            self.live.update(self.render())
            self.live.stop()
        for r in self.rows.values():
            if r.stats is not None:
                self.console.print("[%s] %s" % (r.label, summary_text(r.stats, r.counters)), highlight=False,
                                   markup=False)

    def render(self):
        from rich.table import Table
        from rich.text import Text

        t = Table(title="picoface monitor — %s" % plural(len(self.rows), "board"))
        for col in ("board", "status", "firmware / app / model", "fps", "faces", "last event", "lines", "mqtt"):
            t.add_column(col)
        for label, r in self.rows.items():
            st = r.stats
            if st is None:
                t.add_row(label, "starting")
                continue
            h = st.hello or {}
            f = st.last_frame
            ev = st.events[-1] if st.events else None
            pub = self.mqtt.get(label)
            mq = "-"
            if pub is not None and pub.link is not None:
                c = pub.link.counters()
                mq = "%s  sent %d acked %d  queued %d dropped %d" % (pub.board_id, c["sent"], c["acked"],
                                                                     c["queued"], c["dropped"])
            t.add_row(Text(printable(label)), Text(printable(st.status),
                                                   style="green" if st.connected else "yellow"),
                      Text(printable("%s / %s / %s" % (h.get("firmware", "?"), h.get("app", "?"), h.get("model", "?")))
                           if h else "(no hello yet)"),
                      "%.1f" % f["fps"] if f else "-", str(f["n"]) if f else "-",
                      Text(printable("%s %s (%d)" % (time.strftime("%H:%M:%S", time.localtime(ev[0])), ev[1]["kind"],
                                                     ev[1]["n"]))) if ev else "-",
                      "frames %d dropped %d corrupt %d" % (st.frames, st.dropped, r.counters.get("corrupt", 0)),
                      mq)
        return t


class _Row:
    """The view interface Monitor calls, recording into a BoardsView row (the main thread draws)."""

    fps_label = "fps"

    def __init__(self, label):
        self.label, self.stats, self.counters = label, None, {}

    def start(self, stats, source):
        self.stats = stats

    def message(self, msg, stats):
        pass

    def status(self, text, stats):
        stats.status = text

    def tick(self, stats, counters):
        self.counters = counters

    def stop(self, stats, counters):
        self.stats, self.counters = stats, counters


# -- running them ----------------------------------------------------------------------------------
def run_all(jobs, on_tick=None, tick=0.25):
    """Run ``jobs`` (callables taking a ``stop()`` predicate) in threads until all end or Ctrl-C;
    re-raise the first error one of them raised. Returns True when interrupted."""
    stop = threading.Event()
    errors = []

    def wrap(job):
        try:
            job(stop.is_set)
        except BaseException as e:  # handed to the main thread, which raises it
            errors.append(e)
            stop.set()

    threads = [threading.Thread(target=wrap, args=(j,), daemon=True) for j in jobs]
    for t in threads:
        t.start()
    interrupted = False
    try:
        while any(t.is_alive() for t in threads):
            for t in threads:
                t.join(tick / max(1, len(threads)))
            if on_tick is not None:
                on_tick()
    except KeyboardInterrupt:
        interrupted = True
        stop.set()
        for t in threads:
            t.join(5.0)
    if errors:
        raise errors[0]
    return interrupted
