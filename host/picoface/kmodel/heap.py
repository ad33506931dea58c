"""What a kmodel v3 takes at run time on the K210 firmwares (MaixPy, CanMV), every figure from
boards/firmware.toml (``picoface.firmware``) with its source; docs/firmware.md "Heap at run time".

``runtime(model, contract=None, frame=None) -> dict``: per family, the system-heap terms (C malloc:
the kmodel copy kpu.load makes, the SDK's main buffer, the region layer's buffers, the camera's AI
and RGB565 buffers), their sum, and the comparison with the GC heap (a separate block malloc'd from
the same SRAM at boot) and the 6 MiB SRAM; plus KPU RAM and the KPU's MACs (every conv at its full
input resolution, the pool after it: the ``kmodel info`` MACs column). ``model``: a v3 Model or its
bytes; ``contract``: its model.json (anchors, classes), else the 5 anchors run_yolo2 assumes;
``frame``: the camera frame (w, h), else the model input (the camera feeds the net directly).
``format_table(d) -> str``: the short table ``picoface kmodel info`` ends with.
"""

from picoface.kmodel import budget, info, v3

FAMILIES = ("maixpy", "canmv")
REGION_WHEN = {"maixpy": "per run_yolo2 call", "canmv": "once, at init_yolo2"}
# The per-box figures in firmware.toml are for 1 class; each further class adds a float to probs_buf
# (both firmwares) and to CanMV's copy of the output (see their `why`).
EXTRA_PER_CLASS = {"maixpy": 4, "canmv": 8}
RGB565_BYTES = 2    # OMV_INIT_BPP: the frame buffer set_framesize mallocs beside the AI buffer


def _up(n, to):
    return (n + to - 1) // to * to


def _term(key, what, nbytes, lim, source=None):
    return {"key": key, "what": what, "bytes": int(nbytes), "source": source or lim.source}


def family_heap(family, f, det, frame):
    """The system-heap terms of one firmware family for a kmodel's facts ``f`` (budget.facts)."""
    from picoface import firmware

    fam = firmware.family(family)
    lim = fam.limits
    w, h = frame
    boxes = det["grid_w"] * det["grid_h"] * det["anchors"] if det else 0
    extra = max(0, (det or {}).get("classes", 1) - 1)
    per_box = lim["region_heap_bytes_per_box"].value + EXTRA_PER_CLASS[family] * extra
    cam = lim["camera_ai_buffer_bytes_per_pixel"]
    terms = [
        _term("model", "kmodel copy (load)", f["bytes"] + lim["model_heap_bytes"].value, lim["model_heap_bytes"]),
        _term("main_buffer", "SDK main buffer (main_mem_usage)", f["main_mem_bytes"], lim["main_buffer"]),
        _term("region", "region layer, %d boxes x %d B (%s)" % (boxes, per_box, REGION_WHEN[family]),
              boxes * per_box, lim["region_heap_bytes_per_box"]),
        _term("camera_ai", "camera AI buffer %dx%d RGB888" % (w, h), _up(w * h * cam.value, 64), cam),
        _term("camera_frame", "camera frame %dx%d RGB565" % (w, h), _up(w * h * RGB565_BYTES, 128), cam,
              cam.see[0] if cam.see else None),
    ]
    total = sum(t["bytes"] for t in terms)
    gc, sram = lim["gc_heap_bytes"], lim["sram_bytes"]
    return {"title": fam.title, "decoder": fam.decoder, "terms": terms, "heap_bytes": total,
            "gc_heap_bytes": gc.value, "gc_heap_source": gc.source, "sram_bytes": sram.value,
            "sram_source": sram.source, "left_bytes": sram.value - gc.value - total,
            "boxes": boxes, "boxes_limit": lim["region_boxes"].value, "boxes_source": lim["region_boxes"].source}


def runtime(model, contract=None, frame=None):
    if isinstance(model, (bytes, bytearray, memoryview)):
        model = v3.parse(bytes(model))
    f = budget.facts(model)
    det = budget.detector(f, contract)
    if det is not None and det["anchors"] * (5 + det["classes"]) != f["output"]["channels"]:
        det = None      # not a YOLOv2 head (as model.json describes it): no region layer
    if frame is None:
        frame = (f["input"]["w"], f["input"]["h"]) if f["input"] else (0, 0)
    macs = sum(info.conv_macs(layer.regs) for layer in model.convs)
    return {"frame": list(frame), "kpu_ram_bytes": f["kpu_ram_bytes"], "kpu_ram_total_bytes": v3.KPU_RAM_BYTES,
            "kpu_macs": macs, "families": {n: family_heap(n, f, det, frame) for n in FAMILIES}}


def _n(v):
    return "{:,}".format(v)


def format_table(d):
    fams = [d["families"][n] for n in FAMILIES]
    labels = {"model": "kmodel copy (load)", "main_buffer": "SDK main buffer (main_mem_usage)",
              "region": "region layer buffers", "camera_ai": "camera AI buffer (RGB888)",
              "camera_frame": "camera frame (RGB565)"}
    rows = [("", ["%s %s" % (x["title"], x["decoder"].split(".")[-1]) for x in fams])]
    for i, t in enumerate(fams[0]["terms"]):
        rows.append((labels[t["key"]], [_n(x["terms"][i]["bytes"]) for x in fams]))
    rows.append(("system heap (C malloc), sum", [_n(x["heap_bytes"]) for x in fams]))
    rows.append(("GC heap (a separate block)", [_n(x["gc_heap_bytes"]) for x in fams]))
    rows.append(("SRAM - GC heap - system heap", [_n(x["left_bytes"]) for x in fams]))
    rows.append(("region boxes (stack limit)", ["%s %s %s" % (_n(x["boxes"]), ">" if x["boxes"] > x["boxes_limit"]
                                                               else "<=", _n(x["boxes_limit"])) if x["boxes"] else
                                                "- (no YOLOv2 head)" for x in fams]))
    width = max(len(r[0]) for r in rows)
    cols = [max(len(r[1][j]) for r in rows) for j in range(len(fams))]
    out = ["run time on the K210, bytes (camera %dx%d; sources: docs/firmware.md \"Heap at run time\"):"
           % tuple(d["frame"])]
    for label, cells in rows:
        out.append(("  %-*s  %s" % (width, label, "  ".join("%*s" % (c, v) for c, v in zip(cols, cells)))).rstrip())
    out.append("  region layer: MaixPy mallocs it on every run_yolo2 call, CanMV once at init_yolo2; the SRAM left "
               "holds the firmware image and all else it mallocs")
    out.append("  picoface's app never calls run_yolo2 on MaixPy (its 10-result overflow): it decodes kpu.forward's "
               "output in pfcore from the GC heap instead (docs/firmware.md)")
    out.append("  KPU RAM %s of %s; KPU MACs %s (each conv at its full input resolution, then the pool)"
               % (_n(d["kpu_ram_bytes"]), _n(d["kpu_ram_total_bytes"]), _n(d["kpu_macs"])))
    return "\n".join(out)
