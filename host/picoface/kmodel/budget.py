"""Will this kmodel v3 load and run on this board? Checks from boards/<name>.toml.

``check(model, board, contract=None, firmware="full") -> dict`` of measured figures, or a
PicofaceError listing every failed check. Checks (PLATFORM.md A1/A3, KMODEL.md §1.5):
- model bytes + its main-memory buffer fit the firmware build's model budget
  (full MaixPy ~2 MiB, minimum ~4 MiB);
- the feature maps fit the 2 MiB KPU RAM;
- only layer types the SDK executes;
- the first layer is a K210_CONV reading a 3-channel image of the board's model input size
  (MaixPy: "first layer not conv layer!", "check img format err");
- the output is K210_CONV (KLF_MAIN_MEM_OUT) -> DEQUANTIZE float32, with 5 anchors x (5 + C)
  channels, as run_yolo2 assumes; and it matches the contract's grid/anchors/classes when given.

``check_firmware(model, board, contract=None, families=None)``: the same model against the limits of
the board's firmware families (boards/firmware.toml via ``picoface.firmware``): region boxes on the
task stack, anchors, output size. Without a contract, the anchors are the 5 run_yolo2 assumes and
the classes what it derives from the channels (channels / 5 - 5).
"""

from picoface.errors import PicofaceError
from picoface.kmodel import v3

FIRMWARES = ("full", "minimum")
RUN_YOLO2_ANCHORS = 5


def _as_model(model):
    if isinstance(model, (bytes, bytearray, memoryview)):
        data = bytes(model)
        return v3.parse(data), data
    return model, model.serialize()


def facts(model):
    """Figures of a v3 Model (or its bytes) that the checks use."""
    model, data = _as_model(model)
    ends = [e for layer in model.layers for _, e in v3.kpu_extents(layer)]
    first, last = model.layers[0], model.layers[-1]
    f = {
        "bytes": len(data),
        "main_mem_bytes": model.main_mem_usage,
        "kpu_ram_bytes": max(ends) * 64 if ends else 0,
        "layers": len(model.layers),
        "layer_types": [v3.layer_type_name(layer) for layer in model.layers],
        "unknown_to_sdk": sorted({v3.layer_type_name(layer) for layer in model.layers
                                  if layer.type_id not in v3.SDK_EXECUTES}),
        "first_is_conv": isinstance(first, v3.ConvLayer),
        "input": None, "output": None, "output_float": False,
    }
    if isinstance(first, v3.ConvLayer):
        w, h, c = first.regs.in_shape
        f["input"] = {"w": w, "h": h, "channels": c}
    convs = model.convs
    if convs:
        w, h, c = convs[-1].regs.out_shape
        f["output"] = {"grid_w": w, "grid_h": h, "channels": c}
        lc = convs[-1]
        f["output_float"] = bool(
            isinstance(last, v3.DequantizeLayer) and model.layers[-2] is lc and lc.main_mem_out
            and last.main_mem_in_address == lc.main_mem_out_address and last.count == w * h * c
            and model.outputs and model.outputs[0].address == last.main_mem_out_address
            and model.outputs[0].size == 4 * last.count)
    return f


