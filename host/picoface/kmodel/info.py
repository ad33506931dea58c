"""What is in a kmodel file: ``summarize(path_or_bytes) -> dict`` and ``format_text(dict) -> str``.

v3: every layer (type, shapes, kernel, depthwise, pool/stride, activation class, where the output
goes), KPU-RAM use, main memory, weight bytes, MACs, whether all compute runs on the KPU, the
checks MaixPy/CanMV make before running a model, and (``runtime``, picoface.kmodel.heap) the heap
it takes at run time on MaixPy and CanMV, with the model.json beside the file when there is one.
v4 (nncase 0.2): header facts and the node list with KPU conv shapes. v5 (nncase 1.x): container
facts and, for pure-KPU graphs, the KPU layers.
"""

from pathlib import Path

import numpy as np

from picoface.errors import PicofaceError
from picoface.kmodel import detect_version, read_file, v3

# Layer types that only move/convert data (no arithmetic worth a KPU)
DATA_LAYERS = {11, 12, 13, 16, 17, 20, 21, 10241, 10242, 10243}


# ---------------------------------------------------------------------------------------------
# Activation classification
# ---------------------------------------------------------------------------------------------

def _act_fn(segments, rounding="even"):
    """The table as a Python function of v (strict boundary)."""
    from picoface.kmodel.emulator import round_shift

    xs = [s.x_start for s in segments]

    def f(v):
        j = 0
        for i in range(1, 16):
            if xs[i] < v:
                j = i
        s = segments[j]
        y = int(round_shift(np.int64((v - s.x_start) * s.y_mul), s.shift, rounding)) + s.bias
        return min(255, max(0, y))

    return f


def classify_activation(act):
    """'relu', 'relu6' (relu with a flat top below 255), 'linear', 'leaky', 'sigmoid-like',
    'constant' or 'custom', from the shape of the 16-segment table over its useful range."""
    segs = list(act.segments)
    xs = [s.x_start for s in segs]
    lim = (1 << 35) - 64
    # J(v) = last j with x_start < v never decreases in v: segment j is live on (x_start[j], min of
    # the later starts]; segment 0 is the default below that.
    pieces = []  # (slope, y_at_start_raw, y_at_end_raw, start, end, j)
    for j, s in enumerate(segs):
        end = min(xs[j + 1:]) if j < 15 else lim
        if j and not xs[j] < end:
            continue
        lo = -lim if j == 0 else max(s.x_start, -lim)
        hi = min(end, lim)
        if hi <= lo:
            continue
        slope = s.y_mul / float(1 << s.shift)
        y0 = (lo - s.x_start) * slope + s.bias if j else None  # segment 0 has no finite start
        y1 = (hi - s.x_start) * slope + s.bias
        pieces.append((slope, y0, y1, lo, hi, j))
    # v is the BN output in input-scale units, so v = 0 is the real zero: relu kinks there, a
    # linear (or leaky) activation keeps its slope below it.
    f = _act_fn(segs)
    useful = [p for p in pieces if p[3] < lim]
    if any(p[0] < 0 for p in useful):
        return "custom"
    sloped = [p for p in useful if p[0] > 0]
    if not sloped:
        return "constant"
    for p in useful:  # monotone across every boundary?
        if p[5] and f(p[3]) > f(p[3] + 1):
            return "custom"
    smax = max(p[0] for p in sloped)
    sig = [p for p in sloped if p[0] > 0.02 * smax]
    groups = []
    for p in sig:
        if groups and abs(p[0] - groups[-1][0]) <= 0.05 * max(p[0], groups[-1][0]):
            continue
        groups.append(p)
    slopes = [g[0] for g in groups]
    f_low, f_zero, f_high = f(-lim), f(0), f(lim - 1)
    top_end = sig[-1][4]
    flat_top = top_end < lim and f(top_end + 1) < 250 and f_high < 250
    if len(groups) >= 3 or (len(groups) == 2 and slopes[0] > slopes[1]):
        k = int(np.argmax(slopes))
        rising = all(a <= b * 1.05 for a, b in zip(slopes[:k], slopes[1:k + 1]))
        falling = all(a * 1.05 >= b for a, b in zip(slopes[k:], slopes[k + 1:]))
        if rising and falling and 0 < k < len(slopes) - 1:
            return "sigmoid-like"
        return "custom"
    if f_zero <= f_low:  # flat up to zero, then rising
        if len(groups) == 1:
            return "relu6" if flat_top else "relu"
        return "custom"
    if len(groups) == 1:
        return "linear"
    below = [p for p in sig if p[4] <= 0]
    above = [p for p in sig if p[3] >= 0]
    if below and above and 0 < below[-1][0] / above[0][0] < 0.5:
        return "leaky"
    return "custom"


