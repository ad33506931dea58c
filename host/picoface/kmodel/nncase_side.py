"""Run nncase 1.9 (K210 compiler + Simulator) in its python3.10 side venv, as a subprocess.

nncase 1.9 exists only for CPython <= 3.10 and aborts when imported next to TensorFlow, so
picoface never imports it: ``_nncase_worker.py`` runs under the side venv's python, in a scratch
directory, and talks through files. Find order: env ``PICOFACE_NNCASE_PYTHON``, then the repo's
``.venv-nncase``.
"""

import json
import os
import re
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from picoface.errors import PicofaceError
from picoface.paths import REPO_ROOT

WORKER = Path(__file__).with_name("_nncase_worker.py")
COMPILE_TIMEOUT = 1800
SIMULATE_TIMEOUT = 600


def find_python(required=True):
    """Path of the side venv's python, or None (required=False) / PicofaceError when absent."""
    env = os.environ.get("PICOFACE_NNCASE_PYTHON")
    candidates = [Path(env)] if env else [REPO_ROOT / ".venv-nncase" / "bin" / "python"]
    for p in candidates:
        if p.is_file() and os.access(p, os.X_OK):
            return p
    if not required:
        return None
    where = env if env else str(candidates[0])
    raise PicofaceError("nncase 1.9 side venv not found (looked for %s)" % where,
                        "install python3.10 and run `make setup` (or set PICOFACE_NNCASE_PYTHON)")


def _run(mode, spec, workdir, timeout):
    py = find_python()
    spec_path = Path(workdir) / ("%s_spec.json" % mode)
    spec_path.write_text(json.dumps(spec))
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)  # keep the main venv's packages (TensorFlow) out of the worker
    try:
        r = subprocess.run([str(py), str(WORKER), mode, str(spec_path)], cwd=str(workdir),
                           capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        raise PicofaceError("nncase %s took longer than %d s" % (mode, timeout),
                            "use a smaller model or fewer calibration images") from None
    except OSError as e:
        raise PicofaceError("cannot run the nncase side venv python %s: %s" % (py, e),
                            "re-create it with `make setup`") from None
    if r.returncode != 0:
        tail = (r.stderr.strip() or r.stdout.strip())[-1500:]
        how = "crashed (signal %d)" % -r.returncode if r.returncode < 0 else "failed (exit %d)" % r.returncode
        raise PicofaceError("nncase %s %s: %s" % (mode, how, tail or "no output"),
                            "check that the model uses only K210-friendly layers: ReLU/ReLU6, 1x1/3x3 convs, "
                            "ZeroPadding2D((1,1),(1,1)) + 'valid' stride-2 convs")
    result = json.loads(Path(spec["result"]).read_text())
    result["log"] = r.stdout
    return result


def memory_summary(log):
    """{".input": B, ".output": B, ".data": B, "MODEL": B, "TOTAL": B} from nncase's printed SUMMARY."""
    out = {}
    for m in re.finditer(r"^(\.\w+|MODEL|TOTAL)\s+[\d.]+ \w+\s+\((\d+) B\)", log, re.M):
        out[m.group(1)] = int(m.group(2))
    return out


def compile_tflite(tflite_path, calib_images, out_path, timeout=COMPILE_TIMEOUT):
    """Compile a float TFLite to a kmodel **v5** with PTQ on ``calib_images``.

    ``calib_images``: uint8 array (N, 3, H, W) planar RGB (the kmodel input), or (N, H, W, 3)
    HWC which is transposed here. Returns {"bytes", "seconds", "calib_count", "nncase", "log",
    "memory" (nncase's printed memory summary)}.
    """
    find_python()
    tflite_path = Path(tflite_path)
    if not tflite_path.is_file():
        raise PicofaceError("TFLite model %s not found" % tflite_path, "check the path")
    calib = to_nchw_uint8(calib_images, "calibration images")
    out_path = Path(out_path)
    with tempfile.TemporaryDirectory(prefix="picoface-nncase-") as tmp:
        np.save(Path(tmp) / "calib.npy", calib)
        out_tmp = Path(tmp) / "model_v5.kmodel"
        spec = {"tflite": str(tflite_path.resolve()), "calib": str(Path(tmp) / "calib.npy"),
                "out": str(out_tmp), "result": str(Path(tmp) / "result.json")}
        result = _run("compile", spec, tmp, timeout)
        result["memory"] = memory_summary(result["log"])
        out_path.parent.mkdir(parents=True, exist_ok=True)
        from picoface import atomic
        atomic.write_bytes(out_path, out_tmp.read_bytes())
    return result


def simulate(kmodel_v5_path, inputs, timeout=SIMULATE_TIMEOUT):
    """Run nncase's K210 Simulator once; ``inputs`` = list of uint8 NCHW arrays, one per model
    input (a single array is taken as the only input). Returns the list of outputs."""
    if isinstance(inputs, np.ndarray):
        inputs = [inputs]
    return simulate_many(kmodel_v5_path, [inputs], timeout)[0]


def simulate_many(kmodel_v5_path, runs, timeout=SIMULATE_TIMEOUT):
    """Several Simulator runs in one subprocess: ``runs`` = [[input arrays], ...] -> [[outputs], ...]."""
    find_python()
    kmodel_v5_path = Path(kmodel_v5_path)
    if not kmodel_v5_path.is_file():
        raise PicofaceError("kmodel %s not found" % kmodel_v5_path, "check the path")
    with tempfile.TemporaryDirectory(prefix="picoface-nnsim-") as tmp:
        spec_runs = []
        for r, inputs in enumerate(runs):
            paths = []
            for i, x in enumerate(inputs):
                x = np.asarray(x)
                if x.ndim == 3:
                    x = x[None]
                p = Path(tmp) / ("input_%d_%d.npy" % (r, i))
                np.save(p, np.ascontiguousarray(x))
                paths.append(str(p))
            spec_runs.append(paths)
        spec = {"kmodel": str(kmodel_v5_path.resolve()), "runs": spec_runs, "out_dir": tmp,
                "result": str(Path(tmp) / "result.json")}
        result = _run("simulate", spec, tmp, timeout)
        return [[np.load(Path(tmp) / ("output_%d_%d.npy" % (r, i))) for i in range(result["outputs"])]
                for r in range(len(runs))]


def to_nchw_uint8(images, what="images"):
    """uint8 (N,3,H,W) from (N,3,H,W), (N,H,W,3), (3,H,W) or (H,W,3); refuses anything else."""
    a = np.asarray(images)
    if a.dtype != np.uint8:
        raise PicofaceError("%s must be uint8 pixels, got %s" % (what, a.dtype),
                            "pass raw RGB images (0..255)")
    if a.ndim == 3:
        a = a[None]
    if a.ndim != 4 or (a.shape[1] != 3 and a.shape[3] != 3):
        raise PicofaceError("%s must be RGB images (N, H, W, 3) or (N, 3, H, W), got shape %s"
                            % (what, a.shape), "pass 3-channel images")
    if a.shape[1] != 3:
        a = a.transpose(0, 3, 1, 2)
    if a.shape[0] == 0:
        raise PicofaceError("no %s" % what, "give at least one image")
    return np.ascontiguousarray(a)
