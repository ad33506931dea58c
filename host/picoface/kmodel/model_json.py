"""The kmodel's ``model.json``: the source model's contract (anchors, classes, thresholds,
training), and the kmodel v3 contract made from it and the converted file."""

import hashlib
import json
from pathlib import Path

from picoface.errors import PicofaceError


def _contract_for(contract, v3_model, out_path, data, facts):
    c = json.loads(json.dumps(contract)) if contract else {}
    first, last = v3_model.convs[0].regs, v3_model.convs[-1].regs
    w, h, _ = first.in_shape
    gw, gh, ch = last.out_shape
    c.update({"contract": 1, "format": "kmodel-v3", "file": Path(out_path).name, "bytes": len(data),
              "sha256": hashlib.sha256(data).hexdigest()})
    c.setdefault("name", Path(out_path).stem)
    inp = dict(c.get("input", {}))
    inp.update({"w": w, "h": h, "channels": 3, "order": "RGB", "layout": "NCHW", "dtype": "uint8",
                "scale": 1.0 / 255.0, "zero_point": 0})
    inp.setdefault("fit", "stretch")
    c["input"] = inp
    out = dict(c.get("output", {}))
    out.update({"grid_w": gw, "grid_h": gh, "layout": "NCHW", "dtype": "float32", "scale": 1.0, "zero_point": 0})
    out.setdefault("classes", ch // 5 - 5)
    c["output"] = out
    c["kpu_ram_bytes"] = facts["kpu_ram_bytes"]
    c.pop("arena_bytes", None)
    return c


def _source_contract(contract, float_model):
    """The source model's contract: the given dict/path, else the one beside the float model."""
    if isinstance(contract, (str, Path)):
        contract = _load_contract(contract)
    if contract is None and isinstance(float_model, (str, Path)):
        from picoface.contract import load_contract

        try:
            contract = load_contract(float_model)
        except PicofaceError:
            contract = None
    if contract is None:
        raise PicofaceError("no model contract (anchors, classes, thresholds) for %s" % float_model,
                            "pass --contract with the trained model's model.json")
    return contract


def _validate_contract(c, where):
    from picoface.contract import validate_contract

    validate_contract(c, where)


def _write_contract(path, c):
    from picoface.contract import write_contract

    write_contract(path, c)


def _load_contract(path):
    if not path:
        return None
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise PicofaceError("contract %s not found" % path, "check the path") from None
    except ValueError as e:
        raise PicofaceError("contract %s is not JSON (%s)" % (path, e), "fix it") from None