# ---------------------------------------------------------------------------------------------
# v3 summary
# ---------------------------------------------------------------------------------------------

def conv_macs(r):
    """MACs of a KPU conv as the KPU computes them: at its full input resolution (a stride-2 layer
    is a stride-1 conv followed by the pool), ``r`` its registers (v3.Regs)."""
    iw, ih, ic = r.in_shape
    oc = r.out_shape[2]
    return iw * ih * oc * (1 if r.depthwise else ic) * r.kernel ** 2


def _conv_row(i, layer, bpw):
    r = layer.regs
    iw, ih, ic = r.in_shape
    ow, oh, oc = r.out_shape
    k = r.kernel
    macs = conv_macs(r)
    stride = v3.POOL_FILTER_STRIDE.get(r.pool_type, (1, 1))[1]
    dest = ["kpu@%d" % r.image_dst_addr]
    if layer.main_mem_out:
        dest.append("main@%d" % layer.main_mem_out_address)
    return {
        "index": i, "type": "K210_CONV", "input": [iw, ih, ic], "output": [ow, oh, oc],
        "kernel": "%dx%d" % (k, k), "depthwise": bool(r.depthwise), "pool": v3.POOL_NAMES.get(r.pool_type, "?"),
        "pool_type": r.pool_type, "stride": stride, "activation": classify_activation(layer.act),
        "src": r.image_src_addr, "dst": r.image_dst_addr,
        "main_mem_out": layer.main_mem_out_address if layer.main_mem_out else None,
        "output_to": "+".join(dest), "weight_bytes": len(layer.weights), "macs": macs,
        "load_time": r.load_time, "pad_value": r.pad_value,
    }


def _other_row(i, layer):
    row = {"index": i, "type": v3.layer_type_name(layer)}
    if isinstance(layer, (v3.DequantizeLayer, v3.QuantizeLayer)):
        out = layer.main_mem_out_address if isinstance(layer, v3.DequantizeLayer) else layer.mem_out_address
        row.update(count=layer.count, scale=layer.scale, bias=layer.bias, output_to="main@%d" % out,
                   input_from="main@%d" % layer.main_mem_in_address)
    elif isinstance(layer, v3.UploadLayer):
        row.update(output=[layer.width, layer.height, layer.channels],
                   output_to="kpu@%d" % layer.kpu_mem_out_address)
    elif hasattr(layer, "main_mem_out_address"):
        row.update(output_to="main@%d" % layer.main_mem_out_address)
    return row


def _maixpy_checks(model):
    """Problems MaixPy/CanMV would have running the model (empty list = none found)."""
    problems = []
    layers = model.layers
    if not isinstance(layers[0], v3.ConvLayer):
        problems.append("first layer is not K210_CONV (MaixPy: 'first layer not conv layer!')")
    else:
        w, h, c = layers[0].regs.in_shape
        if c not in (1, 3):
            problems.append("first conv takes %d channels; the camera AI buffer has 3 (RGB) or 1" % c)
    for i, l in enumerate(layers):
        if l.type_id not in v3.SDK_EXECUTES:
            problems.append("layer %d (%s) has no executor in the SDK" % (i, v3.layer_type_name(l)))
    if model.flags & 1 == 0:
        problems.append("16-bit model (flags bit0 = 0)")
    if not model.outputs:
        problems.append("no outputs")
    if len(layers) >= 2 and not (isinstance(layers[-1], v3.DequantizeLayer) and isinstance(layers[-2], v3.ConvLayer)
                                 and layers[-2].main_mem_out):
        problems.append("does not end K210_CONV(main memory) -> DEQUANTIZE, which run_yolo2 expects")
    for i, l in enumerate(layers):
        if isinstance(l, v3.ConvLayer):
            r = l.regs
            for name, (lo, hi) in (("input", (r.image_src_addr, r.image_src_addr + v3.kpu_lines(*r.in_shape))),
                                   ("output", (r.image_dst_addr, r.image_dst_addr + v3.kpu_lines(*r.out_shape)))):
                if hi > v3.KPU_RAM_LINES:
                    problems.append("layer %d %s map runs past the 2 MiB KPU RAM" % (i, name))
            if r.active_addr or r.para_start_addr or r.bwsx_base_addr:
                problems.append("layer %d stores nonzero loader-filled addresses" % i)
    return problems


