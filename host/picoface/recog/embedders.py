"""Face embedders behind one interface.

An embedder has ``name``, ``format`` (kmodel-v3 | kmodel-v4 | tflite-int8 | reference), ``bytes``
(model size), ``size`` (side of its aligned input, px) and two steps:

- ``prepare(rgb, box, points) -> (size, size, 3) uint8``: the aligned face, from the image, the
  face box [x, y, w, h] and the 5 landmarks (``picoface.recog.landmarks``);
- ``embed(faces) -> (N, D) float32``: L2-normalised embeddings of a batch of aligned faces.

By default ``prepare`` warps with ``pfcore.align`` (ArcFace 5-point template scaled to ``size``,
least-squares similarity) through ``cv2.warpAffine``, the same matrix the board's pure-Python
warp uses.

Embedders:
- ``pixels``: a documented baseline with no learnt weights: the aligned 32x32 face in grey,
  each image's mean removed, as a 1024-d vector. It shows what alignment alone buys and is cheap
  enough for the tests' end-to-end runs.
- ``dlib``: dlib's ResNet face descriptor (dlib_face_recognition_resnet_model_v1, 128-d, from the
  PyPI packages ``dlib-bin`` + ``face-recognition-models``). It is aligned as dlib does it, not
  with our template: dlib's 5-point shape predictor on the YuNet box, then
  ``dlib.get_face_chip(size=150, padding=0.25)``, which is what its descriptor was trained on.
- ``canaan-k210``: Canaan's stock CanMV K210 face-recognition feature model
  (../shared/anchors/k210_canmv_face_recog/feature_extraction.kmodel, kmodel v4, 192-d) run by
  ``picoface.kmodel.v4_runtime`` (KPU layers bit-exact in the KPU emulator, CPU nodes as nncase
  0.2's kernels). Alignment follows the CanMV demo's recipe (that kit's SOURCE.md): the 5 points
  truncated to integers, ``pfcore.align.similarity`` onto Canaan's integer 64x64 template (the
  ArcFace template scaled by 64/112 and truncated: ``CANAAN_TEMPLATE``), warped to 64x64 RGB
  with black borders, fed as planar RGB uint8. Landmarks are YuNet's, like the other embedders:
  ld5.kmodel (Canaan's landmark model) was trained on the raw boxes of Canaan's own detector, and
  on YuNet's boxes its points land 2-10 px from YuNet's, so ld5 on a YuNet box would measure the
  box mismatch, not the feature model; Canaan's detector is not run here either.
"""

from pathlib import Path

import numpy as np

from pfcore import align
from picoface.errors import PicofaceError


def _l2(e):
    e = np.asarray(e, np.float32)
    return e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)


class Embedder:
    name = "?"
    format = "reference"
    size = 112
    bytes = 0
    describe = ""

    def prepare(self, rgb, box, points):
        import cv2

        m = np.array(align.align_matrix([tuple(map(float, p)) for p in points], self.size), np.float64)
        return cv2.warpAffine(rgb, m, (self.size, self.size), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0)

    def embed(self, faces):
        raise NotImplementedError


class PixelsEmbedder(Embedder):
    name = "pixels"
    format = "reference"
    size = 32
    describe = "aligned 32x32 grey pixels minus their mean (no learnt weights; baseline)"

    def embed(self, faces):
        f = np.asarray(faces, np.float32)
        grey = f[..., 0] * 0.299 + f[..., 1] * 0.587 + f[..., 2] * 0.114
        v = grey.reshape(len(f), -1)
        return _l2(v - v.mean(axis=1, keepdims=True))


class DlibEmbedder(Embedder):
    name = "dlib"
    format = "reference"
    size = 150
    describe = ("dlib ResNet v1 (128-d); dlib 5-point shape predictor on the YuNet box, "
                "dlib.get_face_chip(150, padding 0.25)")
    parallel = True         # one image at a time in each of picoface.recog.run's worker processes

    def __init__(self):
        try:
            import dlib
            import face_recognition_models as frm
        except ImportError:
            raise PicofaceError("the dlib embedder needs dlib and its models",
                                "pip install dlib-bin face-recognition-models") from None
        self._dlib = dlib
        rec = Path(frm.face_recognition_model_location())
        self._shape = dlib.shape_predictor(frm.pose_predictor_five_point_model_location())
        self._rec = dlib.face_recognition_model_v1(str(rec))
        self.bytes = rec.stat().st_size

    def prepare(self, rgb, box, points):
        d = self._dlib
        x, y, w, h = (float(v) for v in box)
        rect = d.rectangle(int(round(x)), int(round(y)), int(round(x + w)), int(round(y + h)))
        img = np.ascontiguousarray(rgb)
        shape = self._shape(img, rect)
        return np.asarray(d.get_face_chip(img, shape, size=self.size, padding=0.25), np.uint8)

    def embed(self, faces):
        chips = [np.ascontiguousarray(f, np.uint8) for f in faces]
        return _l2(np.array(self._rec.compute_face_descriptor(chips), np.float32))


