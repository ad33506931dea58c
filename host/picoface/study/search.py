"""``picoface study search``: a bounded search over width x input x anchors x head of the base config.

The grid is the product of the four lists (each defaults to the base's own value, so a search varies
only what it is given); when it holds more points than ``--points``, a seeded random sample of that
many is drawn (the base's own combination always among them, first, when it is in the grid). Each
point trains like a ``width`` / ``input`` point (``study.sweep``) for its share of the budget; the
report marks the frontier of AP against bytes and MACs."""

import itertools
import random

from picoface.errors import PicofaceError

DEFAULT_POINTS = 6


def parse_ints(text, flag, lo, hi):
    """A list of different integers in [lo, hi] from '3,5'."""
    try:
        vals = [int(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        vals = None
    if not vals or len(set(vals)) != len(vals) or any(not lo <= v <= hi for v in vals):
        raise PicofaceError("%s %r is not a list of different whole numbers from %d to %d" % (flag, text, lo, hi),
                            "write e.g. %s %d,%d" % (flag, lo, hi))
    return sorted(vals)


def point_id(p):
    return "w%g-%dx%d-a%d-h%d" % (p["width"], p["input"][0], p["input"][1], p["anchors"], p["head"])


def grid(cfg, widths=None, inputs=None, anchors=None, heads=None, points=DEFAULT_POINTS, seed=0):
    """(points searched as dicts {width, input, anchors, head}, size of the grid): the whole grid if it has
    at most ``points`` combinations, else a seeded sample of ``points`` (the base's combination first if
    the grid holds it)."""
    m = cfg.model
    if points < 1:
        raise PicofaceError("--points %d searches nothing" % points, "give 1 or more")
    axes = (widths or [m.width], inputs or [[cfg.input.w, cfg.input.h]], anchors or [m.anchors],
            heads or [m.head_channels])
    combos = [{"width": w, "input": list(i), "anchors": a, "head": h} for w, i, a, h in itertools.product(*axes)]
    if len(combos) <= points:
        return combos, len(combos)
    base = {"width": m.width, "input": [cfg.input.w, cfg.input.h], "anchors": m.anchors, "head": m.head_channels}
    rest = [c for c in combos if c != base]
    chosen = random.Random(seed).sample(rest, points - 1 if base in combos else points)
    return ([base] if base in combos else []) + chosen, len(combos)


def describe(n_grid, chosen, seed):
    if n_grid == len(chosen):
        return "the whole grid (%d points)" % n_grid
    return "%d of the grid's %d points, drawn at random (seed %d; the base's own combination first when in the grid)" % (
        len(chosen), n_grid, seed)
