"""Host side of protocol v2 commands: send one command line to a running board and wait for its ack.

The board reads commands between camera frames (``device/main.py``, ``pfcore.commands``), so an
answer takes up to a frame or two. Frames, events and text keep arriving meanwhile; they are
returned too, so a caller can show them. A board whose lines are v1 has no command channel.
"""

import itertools
import time

from picoface.errors import PicofaceError
from picoface.protocol import StreamDecoder, encode_command

_ids = itertools.count(int(time.time()) % 5000)


def next_id():
    return next(_ids) % 10000


def command_line(verb, args=(), cid=None):
    """(id, bytes on the wire) of one command; PicofaceError for one that cannot be sent."""
    cid = next_id() if cid is None else cid
    try:
        line = encode_command(cid, verb, list(args))
    except ValueError as e:
        raise PicofaceError("cannot send %s: %s" % (verb, e), "see `picoface cmd --help` for the commands") from None
    return cid, (line + "\n").encode("ascii")


def v1_error(port):
    return PicofaceError("the board on %s speaks protocol v1, which has no commands" % port,
                         "flash the app that comes with this picoface (`picoface flash`)")


class Answer:
    """What came back: ``ack`` (the decoded ack), ``messages`` (everything decoded meanwhile),
    ``hello`` (the last hello among them)."""

    def __init__(self, ack, messages):
        self.ack = ack
        self.messages = messages
        self.hello = next((m for m in reversed(messages) if m["type"] == "hello"), None)


def send(transport, verb, args=(), timeout=3.0, clock=time.monotonic, on_message=None, hint=None):
    """Send ``verb args`` on an open transport and return its Answer. PicofaceError when the board
    speaks v1 or does not answer within ``timeout`` seconds (``hint``: what to do then, instead of
    checking that the app runs). ``on_message(m)`` is called with every message decoded meanwhile."""
    cid, data = command_line(verb, args)
    dec = StreamDecoder(strict_version=False, keep_text=True)
    transport.write(data)
    end = clock() + timeout
    seen = []
    while clock() < end:
        for m in dec.feed(transport.read(4096, timeout=0.05)):
            seen.append(m)
            if m["type"] == "ack" and m["id"] == cid:
                return Answer(m, seen)
            if on_message is not None:
                on_message(m)
    proto = [m for m in seen if m["type"] not in ("text", "command")]
    if proto and all(m.get("v") == 1 for m in proto):
        raise v1_error(transport.port)
    if dec.seen_version is not None:
        from picoface.protocol import version_error

        raise version_error(dec.seen_version)
    heard = ("it sent %d protocol lines, none the answer" % len(proto)) if proto else "nothing from the app was heard"
    raise PicofaceError("no answer to %s from the board on %s within %g s (%s)" % (verb, transport.port, timeout, heard),
                        hint or "check that the picoface app is running there (picoface monitor --port %s)"
                        % transport.port)


def open_board(args):
    """The Transport to a running board for a command-line tool: ``args.port``, ``args.baud`` and
    ``args.board`` (the board's reset lines are held idle; without --board, the idle levels the port's
    USB bridge needs)."""
    from picoface.transport import Transport, idle_levels_for_port

    board = dtr = rts = None
    if args.board:
        from picoface.boards import load_board

        board = load_board(args.board)
    else:
        dtr, rts = idle_levels_for_port(args.port) or (None, None)
    return Transport(args.port, baud=args.baud, board=board, dtr=dtr, rts=rts)
