"""Input pipeline: decoded-image cache, camera-like augmentation, YOLOv2 targets, tf.data.

Every photo is decoded once and kept in memory downsized (longer side ``cache_side``); each
epoch draws samples by per-source weight and makes one "camera frame" per sample: a random
crop (or zoom-out onto a grey canvas) with aspect jitter and flip, which is then mapped to the
net input by the device's own geometry (``pfcore.geom.Fit``, ``input.fit``) — one affine warp.
Occluders over part of some faces (``augment.occlude``, picoface.train.occlude) and photometric
jitter (brightness, contrast, saturation, grayscale, blur, noise) follow. Faces
that become smaller than ``augment.min_face`` net pixels, or mostly cut off, turn into ignore
regions (no objectness loss there), as do the datasets' own ignore boxes. With probability
``augment.mosaic`` a frame is instead a grid of 2..``mosaic_max`` x 2..``mosaic_max`` tiles, each
tile such a camera frame of another photo: many small faces per frame, as in crowd scenes.
"""

import math
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from picoface.data.convention import adjust_boxes
from picoface.detect.fit import luminance
from picoface.train import samples as samples_mod
from picoface.train.geometry import fit_affine, make_fit
from picoface.train.occlude import occlude_faces

MAX_BOXES = 64
MAX_IGNORE = 32


class ImageCache:
    """Decoded, downsized RGB images with their boxes (in cached-image pixels)."""

    def __init__(self, samples, max_side, threads=2, progress=True):
        self.samples = samples
        self.images = [None] * len(samples)
        self.boxes = [None] * len(samples)
        self.ignore = [None] * len(samples)
        self.sources = [s.source for s in samples]
        t0 = time.time()

        def load(i):
            import cv2

            s = samples[i]
            img = samples_mod.read_image(s.image_path)
            h, w = img.shape[:2]
            f = min(1.0, float(max_side) / max(h, w))
            if f < 1.0:
                img = cv2.resize(img, (max(1, int(round(w * f))), max(1, int(round(h * f)))),
                                 interpolation=cv2.INTER_AREA)
            fy = img.shape[0] / float(h)
            fx = img.shape[1] / float(w)
            sc = np.array([fx, fy, fx, fy], np.float32)
            self.images[i] = img
            self.boxes[i] = _clip(s.boxes * sc, img.shape[1], img.shape[0])
            self.ignore[i] = _clip(s.ignore * sc, img.shape[1], img.shape[0])

        it = range(len(samples))
        with ThreadPoolExecutor(max(1, threads)) as ex:
            futures = ex.map(load, it)
            if progress:
                from tqdm import tqdm

                futures = tqdm(futures, total=len(samples), desc="decode+cache", unit="img", leave=False)
            for _ in futures:
                pass
        self.seconds = time.time() - t0
        self.nbytes = sum(im.nbytes for im in self.images)

    def __len__(self):
        return len(self.images)


def _clip(b, w, h):
    b = np.asarray(b, np.float32).reshape(-1, 4)
    if not len(b):
        return b
    x0 = np.clip(b[:, 0], 0, w)
    y0 = np.clip(b[:, 1], 0, h)
    x1 = np.clip(b[:, 0] + b[:, 2], 0, w)
    y1 = np.clip(b[:, 1] + b[:, 3], 0, h)
    out = np.stack([x0, y0, x1 - x0, y1 - y0], 1)
    return out[(out[:, 2] > 1) & (out[:, 3] > 1)]


def _transform_boxes(b, M):
    """xywh boxes through an axis-aligned affine (scale + translate, maybe mirrored)."""
    if not len(b):
        return b.reshape(0, 4)
    x0 = b[:, 0] * M[0, 0] + M[0, 2]
    x1 = (b[:, 0] + b[:, 2]) * M[0, 0] + M[0, 2]
    y0 = b[:, 1] * M[1, 1] + M[1, 2]
    y1 = (b[:, 1] + b[:, 3]) * M[1, 1] + M[1, 2]
    xa, xb = np.minimum(x0, x1), np.maximum(x0, x1)
    ya, yb = np.minimum(y0, y1), np.maximum(y0, y1)
    return np.stack([xa, ya, xb - xa, yb - ya], 1).astype(np.float32)


