"""The Detector protocol and the shared machinery of YOLOv2-region models (ARCHITECTURE §3-4, §9).

A detector has ``name``, ``kind`` ("box" | "centroid"), ``bytes`` and ``macs`` (int or None)
and ``detect(rgb) -> float32 (N, 5)`` ``[x, y, w, h, score]`` in pixels of ``rgb``. When ``macs``
is None a detector may say why in ``macs_error`` (a one-line reason; absent or None: not known).
A detector that tells classes apart (a multi-class model: mask / no_mask) has ``labels``, its class
names, and ``detect(rgb, with_class=True) -> float32 (N, 6)`` ``[x, y, w, h, score, class index]``;
any other detector has no ``labels`` attribute (or None) and ``detect(rgb)`` only.

``RegionDetector`` does what every picoface artifact needs around its backend's ``forward``:
fit the image to the net input with ``pfcore.geom.Fit`` (the device's own code), run, decode
the YOLOv2 region output, map boxes back and NMS with ``picoface.detect.region`` (the numpy twin
of ``pfcore.region``, checked against it by the device-core tests).
"""

from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from picoface.errors import PicofaceError

EVAL_THRESHOLD = 0.01  # score threshold for complete PR curves (the deployed one is in model.json)


@runtime_checkable
class Detector(Protocol):
    name: str
    kind: str
    bytes: int | None
    macs: int | None

    def detect(self, rgb) -> np.ndarray: ...


def error_text(e):
    """One line saying what an exception was: a PicofaceError's message, else "Type: first line"."""
    if isinstance(e, PicofaceError):
        return str(e)
    text = str(e).strip()
    return "%s: %s" % (type(e).__name__, text.splitlines()[0]) if text else type(e).__name__


def prepare_input(rgb, fit):
    """Image -> net input (RGB uint8 net_h x net_w x 3) as the device builds it: the camera
    rectangle ``fit.cam_rect()`` resized into ``fit.content_rect()``, black padding around
    (``picoface.detect.fit.fit_image``, shared with training)."""
    from picoface.detect.fit import fit_image

    return fit_image(rgb, fit)


