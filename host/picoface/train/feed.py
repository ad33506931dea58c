"""The training feed: weighted sampling over the image cache, augmentation and YOLOv2 targets,
as numpy batches or a tf.data dataset, and its throughput (``profile``)."""

import time

import numpy as np

from picoface.detect.fit import luminance
from picoface.train.augment import Augmenter, make_frame, source_probabilities
from picoface.train.targets import encode_targets, pad_boxes, target_channels

MAX_BOXES = 64
MAX_IGNORE = 32


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
        cls = b[:, 4] if self.cfg.model.classes > 1 and b.shape[1] > 4 else None
        b = b[:, :4]
        y = encode_targets(b, self.anchors, self.grid_w, self.grid_h, self.net_w, self.net_h,
                           extra_iou=self.cfg.loss.extra_anchor_iou, box_class=cls,
                           class_channel=self.cfg.model.classes > 1)
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
               tf.TensorSpec((None, self.grid_h, self.grid_w, A, target_channels(self.cfg)), tf.float32),
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


def profile(cfg, cache, anchors, grid, batches=10):
    """img/s of the augmentation + target pipeline alone (one Python thread)."""
    td = TrainData(cfg, cache, anchors, grid)
    td.steps = batches
    t0 = time.time()
    n = 0
    for b in td.batches(0):
        n += len(b[0])
    return n / max(time.time() - t0, 1e-9)
