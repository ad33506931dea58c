"""nncase 1.9 worker: runs ONLY under the python3.10 side venv (nncase + numpy, no TensorFlow).

Never imported by picoface; ``picoface.kmodel.nncase_side`` runs it as a subprocess::

    python _nncase_worker.py compile  SPEC.json
    python _nncase_worker.py simulate SPEC.json

SPEC.json for ``compile``: {"tflite": path, "calib": path of a uint8 .npy shaped (N, 3, H, W),
"out": path of the v5 kmodel to write, "result": path of a JSON report to write,
"dump_dir": optional path}.
SPEC.json for ``simulate``: {"kmodel": path, "runs": [[uint8 .npy paths, NCHW, one per model
input], ...], "out_dir": dir, "result": path}; writes out_dir/output_<run>_<i>.npy.

Run it with the CWD set to a scratch directory: nncase writes kmodel_info.txt there.
Exit status 0 on success; on failure a one-line reason goes to stderr and the status is 2.
nncase's own C++ output goes to this process's stdout (the caller captures it).
"""

import json
import sys
import time


def _fail(msg):
    sys.stderr.write("nncase worker: %s\n" % msg)
    sys.stderr.flush()
    sys.exit(2)


def _write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f)


def compile_model(spec):
    import numpy as np
    import nncase

    with open(spec["tflite"], "rb") as f:
        tflite = f.read()
    calib = np.load(spec["calib"])
    if calib.dtype != np.uint8 or calib.ndim != 4 or calib.shape[1] != 3:
        _fail("calibration data must be uint8 (N, 3, H, W), got %s %s" % (calib.dtype, calib.shape))

    opts = nncase.CompileOptions()
    opts.target = "k210"
    opts.input_type = "uint8"
    opts.preprocess = True
    opts.input_range = [0.0, 1.0]
    opts.input_layout = "NCHW"
    opts.output_layout = "NCHW"
    opts.model_layout = "NHWC"  # TFLite; left empty, nncase 1.9 crashes in pre-process
    opts.input_shape = [1, 3, int(calib.shape[2]), int(calib.shape[3])]
    opts.dump_ir = False
    opts.dump_asm = False
    if spec.get("dump_dir"):
        opts.dump_dir = spec["dump_dir"]
    t0 = time.time()
    compiler = nncase.Compiler(opts)
    compiler.import_tflite(tflite, nncase.ImportOptions())
    ptq = nncase.PTQTensorOptions()
    ptq.samples_count = int(calib.shape[0])
    ptq.set_tensor_data(np.ascontiguousarray(calib).tobytes())
    compiler.use_ptq(ptq)
    compiler.compile()
    kmodel = compiler.gencode_tobytes()
    seconds = time.time() - t0
    with open(spec["out"], "wb") as f:
        f.write(kmodel)
    sys.stdout.flush()
    _write_json(spec["result"], {"bytes": len(kmodel), "seconds": seconds,
                                 "calib_count": int(calib.shape[0]), "nncase": _version()})


def simulate(spec):
    import numpy as np
    import nncase

    with open(spec["kmodel"], "rb") as f:
        kmodel = f.read()
    sim = nncase.Simulator()
    sim.load_model(kmodel)
    shapes = []
    t0 = time.time()
    for r, inputs in enumerate(spec["runs"]):
        if sim.inputs_size != len(inputs):
            _fail("the kmodel has %d inputs, %d given" % (sim.inputs_size, len(inputs)))
        for i, path in enumerate(inputs):
            x = np.ascontiguousarray(np.load(path))
            sim.set_input_tensor(i, nncase.RuntimeTensor.from_numpy(x))
        sim.run()
        for i in range(sim.outputs_size):
            y = sim.get_output_tensor(i).to_numpy()
            np.save("%s/output_%d_%d.npy" % (spec["out_dir"], r, i), y)
            if r == 0:
                shapes.append(list(y.shape))
    seconds = time.time() - t0
    _write_json(spec["result"], {"runs": len(spec["runs"]), "outputs": sim.outputs_size, "shapes": shapes,
                                 "seconds": seconds})


def _version():
    try:
        from importlib.metadata import version
        return version("nncase")
    except Exception:
        return "unknown"


def main(argv):
    if len(argv) != 3 or argv[1] not in ("compile", "simulate"):
        _fail("usage: _nncase_worker.py compile|simulate SPEC.json")
    with open(argv[2]) as f:
        spec = json.load(f)
    try:
        if argv[1] == "compile":
            compile_model(spec)
        else:
            simulate(spec)
    except SystemExit:
        raise
    except Exception as e:  # nncase raises RuntimeError with its C++ message
        _fail("%s: %s" % (type(e).__name__, e))


if __name__ == "__main__":
    main(sys.argv)
