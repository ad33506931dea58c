"""The recognition nets of ``mode: recognise`` on a board: read a recognition export (its model.json,
written by ``picoface recog export``) and the board's format of both nets, checked against their
sha256, and make the ``recog`` subset of the device config (``pfcore.config.RECOG_KEYS``). Used by
``picoface flash --recog`` and ``picoface sim --mode recognise``.

A board takes the nets when its toml names where they go (``[model] recog_landmarks_path`` and
``recog_embed_path``): the MAIX Dock and Maix Bit keep the kmodel v3 files in /flash, the OpenMV Cam
H7 Plus the int8 TFLite files on its SD card. The OpenMV Cam H7 has neither: its 95 KB model budget
holds the detector only.
"""

import hashlib
import json
from pathlib import Path

from picoface.errors import PicofaceError

NETS = ("landmarks", "embed")
PATH_KEYS = {"landmarks": "recog_landmarks_path", "embed": "recog_embed_path"}
RECOG_BOARDS = "maix_dock, maix_bit or openmv_h7_plus"


def recog_format(board):
    """The nets' format a board runs: kmodel-v3 on the K210, tflite-int8 on OpenMV."""
    return "kmodel-v3" if board.is_k210 else "tflite-int8"


def _contract_path(path):
    p = Path(path)
    return p / "model.json" if p.is_dir() or p.suffix != ".json" else p


def _check_board(board, nbytes=None):
    missing = [PATH_KEYS[n] for n in NETS if not board.model.get(PATH_KEYS[n])]
    if missing:
        raise PicofaceError("board %s cannot hold the recognition nets (no [model] %s in %s)" % (
            board.name, " / ".join(missing), board.path.name if board.path else board.name + ".toml"),
            "use %s" % RECOG_BOARDS)
    if nbytes is not None:
        budget = board.model_byte_budget()
        if nbytes > budget:
            raise PicofaceError("the recognition nets (%d B) are larger than board %s's model budget (%d B)" % (
                nbytes, board.name, budget), "use %s, or export smaller nets" % RECOG_BOARDS)


def load_recog(path, board):
    """({"landmarks": bytes, "embed": bytes}, contract dict) of the recognition export at ``path`` (its
    folder or its model.json), in the board's format (``recog_format``); PicofaceError when it is
    missing, not a recognition contract, lacks that format, or a file differs from its sha256."""
    _check_board(board)
    mj = _contract_path(path)
    if not mj.is_file():
        raise PicofaceError("no recognition nets at %s (no %s)" % (Path(path), mj.name),
                            "export them: picoface recog export")
    try:
        contract = json.loads(mj.read_text())
    except ValueError as e:
        raise PicofaceError("%s is not valid JSON: %s" % (mj, e),
                            "export the nets again: picoface recog export") from None
    if not isinstance(contract, dict) or contract.get("kind") != "recog":
        raise PicofaceError("%s is not a recognition contract (kind %r)" % (
            mj, contract.get("kind") if isinstance(contract, dict) else None),
            "pass the folder picoface recog export wrote")
    fmt = recog_format(board)
    files = {}
    for net in NETS:
        entry = contract.get("files", {}).get("%s:%s" % (net, fmt))
        if not entry:
            raise PicofaceError("%s has no %s net in %s for board %s" % (mj, net, fmt, board.name),
                                "export it: picoface recog export%s" % (
                                    "" if fmt == "tflite-int8" else " (without --no-kmodel)"))
        f = mj.parent / entry["file"]
        if not f.is_file():
            raise PicofaceError("%s net %s not found" % (net, f), "export the nets again: picoface recog export")
        data = f.read_bytes()
        if entry.get("sha256") and hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise PicofaceError("%s is not the file %s describes (sha256 differs)" % (f, mj.name),
                                "export the nets again: picoface recog export")
        files[net] = data
    _check_board(board, sum(len(d) for d in files.values()))
    if fmt not in contract.get("thresholds", {}):
        raise PicofaceError("%s has no %s threshold" % (mj, fmt), "export the nets again: picoface recog export")
    contract = dict(contract)
    contract.setdefault("name", mj.parent.name)
    return files, contract


def device_recog(contract, board, fmt=None):
    """The ``recog`` dict of the device config (pfcore.config.RECOG_KEYS): where the board keeps the
    nets, their geometry, and the cosine threshold of the board's format."""
    _check_board(board)
    fmt = fmt or recog_format(board)
    lm, em = contract.get("landmarks", {}), contract.get("embed", {})
    try:
        sub = {"name": str(contract.get("name", "")), "format": fmt,
               "landmarks_path": board.model["recog_landmarks_path"], "embed_path": board.model["recog_embed_path"],
               "input": int(contract["input"]), "grid": int(contract["grid"]), "dim": int(em["dim"]),
               "points": int(lm.get("points", 5)), "box_scale": float(lm.get("box_scale", 1.25)),
               "threshold": float(contract["thresholds"][fmt])}
    except (KeyError, TypeError, ValueError) as e:
        raise PicofaceError("the recognition contract lacks or garbles %s" % e,
                            "export the nets again: picoface recog export") from None
    if "max_entries" in contract.get("gallery", {}):
        sub["max_entries"] = int(contract["gallery"]["max_entries"])
    return sub