def summarize_v3(model, size=None, contract=None):
    bpw = model.bytes_per_weight
    rows = []
    kpu_spans = []
    peak = 0
    for i, l in enumerate(model.layers):
        if isinstance(l, v3.ConvLayer):
            row = _conv_row(i, l, bpw)
            rows.append(row)
            ext = v3.kpu_extents(l)
            kpu_spans.extend(ext)
            (a0, a1), (b0, b1) = ext
            live = (a1 - a0) + (b1 - b0) - max(0, min(a1, b1) - max(a0, b0))
            peak = max(peak, live * 64)
        else:
            rows.append(_other_row(i, l))
            kpu_spans.extend(v3.kpu_extents(l))
    convs = [r for r in rows if r["type"] == "K210_CONV"]
    compute_cpu = [r["type"] for r, l in zip(rows, model.layers) if l.type_id not in DATA_LAYERS
                   and l.type_id != v3.K210_CONV]
    first = model.layers[0]
    types = {}
    for r in rows:
        types[r["type"]] = types.get(r["type"], 0) + 1
    return {
        "file_bytes": size, "version": 3, "flags": model.flags, "eight_bit": model.eight_bit,
        "layers": len(model.layers), "layer_types": types,
        "max_start_address": model.max_start_address, "main_mem_usage": model.main_mem_usage,
        "outputs": [{"address": o.address, "size": o.size} for o in model.outputs],
        "input": list(first.regs.in_shape) if isinstance(first, v3.ConvLayer) else None,
        "output": convs[-1]["output"] if convs else None,
        "kpu_ram_span_bytes": (max(e for _, e in kpu_spans) - min(s for s, _ in kpu_spans)) * 64 if kpu_spans else 0,
        "kpu_ram_header_bytes": (v3.KPU_RAM_LINES - model.max_start_address) * 64,
        "kpu_ram_peak_bytes": peak,
        "main_memory_bytes": model.main_mem_usage,
        "weight_bytes": sum(r["weight_bytes"] for r in convs),
        "macs": sum(r["macs"] for r in convs),
        "all_on_kpu": not compute_cpu, "cpu_layers": compute_cpu,
        "maixpy_problems": _maixpy_checks(model),
        "layer_table": rows,
        "runtime": _runtime(model, contract),
    }


def _runtime(model, contract):
    """picoface.kmodel.heap.runtime for a detector kmodel (None without a conv output)."""
    from picoface.kmodel import heap

    if not model.convs or not isinstance(model.layers[0], v3.ConvLayer):
        return None
    return heap.runtime(model, contract)


def _contract_beside(path):
    """The model.json (dict) beside a kmodel file, or None when there is none or it is unreadable."""
    import json

    from picoface.contract import contract_path

    try:
        c = contract_path(path, strict=False)
        return json.loads(c.read_text()) if c is not None else None
    except (OSError, ValueError):
        return None


# ---------------------------------------------------------------------------------------------
# v4 / v5
# ---------------------------------------------------------------------------------------------

