"""``picoface study width`` and ``picoface study input``: the base config trained again at other width
multipliers or input sizes. Each point trains from scratch (or from the base's pretrained blocks, as the
config says) with ``picoface train`` for its share of ``--budget`` (``train.budget_minutes`` = budget /
points), is prepared as ``export`` prepares it (``study.context.Context`` on the point's run) and converted
to per-channel int8 TFLite, then scored like the other kinds. Explicit ``model.channels`` in the base make
``model.width`` meaningless, so width points scale that list by width / base width instead (multiples of
8, at least 8) and say so in their notes. ``picoface study search`` (``study.search``) trains the points of a
grid over width x input x anchors x head the same way."""

import math
import shutil

from picoface.errors import PicofaceError

KINDS = ("width", "input", "search")
DEFAULT_WIDTHS = "0.25,0.5,0.75,1.0"
DEFAULT_INPUTS = "160x128,224x160,256x192,320x224"


def parse_widths(text):
    try:
        vals = [float(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        vals = None
    if not vals or any(not (v > 0 and math.isfinite(v)) for v in vals) or len(set(vals)) != len(vals):
        raise PicofaceError("--widths %r is not a list of different positive multipliers" % text,
                            "write e.g. --widths 0.25,0.5,1.0")
    return sorted(vals)


def parse_inputs(text):
    out = []
    for part in (p.strip() for p in str(text).split(",") if p.strip()):
        w, _, h = part.lower().partition("x")
        if not (w.isdigit() and h.isdigit() and int(w) > 0 and int(h) > 0):
            out = None
            break
        out.append([int(w), int(h)])
    if not out or len({tuple(s) for s in out}) != len(out):
        raise PicofaceError("--inputs %r is not a list of different WxH sizes" % text, "write e.g. --inputs 160x128,320x224")
    return sorted(out, key=lambda s: (s[0] * s[1], s[0]))


def scaled_channels(channels, factor):
    return [max(8, int(round(c * factor / 8.0)) * 8) for c in channels]


class SweepContext:
    """What the points of a width / input study share: the base config, and each point's validated config
    (checked before anything trains or is written)."""

    def __init__(self, kind, cfg, config_path, budget_s, out, name, calib=None, progress=True, log=print, opts=None):
        from picoface.train.config import load_config

        self.kind, self.cfg, self.config_path = kind, cfg, config_path
        self.budget_s, self.out, self.name = float(budget_s), out, name
        self.calib, self.progress, self.log = calib, progress, log
        self.opts = dict(opts or {})
        self.points = {}
        values = {"width": "widths", "input": "inputs", "search": "points"}[kind]
        values = self.opts[values]
        per_min = self.budget_s / 60.0 / len(values)
        for v in values:
            pid, sets, note = self._point(v)
            # every point is scored at the size it trained at (a base's export.input is its shipping size)
            overrides = ["%s=%s" % (k, val) for k, val in sets] + [
                "train.budget_minutes=%.9f" % per_min, "run_dir=%s" % (out / ("%s-runs" % name) / pid),
                "export.input=[]"]
            try:
                pcfg = load_config(config_path, overrides)
            except PicofaceError as e:
                raise PicofaceError("point %s: %s" % (pid, e.what), e.todo) from None
            self.points[pid] = (pcfg, v, note)
        self.ids = []

    def _point(self, v):
        m = self.cfg.model
        if self.kind == "search":
            return self._search_point(v)
        if self.kind == "input":
            from picoface.train.model import check_input

            try:
                check_input(v[0], v[1], m.stride)
            except PicofaceError as e:
                raise PicofaceError("--inputs %dx%d: %s" % (v[0], v[1], e.what), e.todo) from None
            return "input-%dx%d" % tuple(v), [("input.w", v[0]), ("input.h", v[1])], None
        pid = "width-%g" % v
        if m.channels:
            ch = scaled_channels(m.channels, v / m.width)
            return pid, [("model.channels", ch)], ("the base's explicit model.channels %s scaled by %g / %g -> %s "
                                                   "(model.width does not apply to them)" % (list(m.channels), v, m.width, ch))
        return pid, [("model.width", v)], None

    def _search_point(self, p):
        from picoface.study.search import point_id
        from picoface.train.model import check_input

        m = self.cfg.model
        pid = point_id(p)
        try:
            check_input(p["input"][0], p["input"][1], m.stride)
        except PicofaceError as e:
            raise PicofaceError("point %s: %s" % (pid, e.what), e.todo) from None
        sets = [("input.w", p["input"][0]), ("input.h", p["input"][1]), ("model.anchors", p["anchors"]),
                ("model.head_channels", p["head"])]
        notes = []
        if m.channels:
            if p["width"] != m.width:
                ch = scaled_channels(m.channels, p["width"] / m.width)
                sets.append(("model.channels", ch))
                notes.append("channels %s scaled by %g / %g -> %s" % (list(m.channels), p["width"], m.width, ch))
        else:
            sets.append(("model.width", p["width"]))
        if m.anchor_boxes and p["anchors"] != len(m.anchor_boxes):
            sets.append(("model.anchor_boxes", []))
            notes.append("%d anchors by k-means instead of the base's %d" % (p["anchors"], len(m.anchor_boxes)))
        return pid, sets, "; ".join(notes) or None


def point_ids(ctx):
    return list(ctx.points)


def notes(ctx, ids):
    what = {"width": "width multiplier (model.width)", "input": "input size (input.w x input.h)",
            "search": "width, input size, anchor count (model.anchors) and head (model.head_channels: an extra "
                      "depthwise-separable block of that many channels before the region conv, 0 = none)"}[ctx.kind]
    return ["Each point is the base config at another %s, trained by `picoface train` for %.2f min (the budget "
            "split over %d points, train.budget_minutes; the config's epochs still cap it) into %s-runs/<point>/, "
            "prepared as export prepares it and converted to per-channel int8 TFLite." % (
                what, ctx.budget_s / 60.0 / max(1, len(ids)), len(ids), ctx.name)] + (
        ["Points: %s." % ctx.opts["drawn"]] if ctx.kind == "search" else []) + [
        "%s: %s." % (pid, ctx.points[pid][2]) for pid in ids if ctx.points[pid][2]]


def build_point(ctx, pid):
    from picoface.study.context import Context
    from picoface.study.quant import _int8, _quiet, _tflite_point
    from picoface.train.trainer import train

    pcfg, value, note = ctx.points[pid]
    # an unfinished point (interrupted study) starts again from nothing: no checkpoint of the
    # interrupted run may be taken for this one's best
    shutil.rmtree(pcfg.run_dir, ignore_errors=True)
    res = train(pcfg, progress=ctx.progress, log=ctx.log)
    pctx = Context(pcfg, ctx.config_path, res.model_path, 0, calib=ctx.calib, progress=ctx.progress, log=ctx.log)
    det, info = _tflite_point(pctx, _quiet(_int8, pctx.shipped, pctx.calib, True), "tflite-int8", pid)
    if ctx.kind == "width":
        label = "width %g" % value
    elif ctx.kind == "input":
        label = "input %dx%d" % tuple(value)
    else:
        label = "width %g, %dx%d, %d anchors, head %d" % (value["width"], value["input"][0], value["input"][1],
                                                          value["anchors"], value["head"])
    from picoface.paths import display_path

    info.update(label=label + ("; channels scaled" if note and ctx.kind == "width" else ""), notes=[note] if note else [],
                details={"model": display_path(res.model_path), "train_seconds": round(res.seconds, 1),
                         "epochs": res.epochs_done, "best_val": round(res.best_ap, 4), "stopped": res.stopped,
                         "channels": list(pcfg.model.channels), "width": _width(ctx.kind, value, pcfg),
                         "input": [pcfg.input.w, pcfg.input.h], "anchors": pcfg.model.anchors,
                         "head_channels": pcfg.model.head_channels})
    return det, info


def _width(kind, value, pcfg):
    """The width multiplier a point stands for (with explicit channels, model.width stays the base's)."""
    return value if kind == "width" else value["width"] if kind == "search" else pcfg.model.width
