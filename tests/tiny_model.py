"""A tiny random-weight, KPU-friendly YOLOv2 face net for simulator tests (stands in for a
trained model): explicit ZeroPadding((1,1)) + valid stride-2 3x3 convs, depthwise separable
blocks, BN, ReLU6, a 1x1 head to 5 anchors x 6 channels (5 + classes: ``classes=2`` makes a
mask / no_mask detector). Exported to float and int8 TFLite with a model.json contract
(docs/ARCHITECTURE.md §4).

The obj bias of the head is calibrated on a few frames so that a handful of cells pass the
score threshold: the detections are meaningless but exercise the whole decode path.

``build(out_dir, w, h)`` -> {"float": Path, "int8": Path, "dir": Path}; ``cached(w, h)``
builds once per process in a temporary folder.
"""

import hashlib
import json
import tempfile
from pathlib import Path

import numpy as np

from picoface.kmodel import MAIXPY_FACE_ANCHOR_PAIRS

ANCHORS = MAIXPY_FACE_ANCHOR_PAIRS  # Sipeed's stock face model's anchors
SCORE = 0.5
NMS = 0.3
LABELS = {2: ("mask", "no_mask")}   # output.labels of a tiny multi-class model (index 0 = mask)
_CACHE = {}


def calibration_frames(w, h, n=6, seed=1):
    """Synthetic RGB frames (textured background + bright ellipses) at the net size."""
    import cv2

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        f = cv2.resize(rng.integers(0, 255, size=(h // 8, w // 8, 3)).astype(np.uint8), (w, h))
        for _k in range(int(rng.integers(1, 4))):
            c = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            r = int(rng.integers(min(w, h) // 10, min(w, h) // 3))
            cv2.ellipse(f, c, (r, int(r * 1.3)), 0, 0, 360, tuple(int(v) for v in rng.integers(100, 255, 3)), -1)
        out.append(f)
    return out


def keras_model(w, h, seed=0, channels=3, classes=1):
    import tensorflow as tf

    tf.keras.utils.set_random_seed(seed)
    L = tf.keras.layers
    x = inp = L.Input((h, w, channels))

    def conv_bn(x, filters, k, stride):
        if k == 3:
            x = L.ZeroPadding2D((1, 1))(x)
        x = L.Conv2D(filters, k, strides=stride, padding="valid", use_bias=False)(x)
        x = L.BatchNormalization()(x)
        return L.ReLU(6.0)(x)

    def dw_block(x, filters, stride):
        x = L.ZeroPadding2D((1, 1))(x)
        x = L.DepthwiseConv2D(3, strides=stride, padding="valid", use_bias=False)(x)
        x = L.BatchNormalization()(x)
        x = L.ReLU(6.0)(x)
        return conv_bn(x, filters, 1, 1)

    x = conv_bn(x, 8, 3, 2)       # /2
    x = dw_block(x, 16, 2)        # /4
    x = dw_block(x, 16, 2)        # /8
    x = dw_block(x, 24, 2)        # /16
    x = L.Conv2D(len(ANCHORS) * (5 + classes), 1, padding="valid", name="head")(x)
    return tf.keras.Model(inp, x)


def _calibrate(model, frames, classes=1):
    """Shift the obj bias so that ~0.3% of the anchor cells pass SCORE on these frames."""
    ne = 5 + classes
    xs = np.stack(frames).astype(np.float32) / 255.0
    out = model.predict(xs, verbose=0)  # N, gh, gw, A*6
    head = model.get_layer("head")
    kernel, bias = head.get_weights()
    # spread: obj logits std ~2 (clear yes/no cells), tx/ty std ~1, tw/th std ~0.3
    want = np.array(([1.0, 1.0, 0.3, 0.3, 2.0] + [1.0] * classes) * len(ANCHORS), np.float32)
    std = out.reshape(-1, out.shape[-1]).std(axis=0) + 1e-6
    kernel = kernel * (want / std)
    bias = np.zeros_like(bias)
    head.set_weights([kernel, bias])
    out = model.predict(xs, verbose=0)
    obj = out[..., 4::ne].reshape(-1)
    target = np.log(SCORE / (1 - SCORE))
    # more classes split the score (obj x the best class's softmax): more obj headroom
    bias[4::ne] = target - float(np.quantile(obj, 0.997)) + 0.3 + (1.0 if classes > 1 else 0.0)
    bias[2::ne] = -out[..., 2::ne].mean()
    bias[3::ne] = -out[..., 3::ne].mean()
    head.set_weights([kernel, bias])


def _contract(name, fmt, path, w, h, grid_w, grid_h, out_dtype, out_scale, out_zero, in_dtype, channels=3,
              classes=1):
    data = Path(path).read_bytes()
    c = {
        "contract": 1, "name": name, "format": fmt, "file": Path(path).name, "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "input": {"w": w, "h": h, "channels": channels, "order": "GRAY" if channels == 1 else "RGB", "layout": "NHWC",
                  "dtype": in_dtype,
                  "scale": 1.0 / 255.0, "zero_point": 0, "fit": "stretch"},
        "output": {"grid_w": grid_w, "grid_h": grid_h, "anchors": ANCHORS, "classes": classes, "layout": "NHWC",
                   "dtype": out_dtype, "scale": out_scale, "zero_point": out_zero},
        "thresholds": {"score": SCORE, "nms": NMS},
        "training": {"config_hash": "0" * 16, "commit": "unknown", "config": "tests/tiny_model.py"},
    }
    if classes > 1:
        c["output"]["labels"] = list(LABELS[classes]) if classes in LABELS else ["c%d" % i for i in range(classes)]
    return c


def build(out_dir, w, h, channels=3, classes=1):
    """``channels`` 1: a grayscale net (input.order GRAY), fed the luma of the frame; ``classes`` 2: a
    mask / no_mask detector (output.labels LABELS[2])."""
    import tensorflow as tf

    out_dir = Path(out_dir)
    frames = calibration_frames(w, h)
    if channels == 1:
        from picoface.detect.fit import luminance

        frames = [luminance(f) for f in frames]
    model = keras_model(w, h, channels=channels, classes=classes)
    _calibrate(model, frames, classes)
    gh, gw = model.output_shape[1], model.output_shape[2]
    name = "tiny_%dx%d%s%s" % (w, h, "_gray" if channels == 1 else "", "_%dcls" % classes if classes > 1 else "")
    paths = {"dir": out_dir}

    fdir = out_dir / "float"
    fdir.mkdir(parents=True, exist_ok=True)
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    fpath = fdir / (name + ".tflite")
    fpath.write_bytes(conv.convert())
    c = _contract(name, "tflite-float", fpath, w, h, gw, gh, "float32", 1.0, 0, "float32", channels, classes)
    (fdir / "model.json").write_text(json.dumps(c, indent=1))
    paths["float"] = fpath

    def rep():
        for f in frames:
            yield [f[None].astype(np.float32) / 255.0]

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = rep
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.uint8
    conv.inference_output_type = tf.int8
    qdir = out_dir / "int8"
    qdir.mkdir(parents=True, exist_ok=True)
    qpath = qdir / (name + ".tflite")
    qpath.write_bytes(conv.convert())
    from picoface.litert import interpreter

    interp = interpreter(qpath)
    od = interp.get_output_details()[0]
    scale, zero = od["quantization"]
    c = _contract(name, "tflite-int8", qpath, w, h, gw, gh, "int8", float(scale), int(zero), "uint8", channels,
                  classes)
    (qdir / "model.json").write_text(json.dumps(c, indent=1))
    paths["int8"] = qpath
    return paths


def kmodel(out_dir, w=320, h=240, seed=0, obj_shift=0.0, classes=1):
    """A tiny random kmodel v3 for the KPU emulator: four 3x3 convs with 2x2 max pools
    (w x h -> w/16 x h/16), the last one to 5 anchors x 6 channels, then DEQUANTIZE
    (q * 0.05 - 6). Each layer's BN is calibrated on a few frames (per channel: spread the
    uint8 outputs, centre them), and the obj channels so that a few cells pass SCORE.
    ``obj_shift`` is added to every obj logit after that (negative: fewer cells pass; on photos
    the random net fires more often than on the synthetic calibration frames). ``classes`` 2: a
    mask / no_mask head (5 anchors x 7, output.labels LABELS[2]).
    Needs no TensorFlow (the KPU emulator runs the calibration)."""
    from picoface.kmodel import emulator, v3

    ne = 5 + classes
    chans = [3, 8, 8, 8, len(ANCHORS) * ne]
    shapes = [(w >> i, h >> i) for i in range(5)]
    weights = [np.random.default_rng(seed + i).integers(0, 256, chans[i + 1] * chans[i] * 9, dtype=np.uint8)
               for i in range(4)]
    # per layer, per channel (gain, centre): y = gain * acc / 1024 + centre (before relu/clamp)
    bns = [[(1.0, 128.0)] * chans[i + 1] for i in range(4)]

    def build():
        layers, addr = [], 0
        for i in range(4):
            (iw, ih), ic, oc = shapes[i], chans[i], chans[i + 1]
            dst = addr + v3.kpu_lines(iw, ih, ic)
            regs = v3.conv_regs(in_w=iw, in_h=ih, in_ch=ic, out_ch=oc, kernel=3, pool_type=1, src_addr=addr,
                                dst_addr=dst, arg_x=-128, arg_w=0, arg_add=0)
            bn = [v3.BN(int(round(g * (1 << 13))), int(round(c * 1024)), 13) for g, c in bns[i]]
            layers.append(v3.ConvLayer(regs=regs, weights=weights[i].tobytes(), bn=bn, act=v3.ActTable.relu_1024(),
                                       flags=v3.KLF_MAIN_MEM_OUT if i == 3 else 0, main_mem_out_address=0))
            addr = dst
        n = shapes[4][0] * shapes[4][1] * chans[4]
        layers.append(v3.DequantizeLayer(main_mem_in_address=0, main_mem_out_address=v3.align(n, 8), count=n,
                                         scale=0.05, bias=-6.0))
        return v3.build_model(layers)

    frames = [np.ascontiguousarray(f.transpose(2, 0, 1)) for f in calibration_frames(w, h, n=3)]
    # (centre, spread) of the uint8 outputs wanted per entry of the head: tx ty tw th obj cls
    head = [(120, 20), (120, 20), (120, 6), (120, 6), (60, 40)] + [(120, 20)] * classes
    for i in range(4):
        emu = emulator.Emulator(build())
        ys = np.concatenate([_layer_out(emu, f, i) for f in frames], axis=1)   # C x N, with gain 1
        acc = (ys - 128.0)                                                      # = acc / 1024 (unclipped mostly)
        new = []
        for c in range(chans[i + 1]):
            want_c, want_s = head[c % ne] if i == 3 else (80, 40)
            sd = float(acc[c].std()) + 1e-3
            g = min(1000.0, want_s / sd)
            new.append((g, want_c - g * float(acc[c].mean())))
        bns[i] = new
    emu = emulator.Emulator(build())
    obj = np.concatenate([emu.run(f)[0].reshape(len(ANCHORS), ne, -1)[:, 4].reshape(-1) for f in frames])
    headroom = 1.0 if classes > 1 else 0.0      # more classes split the score: more obj headroom
    shift_q = (np.log(SCORE / (1 - SCORE)) + 0.3 + headroom + obj_shift - float(np.quantile(obj, 0.997))) / 0.05
    bns[3] = [(g, c + (shift_q if k % ne == 4 else 0)) for k, (g, c) in enumerate(bns[3])]
    data = build().serialize()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tag = "_%dcls" % classes if classes > 1 else ""
    path = out_dir / ("tiny_%dx%d%s.kmodel" % (w, h, tag))
    path.write_bytes(data)
    c = _contract("tiny_%dx%d%s_kpu" % (w, h, tag), "kmodel-v3", path, w, h, shapes[4][0], shapes[4][1], "float32",
                  1.0, 0, "uint8", classes=classes)
    c["input"]["layout"] = "NCHW"
    c["output"]["layout"] = "NCHW"
    (out_dir / "model.json").write_text(json.dumps(c, indent=1))
    return path


def _layer_out(emu, chw, i):
    """Layer i's uint8 output (C x pixels) on one image, via the emulator's per-layer results."""
    emu.run(chw)
    y = np.asarray(emu.layer_outputs[i], dtype=np.float64)
    return y.reshape(y.shape[0], -1)


def cached(w, h, channels=3, classes=1):
    """build() once per process (test session) in a temporary folder removed at exit."""
    key = (w, h, channels, classes)
    if key not in _CACHE:
        import atexit
        import shutil

        d = Path(tempfile.mkdtemp(prefix="picoface-tiny-%dx%d-" % (w, h)))
        atexit.register(shutil.rmtree, d, True)
        _CACHE[key] = build(d, w, h, channels, classes)
    return _CACHE[key]


def synthetic_v3(w=320, h=240, out_ch=30):
    """A small valid v3 (random weights, no nncase) YOLO-shaped model built from registers: 3 convs (stride 16) + DEQUANTIZE."""
    from picoface.kmodel import v3

    rng = np.random.default_rng(0)
    layers, src = [], 0
    plan = [(w, h, 3, 8, 3, 3), (w // 4, h // 4, 8, 8, 3, 3), (w // 16, h // 16, 8, out_ch, 1, 0)]
    for i, (iw, ih, ic, oc, k, pool) in enumerate(plan):
        regs = v3.conv_regs(iw, ih, ic, oc, kernel=k, pool_type=pool, src_addr=src, arg_x=-128)
        last = i == len(plan) - 1
        layers.append(v3.ConvLayer(regs=regs, weights=rng.integers(0, 256, oc * ic * k * k, dtype=np.uint8).tobytes(),
                                   bn=[v3.BN(1 << 10, 0, 15)] * oc, act=v3.ActTable.relu_1024(),
                                   flags=v3.KLF_MAIN_MEM_OUT if last else 0))
        src = regs.image_dst_addr
    ow, oh, oc = layers[-1].regs.out_shape
    n = ow * oh * oc
    layers.append(v3.DequantizeLayer(0, v3.align(n, 8), n, 0.01, -1.0))
    return v3.build_model(layers)