def summarize_v4(data):
    from picoface.kmodel import v4

    m = v4.parse(data)
    nodes = []
    types = {}
    macs = 0
    wbytes = 0
    for i, n in enumerate(m.nodes):
        row = {"index": i, "type": n.name, "body_bytes": n.body_size}
        if n.regs is not None:
            r = n.regs
            iw, ih, ic = r.in_shape
            ow, oh, oc = r.out_shape
            mac = iw * ih * oc * (1 if r.depthwise else ic) * r.kernel ** 2
            macs += mac
            wbytes += n.weights_bytes
            row.update(input=[iw, ih, ic], output=[ow, oh, oc], kernel="%dx%d" % (r.kernel, r.kernel),
                       depthwise=bool(r.depthwise), pool=v3.POOL_NAMES.get(r.pool_type, "?"),
                       weight_bytes=n.weights_bytes, macs=mac,
                       activation=classify_activation(n.act) if n.act is not None else "?",
                       output_to="kpu@%d" % r.image_dst_addr + (
                           "+main@%d" % n.main_mem_output.start if n.main_mem_output.size else ""))
        if n.in_shape:
            row["input"] = list(n.in_shape)
        nodes.append(row)
        types[n.name] = types.get(n.name, 0) + 1
    return {
        "file_bytes": m.size, "version": 4, "target": m.target_name, "flags": m.flags,
        "main_mem_usage": m.main_mem, "constants_bytes": m.constants_size, "layers": len(m.nodes),
        "layer_types": types,
        "inputs": [{"range": r.describe(), "shape": list(s)} for r, s in m.inputs],
        "outputs": [{"range": r.describe()} for r in m.outputs],
        "weight_bytes": wbytes, "macs": macs,
        "all_on_kpu": all(n.name in ("kpu_conv2d", "kpu_upload", "dequantize", "quantize", "pad") for n in m.nodes),
        "cpu_layers": [n.name for n in m.nodes if n.name not in ("kpu_conv2d", "kpu_upload", "dequantize", "quantize")],
        "layer_table": nodes,
        "note": "kmodel v4 needs MaixPy built with v4 support and kpu.set_outputs(); the emulator runs v4 files made "
                "of [pad] -> kpu_upload -> KPU convs -> dequantize (v4.to_v3); picoface.kmodel.v4_runtime also runs "
                "graphs with the CPU nodes quantized_binary, dequantize, quantize, pad and float conv2d",
    }


def _v5_activation(table):
    """Classify a v5 activation table (nncase 1.9 leaves garbage in the 4 reserved top bits)."""
    import struct

    try:
        words = [w & ((1 << 60) - 1) for w in struct.unpack_from("<16Q", table, 0)]
        return classify_activation(v3.ActTable.unpack(struct.pack("<16Q", *words) + bytes(table[128:144])))
    except (struct.error, PicofaceError):
        return "?"


def summarize_v5(data):
    from picoface.kmodel import v5

    m = v5.parse(data)
    mods = []
    for mod in m.modules:
        mods.append({"type": mod.type, "functions": len(mod.functions), "mempools": list(mod.mempools),
                     "sections": {k: len(v) for k, v in mod.sections.items()}})
    out = {
        "file_bytes": m.size, "version": 5, "flags": m.flags, "alignment": m.alignment, "modules": mods,
        "entry": [m.entry_module, m.entry_function],
        "note": "kmodel v5 (nncase 1.x): MaixPy and released CanMV cannot load it; `picoface kmodel convert` makes v3",
    }
    try:
        prog = v5.kpu_program(m)
    except PicofaceError as e:
        out["kpu_program"] = None
        out["not_pure_kpu"] = str(e)
        return out
    rows = []
    for i, c in enumerate(prog.convs):
        regs = v3.Regs.unpack(c.regs)
        iw, ih, ic = regs.in_shape
        ow, oh, oc = regs.out_shape
        rows.append({"index": i, "type": "kpu_conv2d", "input": [iw, ih, ic], "output": [ow, oh, oc],
                     "kernel": "%dx%d" % (regs.kernel, regs.kernel), "depthwise": bool(regs.depthwise),
                     "pool": v3.POOL_NAMES.get(regs.pool_type, "?"), "weight_bytes": len(c.weights),
                     "activation": _v5_activation(c.activation),
                     "macs": iw * ih * oc * (1 if regs.depthwise else ic) * regs.kernel ** 2,
                     "output_to": "kpu@%d" % regs.image_dst_addr})
    out.update(kpu_program=True, layers=len(rows), layer_table=rows, input=list(prog.input_shape),
               output=list(prog.output_shape), scale=prog.scale, bias=prog.bias,
               kpu_ram_peak_bytes=prog.kpu_ram_bytes, weight_bytes=sum(r["weight_bytes"] for r in rows),
               macs=sum(r["macs"] for r in rows), all_on_kpu=True)
    return out


