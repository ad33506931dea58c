"""The recognition training faces: every face of the detection training sets (never LFW) with
YuNet's 5 landmarks, a square crop around it and the teacher's embeddings.

A face is kept when a YuNet detection (score >= ``SCORE``) overlaps its labelled box (IoU >=
``MATCH_IOU``; a plain image folder has no labels and keeps YuNet's detections) and its side is
at least ``MIN_SIDE`` px. Per face the cache holds:

- ``crops``: the square of side ``CROP_SCALE`` x the face's side around YuNet's box centre,
  resized to ``CROP`` px (uint8 RGB), so training can warp, jitter and flip it without re-reading
  the photo; ``points``: the 5 landmarks in crop pixels; ``boxes``: YuNet's box in crop pixels;
- ``teacher`` / ``teacher_flip``: dlib's ResNet descriptor (128-d, L2-normalised) of the face and of
  its mirror image (dlib's own 5-point alignment on YuNet's box, ``get_face_chip(150, 0.25)``);
- ``val``: the face's photo is held out (``picoface.data.holdout``, per set), for epoch picking.

LFW never enters: a set named ``pseudo_lfw`` or whose records name an LFW origin is refused
(issue 26: LFW is for evaluation only, and pseudo_lfw's photos are LFW photos).
"""

import sys
from pathlib import Path

import numpy as np

from picoface.atomic import atomic_path
from pfcore.nms import iou
from picoface.errors import PicofaceError

SCORE = 0.8
MATCH_IOU = 0.4
MIN_SIDE = 40
CROP = 128
CROP_SCALE = 2.0
CACHE_VERSION = 1
IMAGE_EXT = (".jpg", ".jpeg", ".png", ".bmp")


def refuse_lfw(name, samples):
    if "lfw" in name.lower():
        raise PicofaceError("%s is an LFW set" % name,
                            "leave it out: LFW is for recognition evaluation only (issue 26)")
    for s in samples:
        if "lfw" in str(s.meta.get("origin", "")).lower():
            raise PicofaceError("%s holds LFW photos (%s)" % (name, s.meta["origin"]),
                                "leave it out: LFW is for recognition evaluation only")


class Source:
    """One training source: an annotated set (folder with annotations.jsonl) or a plain image folder."""

    def __init__(self, path, holdout=0.1):
        from picoface.data.jsonl import read_jsonl

        self.path = Path(path)
        self.name = self.path.name
        self.holdout = holdout
        ann = self.path / "annotations.jsonl"
        if ann.is_file():
            self.samples = read_jsonl(ann)
            refuse_lfw(self.name, self.samples)
            self.items = [(s.image_path, s.boxes, s) for s in self.samples]
        elif self.path.is_dir():
            refuse_lfw(self.name, [])
            files = sorted(p for p in self.path.rglob("*") if p.suffix.lower() in IMAGE_EXT)
            if not files:
                raise PicofaceError("%s has no annotations.jsonl and no images" % self.path,
                                    "pass a detection set or a folder of face photos")
            self.items = [(p, None, None) for p in files]
        else:
            raise PicofaceError("face source %s does not exist" % self.path, "pass a folder")

    def held_out(self, image_path):
        from picoface.data.holdout import name_key

        return self.holdout > 0 and name_key(self.name, Path(image_path).name) < self.holdout


