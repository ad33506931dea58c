"""Firmware limits as data: ``boards/firmware.toml`` (one table per family: maixpy, canmv, openmv).

``load()`` returns the validated table {family: Family}; every limit carries its source as
``owner/repo@commit path:line``. ``check_detector(family, grid_w, grid_h, anchors, classes, ...)``
returns the list of Violations of that family's static limits (a quantity left as None is not
checked); ``check_board(board, ..., families=None)`` raises one PicofaceError for every family the
board lists (or only ``families``). ``detector_from_contract(contract)`` reads the same figures from
a model.json. The commands that refuse artifacts call ``check_board`` (docs/firmware.md).
"""

import difflib
import functools
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from picoface.errors import PicofaceError
from picoface.paths import REPO_ROOT

TABLE = REPO_ROOT / "boards" / "firmware.toml"
STATIC_RULES = ("max", "equal", "one_of", "region_size")
NOTE_RULES = ("runtime", "call", "fact")
QUANTITIES = ("boxes", "anchors", "output_values", "output_layout", "output_dtype")
_FAMILY_KEYS = {"title", "chip", "decoder"}
_LIMIT_KEYS = {"rule", "quantity", "value", "what", "why", "source", "see", "checked", "todo"}
_SOURCE_RE = re.compile(r"^([\w.-]+/[\w.-]+)@([0-9a-f]{7,40}) (\S+):(\d+)(?:-(\d+))?$")
DOCS = "docs/firmware.md"


@dataclass(frozen=True)
class Limit:
    family: str
    key: str
    rule: str
    what: str
    why: str
    source: str
    checked: str
    quantity: str = None
    value: object = None
    todo: str = None
    see: tuple = ()

    @property
    def static(self):
        return self.rule in STATIC_RULES


@dataclass(frozen=True)
class Family:
    name: str
    title: str
    chip: str
    decoder: str
    limits: dict = field(default_factory=dict)

    @property
    def label(self):
        return "%s %s" % (self.title, self.decoder)


@dataclass(frozen=True)
class Violation:
    limit: Limit = field(repr=False)
    got: object
    message: str

    def __str__(self):
        return self.message


def _suggest(word, choices):
    m = difflib.get_close_matches(str(word), list(choices), n=1)
    return (" (did you mean %r?)" % m[0]) if m else ""


@functools.lru_cache(maxsize=8)
def _load(path):
    p = Path(path)
    try:
        raw = tomllib.loads(p.read_text())
    except FileNotFoundError:
        raise PicofaceError("firmware limits %s not found" % p, "restore boards/firmware.toml from git") from None
    except tomllib.TOMLDecodeError as e:
        raise PicofaceError("%s: invalid TOML: %s" % (p, e), "fix the file") from None
    return _validate(raw, str(p))


def load(path=None):
    """{family name: Family} from boards/firmware.toml (or ``path``), validated."""
    return _load(str(path or TABLE))


def family_names(path=None):
    return tuple(load(path))


def family(name, path=None):
    table = load(path)
    if name not in table:
        raise PicofaceError("unknown firmware family %r%s" % (name, _suggest(name, table)),
                            "use one of " + ", ".join(table))
    return table[name]


