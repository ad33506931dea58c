"""Where things are: the repository, and ../shared (data and reference models) beside it.

One rule for every part of picoface and the tests: ``$PICOFACE_SHARED`` when set, else the
``shared`` folder next to the repository. Config paths are relative to the repository root.
"""

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

SHARED_PREFIX = "../shared/"


def shared_dir():
    """../shared beside the repository, or $PICOFACE_SHARED."""
    env = os.environ.get("PICOFACE_SHARED")
    return Path(env) if env else REPO_ROOT.parent / "shared"


def resolve_path(p):
    """A config path: relative to the repository root unless absolute (``~`` expanded)."""
    p = Path(os.path.expanduser(str(p)))
    return p if p.is_absolute() else REPO_ROOT / p


def shared_path(p):
    """A config path; one under ``../shared/`` follows $PICOFACE_SHARED when that is set."""
    if os.environ.get("PICOFACE_SHARED") and str(p).startswith(SHARED_PREFIX):
        return shared_dir() / str(p)[len(SHARED_PREFIX):]
    return resolve_path(p)


def display_path(p):
    """A path as a reader of this repository would write it: ``../shared/...`` for the shared folder,
    relative to the repository inside it, else as given."""
    p = Path(p)
    for base, prefix in ((shared_dir(), SHARED_PREFIX), (REPO_ROOT, "")):
        try:
            return prefix + str(p.resolve().relative_to(Path(base).resolve()))
        except ValueError:
            continue
    return str(p)
