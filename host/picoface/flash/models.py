"""Find a model artifact and its contract (model.json) for a board.

``resolve(board, model=None, allow_standin=False) -> (artifact Path, contract dict | None)``:
``model`` may be an artifact (.kmodel, .tflite) with model.json beside it, or a folder holding
model.json. Without ``model`` the shipped model for the board is taken from ``models/*/``
(the first whose model.json has the board's format and input size). ``allow_standin`` lets the
simulator use an int8/float TFLite with the right input size for a K210 board (the simulated
KPU runs it) when no kmodel is shipped.
"""

from pathlib import Path

from picoface.contract import contract_for, load_contract
from picoface.errors import PicofaceError
from picoface.paths import REPO_ROOT

ARTIFACT_EXTS = (".kmodel", ".tflite")


def models_dir():
    return REPO_ROOT / "models"


def resolve(board, model=None, allow_standin=False):
    if model is not None:
        p = Path(model).expanduser()
        if p.is_dir():
            cj = p / "model.json"
            if not cj.is_file():
                raise PicofaceError("%s has no model.json" % p,
                                    "pass the model file itself or a folder with model.json")
            c = load_contract(cj)
            art = p / c.get("file", "")
            if not c.get("file") or not art.is_file():
                raise PicofaceError("%s names file %r, which is not there" % (cj, c.get("file")), "re-export the model")
            return art, c
        if not p.is_file():
            raise PicofaceError("model %s not found" % p, "check the path (a .kmodel or .tflite file, or its folder)")
        if p.suffix.lower() not in ARTIFACT_EXTS:
            raise PicofaceError("%s is not a .kmodel or .tflite file" % p, "pass the exported model artifact")
        return p, contract_for(p)
    found = shipped(board, allow_standin)
    if found:
        return found[0]
    standins = [] if allow_standin else shipped(board, allow_standin=True)
    if standins:
        art = standins[0][0]
        raise PicofaceError(
            "board %s needs a %s model; models/ ships only %s" % (board.name, board.model_format, art),
            "convert it to kmodel v3 with `picoface kmodel convert` (see its --help) and pass --model, "
            "or place a .kmodel with its model.json in %s" % art.parent)
    raise PicofaceError(
        "no shipped model for board %s in %s (format %s, input %dx%d)" % (
            board.name, models_dir(), board.model_format, *board.input_size),
        "run `make train` to build the shipped models, or pass --model FILE (an exported .kmodel/.tflite "
        "with its model.json beside it)")


def shipped(board, allow_standin=False):
    """[(artifact, contract)] of models/*/ that fit ``board``: exact format first, then stand-ins."""
    exact, standin = [], []
    root = models_dir()
    for cj in sorted(root.glob("*/model.json")) if root.is_dir() else []:
        try:
            c = load_contract(cj)
        except PicofaceError:
            continue
        art = cj.parent / str(c.get("file", ""))
        inp = c.get("input", {})
        if not c.get("file") or not art.is_file() or (inp.get("w"), inp.get("h")) != tuple(board.input_size):
            continue
        if c.get("format") == board.model_format:
            exact.append((art, c))
        elif allow_standin and board.is_k210 and c.get("format") in ("tflite-int8", "tflite-float"):
            standin.append((art, c))
    return exact + standin
