"""``picoface gallery list|rm NAME|rename OLD NEW|pull --out FILE|push FILE [--replace] --port P``: the
faces enrolled on a running board (its /flash gallery, ``pfcore.gallery``), through protocol v2 commands;
pull and push copy names and embeddings to a JSON file and back (``picoface.gallery_sync``)."""

import json

from picoface.errors import PicofaceError


def add_arguments(p):
    p.add_argument("action", choices=("list", "rm", "rename", "pull", "push"),
                   help="list the enrolled names, remove one, rename one, copy names and embeddings to a JSON "
                        "file (pull --out FILE) or from one to the board (push FILE)")
    p.add_argument("names", nargs="*", metavar="NAME", help="rm NAME; rename OLD NEW; push FILE")
    p.set_defaults(_late_words="names")      # `gallery push --port P FILE`: FILE after the flags (picoface.cli)
    p.add_argument("--out", metavar="FILE", help="pull: the JSON file to write")
    p.add_argument("--replace", action="store_true", help="push: replace the faces of names the board already has "
                                                         "(without it such names stop the push before it starts)")
    p.add_argument("--port", required=True, help="serial port or pyserial URL")
    p.add_argument("--baud", type=int, help="baud rate (default: the board's, 115200)")
    p.add_argument("--board", help="board name: its DTR/RTS idle levels are set before opening")
    p.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for each answer (default 3)")


def _ask(t, verb, args, timeout):
    from picoface import board_cmd

    ans = board_cmd.send(t, verb, args, timeout=timeout)
    if not ans.ack["ok"]:
        words = [verb] + [a if len(a) <= 16 else a[:12] + "..." for a in args]     # not a page of hex
        raise PicofaceError("the board refused `%s`: %s" % (" ".join(words), ans.ack["text"]),
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


def pull(t, out, timeout):
    from picoface import atomic, board_cmd, gallery_sync

    hello = board_cmd.send(t, "hello", timeout=timeout).hello
    doc = gallery_sync.pull(t, _ask, list_names(t, timeout), hello, timeout)
    atomic.write_text(out, json.dumps(doc, indent=1) + "\n")
    n = sum(len(f["embeddings"]) for f in doc["faces"])
    print("pulled %d %s, %d face%s (dim %d) into %s" % (len(doc["faces"]), "person" if len(doc["faces"]) == 1
                                                        else "people", n, "" if n == 1 else "s", doc["dim"], out))


def push(t, dim, faces, replace, timeout):
    from picoface import gallery_sync

    there = sorted({name for name, _ in list_names(t, timeout)} & {name for name, _ in faces})
    if there and not replace:
        raise PicofaceError("the board already has %s" % ", ".join(there),
                            "add --replace to replace their faces, or remove them from the file")
    n = gallery_sync.push(t, _ask, dim, faces, timeout)
    print("pushed %d %s, %d face%s%s" % (len(faces), "person" if len(faces) == 1 else "people", n,
                                         "" if n == 1 else "s", " (%d replaced)" % len(there) if there else ""))


def run(args):
    from picoface import board_cmd

    want = {"list": 0, "rm": 1, "rename": 2, "pull": 0, "push": 1}[args.action]
    if len(args.names) != want:
        what = "a FILE" if args.action == "push" else "%d name%s" % (want, "" if want == 1 else "s")
        raise PicofaceError("gallery %s takes %s, got %d" % (args.action, what, len(args.names)),
                            "e.g. picoface gallery rename bob robert --port /dev/ttyUSB0")
    if (args.out is not None) != (args.action == "pull"):
        raise PicofaceError("--out is for gallery pull" if args.out else "gallery pull needs --out FILE",
                            "e.g. picoface gallery pull --port /dev/ttyUSB0 --out faces.json")
    faces = None
    if args.action == "push":
        from picoface import gallery_sync

        dim, faces = gallery_sync.load(args.names[0])     # a bad file fails before the port opens
    with board_cmd.open_board(args) as t:
        if args.action == "pull":
            pull(t, args.out, args.timeout)
        elif args.action == "push":
            push(t, dim, faces, args.replace, args.timeout)
        elif args.action == "list":
            names = list_names(t, args.timeout)
            for name, n in names:
                print("%s\t%d" % (name, n))
            print("%d %s, %d face%s" % (len(names), "person" if len(names) == 1 else "people",
                                        sum(n for _, n in names), "" if sum(n for _, n in names) == 1 else "s"))
        else:
            n = _ask(t, "gallery_" + args.action, args.names, args.timeout)
            print("%s %s face%s" % ("removed" if args.action == "rm" else "renamed", n, "" if n == "1" else "s"))
    return 0
