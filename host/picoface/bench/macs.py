"""Count multiply-accumulates (MACs) of a model from its layers' tensor shapes.

- TFLite: walk the interpreter's ops (default delegates off so every op is listed) and use the
  shapes of the weight and output tensors of CONV_2D, DEPTHWISE_CONV_2D, TRANSPOSE_CONV and
  FULLY_CONNECTED.
- ONNX: the ``onnx`` package is not a dependency, so the graph is run once through onnxruntime
  with profiling and optimisations off; the profile lists every node with its input and output
  shapes, from which Conv / ConvTranspose / Gemm / MatMul MACs follow.
Other ops (adds, pooling, activations) are not counted, as is usual for MAC figures.
"""

import json
import os
import tempfile
from pathlib import Path

import numpy as np


def conv_macs(out_shape, kernel_elems_per_output):
    return int(np.prod(out_shape, dtype=np.int64)) * int(kernel_elems_per_output)


def tflite_macs(path):
    """MACs of one inference of a .tflite model (a path or its bytes; int)."""
    from picoface.litert import interpreter

    it = interpreter(path, all_ops=True)
    shapes = {t["index"]: tuple(int(v) for v in t["shape"]) for t in it.get_tensor_details()}
    total = 0
    for op in it._get_ops_details():
        name = op["op_name"]
        ins = [i for i in op["inputs"] if i >= 0]
        outs = [i for i in op["outputs"] if i >= 0]
        if not outs or len(ins) < 2:
            continue
        out = shapes[outs[0]]
        if name == "CONV_2D":
            w = shapes[ins[1]]  # [Cout, kh, kw, Cin]
            total += conv_macs(out, w[1] * w[2] * w[3])
        elif name == "DEPTHWISE_CONV_2D":
            w = shapes[ins[1]]  # [1, kh, kw, Cout]
            total += conv_macs(out, w[1] * w[2])
        elif name == "FULLY_CONNECTED":
            w = shapes[ins[1]]  # [units, in]
            total += conv_macs(out, w[-1])
        elif name == "TRANSPOSE_CONV" and len(ins) >= 3:
            w = shapes[ins[1]]  # [Cout, kh, kw, Cin]
            total += conv_macs(shapes[ins[2]], w[0] * w[1] * w[2])
    return total


def _shape(entry):
    # profiler entries look like {"float": [1, 3, 240, 320]}
    return tuple(int(v) for v in next(iter(entry.values())))


def onnx_macs(path, input_shapes):
    """MACs of one inference of an ONNX model at the given input shapes ({name: shape})."""
    import onnxruntime as ort

    with tempfile.TemporaryDirectory(prefix="picoface-macs-") as tmp:
        so = ort.SessionOptions()
        so.enable_profiling = True
        so.profile_file_prefix = os.path.join(tmp, "prof")
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        so.intra_op_num_threads = 1
        so.log_severity_level = 3
        sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        feeds = {}
        for i in sess.get_inputs():
            shape = input_shapes.get(i.name) or [d if isinstance(d, int) else 1 for d in i.shape]
            feeds[i.name] = np.zeros(shape, np.float32)
        sess.run(None, feeds)
        events = json.loads(Path(sess.end_profiling()).read_text())
    total = 0
    for e in events:
        if e.get("cat") != "Node" or not e.get("name", "").endswith("_kernel_time"):
            continue
        args = e.get("args", {})
        op = args.get("op_name")
        ins = [_shape(s) for s in args.get("input_type_shape", [])]
        outs = [_shape(s) for s in args.get("output_type_shape", [])]
        if not outs or len(ins) < 2:
            continue
        if op == "Conv":
            w = ins[1]  # [Cout, Cin/group, kh, kw]
            total += conv_macs(outs[0], int(np.prod(w[1:])))
        elif op == "ConvTranspose":
            w = ins[1]  # [Cin, Cout/group, kh, kw]
            total += conv_macs(ins[0], int(np.prod(w[1:])))
        elif op in ("Gemm", "MatMul"):
            total += conv_macs(outs[0], ins[0][-1])
    return total


def kmodel_macs(path):
    """MACs of a kmodel v3 as the KPU executes it: each K210_CONV layer computes its convolution at
    the input resolution (striding is done by the layer's pooling), ``in_w*in_h*out_ch*k*k``
    times ``in_ch`` (1 for depthwise). CPU layers (fully connected ...) are not counted."""
    from picoface.kmodel import load

    total = 0
    for layer in load(path).convs:
        w, h, ic = layer.regs.in_shape
        oc = layer.regs.out_shape[2]
        k2 = layer.regs.kernel ** 2
        total += w * h * oc * k2 * (1 if layer.regs.depthwise else ic)
    return int(total)