def summarize(src):
    """A dict describing a kmodel (path or bytes)."""
    if isinstance(src, (bytes, bytearray, memoryview)):
        data, name = bytes(src), None
    else:
        data, name = read_file(src), str(Path(src))
    ver = detect_version(data)
    if ver == 3:
        d = summarize_v3(v3.parse(data), size=len(data), contract=_contract_beside(name) if name else None)
    elif ver == 4:
        d = summarize_v4(data)
    else:
        d = summarize_v5(data)
    d["file"] = name
    d["file_bytes"] = len(data)
    return d


# ---------------------------------------------------------------------------------------------
# Text
# ---------------------------------------------------------------------------------------------

def _shape(s):
    return "x".join(str(v) for v in s) if s else "-"


def format_text(d):
    lines = []
    title = d.get("file") or "<bytes>"
    lines.append("%s: kmodel v%d, %d bytes" % (title, d["version"], d["file_bytes"]))
    if d["version"] == 3:
        lines.append("header: flags %d (%s), %d layers, max_start_address %d, main_mem_usage %d, outputs %s" % (
            d["flags"], "8-bit" if d["eight_bit"] else "16-bit", d["layers"], d["max_start_address"],
            d["main_mem_usage"], ", ".join("%d+%d" % (o["address"], o["size"]) for o in d["outputs"])))
    elif d["version"] == 4:
        lines.append("target %s, main memory %d, constants %d, %d nodes" % (
            d["target"], d["main_mem_usage"], d["constants_bytes"], d["layers"]))
        for i in d["inputs"]:
            lines.append("input:  %s shape %s" % (i["range"], _shape(i["shape"])))
        for o in d["outputs"]:
            lines.append("output: %s" % o["range"])
    elif d["version"] == 5:
        for m in d.get("modules", []):
            lines.append("module %s: %d function(s), sections %s" % (
                m["type"], m["functions"], ", ".join("%s %d B" % kv for kv in m["sections"].items())))
        if d.get("not_pure_kpu"):
            lines.append("not a single pure-KPU graph: %s" % d["not_pure_kpu"])
    table = d.get("layer_table") or []
    if table:
        lines.append("")
        lines.append("%3s  %-18s %-12s %-12s %-4s %-3s %-10s %-12s %-18s %9s %11s" % (
            "#", "type", "input", "output", "k", "dw", "pool", "activation", "output to", "weights", "MACs"))
        for r in table:
            lines.append("%3d  %-18s %-12s %-12s %-4s %-3s %-10s %-12s %-18s %9s %11s" % (
                r["index"], r["type"], _shape(r.get("input")), _shape(r.get("output")), r.get("kernel", ""),
                ("yes" if r.get("depthwise") else "no") if "depthwise" in r else "",
                r.get("pool", ""), r.get("activation", ""), r.get("output_to", ""),
                r.get("weight_bytes", "") if "weight_bytes" in r else "",
                "{:,}".format(r["macs"]) if "macs" in r else ""))
        lines.append("")
    if d["version"] == 3:
        lines.append("input %s (WxHxC, planar uint8), output %s" % (_shape(d["input"]), _shape(d["output"])))
        lines.append("KPU RAM: %d bytes spanned by buffers (header says %d), peak live %d bytes of 2097152"
                     % (d["kpu_ram_span_bytes"], d["kpu_ram_header_bytes"], d["kpu_ram_peak_bytes"]))
        lines.append("main memory: %d bytes" % d["main_memory_bytes"])
    if "weight_bytes" in d:
        lines.append("weights: %d bytes, MACs: %s" % (d["weight_bytes"], "{:,}".format(d.get("macs", 0))))
    if "all_on_kpu" in d:
        lines.append("all compute on the KPU: %s%s" % (
            "yes" if d["all_on_kpu"] else "no", "" if d["all_on_kpu"] else " (CPU: %s)" % ", ".join(d["cpu_layers"])))
    if d["version"] == 3:
        probs = d["maixpy_problems"]
        lines.append("MaixPy/CanMV checks: %s" % ("ok" if not probs else "; ".join(probs)))
    if d.get("note"):
        lines.append("note: %s" % d["note"])
    if d.get("runtime"):
        from picoface.kmodel import heap

        lines.append("")
        lines.append(heap.format_table(d["runtime"]))
    return "\n".join(lines)
