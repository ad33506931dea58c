"""Write tests/vectors/openmv_240x176_output.json: one real output of the shipped OpenMV model
(models/picoface_openmv_240x176/picoface_int8.tflite) run by LiteRT (picoface.litert) on a WIDER
FACE val photo with several faces, as the raw int8 tensor (base64, NHWC 1 x grid_h x grid_w x 30) with its
quantisation, and the faces pfcore decodes from it (the device's decode, score and NMS from
model.json, camera = net input 240x176). tests/test_firmware_paths.py decodes it on every OpenMV
firmware path (int8 bytes, float32 as ml dequantises, floats as tf returns them, YoloV2).

    .venv/bin/python tests/vectors/make_openmv_output.py      (needs ai-edge-litert and ../shared)
"""

import base64
import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "models" / "picoface_openmv_240x176"
PHOTO = "images/4--Dancing/4_Dancing_Dancing_4_1026.jpg"      # relative to ../shared/data/widerface_val
OUT = Path(__file__).resolve().parent / "openmv_240x176_output.json"


def main():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import cv2

    sys.path.insert(0, str(ROOT / "device"))
    from pfcore import geom, region

    from picoface.litert import interpreter
    from picoface.paths import shared_dir

    contract = json.loads((MODEL / "model.json").read_text())
    data = (MODEL / contract["file"]).read_bytes()
    photo = shared_dir() / "data" / "widerface_val" / PHOTO
    rgb = cv2.cvtColor(cv2.imread(str(photo)), cv2.COLOR_BGR2RGB)
    w, h = contract["input"]["w"], contract["input"]["h"]
    x = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)
    it = interpreter(data, num_threads=1)
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    it.set_tensor(inp["index"], x[None].astype(np.uint8))
    it.invoke()
    q = it.get_tensor(out["index"])
    scale, zero = out["quantization"]
    spec = dict(contract["output"])
    th = contract["thresholds"]
    faces = region.postprocess(q.tobytes(), spec, geom.Fit(w, h, w, h, "stretch"), th["score"], th["nms"], 10)
    OUT.write_text(json.dumps({
        "model": "models/picoface_openmv_240x176/" + contract["file"],
        "model_sha256": hashlib.sha256(data).hexdigest(),
        "photo": "../shared/data/widerface_val/" + PHOTO,
        "input": "photo resized to %dx%d (cv2.INTER_AREA), RGB uint8" % (w, h),
        "shape": [int(v) for v in q.shape], "dtype": str(q.dtype), "scale": float(scale), "zero_point": int(zero),
        "score": th["score"], "nms": th["nms"],
        "int8_base64": base64.b64encode(q.tobytes()).decode("ascii"),
        "faces": [[round(v, 4) for v in f] for f in faces],
    }, indent=1) + "\n")
    print("%s: %d faces %s" % (OUT.name, len(faces), faces))


if __name__ == "__main__":
    main()
