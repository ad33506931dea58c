"""picoface boards [NAME]: list boards, or show one board's facts."""

import json
from dataclasses import asdict

from picoface import boards


def add_arguments(p):
    p.add_argument("name", nargs="?", help="board to show (omit to list all)")
    p.add_argument("--json", action="store_true", help="print the board as JSON")


def run(args):
    if not args.name:
        for n in boards.list_boards():
            b = boards.load_board(n)
            print("%-16s %-28s %-10s %s" % (b.name, b.title, b.model_format, "/".join(b.firmware)))
        return 0
    b = boards.load_board(args.name)
    d = asdict(b)
    d["path"] = str(b.path)
    if args.json:
        print(json.dumps(d, indent=2))
    else:
        for k, v in d.items():
            print("%-10s %s" % (k, v))
    return 0