def infer_grid(n_values, net_w, net_h, n_anchors, classes):
    """(grid_w, grid_h) of a flat region output from the input size (strides 32, 16, 8, 4)."""
    per_cell = n_anchors * (5 + classes)
    for s in (32, 16, 8, 4):
        for gw, gh in ((net_w // s, net_h // s), (-(-net_w // s), -(-net_h // s))):
            if gw * gh * per_cell == n_values:
                return gw, gh
    raise PicofaceError("cannot infer the output grid: %d values for a %dx%d input and %d anchors x %d"
                        % (n_values, net_w, net_h, n_anchors, 5 + classes),
                        "give grid_w/grid_h (model.json output or --grid W H)")


def class_labels(v, classes, name="model"):
    """Class names of a ``classes``-class model: ``v`` (a list, or "a,b" text), else class_0, class_1 ...;
    None for a 1-class model (a face detector has no classes to tell apart)."""
    if classes <= 1:
        return None
    if isinstance(v, str):
        v = [t.strip() for t in v.split(",") if t.strip()]
    if not v:
        return ["class_%d" % i for i in range(classes)]
    v = [str(x) for x in v]
    if len(v) != classes or len(set(v)) != len(v) or not all(v):
        raise PicofaceError("%s has %d classes but its labels are %s" % (name, classes, v),
                            "give one distinct name per class in model.json output.labels")
    return v


def _with_class(out, spec, fit, threshold, nms_threshold, max_out):
    """``picoface.detect.region.postprocess`` keeping each box's class index as a sixth column.

    NMS is class-agnostic (the device's): the box kept keeps its own class. Uses postprocess's
    ``with_class`` when it has one; else the same steps (decode with the class, map to camera
    pixels, NMS) with the class carried through ``to_camera``, which keeps 5 columns."""
    import inspect

    from picoface.detect import region

    if "with_class" in inspect.signature(region.postprocess).parameters:
        d = np.asarray(region.postprocess(out, spec, fit, threshold=threshold, nms_threshold=nms_threshold,
                                          max_out=max_out, with_class=True), np.float32)
        if d.size == 0:
            return np.zeros((0, 6), np.float32)
        if d.ndim == 2 and d.shape[1] >= 6:
            return d[:, :6]
    d = region.decode(out, spec["grid_w"], spec["grid_h"], spec["anchors"], spec.get("classes", 1),
                      spec.get("layout", "NCHW"), threshold, spec.get("scale", 1.0), spec.get("zero_point", 0),
                      spec.get("dtype"), with_class=True)
    if not len(d):
        return np.zeros((0, 6), np.float32)
    # to_camera drops boxes without area: run it with the row index in the score's place to know which stay
    tagged = d[:, :5].copy()
    tagged[:, 4] = np.arange(len(d))
    cam = region.to_camera(tagged, fit)
    rows = cam[:, 4].astype(np.int64)
    cam = np.concatenate([cam[:, :4], d[rows, 4:5], d[rows, 5:6]], axis=1)
    return region.nms(cam, nms_threshold, max_out).astype(np.float32).reshape(-1, 6)


def _anchors(v):
    if v is None:
        return None
    from pfcore.region import anchor_pairs

    if isinstance(v, str):
        v = [float(t) for t in v.replace(",", " ").split()]
    pairs = [list(map(float, p)) for p in anchor_pairs(list(v))]
    if not pairs:
        raise PicofaceError("anchors are empty", "give w,h pairs in grid-cell units")
    return pairs


class RegionDetector:
    """Base of picoface's own artifacts (keras / tflite / kmodel): subclasses set
    ``net_w``, ``net_h`` and implement ``forward(net_rgb_uint8) -> flat float32 array`` in
    ``self.out_layout``."""

    kind = "box"
    default_layout = "NHWC"
    channels = 3   # 1: the net takes the luminance of the fitted image (input.grayscale)

    def __init__(self, path, contract=None, anchors=None, threshold=None, nms=None, fit=None,
                 grid=None, classes=None, layout=None, name=None, max_out=0, labels=None, **_):
        self.path = Path(path) if path is not None else None
        c = contract or {}
        self.contract = c
        out = c.get("output", {}) or {}
        inp = c.get("input", {}) or {}
        thr = c.get("thresholds", {}) or {}
        self.name = name or c.get("name") or (self.path.stem if self.path else "model")
        self.anchors = _anchors(anchors if anchors is not None else out.get("anchors"))
        if self.anchors is None:
            raise PicofaceError("%s has no anchors: no model.json beside it" % self.name,
                                "put its model.json beside it, or pass anchors (--anchors w,h,... or "
                                "--preset maixpy-face for Sipeed's stock model)")
        self.classes = int(classes or out.get("classes") or 1)
        # class names (model.json output.labels) of a multi-class model; None for a face-only one
        self.labels = class_labels(labels if labels is not None else out.get("labels"), self.classes, self.name)
        self.out_layout = layout or out.get("layout") or self.default_layout
        g = grid or ((out["grid_w"], out["grid_h"]) if out.get("grid_w") and out.get("grid_h") else None)
        self.grid = tuple(int(v) for v in g) if g else None
        self.fit_mode = fit or inp.get("fit") or "letterbox"
        self.deploy_threshold = float(thr.get("score", 0.5))
        self.threshold = float(threshold if threshold is not None else EVAL_THRESHOLD)
        self.nms_threshold = float(nms if nms is not None else thr.get("nms", 0.3))
        self.max_out = int(max_out)
        self.bytes = self.path.stat().st_size if self.path else None
        self.macs = c.get("macs")
        self.macs_error = None   # why macs is None, when counting them failed
        self._fits = {}

    def fit_for(self, w, h):
        from pfcore.geom import Fit

        key = (w, h)
        if key not in self._fits:
            self._fits[key] = Fit(w, h, self.net_w, self.net_h, self.fit_mode)
        return self._fits[key]

    def forward(self, net_rgb):  # pragma: no cover - abstract
        raise NotImplementedError

    def forward_many(self, nets):
        """Outputs for several net inputs; backends that can batch override this."""
        return [self.forward(n) for n in nets]

    def _net_input(self, rgb):
        """(net input, fit) for one image, as the device builds it."""
        from picoface.detect.fit import luminance

        rgb = np.asarray(rgb)
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise PicofaceError("detect() needs an RGB uint8 HxWx3 image, got %s %s" % (rgb.dtype, rgb.shape),
                                "read images with picoface.data.read_image")
        fit = self.fit_for(rgb.shape[1], rgb.shape[0])
        net = prepare_input(rgb, fit)
        return (luminance(net) if self.channels == 1 else net), fit

    def _flat(self, out):
        """A backend output as the flat float32 region array, checked against the grid."""
        out = np.asarray(out, np.float32).reshape(-1)
        if self.grid is None:
            self.grid = infer_grid(out.size, self.net_w, self.net_h, len(self.anchors), self.classes)
        need = self.grid[0] * self.grid[1] * len(self.anchors) * (5 + self.classes)
        if out.size != need:
            raise PicofaceError("%s outputs %d values, but a %dx%d grid with %d anchors x %d needs %d"
                                % (self.name, out.size, self.grid[0], self.grid[1], len(self.anchors),
                                   5 + self.classes, need),
                                "check anchors/grid/classes in model.json (or --anchors/--grid)")
        return out

    def raw(self, rgb):
        """(flat output, fit) for one image."""
        net, fit = self._net_input(rgb)
        return self._flat(self.forward(net)), fit

    def _detections(self, out, fit, with_class=False):
        """Region output -> float32 (N, 5) detections in camera pixels, (N, 6) with the class index."""
        from picoface.detect.region import postprocess

        spec = {"grid_w": self.grid[0], "grid_h": self.grid[1], "anchors": self.anchors,
                "classes": self.classes, "layout": self.out_layout}
        if with_class:
            return _with_class(out, spec, fit, self.threshold, self.nms_threshold, self.max_out)
        dets = np.asarray(postprocess(out, spec, fit, threshold=self.threshold, nms_threshold=self.nms_threshold,
                                      max_out=self.max_out), np.float32)
        return dets[:, :5] if dets.ndim == 2 else dets.reshape(-1, 5)

    def detect(self, rgb, with_class=False):
        """float32 (N, 5) [x, y, w, h, score] in pixels of ``rgb``; ``with_class``: (N, 6), the box's
        class index (an index into ``labels``; 0 for a 1-class model) last."""
        return self._detections(*self.raw(rgb), with_class=with_class)

    def detect_many(self, images, batch=16, with_class=False):
        """detect() on each image, the backend run ``batch`` images at a time (``forward_many``)."""
        res = []
        for i in range(0, len(images), batch):
            prep = [self._net_input(im) for im in images[i:i + batch]]
            outs = self.forward_many([net for net, _ in prep])
            res += [self._detections(self._flat(o), fit, with_class) for o, (_, fit) in zip(outs, prep)]
        return res

    def describe(self):
        return {"name": self.name, "kind": self.kind, "bytes": self.bytes, "macs": self.macs,
                "macs_error": self.macs_error,
                "input": [self.net_w, self.net_h], "fit": self.fit_mode,
                "grid": list(self.grid) if self.grid else None, "anchors": self.anchors, "labels": self.labels}
