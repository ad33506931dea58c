"""``picoface cmd --port P VERB [ARG ...]``: send one command to a running board (protocol v2) and print
its answer: ``ping``, ``hello`` (the board sends its hello line again), ``get KEY``, ``set KEY VALUE``
(score, nms, max_faces, enter_frames, leave_frames, send_frames, frame_every, fps_window, debug; until the
board restarts)."""

from picoface.errors import PicofaceError


def add_arguments(p):
    p.add_argument("verb", metavar="VERB", help="ping | hello | get | set")
    p.add_argument("args", nargs="*", metavar="ARG", help="get KEY; set KEY VALUE")
    p.add_argument("--port", required=True, help="serial port or pyserial URL (/dev/ttyUSB0, COM3, /dev/pts/N, "
                                                 "socket://h:p)")
    p.add_argument("--baud", type=int, help="baud rate (default: the board's, 115200)")
    p.add_argument("--board", help="board name: its DTR/RTS idle levels are set before opening (default: the "
                                   "levels of the boards with the port's USB VID:PID, else both low)")
    p.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for the answer (default 3)")


def run(args):
    from picoface import board_cmd

    if args.timeout <= 0:
        raise PicofaceError("--timeout must be positive", "e.g. --timeout 3")
    board_cmd.command_line(args.verb, args.args, cid=0)   # a command that cannot be sent fails before the port opens
    with board_cmd.open_board(args) as t:
        ans = board_cmd.send(t, args.verb, args.args, timeout=args.timeout)
    words = " ".join([args.verb] + list(args.args))
    if not ans.ack["ok"]:
        raise PicofaceError("the board refused `%s`: %s" % (words, ans.ack["text"]),
                            "see `picoface cmd --help` for the commands and their values")
    if args.verb == "hello" and ans.hello is not None:
        h = ans.hello
        for k in sorted(h):
            if k not in ("type", "v"):
                print("%s: %s" % (k, h[k]))
    elif ans.ack["text"]:
        print(ans.ack["text"])
    else:
        print("ok")
    return 0
