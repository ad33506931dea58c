"""The always-on gate (config mode "gate"): when the detector runs.

Gate(threshold, on_frames, off_frames, every): update(p) takes the gate model's face probability
for this frame and returns True when the detector should run on it; found(n) reports how many
faces that run found. The gate opens after on_frames frames at or above threshold and closes
after off_frames frames below it, but never while the detector still finds faces (a far face the
gate cannot see keeps it open once found). While closed the detector still runs every `every`
frames (0 = never), which is how a face the gate misses is found at all.

score(values, scale, zero_point) turns the gate's output map into a probability: the mean of
the dequantised logits through a sigmoid (the trainer's head, picoface.gate).
"""

import math


class Gate:
    def __init__(self, threshold, on_frames=2, off_frames=5, every=15):
        self.threshold = threshold
        self.on_frames = on_frames
        self.off_frames = off_frames
        self.every = every
        self.open = False
        self.hi = 0
        self.lo = 0
        self.since = 0       # frames since the detector last ran
        self.faces = False   # the last detector run found a face
        self.runs = 0
        self.frames = 0

    def update(self, p):
        self.frames += 1
        if p >= self.threshold:
            self.hi += 1
            self.lo = 0
        else:
            self.lo += 1
            self.hi = 0
        if not self.open and self.hi >= self.on_frames:
            self.open = True
        elif self.open and self.lo >= self.off_frames and not self.faces:
            self.open = False
        self.since += 1
        run = self.open or (self.every > 0 and self.since >= self.every)
        if run:
            self.since = 0
            self.runs += 1
        return run

    def found(self, n):
        self.faces = n > 0
        if self.faces:
            self.open = True


def score(values, scale=1.0, zero_point=0):
    """Sigmoid of the mean of (v - zero_point) * scale over an iterable of numbers."""
    s = 0.0
    n = 0
    for v in values:
        s += v
        n += 1
    if n == 0:
        raise ValueError("the gate model gave no output")
    x = (s / n - zero_point) * scale
    if x < -30:
        return 0.0
    if x > 30:
        return 1.0
    return 1.0 / (1.0 + math.exp(-x))
