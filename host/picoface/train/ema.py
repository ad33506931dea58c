"""Exponential moving average of the trained weights (train.ema): val, the best checkpoint and the
shipped model use the average, which moves less from step to step than the weights themselves.
The decay ramps up as (1 + n) / (10 + n) over the first steps, so early averages follow training."""

from contextlib import contextmanager

import numpy as np

from picoface import atomic
from picoface.errors import PicofaceError


class WeightAverage:
    def __init__(self, variables, decay):
        import tensorflow as tf

        self.vars = list(variables)
        self.decay = float(decay)
        self.avg = [tf.Variable(v, trainable=False) for v in self.vars]
        self.count = tf.Variable(0.0, trainable=False)

    def update(self):
        """One step (inside the tf.function of the training step)."""
        import tensorflow as tf

        self.count.assign_add(1.0)
        d = tf.minimum(self.decay, (1.0 + self.count) / (10.0 + self.count))
        for a, v in zip(self.avg, self.vars):
            a.assign(d * a + (1.0 - d) * v)

    @contextmanager
    def applied(self):
        """The model holds the averaged weights inside the block, its own weights after it."""
        saved = [v.numpy() for v in self.vars]
        for a, v in zip(self.avg, self.vars):
            v.assign(a)
        try:
            yield
        finally:
            for s, v in zip(saved, self.vars):
                v.assign(s)

    def save(self, path):
        arrs = {"a%d" % i: a.numpy() for i, a in enumerate(self.avg)}
        with atomic.atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, count=self.count.numpy(), **arrs)

    def load(self, path):
        try:
            data = np.load(path)
        except OSError:
            raise PicofaceError("weight average checkpoint %s is missing or unreadable" % path,
                                "start without --resume") from None
        if len(data.files) != len(self.avg) + 1 or any(
                data["a%d" % i].shape != tuple(a.shape) for i, a in enumerate(self.avg)):
            raise PicofaceError("weight average checkpoint %s does not match the model" % path,
                                "start without --resume or use the same config")
        for i, a in enumerate(self.avg):
            a.assign(data["a%d" % i])
        self.count.assign(float(data["count"]))