def _validate(raw, where):
    repos = raw.get("repos")
    if not isinstance(repos, dict) or not repos:
        raise PicofaceError("%s: missing [repos] (repo = full commit)" % where, "add it")
    for repo, commit in repos.items():
        if not (isinstance(commit, str) and re.fullmatch(r"[0-9a-f]{40}", commit)):
            raise PicofaceError("%s: [repos] %s must be a 40-hex commit, got %r" % (where, repo, commit), "fix it")
    out = {}
    for name, table in raw.items():
        if name == "repos":
            continue
        if not isinstance(table, dict):
            raise PicofaceError("%s: %r is not a table" % (where, name), "write one [family] table per firmware")
        head = {k: v for k, v in table.items() if not isinstance(v, dict)}
        for k in _FAMILY_KEYS:
            if not isinstance(head.get(k), str) or not head[k]:
                raise PicofaceError("%s: [%s] lacks %s (text)" % (where, name, k), "add it")
        for k in set(head) - _FAMILY_KEYS:
            raise PicofaceError("%s: [%s] unknown key %r%s" % (where, name, k, _suggest(k, _FAMILY_KEYS)),
                                "remove or rename it")
        limits = {key: _limit(name, key, val, repos, where) for key, val in table.items() if isinstance(val, dict)}
        if not limits:
            raise PicofaceError("%s: [%s] has no limits" % (where, name), "add [%s.<limit>] tables" % name)
        out[name] = Family(name=name, title=head["title"], chip=head["chip"], decoder=head["decoder"], limits=limits)
    if not out:
        raise PicofaceError("%s: no firmware families" % where, "add [maixpy], [canmv], [openmv] tables")
    return out


def _limit(fam, key, raw, repos, where):
    at = "%s: [%s.%s]" % (where, fam, key)
    for k in raw:
        if k not in _LIMIT_KEYS:
            raise PicofaceError("%s unknown key %r%s" % (at, k, _suggest(k, _LIMIT_KEYS)), "remove or rename it")
    for k in ("rule", "what", "why", "source", "checked"):
        if not isinstance(raw.get(k), str) or not raw[k].strip():
            raise PicofaceError("%s lacks %s (text)" % (at, k), "add it")
    rule = raw["rule"]
    if rule not in STATIC_RULES + NOTE_RULES:
        raise PicofaceError("%s unknown rule %r%s" % (at, rule, _suggest(rule, STATIC_RULES + NOTE_RULES)),
                            "use one of " + ", ".join(STATIC_RULES + NOTE_RULES))
    see = raw.get("see", [])
    if not isinstance(see, list):
        raise PicofaceError("%s see must be a list of sources" % at, "fix it")
    for s in [raw["source"]] + see:
        _check_source(s, repos, at)
    value = raw.get("value")
    if rule in STATIC_RULES:
        if raw.get("quantity") not in QUANTITIES:
            raise PicofaceError("%s quantity must be one of %s, got %r"
                                % (at, ", ".join(QUANTITIES), raw.get("quantity")), "fix it")
        if not isinstance(raw.get("todo"), str) or not raw["todo"].strip():
            raise PicofaceError("%s lacks todo (what to do when a model breaks it)" % at, "add it")
        if rule in ("max", "equal") and (not isinstance(value, int) or isinstance(value, bool)):
            raise PicofaceError("%s value must be an integer for rule %s, got %r" % (at, rule, value), "fix it")
        if rule == "one_of" and not (isinstance(value, list) and value and all(isinstance(v, str) for v in value)):
            raise PicofaceError("%s value must be a list of text for rule one_of, got %r" % (at, value), "fix it")
    return Limit(family=fam, key=key, rule=rule, what=raw["what"], why=raw["why"], source=raw["source"],
                 checked=raw["checked"], quantity=raw.get("quantity"),
                 value=tuple(value) if isinstance(value, list) else value, todo=raw.get("todo"), see=tuple(see))


def _check_source(s, repos, at):
    m = _SOURCE_RE.match(s) if isinstance(s, str) else None
    if not m:
        raise PicofaceError("%s source %r is not 'owner/repo@commit path:line'" % (at, s), "fix it")
    repo, commit, _path, first, last = m.groups()
    if repo not in repos:
        raise PicofaceError("%s source %r names %s, which [repos] lacks" % (at, s, repo), "add its commit to [repos]")
    if not repos[repo].startswith(commit):
        raise PicofaceError("%s source %r: commit %s is not [repos] %s = %s" % (at, s, commit, repo, repos[repo]),
                            "cite the commit the line was read at")
    if last is not None and int(last) < int(first):
        raise PicofaceError("%s source %r: line range ends before it starts" % (at, s), "fix it")


