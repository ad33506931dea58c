"""The LFW View-2 verification kit (../shared/data/lfw_pairs, see its SOURCE.md).

Layout: ``pairs.txt`` (header ``FOLDS<TAB>N``, then per fold N same-person lines ``Name i j`` and
N different-person lines ``Name1 i Name2 j``) and ``images/<Name>_<iiii>.jpg``. This module is
the only place that reads LFW: evaluation code gets pairs and image paths from here, and no
training code imports it.
"""

from dataclasses import dataclass
from pathlib import Path

from picoface.errors import PicofaceError

TODO = "use LFW's View-2 pairs.txt (header 'FOLDS<TAB>N', then per fold N 'Name i j' and N 'Name1 i Name2 j' lines)"


@dataclass(frozen=True)
class Pair:
    fold: int      # 0-based
    a: str         # image file name, e.g. Abel_Pacheco_0001.jpg
    b: str
    same: bool


def image_name(person, index):
    return "%s_%04d.jpg" % (person, index)


def person_of(name):
    """Person of an image file name: ``Abel_Pacheco_0001.jpg`` -> ``Abel_Pacheco``."""
    return Path(name).stem.rsplit("_", 1)[0]


def _index(tok, where):
    try:
        i = int(tok)
    except ValueError:
        raise PicofaceError("%s: image index %r is not a number" % (where, tok), TODO) from None
    if i < 1:
        raise PicofaceError("%s: image index %d is below 1 (LFW counts from 1)" % (where, i), TODO)
    return i


def parse_pairs(text, source="pairs.txt"):
    """List of Pair from the text of a View-2 pairs file; PicofaceError names the first bad line."""
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise PicofaceError("%s is empty" % source, TODO)
    head = lines[0].split()
    try:
        folds, n = (int(t) for t in head)
    except ValueError:
        raise PicofaceError("%s line 1: header %r is not two numbers 'FOLDS N'" % (source, lines[0].strip()),
                            TODO) from None
    if folds < 1 or n < 1:
        raise PicofaceError("%s line 1: header asks for %d folds of %d pairs" % (source, folds, n), TODO)
    body = [(i + 2, ln) for i, ln in enumerate(lines[1:]) if ln.strip()]
    if len(body) != 2 * folds * n:
        raise PicofaceError("%s has %d pair lines, the header (%d folds x %d + %d) needs %d"
                            % (source, len(body), folds, n, n, 2 * folds * n), TODO)
    pairs = []
    for k, (lineno, ln) in enumerate(body):
        fold, pos = divmod(k, 2 * n)
        same = pos < n
        where = "%s line %d" % (source, lineno)
        toks = ln.split()
        if same:
            if len(toks) != 3:
                raise PicofaceError("%s: expected a same-person pair 'Name i j' (fold %d, pair %d), got %d fields"
                                    % (where, fold + 1, pos + 1, len(toks)), TODO)
            a = image_name(toks[0], _index(toks[1], where))
            b = image_name(toks[0], _index(toks[2], where))
        else:
            if len(toks) != 4:
                raise PicofaceError("%s: expected a different-person pair 'Name1 i Name2 j' (fold %d, pair %d), "
                                    "got %d fields" % (where, fold + 1, pos + 1, len(toks)), TODO)
            if toks[0] == toks[2]:
                raise PicofaceError("%s: a different-person pair names %s twice" % (where, toks[0]), TODO)
            a = image_name(toks[0], _index(toks[1], where))
            b = image_name(toks[2], _index(toks[3], where))
        if a == b:
            raise PicofaceError("%s: pairs %s with itself" % (where, a), TODO)
        pairs.append(Pair(fold, a, b, same))
    return pairs


class LFW:
    """An LFW View-2 folder: ``pairs`` (all folds, or the first ``limit_folds``), ``images`` (the
    image names those pairs use, sorted) and ``path(name)``."""

    def __init__(self, root, limit_folds=None):
        self.root = Path(root)
        pf = self.root / "pairs.txt"
        if not self.root.is_dir():
            raise PicofaceError("LFW folder %s does not exist" % self.root,
                                "pass --data ../shared/data/lfw_pairs (or a folder with pairs.txt and images/)")
        if not pf.is_file():
            raise PicofaceError("%s has no pairs.txt" % self.root, "pass the LFW kit folder (pairs.txt + images/)")
        try:
            text = pf.read_text()
        except (OSError, UnicodeDecodeError) as e:
            raise PicofaceError("cannot read %s (%s)" % (pf, e), "check the file") from None
        pairs = parse_pairs(text, str(pf))
        self.n_folds_file = max(p.fold for p in pairs) + 1
        if limit_folds is not None:
            if limit_folds < 1:
                raise PicofaceError("--limit-folds must be at least 1", "give a number of folds")
            pairs = [p for p in pairs if p.fold < limit_folds]
        self.pairs = pairs
        self.n_folds = max(p.fold for p in pairs) + 1
        self.images = sorted({p.a for p in pairs} | {p.b for p in pairs})
        missing = [n for n in self.images if not (self.root / "images" / n).is_file()]
        if missing:
            raise PicofaceError("%d image(s) that pairs.txt uses are missing from %s (e.g. %s)"
                                % (len(missing), self.root / "images", missing[0]),
                                "use the complete LFW kit: every image pairs.txt names, as images/<Name>_<iiii>.jpg")

    def path(self, name):
        return self.root / "images" / name

    def people(self):
        """{person: [image names]} over the images the selected folds use."""
        out = {}
        for n in self.images:
            out.setdefault(person_of(n), []).append(n)
        return out
