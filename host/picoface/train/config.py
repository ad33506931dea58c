"""Experiment configuration: one YAML file per experiment, validated into typed dataclasses.

Resolution order: defaults <- YAML file <- ``key=value`` overrides (dotted keys, e.g.
``train.epochs=3``). Values are parsed with ``yaml.safe_load`` (never eval). Unknown keys are
rejected with a difflib suggestion; a wrong type names the key and the expected type.
``config_hash(cfg)`` is a short sha256 of the canonical resolved config; ``save_config``
writes the resolved YAML beside the artifacts.
"""

import dataclasses
import difflib
import hashlib
import json
import typing
from dataclasses import dataclass, field
from pathlib import Path

from picoface.errors import PicofaceError

from picoface.paths import shared_path


@dataclass
class InputConfig:
    w: int = 320
    h: int = 240
    fit: str = "stretch"          # stretch | crop | letterbox (pfcore.geom.Fit)
    grayscale: bool = False       # True: 1-channel input (luminance; OpenMV converts the frame)

    @property
    def channels(self):
        """Net input channels: 1 for a grayscale net, else 3 (RGB)."""
        return 1 if self.grayscale else 3


@dataclass
class ModelConfig:
    arch: str = "picoface"        # picoface | gate | mobilenetv2_exit | tinyface_squeezenet
    width: float = 0.25           # width multiplier 0.25..1.0
    stride: int = 16              # output stride: 8, 16 (320x240 -> 20x15) or 32
    extra_blocks: int = 2         # extra stride-1 blocks at the last resolution
    channels: typing.List[int] = field(default_factory=list)  # optional: stem + per-block channels
    fast_stem: bool = False       # first block strides (cheaper at 320x240; same output stride)
    # the stem conv: 3x3 stride 2 (KPU-friendly, the default) or a patchify k x k stride k (k = 2 or 4;
    # TFLite only): a 4x4/4 stem keeps the TFLM arena small at a full QVGA input
    stem_kernel: int = 3
    stem_stride: int = 2
    head_channels: int = 0        # optional extra dw+pw block before the region conv
    activation: str = "relu6"     # relu | relu6
    anchors: int = 5
    classes: int = 1
    labels: typing.List[str] = field(default_factory=list)  # class names (classes > 1), e.g. [mask, no_mask]
    init: str = ""                # a trained .keras model whose weights start this one (matching layers;
                                  # its region conv's box and objectness entries seed each anchor's)
    anchor_boxes: typing.List[typing.List[float]] = field(default_factory=list)  # grid units; [] = k-means
    pretrained: str = ""          # ONNX file whose stem + first blocks start the backbone ('' = from scratch)
    pretrained_blocks: int = 0    # how many depthwise-separable blocks to take from it
    pretrained_frozen: bool = False  # keep those blocks fixed (BatchNorm in inference mode) while training
    pretrained_frozen_blocks: int = -1  # with pretrained_frozen: freeze only the first N of them (-1 = all)
    # per-block strides (1 or 2) instead of the default layout of model.stride; their product x 2 (the
    # stem) must be model.stride. E.g. slim-320's layout to its stride-16 branch, then stride-1 blocks
    strides: typing.List[int] = field(default_factory=list)


