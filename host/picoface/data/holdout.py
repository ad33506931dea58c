"""A fixed share of a dataset's photos held out of training, for validation.

Which photos are held out depends only on the photo's file name within its set (a hash), so the
split is the same on every machine, for every run and model, and does not move when other photos
are added. A photo is held out whole: every face in it is in validation, none in training.
"""

import hashlib


def name_key(source, file_name):
    """A number in [0, 1) fixed by a set's name and a photo's file name."""
    name = "%s/%s" % (source, file_name)
    return int(hashlib.sha1(name.encode("utf-8")).hexdigest()[:12], 16) / float(16 ** 12)


def holdout_key(sample):
    """A number in [0, 1) fixed by the set and the photo's file name."""
    return name_key(sample.source, sample.image_path.name)


def is_held_out(sample, fraction):
    return fraction > 0 and holdout_key(sample) < fraction


def split(samples, fraction):
    """(kept for training, held out) of one set's samples (``sample.source`` names the set)."""
    keep, held = [], []
    for s in samples:
        (held if is_held_out(s, fraction) else keep).append(s)
    return keep, held