class _Worker:
    def __init__(self, yunet):
        import cv2
        import dlib
        import face_recognition_models as frm

        self.cv2 = cv2
        self.dlib = dlib
        self.det = cv2.FaceDetectorYN.create(str(yunet), "", (320, 320), 0.5, 0.3, 200)
        self.shape = dlib.shape_predictor(frm.pose_predictor_five_point_model_location())
        self.rec = dlib.face_recognition_model_v1(frm.face_recognition_model_location())

    def faces(self, path, boxes):
        cv2 = self.cv2
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            return []
        h, w = bgr.shape[:2]
        self.det.setInputSize((w, h))
        _, det = self.det.detect(bgr)
        if det is None:
            return []
        det = [d for d in np.asarray(det, np.float32) if d[14] >= SCORE]
        if boxes is not None:
            keep = []
            for d in det:
                if any(iou(d[:4], b) >= MATCH_IOU for b in boxes):
                    keep.append(d)
            det = keep
        rgb = np.ascontiguousarray(bgr[:, :, ::-1])
        out = []
        chips, rows = [], []
        for d in det:
            x, y, bw, bh = (float(v) for v in d[:4])
            side = max(bw, bh)
            if side < MIN_SIDE:
                continue
            pts = d[4:14].reshape(5, 2).astype(np.float64)
            cx, cy = x + bw / 2.0, y + bh / 2.0
            s = CROP_SCALE * side
            k = CROP / s
            m = np.array([[k, 0, CROP / 2.0 - k * cx], [0, k, CROP / 2.0 - k * cy]], np.float64)
            interp = cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR
            crop = cv2.warpAffine(rgb, m, (CROP, CROP), flags=interp, borderMode=cv2.BORDER_REPLICATE)
            cp = pts @ m[:, :2].T + m[:, 2]
            cb = np.array([CROP / 2.0 - k * bw / 2.0, CROP / 2.0 - k * bh / 2.0, k * bw, k * bh], np.float32)
            rect = self.dlib.rectangle(int(round(x)), int(round(y)), int(round(x + bw)), int(round(y + bh)))
            chip = np.asarray(self.dlib.get_face_chip(rgb, self.shape(rgb, rect), size=150, padding=0.25), np.uint8)
            chips += [chip, np.ascontiguousarray(chip[:, ::-1])]
            rows.append((crop, cp.astype(np.float32), cb))
        if not rows:
            return []
        desc = np.array(self.rec.compute_face_descriptor(chips), np.float32)
        desc /= np.maximum(np.linalg.norm(desc, axis=1, keepdims=True), 1e-12)
        for i, (crop, cp, cb) in enumerate(rows):
            out.append((crop, cp, cb, desc[2 * i], desc[2 * i + 1]))
        return out


_W = None


def _init(yunet):
    global _W
    import cv2

    cv2.setNumThreads(1)
    _W = _Worker(yunet)


def _job(item):
    path, boxes = item
    return _W.faces(path, boxes)


def cache_key(sources):
    return "faces v%d crop %d x%.1f min %d score %.2f | %s" % (
        CACHE_VERSION, CROP, CROP_SCALE, MIN_SIDE, SCORE,
        ",".join("%s:%.3f" % (s.name, s.holdout) for s in sources))


def build(sources, out_path, yunet=None, workers=2, progress=True):
    """Collect the faces of ``sources`` into ``out_path`` (npz); reused when its key matches."""
    from picoface.recog.landmarks import default_yunet

    out_path = Path(out_path)
    key = cache_key(sources)
    if out_path.is_file():
        try:
            with np.load(out_path, allow_pickle=False) as z:
                if str(z["key"]) == key:
                    return load(out_path)
        except (OSError, ValueError, KeyError):
            pass
    yunet = Path(yunet) if yunet else default_yunet()
    if not yunet.is_file():
        raise PicofaceError("YuNet model %s not found" % yunet, "pass --yunet PATH to yunet_n_320_320.onnx")
    try:
        import dlib  # noqa: F401
        import face_recognition_models  # noqa: F401
    except ImportError:
        raise PicofaceError("the teacher needs dlib and its models",
                            "pip install dlib-bin face-recognition-models") from None
    jobs, meta = [], []
    for si, s in enumerate(sources):
        for path, boxes, _ in s.items:
            jobs.append((str(path), None if boxes is None else [list(map(float, b)) for b in boxes]))
            meta.append((si, s.held_out(path), str(path)))
    from multiprocessing import get_context

    from tqdm import tqdm

    crops, points, boxes, teach, teach_f, val, src, img = [], [], [], [], [], [], [], []
    with get_context("spawn").Pool(workers, initializer=_init, initargs=(str(yunet),)) as pool:
        results = pool.imap(_job, jobs, chunksize=4)
        for (si, held, path), faces in zip(meta, tqdm(results, total=len(jobs), desc="faces + teacher",
                                                      unit="img", file=sys.stderr, disable=not progress)):
            for crop, cp, cb, t, tf in faces:
                crops.append(crop)
                points.append(cp)
                boxes.append(cb)
                teach.append(t)
                teach_f.append(tf)
                val.append(held)
                src.append(si)
                img.append(path)
    if not crops:
        raise PicofaceError("no face of at least %d px with landmarks in %s" % (MIN_SIDE, ", ".join(s.name for s in sources)),
                            "pass sets with larger faces")
    with atomic_path(out_path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, key=np.array(key), crops=np.stack(crops), points=np.stack(points), boxes=np.stack(boxes),
                     teacher=np.stack(teach), teacher_flip=np.stack(teach_f), val=np.array(val),
                     source=np.array(src, np.int16), image=np.array(img),
                     source_names=np.array([s.name for s in sources]))
    return load(out_path)


def load(path):
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}