@dataclass
class DataConfig:
    root: str = "../shared/data"  # relative to the repository root (or absolute)
    train: typing.List[str] = field(default_factory=lambda: [
        "facemask_kaggle", "pseudo_facemask_cdeb", "pseudo_lfw", "roboflow_face_mik1i", "roboflow_thesis_faces"])
    weights: typing.Dict[str, float] = field(default_factory=dict)   # per-source sampling weight (default 1)
    # per-source box convention -> WIDER FACE's: [dx, dy, sw, sh] moves a box's centre by (dx*w, dy*h)
    # and scales it by (sw, sh) (measured with `picoface data convention SET`)
    box_adjust: typing.Dict[str, typing.List[float]] = field(default_factory=dict)
    # sets that leave faces unlabelled: faces the reference detector finds there (score >= unlabelled_score,
    # overlapping no label) become ignore regions (picoface.data.unlabelled)
    unlabelled: typing.List[str] = field(default_factory=list)
    unlabelled_detector: str = "../shared/anchors/ultralight_1mb/version-RFB-320.onnx"
    unlabelled_score: float = 0.5
    unlabelled_face_score: float = 0.0   # > 0: unlabelled detections scoring at least this become faces, not ignore
    val: str = "widerface_val"    # a dataset folder, or "holdout": the photos data.holdout keeps out of training
    # {set: share}: that share of each set's photos (fixed by file name) is held out of training;
    # data.val "holdout" validates on them (picoface.train.val)
    holdout: typing.Dict[str, float] = field(default_factory=dict)
    val_framing: str = "stretch"  # letterbox: val photos padded to the camera's 4:3 first (as the camera frames a scene)
    val_min_size: float = 20.0    # val faces smaller than this (or invalid) are ignored
    val_size_rule: str = "geomean"  # a face's size: sqrt(w*h), or "min-side" (min(w, h), picoface bench's rule)
    # classes > 1: {set: {rule: label}} gives boxes a class (picoface.train.classes): rule "label:X" (the
    # box's label is X), "origin:P" (the photo's origin starts with P and it has one box) or "*" (any box);
    # label one of model.labels, or "-": a face of no known class (objectness only, no class loss)
    classes: typing.Dict[str, typing.Dict[str, str]] = field(default_factory=dict)
    max_images: int = 0           # 0 = all (a cap is for smoke tests)
    val_max_images: int = 0
    cache_side: int = 0           # longer side of cached decoded images; 0 = 2x the model input


@dataclass
class AugmentConfig:
    crop_min: float = 0.25        # random crop: min fraction of the image side kept
    crop_max: float = 1.0
    zoom_out: float = 0.3         # probability of a zoom-out (image smaller than the canvas)
    zoom_out_max: float = 2.0     # canvas up to this many times the image
    aspect_jitter: float = 0.15   # log-uniform aspect distortion of the crop
    flip: float = 0.5
    brightness: float = 0.25
    contrast: float = 0.25
    saturation: float = 0.3
    grayscale: float = 0.1
    blur: float = 0.1
    noise: float = 0.1
    min_face: float = 3.0         # faces smaller than this (net pixels) become ignore regions
    mosaic: float = 0.0           # probability of a mosaic frame: a grid of photos (many small faces)
    mosaic_max: int = 4           # up to this many tiles per side (at least 2)
    occlude: float = 0.0          # probability per face of an occluder over part of it (glasses, hat, hand)


@dataclass
class LossConfig:
    coord: float = 1.0
    obj: float = 1.0
    noobj: float = 1.0
    ignore_iou: float = 0.5       # no objectness loss where a prediction overlaps a face this much
    rescore: float = 0.0          # objectness target of a face: (1 - rescore) + rescore * IoU(prediction, face)
    box: float = 0.0              # weight of a 1 - DIoU box term per face (on top of coord's squared errors)
    extra_anchor_iou: float = 0.0  # > 0: a face also trains every other anchor of its cell this similar in shape
    focal: float = 0.0            # > 0: objectness BCE times |target - score|^focal (quality focal loss)
    cls: float = 1.0              # weight of the class cross-entropy of faces with a known class (classes > 1)


@dataclass
class TrainConfig:
    epochs: int = 60
    batch_size: int = 32
    lr: float = 0.002
    warmup_epochs: float = 1.0
    weight_decay: float = 0.0001
    patience: int = 12            # early stopping on val AP (epochs without improvement)
    budget_minutes: float = 0.0   # wall-clock budget for the whole run (0 = none)
    threads: int = 0              # TF intra-op threads (0 = TF default)
    val_every: int = 1
    steps_per_epoch: int = 0      # 0 = one pass over the training set
    warm_size: typing.List[int] = field(default_factory=list)  # [w, h]: train smaller frames first
    warm_fraction: float = 0.5    # ... for this fraction of the run (progressive resizing)
    warm_crop: bool = False       # warm frames are windows of full-size frames (faces keep their size)
    ema: float = 0.0              # > 0: val and the shipped model use a moving average of the weights (decay/step)


