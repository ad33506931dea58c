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
            print("%-10s %s" % (k, fact_text(k, v)))
    return 0


def fact_text(key, v, nested=False):
    """A board fact as text: mappings as ``key = value`` pairs, lists comma-separated (in brackets
    inside a mapping), booleans as true/false (as in boards/*.toml), addresses in hex, byte counts
    with their size in KiB/MiB, an empty value as (none)."""
    if isinstance(v, dict):
        return ", ".join("%s = %s" % (k, fact_text(k, x, True)) for k, x in v.items())
    if isinstance(v, (list, tuple)):
        items = ", ".join(fact_text(key, x, True) for x in v)
        return "[%s]" % items if nested else items
    if isinstance(v, bool):
        return "true" if v else "false"
    if v == "" or v is None:
        return "(none)"
    if isinstance(v, int) and key.endswith("address"):
        return "0x%x" % v
    if isinstance(v, int) and "bytes" in key and v >= 1024:
        unit, size = ("MiB", v / 1048576.0) if v >= 1048576 else ("KiB", v / 1024.0)
        return "%d (%s %s)" % (v, ("%d" % size) if size == int(size) else ("%.1f" % size), unit)
    return str(v)
