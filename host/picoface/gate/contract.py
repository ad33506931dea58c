"""A gate artifact and its contract (gate_kmodel.json / gate_int8.json), and the subset of it the device
config carries (``pfcore.config.GATE_KEYS``); used by ``picoface sim`` and ``picoface flash``."""

import hashlib
import json
from pathlib import Path

from picoface.errors import PicofaceError


def _read_json(p):
    if isinstance(p, dict):
        return p
    p = Path(p)
    if not p.is_file():
        raise PicofaceError("gate contract %s not found" % p, "put the gate's contract beside it (a gate export writes it)")
    try:
        return json.loads(p.read_text())
    except ValueError as e:
        raise PicofaceError("gate contract %s is not valid JSON: %s" % (p, e), "export the gate again") from None


def device_gate(contract, board, nbytes):
    """The gate subset the device config carries (pfcore.config.GATE_KEYS)."""
    if contract.get("kind") != "gate":
        raise PicofaceError("%s is not a gate contract (kind %r)" % (contract.get("name", "?"), contract.get("kind")),
                            "pass the gate_kmodel.json / gate_int8.json a gate export wrote")
    if not board.model.get("gate_path"):
        raise PicofaceError("board %s has no place for a gate model ([model] gate_path)" % board.name,
                            "use a board whose toml has gate_path (maix_dock, maix_bit, openmv_h7_plus)")
    want = "kmodel-v3" if board.is_k210 else "tflite-int8"
    if contract.get("format") != want:
        raise PicofaceError("board %s runs %s gates, this one is %s" % (board.name, want, contract.get("format")),
                            "pass the gate's %s" % ("gate.kmodel" if board.is_k210 else "gate_int8.tflite"))
    inp, out = contract["input"], contract["output"]
    return {"name": contract.get("name", ""), "placement": "file", "path": board.model["gate_path"],
            "bytes": int(nbytes), "sha256": contract.get("sha256", ""), "w": int(inp["w"]), "h": int(inp["h"]),
            "channels": int(inp.get("channels", 3)), "grid_w": int(out["grid_w"]), "grid_h": int(out["grid_h"]),
            "threshold": float(contract["thresholds"]["gate"])}


def load_gate(gate_path, gate_contract=None, board=None):
    """(bytes, contract dict) of a gate artifact and its contract (default: beside it). A folder: its
    gate.kmodel (K210 boards, or no board given) or gate_int8.tflite."""
    p = Path(gate_path)
    if p.is_dir():
        p = p / ("gate_int8.tflite" if board is not None and not board.is_k210 else "gate.kmodel")
    if not p.is_file():
        raise PicofaceError("gate model %s not found" % p, "pass gate.kmodel or gate_int8.tflite from a gate export")
    if gate_contract is None:
        gate_contract = p.parent / ("gate_kmodel.json" if p.suffix == ".kmodel" else "gate_int8.json")
    data, contract = p.read_bytes(), _read_json(gate_contract)
    want = contract.get("sha256")
    if want and hashlib.sha256(data).hexdigest() != want:
        raise PicofaceError("%s is not the file its contract describes (sha256 differs)" % p,
                            "export the gate again, or pass the contract that came with it")
    return data, contract