@dataclass
class ExportConfig:
    formats: typing.List[str] = field(default_factory=lambda: ["tflite-float", "tflite-int8"])
    board: str = ""               # check the int8 model against this board's budget
    calib_images: int = 200
    equalize: bool = False        # cross-layer equalisation before int8 (ReLU nets): same float function
    score: float = 0.0            # deployed score threshold; 0 = auto (best F1 of the int8 model on val)
    nms: float = 0.3
    max_weight_bytes: int = 0     # refuse to ship more int8 weights than this (0 = no limit)
    parity_tolerance: float = 0.01
    # [lo, hi]: the exported net's outputs clamped to this range (region models); the int8 output scale
    # then covers it, not objectness logits of -20 that decode to 0 anyway ([] = no clamp)
    clip_output: typing.List[float] = field(default_factory=list)
    # quantisation-aware fine-tuning of the folded net before conversion (picoface.export.qat): epochs
    # of training frames with int8 rounding in the forward pass, and its starting learning rate
    qat_epochs: int = 0
    qat_lr: float = 0.0001
    # extra exports of the same fully convolutional weights at other input sizes: {out folder: [w, h]}
    variants: typing.Dict[str, typing.List[int]] = field(default_factory=dict)
    # [w, h]: the shipped artifacts (in `out`) run at this input size, not the training input's (the
    # same fully convolutional weights; [] = the training input)
    input: typing.List[int] = field(default_factory=list)


@dataclass
class GateConfig:
    """Face / no-face gate crops (picoface.gate.crops): what a frame looks like to the gate."""
    aspect: float = 4.0 / 3.0     # the camera frame's w / h; crops of that shape are squashed to the net
    face_min: float = 0.12        # a positive's face side / crop height: from face_min (far) ...
    face_max: float = 0.9         # ... to face_max (filling the frame), log-uniform
    min_face: float = 12.0        # faces smaller than this (source pixels) are never positives
    val_crops: int = 1000         # deterministic val crops (half faces)
    target_tpr: float = 0.97      # the shipped threshold: the highest score keeping this share of faces
    frames: bool = False          # tinyface_squeezenet: train on these frames (a gate), not face crops


@dataclass
class Config:
    name: str = "picoface"
    seed: int = 0
    out: str = ""                 # where shipped artifacts go ('' = run dir only)
    run_dir: str = "runs/{name}"  # checkpoints, curves, logs
    input: InputConfig = field(default_factory=InputConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    export: ExportConfig = field(default_factory=ExportConfig)
    gate: GateConfig = field(default_factory=GateConfig)


_CHOICES = {
    "input.fit": ("stretch", "crop", "letterbox"),
    "model.arch": ("picoface", "gate", "mobilenetv2_exit", "tinyface_squeezenet"),
    "model.activation": ("relu", "relu6"),
    "model.stride": (8, 16, 32),
    "data.val_size_rule": ("geomean", "min-side"),
    "data.val_framing": ("stretch", "letterbox"),
}


def _suggest(word, choices):
    m = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.5)
    return " (did you mean %r?)" % m[0] if m else ""


def _type_name(tp):
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value, tp, key):
    """Check/convert one value to the annotated type; raise PicofaceError naming the key."""
    origin = typing.get_origin(tp)
    bad = PicofaceError("config key %s must be %s, got %r" % (key, _type_name(tp), value),
                        "fix the value in the YAML file or the key=value override")
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise bad
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise bad
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad
        return float(value)
    if tp is str:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        if not isinstance(value, str):
            raise bad
        return value
    if origin in (list, typing.List):
        if value is None:
            return []
        if not isinstance(value, (list, tuple)):
            raise bad
        (sub,) = typing.get_args(tp)
        return [_coerce(v, sub, "%s[%d]" % (key, i)) for i, v in enumerate(value)]
    if origin in (dict, typing.Dict):
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise bad
        kt, vt = typing.get_args(tp)
        return {_coerce(k, kt, key): _coerce(v, vt, "%s.%s" % (key, k)) for k, v in value.items()}
    raise bad


def _merge(obj, raw, prefix=""):
    """Apply a nested dict onto a dataclass instance, validating keys and types."""
    if not isinstance(raw, dict):
        raise PicofaceError("config section %s must be a mapping, got %r" % (prefix.rstrip(".") or "top", raw),
                            "write it as key: value lines")
    hints = typing.get_type_hints(type(obj))
    names = [f.name for f in dataclasses.fields(obj)]
    for k, v in raw.items():
        key = prefix + str(k)
        if k not in names:
            raise PicofaceError("unknown config key %r%s" % (key, _suggest(k, names)),
                                "valid keys here: " + ", ".join(names))
        tp = hints[k]
        cur = getattr(obj, k)
        if dataclasses.is_dataclass(cur):
            _merge(cur, v, key + ".")
        else:
            setattr(obj, k, _coerce(v, tp, key))