def canaan_template():
    """Canaan's 64x64 template: pfcore's ArcFace template at 64 px, truncated to integers as the
    CanMV demo does: (21, 29), (42, 29), (32, 40), (23, 52), (40, 52)."""
    return [(float(int(x)), float(int(y))) for x, y in align.template(64)]


def canaan_model():
    from picoface.paths import shared_dir

    return shared_dir() / "anchors" / "k210_canmv_face_recog" / "feature_extraction.kmodel"


class CanaanK210Embedder(Embedder):
    name = "canaan-k210"
    format = "kmodel-v4"
    size = 64
    describe = ("Canaan CanMV K210 feature_extraction.kmodel (192-d) in picoface's v4 runtime; "
                "YuNet points truncated, similarity onto Canaan's integer 64x64 template")
    parallel = True

    def __init__(self, path=None):
        from picoface.kmodel.v4_runtime import Runtime

        path = canaan_model() if path is None else path
        if not path.is_file():
            raise PicofaceError("Canaan's feature model %s is not here" % path,
                                "put ../shared/anchors/k210_canmv_face_recog/ in place")
        self.path = path
        self.bytes = path.stat().st_size
        self._rt = Runtime(path)
        if self._rt.input_shape != (3, self.size, self.size):
            raise PicofaceError("%s takes %s, not a 3x64x64 face" % (path.name, self._rt.input_shape),
                                "use Canaan's feature_extraction.kmodel")
        self._dst = canaan_template()

    def matrix(self, points):
        """2x3 matrix from the image to the 64x64 face: the points truncated to integers (the
        demo's landmarks are ints), least-squares similarity onto Canaan's integer template."""
        src = [(float(int(p[0])), float(int(p[1]))) for p in points]
        return np.array(align.similarity(src, self._dst), np.float64)

    def prepare(self, rgb, box, points):
        import cv2

        return cv2.warpAffine(rgb, self.matrix(points), (self.size, self.size), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0)

    def embed(self, faces):
        out = [self._rt.run(np.ascontiguousarray(np.transpose(np.asarray(f, np.uint8), (2, 0, 1))))[0]
               for f in faces]
        return _l2(np.array(out, np.float32))


class PicofaceEmbedder(Embedder):
    """picoface's own nets, end to end as the board runs them (``picoface.recog.pipeline``): its
    detector, its landmark net and the alignment of ``pfcore.recognise``; YuNet's box and points
    are not used. ``missed`` counts the images where the detector found no face."""

    fmt = "?"
    size = 64
    parallel = True         # picoface.recog.run may run it in worker processes

    def __init__(self, model_dir=None):
        from picoface.recog.pipeline import Pipeline

        self.model_dir = model_dir
        self.format = self.fmt
        self.pipe = Pipeline(model_dir or "models/picoface_recog", self.fmt)
        self.bytes = self.pipe.bytes
        self.threshold = self.pipe.threshold
        # the cached embeddings belong to these exact nets
        files = self.pipe.contract["files"]
        self.cache_tag = " " + ",".join(files["%s:%s" % (k, self.fmt)]["sha256"][:16] for k in ("landmarks", "embed"))

    @property
    def missed(self):
        return self.pipe.missed

    def prepare(self, rgb, box, points):
        return self.pipe.face(rgb)[0]

    def embed(self, faces):
        return _l2(np.stack([self.pipe.embed(f) for f in faces]))


class PicofaceK210Embedder(PicofaceEmbedder):
    name = "picoface-k210"
    fmt = "kmodel-v3"
    describe = ("picoface K210: its detector kmodel -> landmark kmodel -> pfcore.recognise alignment -> "
                "embedding kmodel (128-d), all in picoface's KPU emulator")


class PicofaceOpenMVEmbedder(PicofaceEmbedder):
    name = "picoface-openmv"
    fmt = "tflite-int8"
    describe = ("picoface OpenMV: its int8 detector -> landmark int8 TFLite -> pfcore.recognise alignment -> "
                "embedding int8 TFLite (128-d), in LiteRT")


EMBEDDERS = {"pixels": PixelsEmbedder, "dlib": DlibEmbedder, "canaan-k210": CanaanK210Embedder,
             "picoface-k210": PicofaceK210Embedder, "picoface-openmv": PicofaceOpenMVEmbedder}

# Embedders known but not runnable here (name -> why); shown in the bench's notes.
UNAVAILABLE = {}


def available(model_dir=None):
    """{name: None or the reason it cannot run here} for every registered embedder."""
    out = {}
    for name, cls in EMBEDDERS.items():
        try:
            make(name, model_dir)
            out[name] = None
        except PicofaceError as e:
            out[name] = str(e)
    return out


def make(name, model_dir=None):
    """An embedder by name; ``model_dir``: the recog export the picoface embedders read."""
    if name not in EMBEDDERS:
        extra = ""
        if name in UNAVAILABLE:
            extra = " (%s)" % UNAVAILABLE[name]
        raise PicofaceError("unknown embedder %r%s" % (name, extra), "use one of: %s" % ", ".join(EMBEDDERS))
    cls = EMBEDDERS[name]
    return cls(model_dir) if issubclass(cls, PicofaceEmbedder) else cls()
