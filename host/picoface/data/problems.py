"""Collect or raise dataset problems, each located as ``file:line``."""

from dataclasses import dataclass

from picoface.errors import PicofaceError


@dataclass(frozen=True)
class Problem:
    where: str  # "file:line" (or "file: annotation id N" for COCO)
    text: str

    def __str__(self):
        return "%s: %s" % (self.where, self.text)


class Problems:
    """Readers call ``add(where, text)``. Strict mode (no sink) raises at the first problem;
    collecting mode (``picoface data check``) keeps going and remembers every one."""

    def __init__(self, sink=None):
        self.sink = sink
        self.repaired = []  # strict mode: fixable problems (the reader dropped the bad box)

    @property
    def collecting(self):
        return self.sink is not None

    def add(self, where, text, fixable=False):
        """``fixable``: the reader repaired it (e.g. dropped a zero-size box); strict mode only
        remembers it, ``picoface data check`` still reports it."""
        p = Problem(str(where), text)
        if self.sink is None and fixable:
            self.repaired.append(p)
            return
        if self.sink is None:
            raise PicofaceError("dataset problem at %s" % p,
                                "fix it, or run `picoface data check` to list every problem")
        self.sink.append(p)


def where(path, line=None):
    return "%s:%d" % (path, line) if line else str(path)