def _set_dotted(obj, dotted, value):
    parts = dotted.split(".")
    target = obj
    for i, p in enumerate(parts[:-1]):
        names = [f.name for f in dataclasses.fields(target)]
        if p not in names or not dataclasses.is_dataclass(getattr(target, p)):
            sections = [n for n in names if dataclasses.is_dataclass(getattr(target, n))]
            raise PicofaceError("unknown config section %r%s" % (".".join(parts[:i + 1]), _suggest(p, sections)),
                                "sections: " + ", ".join(sections))
        target = getattr(target, p)
    _merge(target, {parts[-1]: value}, ".".join(parts[:-1]) + "." if len(parts) > 1 else "")


def parse_override(text):
    """``key=value`` -> (key, value); the value is YAML (``3``, ``0.5``, ``[a, b]``, ``true``)."""
    import yaml

    if "=" not in text:
        raise PicofaceError("override %r is not key=value" % text, "write e.g. train.epochs=3")
    key, _, val = text.partition("=")
    key = key.strip()
    if not key:
        raise PicofaceError("override %r has an empty key" % text, "write e.g. train.epochs=3")
    try:
        value = yaml.safe_load(val) if val.strip() else ""
    except yaml.YAMLError as e:
        raise PicofaceError("override %r: cannot parse value: %s" % (text, e), "quote it or fix it") from None
    return key, value


def _training_set(key, name, cfg):
    """A config key that names a dataset must name one of data.train."""
    if name not in cfg.data.train:
        raise PicofaceError("%s names %r, which is not in data.train%s" % (key, name, _suggest(name, cfg.data.train)),
                            "use one of: " + ", ".join(cfg.data.train))


