"""picoface monitor: watch the faces a board streams over serial (or replay a capture)."""

import sys

from picoface.errors import PicofaceError


def add_arguments(p):
    p.add_argument("--port", help="serial port or pyserial URL (/dev/ttyUSB0, COM3, /dev/pts/N, socket://h:p, "
                                  "rfc2217://h:p, loop://)")
    p.add_argument("--baud", type=int, help="baud rate (default: the board's, 115200)")
    p.add_argument("--board", help="board name: its DTR/RTS idle levels are set before opening "
                                   "(default: the levels of the boards with the port's USB VID:PID, else both "
                                   "low, which never resets a K210)")
    p.add_argument("--log", help="write every message to FILE.jsonl or FILE.csv")
    p.add_argument("--capture", help="write the raw bytes received to FILE (replay it with --replay)")
    p.add_argument("--replay", help="decode a captured raw stream instead of a port")
    p.add_argument("--duration", type=float, help="stop after S seconds (default: until Ctrl-C)")
    p.add_argument("--reset", action="store_true", help="reset the board after opening (its DTR/RTS reset "
                                                        "sequence, needs --board) to see its hello line")
    p.add_argument("--plain", action="store_true", help="one line per message instead of the live table")
    p.add_argument("--every", type=int, default=1, help="--plain: print every Nth frame line")


def run(args):
    from picoface import monitor as mon

    if args.reset and not args.board:
        raise PicofaceError("--reset needs --board (the reset sequence is in the board file)",
                            "e.g. picoface monitor --port /dev/ttyUSB0 --board maix_dock --reset")
    if bool(args.port) == bool(args.replay):
        raise PicofaceError("give either --port or --replay", "e.g. picoface monitor --port /dev/ttyUSB0")
    board = None
    if args.board:
        from picoface.boards import load_board

        board = load_board(args.board)
    view = mon.make_view(plain=True if args.plain else None)
    if isinstance(view, mon.PlainView):
        view.every = max(1, args.every)
    log = mon.open_log(args.log)
    capture = mon.open_capture(args.capture)
    m = mon.Monitor(view=view, log=log, capture=capture)
    try:
        if args.replay:
            m.replay(args.replay)
        else:
            from picoface.transport import Transport

            dtr = rts = None
            if board is None:
                from picoface.transport import idle_levels_for_port

                dtr, rts = idle_levels_for_port(args.port) or (None, None)
            t = Transport(args.port, baud=args.baud, board=board, dtr=dtr, rts=rts)
            try:
                m.run(t, duration=args.duration, reset=args.reset)
            except KeyboardInterrupt:
                pass  # Ctrl-C ends a monitor normally; run() already printed the summary
    finally:
        mon.close_all(log, capture)
    if args.log:
        print("log: %s" % args.log, file=sys.stderr)
    if m.stats.version_seen is not None and m.messages == 0:
        raise mon.version_error(m.stats.version_seen)
    return 0
