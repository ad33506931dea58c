"""The decoded-image cache of the training photos.

Every photo is decoded once and kept in memory downsized (longer side ``cache_side``), with its
boxes and ignore regions in cached-image pixels; augmentation (picoface.train.augment) draws its
camera frames from it.
"""

import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from picoface.train import samples as samples_mod
from picoface.train.augment import _clip


class ImageCache:
    """Decoded, downsized RGB images with their boxes (in cached-image pixels; with a fifth column, the
    class, when the samples carry one: picoface.train.classes)."""

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
            b = np.asarray(s.boxes, np.float32)
            b = b.reshape(-1, b.shape[1] if b.ndim == 2 else 4).copy()
            b[:, :4] *= sc                  # a class column (multi-class models) rides along
            self.boxes[i] = _clip(b, img.shape[1], img.shape[0])
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
