"""picoface monitor: watch the faces one or more boards stream over serial (or replay captures),
optionally publishing to MQTT / Home Assistant (picoface.mqtt)."""

import sys
import threading

from picoface.errors import PicofaceError


def add_arguments(p):
    from picoface.mqtt import options

    p.add_argument("--port", action="append", default=[], metavar="[NAME=]PORT",
                   help="serial port or pyserial URL (/dev/ttyUSB0, COM3, /dev/pts/N, socket://h:p, rfc2217://h:p, "
                        "loop://); repeat for several boards; NAME= names the board (its MQTT id)")
    p.add_argument("--baud", type=int, help="baud rate (default: the board's, 115200)")
    p.add_argument("--board", help="board name: its DTR/RTS idle levels are set before opening "
                                   "(default: the levels of the boards with the port's USB VID:PID, else both "
                                   "low, which never resets a K210)")
    p.add_argument("--boards", metavar="FILE.toml", help="the boards to watch: [[board]] tables with name, port "
                                                         "(or replay), board, log")
    p.add_argument("--log", help="write every message to FILE.jsonl or FILE.csv (several boards: FILE-<name>.jsonl)")
    p.add_argument("--capture", help="write the raw bytes received to FILE (replay it with --replay)")
    p.add_argument("--replay", action="append", default=[], help="decode a captured raw stream instead of a port "
                                                                  "(repeatable)")
    p.add_argument("--replay-rate", type=float, help="replay one line at a time, N lines per second (a board's "
                                                     "pace; default: as fast as possible)")
    p.add_argument("--duration", type=float, help="stop after S seconds (default: until Ctrl-C)")
    p.add_argument("--reset", action="store_true", help="reset the board after opening (its DTR/RTS reset "
                                                        "sequence, needs --board) to see its hello line")
    p.add_argument("--plain", action="store_true", help="one line per message instead of the live table")
    p.add_argument("--every", type=int, default=1, help="--plain: print every Nth frame line")
    options.add_arguments(p)


def _sources(args):
    from picoface.watch import Source, load_sources, parse_port

    out = []
    for spec in args.port:
        name, port = parse_port(spec)
        out.append(Source(port=port, name=name))
    out += [Source(replay=r) for r in args.replay]
    if args.boards:
        out += load_sources(args.boards)
    if not out:
        raise PicofaceError("give --port, --replay or --boards", "e.g. picoface monitor --port /dev/ttyUSB0")
    return out


def _transport(src, args, boards):
    from picoface.transport import Transport, idle_levels_for_port

    name = src.board or args.board
    board = None
    if name:
        if name not in boards:
            from picoface.boards import load_board

            boards[name] = load_board(name)
        board = boards[name]
    dtr = rts = None
    if board is None:
        dtr, rts = idle_levels_for_port(src.port) or (None, None)
    return Transport(src.port, baud=args.baud, board=board, dtr=dtr, rts=rts)


def run(args):
    from picoface import monitor as mon
    from picoface import watch
    from picoface.mqtt import options

    if args.reset and not args.board:
        raise PicofaceError("--reset needs --board (the reset sequence is in the board file)",
                            "e.g. picoface monitor --port /dev/ttyUSB0 --board maix_dock --reset")
    if args.replay_rate is not None and args.replay_rate <= 0:
        raise PicofaceError("--replay-rate must be positive", "e.g. --replay-rate 15")
    sources = _sources(args)
    if args.board:
        from picoface.boards import load_board

        load_board(args.board)  # an unknown board name fails before anything is opened
    labels = watch.unique_labels(sources)
    many = len(sources) > 1
    mqtt = options.settings(args)      # a wrong password or a silent broker fails here, before any port
    ids = None
    if mqtt is not None:
        from picoface.mqtt.board import Ids

        ids = Ids()
        print("mqtt: publishing to %s (QoS %d, Home Assistant discovery %s)" % (
            mqtt.url.redacted(), mqtt.qos, "under %s/" % mqtt.ha_prefix if mqtt.ha else "off"), file=sys.stderr)

    single_view = None if many else mon.make_view(plain=True if args.plain else None)
    table = None
    if many and not single_view and not args.plain and sys.stdout.isatty():
        table = watch.BoardsView()
    lock = threading.Lock()
    runs, opened, boards = [], [], {}
    try:
        for src, label in zip(sources, labels):
            log = mon.open_log(watch.per_board_path(src.log or args.log, label, many and not src.log))
            capture = mon.open_capture(watch.per_board_path(args.capture, label, many))
            opened += [log, capture]
            pub = None
            if mqtt is not None:
                from picoface.mqtt.board import BoardPublisher
                from picoface.transport import usb_serial_number

                pub = BoardPublisher(mqtt, ids, name=src.name, source=label,
                                     serial_number=usb_serial_number(src.port) if src.port else None)
            if single_view is not None:
                view = single_view
            elif table is not None:
                view = table.row(label, pub)
            else:
                view = watch.PrefixedPlainView(label, lock=lock)
            if isinstance(view, mon.PlainView):
                view.every = max(1, args.every)
            m = mon.Monitor(view=view, log=log, capture=capture, sinks=[pub] if pub else [])
            t = _transport(src, args, boards) if src.port else None
            runs.append((src, m, t, pub, log))
        if many:
            for src, m, t, pub, log in runs:
                if t is not None:
                    t.open()  # every port is checked before any board is watched
            if table is not None:
                table.start()
            try:
                watch.run_all([_job(src, m, t, args) for src, m, t, pub, log in runs],
                              on_tick=table.update if table is not None else None)
            finally:
                if table is not None:
                    table.stop()
        else:
            src, m, t, pub, log = runs[0]
            try:
                _job(src, m, t, args)(None)
            except KeyboardInterrupt:
                if t is None:
                    raise
                # Ctrl-C ends a monitor normally; run() already printed the summary
    finally:
        for src, m, t, pub, log in runs:
            if pub is not None:
                c = pub.close()
                if c is not None:
                    print(options.summary(pub.board_id, c), flush=True)
        mon.close_all(*opened)
    for src, m, t, pub, log in runs:
        if log is not None:
            print("log: %s" % log.path, file=sys.stderr)
    for src, m, t, pub, log in runs:
        if m.stats.version_seen is not None and m.messages == 0:
            raise mon.version_error(m.stats.version_seen)
    return 0


def _job(src, m, t, args):
    def job(stop):
        if t is None:
            m.replay(src.replay, lines_per_s=args.replay_rate, stop=stop)
        else:
            m.run(t, duration=args.duration, reset=args.reset, stop=stop)
    return job
