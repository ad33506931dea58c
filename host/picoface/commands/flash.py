"""picoface flash: firmware + model (kflash, K210) and app + config (raw REPL), then check the hello line."""

import sys

from picoface.errors import PicofaceError


def add_arguments(p):
    p.add_argument("--board", default="maix_dock", help="board name (boards/*.toml); default maix_dock")
    p.add_argument("--port", help="serial port or pyserial URL (e.g. /dev/ttyUSB0, COM3)")
    p.add_argument("--baud", type=int, help="raw-REPL baud rate (default: the board's)")
    p.add_argument("--firmware", help="firmware .bin to write at 0x0 first (K210, via kflash)")
    p.add_argument("--model", help="model artifact (.kmodel/.tflite) or its folder (default: the shipped model)")
    p.add_argument("--model-placement", choices=("flash", "file"),
                   help="K210: raw in flash at the board's address (kflash) or as a file (raw REPL)")
    p.add_argument("--gate", metavar="DIR", help="also copy the gate model (a gate export's folder, e.g. "
                                                 "models/picoface_gate_96x96) and start the app in mode gate")
    p.add_argument("--recog", metavar="DIR", help="also copy the recognition nets (a recognition export's folder, "
                                                  "e.g. models/picoface_recog) and start the app in mode recognise")
    p.add_argument("--no-kflash", action="store_true", help="skip kflash: the model is already in flash")
    p.add_argument("--kflash-baud", type=int, help="kflash baud rate (default: the board's, 1500000 on the Dock)")
    p.add_argument("--kflash", dest="kflash_cmd",
                   help="kflash command (default: python -m kflash; env PICOFACE_KFLASH)")
    p.add_argument("--hello-timeout", type=float, default=30.0, help="seconds to wait for the hello line")
    p.add_argument("--dry-run", action="store_true", help="print the plan, touch nothing")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args):
    from picoface.boards import load_board
    from picoface.flash import plan as fplan

    board = load_board(args.board)
    if not args.dry_run and not args.port:
        from picoface.transport import _candidates_text

        raise PicofaceError("no --port given", _candidates_text(board))
    if not args.dry_run:
        from picoface.transport import check_port

        check_port(args.port, board)  # before the plan, kflash or the raw REPL
    plan = fplan.build(board, port=args.port, model=args.model, firmware=args.firmware, baud=args.baud,
                       kflash_baud=args.kflash_baud, kflash_cmd=args.kflash_cmd, skip_kflash=args.no_kflash,
                       placement=args.model_placement, gate=args.gate, recog=args.recog)
    for line in plan.describe():
        print(line)
    if args.dry_run:
        return 0
    from picoface.flash.execute import execute

    def echo(msg):
        print(msg, file=sys.stderr if msg.startswith("  ") else sys.stdout, flush=True)

    result = execute(plan, echo=echo, progress=not args.quiet and sys.stderr.isatty(),
                     hello_timeout=args.hello_timeout)
    h = result["hello"]
    print("ok: %s runs app %s, firmware %s, model %s (%d B written in %.1f s)" % (
        h.get("board", board.name), h.get("app", "?"), h.get("firmware", "?"),
        "%s (hash %s)" % (h.get("model", "?"), h.get("model_hash", "?")), result["bytes"], result["seconds"]))
    return 0