class Augmenter:
    """One random camera frame per call: (net-size uint8 RGB, boxes, ignore) in net pixels."""

    def __init__(self, cfg, train=True, size=None):
        self.a = cfg.augment
        self.net_w, self.net_h = size or (cfg.input.w, cfg.input.h)
        self.fit_mode = cfg.input.fit
        self.train = train

    def frame(self, img, boxes, ignore, rng, size=None, view=None):
        """``size`` (w, h): make a frame of that size instead of the net input (mosaic tiles).
        ``view`` (x, y, w, h): render only that window of the frame (boxes in window pixels)."""
        import cv2

        a = self.a
        H, W = img.shape[:2]
        net_w, net_h = size or (self.net_w, self.net_h)
        vx, vy, vw, vh = view or (0, 0, net_w, net_h)
        net_aspect = float(net_w) / net_h
        if self.train:
            aspect = net_aspect * math.exp(rng.uniform(-a.aspect_jitter, a.aspect_jitter))
            if rng.random() < a.zoom_out:
                # camera frame larger than the photo: faces get small (WIDER-like scenes)
                z = rng.uniform(1.0, a.zoom_out_max)
                ch = max(H, W / aspect) * z
            else:
                u = rng.uniform(a.crop_min, a.crop_max)
                ch = min(H, W / aspect) * u
            cw = ch * aspect
            cx0 = rng.uniform(min(0.0, W - cw), max(0.0, W - cw))
            cy0 = rng.uniform(min(0.0, H - ch), max(0.0, H - ch))
            cam_w, cam_h = max(2, int(round(cw))), max(2, int(round(ch)))
            cx0, cy0 = int(round(cx0)), int(round(cy0))
            flip = rng.random() < a.flip
        else:
            cam_w, cam_h, cx0, cy0, flip = W, H, 0, 0, False
        # the crop is the "camera frame"; the device geometry maps it to the net input
        fit = make_fit(cam_w, cam_h, net_w, net_h, self.fit_mode)
        M = fit_affine(fit, net_w, net_h).astype(np.float64)
        M[:, 2] -= M[:, :2] @ np.array([cx0, cy0], np.float64)
        if flip:
            M[0, :] = -M[0, :]
            M[0, 2] += net_w
        M[:, 2] -= (vx, vy)
        interp = cv2.INTER_AREA if abs(M[0, 0]) < 0.7 else cv2.INTER_LINEAR
        border = (0, 0, 0)
        if self.train and self.fit_mode != "letterbox":
            g = int(rng.integers(0, 256))
            border = (g, g, g)
        # M maps continuous coordinates (pixel edges, like cv2.resize and the boxes);
        # warpAffine maps pixel centres: shift by half a pixel on both sides
        Mc = M.copy()
        Mc[:, 2] += 0.5 * (M[:, 0] + M[:, 1]) - 0.5
        out = cv2.warpAffine(img, Mc.astype(np.float32), (vw, vh), flags=interp,
                             borderMode=cv2.BORDER_CONSTANT, borderValue=border)
        b = _transform_boxes(boxes, M)
        ig = _transform_boxes(ignore, M)
        b, ig = cut_boxes(b, ig, vw, vh, a.min_face)
        if self.train:
            occlude_faces(out, b, rng, a.occlude)
            out = self.photometric(out, rng)
        return out, b, ig

    def photometric(self, img, rng):
        """Colour jitter on uint8 with OpenCV (a LUT for contrast+brightness): cheap on 2 cores."""
        import cv2

        a = self.a
        x = img
        if rng.random() < a.grayscale:
            g = cv2.cvtColor(x, cv2.COLOR_RGB2GRAY)
            x = cv2.cvtColor(g, cv2.COLOR_GRAY2RGB)
        elif a.saturation > 0:
            s = 1.0 + rng.uniform(-a.saturation, a.saturation)
            g = cv2.cvtColor(cv2.cvtColor(x, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
            x = cv2.addWeighted(x, s, g, 1.0 - s, 0.0)
        c = 1.0 + rng.uniform(-a.contrast, a.contrast) if a.contrast > 0 else 1.0
        b = 255.0 * rng.uniform(-a.brightness, a.brightness) * 0.5 if a.brightness > 0 else 0.0
        if c != 1.0 or b != 0.0:
            m = float(np.mean(cv2.mean(x)[:3]))
            lut = np.clip((np.arange(256, dtype=np.float32) - m) * c + m + b, 0, 255).astype(np.uint8)
            x = cv2.LUT(x, lut)
        if rng.random() < a.blur:
            k = 3 if rng.random() < 0.7 else 5
            x = cv2.GaussianBlur(x, (k, k), 0)
        if rng.random() < a.noise:
            n = rng.normal(0, rng.uniform(2, 10), x.shape).astype(np.float32)
            x = np.clip(x.astype(np.float32) + n, 0, 255).astype(np.uint8)
        return x


def cut_boxes(boxes, ignore, w, h, min_face):
    """Boxes and ignore regions clipped to a w x h frame. Faces mostly cut off by the frame,
    or too small to learn, become ignore regions."""
    keep, extra_ig = [], []
    for box in boxes:
        x0, y0 = max(box[0], 0), max(box[1], 0)
        x1, y1 = min(box[0] + box[2], w), min(box[1] + box[3], h)
        if x1 - x0 <= 1 or y1 - y0 <= 1:
            continue
        frac = (x1 - x0) * (y1 - y0) / max(box[2] * box[3], 1e-6)
        clipped = np.array([x0, y0, x1 - x0, y1 - y0], np.float32)
        if frac < 0.6 or min(clipped[2], clipped[3]) < min_face:
            extra_ig.append(clipped)
        else:
            keep.append(clipped)
    b = np.array(keep, np.float32).reshape(-1, 4)
    return b, np.concatenate([_clip(ignore, w, h), np.array(extra_ig, np.float32).reshape(-1, 4)])


def mosaic_frame(aug, cache, p, first, rng, view=None):
    """A frame tiled with photos: image ``first`` and others drawn with probabilities ``p``.
    ``view`` (x, y, w, h): render only that window of it (tiles outside it are skipped)."""
    a = aug.a
    vx, vy, vw, vh = view or (0, 0, aug.net_w, aug.net_h)
    cols = int(rng.integers(2, a.mosaic_max + 1))
    rows = int(np.clip(cols + rng.integers(-1, 2), 2, a.mosaic_max))
    xs = np.linspace(0, aug.net_w, cols + 1).astype(int)
    ys = np.linspace(0, aug.net_h, rows + 1).astype(int)
    canvas = np.zeros((vh, vw, cache.images[first].shape[2]), np.uint8)
    boxes, ignore = [np.zeros((0, 4), np.float32)], [np.zeros((0, 4), np.float32)]
    for r in range(rows):
        for c in range(cols):
            i = first if r == c == 0 else int(rng.choice(len(cache), p=p))
            trng = np.random.default_rng(int(rng.integers(1 << 62)))  # a tile's draws: same with any view
            x0, x1 = max(xs[c], vx), min(xs[c + 1], vx + vw)
            y0, y1 = max(ys[r], vy), min(ys[r + 1], vy + vh)
            if x1 <= x0 or y1 <= y0:
                continue
            tile, b, ig = aug.frame(cache.images[i], cache.boxes[i], cache.ignore[i], trng,
                                    size=(int(xs[c + 1] - xs[c]), int(ys[r + 1] - ys[r])),
                                    view=(int(x0 - xs[c]), int(y0 - ys[r]), int(x1 - x0), int(y1 - y0)))
            canvas[y0 - vy:y1 - vy, x0 - vx:x1 - vx] = tile
            off = np.array([x0 - vx, y0 - vy, 0, 0], np.float32)
            boxes.append(b + off)
            ignore.append(ig + off)
    return canvas, np.concatenate(boxes), np.concatenate(ignore)


def make_frame(aug, cache, p, i, rng, view=None):
    """One training frame for image ``i``: a mosaic (probability augment.mosaic) or a camera frame;
    with ``view`` only that window of it."""
    if aug.a.mosaic > 0 and rng.random() < aug.a.mosaic:
        return mosaic_frame(aug, cache, p, i, rng, view)
    return aug.frame(cache.images[i], cache.boxes[i], cache.ignore[i], rng, view=view)


def source_probabilities(cfg, cache):
    """Per-image sampling probability from the per-source weights (a weight is per image)."""
    w = np.array([cfg.data.weights.get(s, 1.0) for s in cache.sources], np.float64)
    return w / w.sum()


def encode_targets(boxes, anchors, grid_w, grid_h, net_w, net_h, classes=1, extra_iou=0.0):
    """YOLOv2 targets for one image.

    Returns y (grid_h, grid_w, A, 6): [tx, ty, tw, th, obj, coord_weight] where tx,ty are the
    centre offsets inside the responsible cell (0..1), tw,th = log(w/anchor_w) in grid units;
    each face goes to the cell of its centre and the anchor whose shape matches it best
    (the next best if that slot is taken); with ``extra_iou`` > 0, also to every other free
    anchor of that cell whose shape IoU with the face is at least that (more positives per face).
    """
    from picoface.train.anchors import shape_iou

    A = len(anchors)
    y = np.zeros((grid_h, grid_w, A, 6), np.float32)
    if not len(boxes):
        return y
    gx = (boxes[:, 0] + boxes[:, 2] / 2.0) / net_w * grid_w
    gy = (boxes[:, 1] + boxes[:, 3] / 2.0) / net_h * grid_h
    gw = boxes[:, 2] / net_w * grid_w
    gh = boxes[:, 3] / net_h * grid_h
    ious = shape_iou(np.stack([gw, gh], 1), anchors)
    order = np.argsort(-(gw * gh))  # big faces first; small ones take the remaining slots
    for i in order:
        col = int(min(max(gx[i], 0), grid_w - 1e-4))
        row = int(min(max(gy[i], 0), grid_h - 1e-4))
        placed = False
        for a in np.argsort(-ious[i]):
            if y[row, col, a, 4] != 0:
                continue
            if placed and not (extra_iou > 0 and ious[i, a] >= extra_iou):
                break                  # best first: no later anchor qualifies either
            y[row, col, a] = [gx[i] - col, gy[i] - row, math.log(gw[i] / anchors[a][0]),
                              math.log(gh[i] / anchors[a][1]), 1.0, 2.0 - (gw[i] * gh[i]) / (grid_w * grid_h)]
            placed = True
    return y


def pad_boxes(b, n, net_w, net_h):
    """(n, 4) normalised centre boxes (cx, cy, w, h), zero-padded; largest kept when too many."""
    out = np.zeros((n, 4), np.float32)
    if len(b):
        if len(b) > n:
            b = b[np.argsort(-(b[:, 2] * b[:, 3]))[:n]]
        out[:len(b)] = np.stack([(b[:, 0] + b[:, 2] / 2) / net_w, (b[:, 1] + b[:, 3] / 2) / net_h,
                                 b[:, 2] / net_w, b[:, 3] / net_h], 1)
    return out


class TrainData:
    """Weighted sampling over the cache + augmentation + targets, as numpy batches or tf.data."""

    def __init__(self, cfg, cache, anchors, grid, seed=0, size=None, crop=False):
        """``size``: smaller frames than the net input — resized frames, or with ``crop`` windows
        cut from full-size frames (same face sizes in pixels, less context)."""
        self.cfg = cfg
        self.cache = cache
        self.anchors = np.asarray(anchors, np.float32)
        self.net_w, self.net_h = size or (cfg.input.w, cfg.input.h)
        self.grid_w, self.grid_h = (self.net_w // cfg.model.stride, self.net_h // cfg.model.stride) if size else grid
        self.crop = bool(crop and size)
        self.aug = Augmenter(cfg, train=True, size=None if self.crop else (self.net_w, self.net_h))
        self.seed = seed
        self.p = source_probabilities(cfg, cache)
        self.steps = cfg.train.steps_per_epoch or max(1, len(cache) // cfg.train.batch_size)

    def example(self, i, rng):
        view = None
        if self.crop:  # a random window of a full-size frame: only that window is rendered
            view = (int(rng.integers(0, self.aug.net_w - self.net_w + 1)),
                    int(rng.integers(0, self.aug.net_h - self.net_h + 1)), self.net_w, self.net_h)
        img, b, ig = make_frame(self.aug, self.cache, self.p, i, rng, view)
        if self.cfg.input.grayscale:
            img = luminance(img)
        y = encode_targets(b, self.anchors, self.grid_w, self.grid_h, self.net_w, self.net_h,
                           extra_iou=self.cfg.loss.extra_anchor_iou)
        return (img, y, pad_boxes(b, MAX_BOXES, self.net_w, self.net_h),
                pad_boxes(ig, MAX_IGNORE, self.net_w, self.net_h))

    def batches(self, epoch):
        """Yield ``steps`` batches (images uint8, y, gt, ignore) for one epoch (deterministic)."""
        rng = np.random.default_rng([self.seed, epoch])
        bs = self.cfg.train.batch_size
        for _ in range(self.steps):
            idx = rng.choice(len(self.cache), size=bs, p=self.p)
            ex = [self.example(int(i), rng) for i in idx]
            yield tuple(np.stack([e[k] for e in ex]) for k in range(4))

    def dataset(self, epoch):
        import tensorflow as tf

        A = len(self.anchors)
        ch = 1 if self.cfg.input.grayscale else 3
        sig = (tf.TensorSpec((None, self.net_h, self.net_w, ch), tf.uint8),
               tf.TensorSpec((None, self.grid_h, self.grid_w, A, 6), tf.float32),
               tf.TensorSpec((None, MAX_BOXES, 4), tf.float32),
               tf.TensorSpec((None, MAX_IGNORE, 4), tf.float32))
        ds = tf.data.Dataset.from_generator(lambda: self.batches(epoch), output_signature=sig).prefetch(2)
        # one Python generator feeds the step: tf.data's autotuning and its own thread pool add nothing
        # but, measured on a 2-core machine, stalls that held epochs to multiples of ~41 s
        # (docs/TRAINING.md, Budget and schedule)
        opts = tf.data.Options()
        opts.autotune.enabled = False
        opts.threading.private_threadpool_size = 1
        return ds.with_options(opts)


def load_train_cache(cfg, progress=True, log=print):
    """All training samples of cfg.data.train (or data.max_images of them), decoded into one ImageCache."""
    all_samples = train_samples(cfg)
    limit = cfg.data.max_images
    if limit and len(all_samples) > limit:
        rng = np.random.default_rng(cfg.seed)
        idx = rng.choice(len(all_samples), limit, replace=False)
        all_samples = [all_samples[i] for i in sorted(idx)]
    mark_unlabelled_faces(cfg, all_samples, progress, log)
    side = cfg.data.cache_side or 2 * max(cfg.input.w, cfg.input.h)
    return ImageCache(all_samples, side, threads=2, progress=progress)


def mark_unlabelled_faces(cfg, samples, progress=True, log=print):
    """data.unlabelled: the faces those sets left unlabelled become ignore regions. Returns the count."""
    todo = [s for s in samples if s.source in cfg.data.unlabelled]
    if not todo:
        return 0
    from picoface.data.unlabelled import mark_unlabelled
    from picoface.detectors import open_reference
    from picoface.errors import PicofaceError
    from picoface.paths import shared_path

    path = shared_path(cfg.data.unlabelled_detector)
    if not path.is_file():
        raise PicofaceError("data.unlabelled_detector %s not found" % cfg.data.unlabelled_detector,
                            "put ../shared beside the repository, point data.unlabelled_detector at a detector "
                            "(Ultra-Light .onnx or a picoface model), or drop data.unlabelled")
    det = open_reference(path)
    face_score = cfg.data.unlabelled_face_score
    added, faces = mark_unlabelled(todo, det, cfg.data.unlabelled_score, progress=progress, face_score=face_score)
    log("unlabelled faces: %d ignore regions%s added in %d photos of %s (%s, score >= %g)"
        % (added, " and %d faces (score >= %g)" % (faces, face_score) if face_score > 0 else "", len(todo),
           ", ".join(cfg.data.unlabelled), det.name, cfg.data.unlabelled_score))
    return added + faces


def train_samples(cfg):
    """The samples of cfg.data.train, each set's boxes in WIDER's convention (data.box_adjust)."""
    from picoface.errors import PicofaceError
    from picoface.train.config import data_root

    root = data_root(cfg)
    all_samples = []
    for name in cfg.data.train:
        folder = root / name if not str(name).startswith("/") else name
        s = [x for x in samples_mod.load_samples(folder) if x.image_path.is_file()]
        if not s:
            raise PicofaceError("dataset %s has no readable images" % folder, "check data.root / data.train")
        for x in s:
            x.source = name
        if name in cfg.data.holdout:   # those photos are validation's (picoface.train.val)
            from picoface.data.holdout import split

            s = split(s, cfg.data.holdout[name])[0]
        adj = cfg.data.box_adjust.get(name)
        for x in s:
            if adj:
                x.boxes = adjust_boxes(x.boxes, adj)
        all_samples += s
    return all_samples


def augmented_box_sizes(cfg, cache, n=3000, seed=0):
    """Face sizes (net pixels) as the training augmentation produces them (for anchors)."""
    aug = Augmenter(cfg, train=True)
    p = source_probabilities(cfg, cache)
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        i = int(rng.choice(len(cache), p=p))
        _, b, _ = make_frame(aug, cache, p, i, rng)
        if len(b):
            out.append(b[:, 2:4])
    return np.concatenate(out) if out else np.zeros((0, 2), np.float32)


def profile(cfg, cache, anchors, grid, batches=10):
    """img/s of the augmentation + target pipeline alone (one Python thread)."""
    td = TrainData(cfg, cache, anchors, grid)
    td.steps = batches
    t0 = time.time()
    n = 0
    for b in td.batches(0):
        n += len(b[0])
    return n / max(time.time() - t0, 1e-9)
