"""``picoface enrol --port P --name NAME [--shots 5] [--timeout 30]``: enrol the face in front of a running
board (config ``mode: recognise``) under NAME. Sends the protocol v2 command ``enrol NAME SHOTS``; the board
collects SHOTS face embeddings over the next frames and answers only when that ends (``NAME K``: K shots
used, or why it failed), so this waits up to --timeout seconds and shows what the board sends meanwhile."""

from picoface.errors import PicofaceError

MAX_SHOTS = 20      # pfcore.commands.MAX_SHOTS


def add_arguments(p):
    p.add_argument("--port", required=True, help="serial port or pyserial URL")
    p.add_argument("--name", required=True, help="the person's name (1-24 bytes, no control characters, ',' or ':')")
    p.add_argument("--shots", type=int, default=5, help="face embeddings to collect (1-%d, default 5)" % MAX_SHOTS)
    p.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the enrolment to end (default 30)")
    p.add_argument("--baud", type=int, help="baud rate (default: the board's, 115200)")
    p.add_argument("--board", help="board name: its DTR/RTS idle levels are set before opening")


class Progress:
    """One line per event the board sends while it enrols, and per frame whose face count changed."""

    def __init__(self, out=print):
        self.out = out
        self.faces = None

    def __call__(self, m):
        kind = m["type"]
        if kind == "frame" and m["n"] != self.faces:
            self.faces = m["n"]
            self.out("frame %d: %d face%s in view" % (m["seq"], m["n"], "" if m["n"] == 1 else "s"))
        elif kind == "event":
            self.out("frame %d: %s (%d face%s)" % (m["seq"], m["kind"], m["n"], "" if m["n"] == 1 else "s"))
        elif kind == "error":
            self.out("board error: %s: %s" % (m["code"], m["text"]))


def enrol(t, name, shots, timeout, out=print):
    """Enrol on an open transport; returns the number of shots the board used."""
    from picoface import board_cmd

    # a short ping first: a v1 board or a silent port is named in seconds, not after --timeout
    board_cmd.send(t, "ping", timeout=min(3.0, timeout))
    out("enrolling %s: look at the camera (%d shot%s, up to %g s)" % (name, shots, "" if shots == 1 else "s", timeout))
    ans = board_cmd.send(t, "enrol", [name, str(shots)], timeout=timeout, on_message=Progress(out),
                         hint="the board may still be enrolling: give it longer with --timeout, then check with "
                              "`picoface gallery list --port %s`" % t.port)
    text = ans.ack["text"]
    if not ans.ack["ok"]:
        todo = ("set mode recognise in the board's config and flash it" if "mode recognise" in text
                else "face the camera alone, in good light, and run it again")
        raise PicofaceError("the board did not enrol %s: %s" % (name, text), todo)
    got, _, used = text.rpartition(" ")
    if got != name or not used.isdigit():
        raise PicofaceError("the board answered enrol with %r, not \"%s K\"" % (text, name),
                            "update the app on the board (`picoface flash`)")
    return int(used)


def run(args):
    from picoface import board_cmd
    from pfcore import gallery

    problem = gallery.check_name(args.name)
    if problem:
        raise PicofaceError("--name: %s" % problem, "e.g. --name ana")
    if not 1 <= args.shots <= MAX_SHOTS:
        raise PicofaceError("--shots must be 1-%d, got %d" % (MAX_SHOTS, args.shots), "e.g. --shots 5")
    if args.timeout <= 0:
        raise PicofaceError("--timeout must be positive", "e.g. --timeout 30")
    board_cmd.command_line("enrol", [args.name, str(args.shots)], cid=0)   # fails before the port opens
    with board_cmd.open_board(args) as t:
        used = enrol(t, args.name, args.shots, args.timeout)
    print("enrolled %s: %d shot%s" % (args.name, used, "" if used == 1 else "s"))
    return 0
