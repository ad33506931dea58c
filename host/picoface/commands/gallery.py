"""``picoface gallery list|rm NAME|rename OLD NEW --port P``: the faces enrolled on a running board
(its /flash gallery, ``pfcore.gallery``), through protocol v2 commands."""

from picoface.errors import PicofaceError


def add_arguments(p):
    p.add_argument("action", choices=("list", "rm", "rename"), help="list the enrolled names, remove one, or "
                                                                    "rename one")
    p.add_argument("names", nargs="*", metavar="NAME", help="rm NAME; rename OLD NEW")
    p.add_argument("--port", required=True, help="serial port or pyserial URL")
    p.add_argument("--baud", type=int, help="baud rate (default: the board's, 115200)")
    p.add_argument("--board", help="board name: its DTR/RTS idle levels are set before opening")
    p.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for each answer (default 3)")


def _ask(t, verb, args, timeout):
    from picoface import board_cmd

    ans = board_cmd.send(t, verb, args, timeout=timeout)
    if not ans.ack["ok"]:
        raise PicofaceError("the board refused `%s`: %s" % (" ".join([verb] + list(args)), ans.ack["text"]),
                            "`picoface gallery list --port %s` shows what is enrolled" % t.port)
    return ans.ack["text"]


def list_names(t, timeout=3.0):
    """[(name, count)] of the board's gallery, page by page."""
    out, start = [], 0
    while True:
        total, nxt, listed = (_ask(t, "gallery_list", [str(start)], timeout).split(" ", 2) + [""])[:3]
        for part in (p for p in listed.split(",") if p):
            name, _, n = part.rpartition(":")
            out.append((name, int(n)))
        total, nxt = int(total), int(nxt)
        if nxt >= total:
            return out
        if nxt <= start:
            raise PicofaceError("the board's gallery list did not advance past entry %d" % start,
                                "update the app on the board (`picoface flash`)")
        start = nxt


def run(args):
    from picoface.transport import Transport, idle_levels_for_port

    want = {"list": 0, "rm": 1, "rename": 2}[args.action]
    if len(args.names) != want:
        raise PicofaceError("gallery %s takes %d name%s, got %d" % (args.action, want, "" if want == 1 else "s",
                                                                     len(args.names)),
                            "e.g. picoface gallery rename bob robert --port /dev/ttyUSB0")
    board = dtr = rts = None
    if args.board:
        from picoface.boards import load_board

        board = load_board(args.board)
    else:
        dtr, rts = idle_levels_for_port(args.port) or (None, None)
    with Transport(args.port, baud=args.baud, board=board, dtr=dtr, rts=rts) as t:
        if args.action == "list":
            names = list_names(t, args.timeout)
            for name, n in names:
                print("%s\t%d" % (name, n))
            print("%d %s, %d face%s" % (len(names), "person" if len(names) == 1 else "people",
                                        sum(n for _, n in names), "" if sum(n for _, n in names) == 1 else "s"))
        else:
            n = _ask(t, "gallery_" + args.action, args.names, args.timeout)
            print("%s %s face%s" % ("removed" if args.action == "rm" else "renamed", n, "" if n == "1" else "s"))
    return 0