def validate(cfg):
    """Cross-field checks (choices and ranges)."""
    for dotted, choices in _CHOICES.items():
        sec, k = dotted.split(".")
        v = getattr(getattr(cfg, sec), k)
        if v not in choices:
            raise PicofaceError("config %s=%r is not one of %s%s" % (dotted, v, list(choices), _suggest(v, choices)),
                                "pick one of them")
    m = cfg.model
    if not 0.1 <= m.width <= 1.5:
        raise PicofaceError("model.width=%g is outside 0.1..1.5" % m.width, "use 0.25..1.0")
    if m.anchors < 1 or m.classes < 1:
        raise PicofaceError("model.anchors and model.classes must be >= 1", "fix them")
    from picoface.train.classes import check_classes

    check_classes(cfg)
    if m.anchor_boxes and (len(m.anchor_boxes) != m.anchors or any(len(a) != 2 for a in m.anchor_boxes)):
        raise PicofaceError("model.anchor_boxes must hold %d [w, h] pairs" % m.anchors,
                            "fix the list or leave it empty for k-means")
    if cfg.input.w <= 0 or cfg.input.h <= 0:
        raise PicofaceError("input size must be positive", "fix input.w / input.h")
    if cfg.train.batch_size < 1 or cfg.train.epochs < 1:
        raise PicofaceError("train.batch_size and train.epochs must be >= 1", "fix them")
    if not 0 < cfg.augment.crop_min <= cfg.augment.crop_max <= 1.0:
        raise PicofaceError("augment.crop_min..crop_max must be within (0, 1]", "fix them")
    for f in cfg.export.formats:
        if f not in ("tflite-float", "tflite-int8", "keras"):
            raise PicofaceError("export format %r unknown%s" % (f, _suggest(f, ("tflite-float", "tflite-int8"))),
                                "use tflite-float, tflite-int8 or keras")
    if cfg.train.warm_size:
        if len(cfg.train.warm_size) != 2 or cfg.model.arch != "picoface":
            raise PicofaceError("train.warm_size must be [w, h] (picoface arch only)", "fix it or use []")
        from picoface.train.model import check_input

        check_input(cfg.train.warm_size[0], cfg.train.warm_size[1], cfg.model.stride)
    co = cfg.export.clip_output
    if co and (len(co) != 2 or not co[0] < 0 < co[1] or cfg.model.arch not in ("picoface", "mobilenetv2_exit")):
        raise PicofaceError("export.clip_output must be [lo, hi] with lo < 0 < hi (region models), got %s" % (co,),
                            "fix it or use []")
    if cfg.export.qat_epochs < 0:
        raise PicofaceError("export.qat_epochs must be >= 0, got %s" % cfg.export.qat_epochs, "0: no fine-tuning")
    if cfg.export.qat_lr <= 0:
        raise PicofaceError("export.qat_lr must be > 0, got %s" % cfg.export.qat_lr, "e.g. 0.0001")
    if cfg.export.qat_epochs and (not co or cfg.model.arch != "picoface"):
        raise PicofaceError("export.qat_epochs needs a picoface region model with export.clip_output (the int8 output range)",
                            "set export.clip_output, e.g. [-5, 4.2], or export.qat_epochs: 0")
    if cfg.export.input:
        if len(cfg.export.input) != 2 or cfg.model.arch != "picoface":
            raise PicofaceError("export.input must be [w, h] (picoface arch only), got %s" % (cfg.export.input,),
                                "fix it, or [] to ship at the training input")
        from picoface.train.model import check_input

        check_input(cfg.export.input[0], cfg.export.input[1], cfg.model.stride)
    for folder, size in cfg.export.variants.items():
        if len(size) != 2 or cfg.model.arch != "picoface":
            raise PicofaceError("export.variants[%s] must be [w, h] (picoface arch only)" % folder, "fix it")
        from picoface.train.model import check_input

        check_input(size[0], size[1], cfg.model.stride)
    if bool(m.pretrained) != (m.pretrained_blocks > 0) or (m.pretrained and m.arch != "picoface"):
        raise PicofaceError("model.pretrained needs model.pretrained_blocks > 0 (picoface arch), and the reverse",
                            "set both, or neither")
    if m.pretrained_frozen and not m.pretrained:
        raise PicofaceError("model.pretrained_frozen needs model.pretrained", "set it, or drop pretrained_frozen")
    if not 0.0 <= cfg.loss.rescore <= 1.0:
        raise PicofaceError("loss.rescore must be in [0, 1], got %g" % cfg.loss.rescore, "fix it")
    if not 0.0 <= cfg.loss.extra_anchor_iou < 1.0:
        raise PicofaceError("loss.extra_anchor_iou must be in [0, 1), got %g" % cfg.loss.extra_anchor_iou, "fix it")
    if not 0.0 <= cfg.train.ema < 1.0:
        raise PicofaceError("train.ema must be in [0, 1), got %g" % cfg.train.ema, "e.g. 0.998, or 0 for none")
    if not 0.0 <= cfg.loss.focal <= 5.0:
        raise PicofaceError("loss.focal must be in [0, 5], got %g" % cfg.loss.focal, "e.g. 2, or 0 for plain BCE")
    if cfg.loss.box < 0:
        raise PicofaceError("loss.box must be >= 0, got %g" % cfg.loss.box, "fix it")
    if not 0.0 <= cfg.augment.mosaic <= 1.0 or cfg.augment.mosaic_max < 2:
        raise PicofaceError("augment.mosaic must be a probability and augment.mosaic_max >= 2", "fix them")
    if not 0.0 <= cfg.augment.occlude <= 1.0:
        raise PicofaceError("augment.occlude must be a probability (0..1)", "fix it")
    for name, adj in cfg.data.box_adjust.items():
        if len(adj) != 4 or not (0.5 <= adj[2] <= 2 and 0.5 <= adj[3] <= 2 and abs(adj[0]) <= 0.5 and abs(adj[1]) <= 0.5):
            raise PicofaceError("data.box_adjust[%s] must be [dx, dy, sw, sh] with |dx|, |dy| <= 0.5 and "
                                "sw, sh in 0.5..2, got %s" % (name, adj), "fix it (measure: picoface data convention)")
        _training_set("data.box_adjust", name, cfg)
    for name in cfg.data.unlabelled:
        _training_set("data.unlabelled", name, cfg)
    if not 0.0 < cfg.data.unlabelled_score <= 1.0:
        raise PicofaceError("data.unlabelled_score must be in (0, 1], got %s" % cfg.data.unlabelled_score, "fix it")
    fs = cfg.data.unlabelled_face_score
    if fs and not cfg.data.unlabelled_score <= fs <= 1.0:
        raise PicofaceError("data.unlabelled_face_score must be 0 (off) or in [unlabelled_score, 1], got %s" % fs,
                            "fix it")
    if not cfg.data.train:
        raise PicofaceError("data.train is empty", "list at least one dataset")
    for name, share in cfg.data.holdout.items():
        _training_set("data.holdout", name, cfg)
        if not 0.0 < share < 1.0:
            raise PicofaceError("data.holdout[%s] must be a share in (0, 1), got %s" % (name, share),
                                "e.g. 0.2 holds a fifth of its photos out of training")
    if cfg.data.val == "holdout" and not cfg.data.holdout:
        raise PicofaceError("data.val is 'holdout' but data.holdout names no set",
                            "list the sets and the share of their photos to hold out, e.g. data.holdout={facemask_kaggle: 0.2}")
    if (m.stem_kernel, m.stem_stride) not in ((3, 2), (2, 2), (4, 4)):
        raise PicofaceError("model.stem_kernel %d with model.stem_stride %d is not a supported stem"
                            % (m.stem_kernel, m.stem_stride), "use 3 and 2 (the default), 2 and 2, or 4 and 4")
    if m.strides:
        from picoface.train.model import picoface_layers

        total = m.stem_stride
        for _, s in picoface_layers(m)[1]:
            total *= s
        if any(s not in (1, 2) for s in m.strides) or total != m.stride:
            raise PicofaceError("model.strides %s give an output stride of %d, not model.stride %d"
                                % (list(m.strides), total, m.stride),
                                "use 1s and 2s whose product x %d (the stem) is model.stride" % m.stem_stride)
    if m.pretrained_frozen_blocks > m.pretrained_blocks:
        raise PicofaceError("model.pretrained_frozen_blocks (%d) exceeds model.pretrained_blocks (%d)"
                            % (m.pretrained_frozen_blocks, m.pretrained_blocks), "lower it")
    return cfg