# ---------------------------------------------------------------------------------- checks

def _quantities(grid_w, grid_h, anchors, output_values, layout, dtype):
    return {"boxes": grid_w * grid_h * anchors, "anchors": anchors, "output_values": output_values,
            "output_layout": layout, "output_dtype": dtype}


def _describe(lim, q, grid_w, grid_h, anchors):
    """What was found, as text."""
    if lim.quantity == "boxes":
        return "%s is %dx%dx%d = %d" % (lim.what, grid_w, grid_h, anchors, q)
    return "%s is %s" % (lim.what, q)


def check_detector(family_name, grid_w, grid_h, anchors, classes=1, output_values=None, layout=None, dtype=None,
                   path=None):
    """Violations of ``family_name``'s static limits by a YOLOv2 detector (list, empty when it fits).

    ``anchors``: number of anchors; ``output_values``: values the model outputs (grid x channels);
    ``layout``/``dtype``: the output's (NCHW/NHWC, float32/int8...). None = unknown, not checked."""
    fam = family(family_name, path)
    qs = _quantities(grid_w, grid_h, anchors, output_values, layout, dtype)
    out = []
    for lim in fam.limits.values():
        if not lim.static or qs[lim.quantity] is None:
            continue
        q = qs[lim.quantity]
        if lim.rule == "max" and q > lim.value:
            text = "%s, more than %d" % (_describe(lim, q, grid_w, grid_h, anchors), lim.value)
        elif lim.rule == "equal" and q != lim.value:
            text = "%s, the firmware needs %s" % (_describe(lim, q, grid_w, grid_h, anchors), lim.value)
        elif lim.rule == "one_of" and q not in lim.value:
            text = "%s, the firmware takes %s" % (_describe(lim, q, grid_w, grid_h, anchors),
                                                  " or ".join(lim.value))
        elif lim.rule == "region_size" and q != grid_w * grid_h * anchors * (5 + classes):
            text = "the model outputs %d values, but grid %dx%d x %d anchors x (5 + %d classes) = %d" % (
                q, grid_w, grid_h, anchors, classes, grid_w * grid_h * anchors * (5 + classes))
        else:
            continue
        out.append(Violation(lim, q, "%s: %s (%s)" % (fam.label, text, lim.source)))
    return out


def check_board(board, grid_w, grid_h, anchors, classes=1, output_values=None, layout=None, dtype=None,
                families=None, subject="the model", path=None):
    """Raise one PicofaceError naming every broken limit of the board's firmware families
    (``families``: only these, e.g. the one a command was told to use). Returns the families checked."""
    names = tuple(families) if families else tuple(board.firmware)
    for n in names:
        if n not in board.firmware:
            raise PicofaceError("board %s does not run %s firmware" % (board.name, n),
                                "choose one of: " + ", ".join(board.firmware))
    found = []
    for n in names:
        found += check_detector(n, grid_w, grid_h, anchors, classes, output_values, layout, dtype, path)
    if found:
        todos = []
        for v in found:
            if v.limit.todo not in todos:
                todos.append(v.limit.todo)
        raise PicofaceError("%s breaks the firmware limits of board %s: %s" % (
            subject, board.name, "; ".join(v.message for v in found)), "; ".join(todos) + " (%s)" % DOCS)
    return names


def detector_from_contract(contract):
    """check_detector's keyword arguments from a model.json dict, or None when it has no grid/anchors."""
    o = (contract or {}).get("output") or {}
    try:
        gw, gh, anchors = int(o["grid_w"]), int(o["grid_h"]), len(o["anchors"])
    except (KeyError, TypeError, ValueError):
        return None
    return {"grid_w": gw, "grid_h": gh, "anchors": anchors, "classes": int(o.get("classes", 1)),
            "layout": o.get("layout"), "dtype": o.get("dtype")}
