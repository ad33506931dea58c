"""A study's finished points on disk: ``<out>/<name>-points/<id>.json``, each written atomically as soon as
the point is scored, so an interrupted study keeps every finished point and ``--resume`` skips them."""

import json
from pathlib import Path

from picoface import atomic
from picoface.errors import PicofaceError


class Store:
    def __init__(self, out, identity, resume, name="study"):
        """``identity``: what makes two runs the same study (kind, config hash, model hash...); a resume
        against another identity is refused, and so is a fresh start over finished points."""
        self.out = Path(out)
        self.dir = self.out / ("%s-points" % name)
        self.identity = identity
        found = sorted(self.dir.glob("*.json")) if self.dir.is_dir() else []
        if found and not resume:
            raise PicofaceError("%s already holds %d finished point%s of a study" % (self.out, len(found), "" if len(found) == 1 else "s"),
                                "pass --resume to continue it, or choose another --out")
        self.points = {}
        for f in found:
            try:
                p = json.loads(f.read_text())
            except ValueError:
                raise PicofaceError("%s is not valid JSON" % f, "delete it; --resume then runs that point again") from None
            if p.get("identity") != identity:
                raise PicofaceError("%s was made by another study (%s)" % (f, _diff(p.get("identity") or {}, identity)),
                                    "resume with the same kind, --base config and model, or choose another --out")
            self.points[p["id"]] = p

    def done(self, pid):
        return pid in self.points

    def save(self, point):
        point = dict(point, identity=self.identity)
        atomic.write_text(self.dir / ("%s.json" % point["id"]), json.dumps(point, indent=1) + "\n")
        self.points[point["id"]] = point

    def ordered(self, ids):
        return [self.points[i] for i in ids if i in self.points]


def _diff(a, b):
    keys = [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    return ", ".join("%s %s, now %s" % (k, a.get(k), b.get(k)) for k in keys) or "unknown"