def load_config(path=None, overrides=()):
    """defaults <- YAML file <- overrides -> validated ``Config``."""
    import yaml

    cfg = Config()
    if path is not None:
        p = Path(path)
        try:
            raw = yaml.safe_load(p.read_text()) or {}
        except FileNotFoundError:
            raise PicofaceError("config file %s not found" % p, "check the path") from None
        except yaml.YAMLError as e:
            raise PicofaceError("%s: invalid YAML: %s" % (p, e), "fix the file") from None
        try:
            _merge(cfg, raw)
        except PicofaceError as e:
            raise PicofaceError("%s: %s" % (p, e.what), e.todo) from None
    for text in overrides:
        key, value = parse_override(text)
        _set_dotted(cfg, key, value)
    cfg.run_dir = cfg.run_dir.replace("{name}", cfg.name)
    return validate(cfg)


def to_dict(cfg):
    return dataclasses.asdict(cfg)


def to_yaml(cfg):
    import yaml

    return yaml.safe_dump(to_dict(cfg), sort_keys=False, default_flow_style=None, width=100)


# keys added after config hashes were recorded (shipped models, study points, run checkpoints): left out
# of the hash while they hold their default, so a config that does not use them keeps its hash
LATER_KEYS = {"model.labels": [], "model.init": "", "data.classes": {}, "loss.cls": 1.0}


def _canonical(cfg, drop=()):
    """The resolved config as a dict without ``drop`` (dotted keys) and without LATER_KEYS at their default."""
    d = to_dict(cfg)
    for dotted in drop:
        sec, key = dotted.split(".")
        d[sec].pop(key, None)
    for dotted, default in LATER_KEYS.items():
        sec, key = dotted.split(".")
        if d[sec].get(key) == default:
            del d[sec][key]
    return d


def _hash(d):
    return hashlib.sha256(json.dumps(d, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


def config_hash(cfg):
    """sha256 (16 hex) of the canonical resolved config (all fields, sorted keys; LATER_KEYS at their
    default left out)."""
    return _hash(_canonical(cfg))


RESUME_FREE = ("train.epochs", "train.budget_minutes", "train.patience", "train.threads", "out",
               "train.warm_fraction")


def resume_hash(cfg):
    """Hash of what a checkpoint depends on: the config minus keys that may change on --resume."""
    d = _canonical(cfg, [k for k in RESUME_FREE if "." in k])
    for k in RESUME_FREE:
        if "." not in k:
            d.pop(k, None)
    return _hash(d)


def save_config(cfg, path):
    from picoface import atomic

    header = "# resolved picoface training config (hash %s)\n" % config_hash(cfg)
    atomic.write_text(path, header + to_yaml(cfg))


def data_root(cfg):
    return shared_path(cfg.data.root)