def check(model, board, contract=None, firmware="full", input_size=None, head="region"):
    """Raise PicofaceError listing every problem; return the facts dict (plus budgets) when all pass.
    ``input_size``: the (w, h) the board feeds this model (default: the board's detector input);
    ``head``: "region" (a YOLOv2 detector, run_yolo2's layout) or "gate" (any float map)."""
    from picoface.boards import Board, load_board

    if not isinstance(board, Board):
        board = load_board(board)
    if firmware not in FIRMWARES:
        raise PicofaceError("unknown firmware build %r" % firmware, "use one of " + ", ".join(FIRMWARES))
    if not board.is_k210:
        raise PicofaceError("board %s is not a K210 board; a kmodel cannot run on it" % board.name,
                            "export an int8 TFLite for it instead")
    f = facts(model)
    problems = []
    budget = board.model_byte_budget(minimum_firmware=(firmware == "minimum"))
    need = f["bytes"] + f["main_mem_bytes"]
    f["model_budget_bytes"] = budget
    f["firmware"] = firmware
    if need > budget:
        problems.append("model %d B + main-memory buffer %d B = %d B exceeds the %d B a %s MaixPy firmware "
                        "leaves for models" % (f["bytes"], f["main_mem_bytes"], need, budget, firmware))
    kpu = board.memory["kpu_ram_bytes"]
    f["kpu_ram_budget_bytes"] = kpu
    if f["kpu_ram_bytes"] > kpu:
        problems.append("feature maps need %d B of KPU RAM, the K210 has %d B" % (f["kpu_ram_bytes"], kpu))
    if f["unknown_to_sdk"]:
        problems.append("layer types the K210 SDK cannot execute: %s" % ", ".join(f["unknown_to_sdk"]))
    if not f["first_is_conv"]:
        problems.append("the first layer is %s, but MaixPy needs a K210_CONV reading the image "
                        "(\"first layer not conv layer!\")" % f["layer_types"][0])
    else:
        inp = f["input"]
        want = tuple(input_size or board.input_size)
        if inp["channels"] != 3:
            problems.append("the first conv reads %d channels; the camera gives 3 (RGB)" % inp["channels"])
        if (inp["w"], inp["h"]) != tuple(want):
            problems.append("the model input is %dx%d but board %s feeds %dx%d images (camera %dx%d) "
                            "(\"check img format err\")" % (inp["w"], inp["h"], board.name, want[0], want[1],
                                                            board.camera_size[0], board.camera_size[1]))
    if not f["output_float"]:
        problems.append("the model does not end K210_CONV (main-memory output) -> DEQUANTIZE float32, "
                        "which run_yolo2 reads")
    out = f["output"] if head == "region" else None
    if out:
        c = out["channels"]
        if c % RUN_YOLO2_ANCHORS or c // RUN_YOLO2_ANCHORS < 6:
            problems.append("the output has %d channels; run_yolo2 needs %d anchors x (5 + classes)"
                            % (c, RUN_YOLO2_ANCHORS))
        if contract:
            o = contract.get("output", {})
            anchors = o.get("anchors")
            if anchors is not None and len(anchors) != RUN_YOLO2_ANCHORS:
                problems.append("the contract has %d anchors; MaixPy run_yolo2 assumes %d"
                                % (len(anchors), RUN_YOLO2_ANCHORS))
            classes = o.get("classes", 1)
            if anchors is not None and len(anchors) * (5 + classes) != c:
                problems.append("the output has %d channels, the contract says %d anchors x (5 + %d)"
                                % (c, len(anchors), classes))
            for k, key in (("grid_w", "grid_w"), ("grid_h", "grid_h")):
                if key in o and o[key] != out[k]:
                    problems.append("the output grid %s is %d, the contract says %d" % (k, out[k], o[key]))
    if problems:
        raise PicofaceError("the kmodel would not load or run on %s: %s" % (board.name, "; ".join(problems)),
                            "shrink or reshape the network (the board's limits: boards/%s.toml)" % board.name)
    return f


def detector(f, contract=None):
    """picoface.firmware.check_detector's arguments for a kmodel's facts (and its model.json)."""
    out = f["output"]
    if not out:
        return None
    c = out["channels"]
    d = {"grid_w": out["grid_w"], "grid_h": out["grid_h"], "anchors": RUN_YOLO2_ANCHORS,
         "classes": max(1, c // RUN_YOLO2_ANCHORS - 5), "output_values": out["grid_w"] * out["grid_h"] * c,
         "layout": "NCHW", "dtype": "float32" if f["output_float"] else None}
    o = (contract or {}).get("output") or {}
    if o.get("anchors"):
        d["anchors"] = len(o["anchors"])
        d["classes"] = int(o.get("classes", 1))
    return d


def check_firmware(model, board, contract=None, families=None, subject=None):
    """Raise PicofaceError when the kmodel breaks a limit of the board's firmware families."""
    from picoface import firmware
    from picoface.boards import Board, load_board

    if not isinstance(board, Board):
        board = load_board(board)
    d = detector(model if isinstance(model, dict) else facts(model), contract)
    if d is None:
        raise PicofaceError("the kmodel has no conv layer, so it has no detector output", "pass a detector kmodel")
    return firmware.check_board(board, families=families, subject=subject or "the kmodel", **d)
