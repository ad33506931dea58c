"""The training set: the samples of ``data.train`` (holdout photos left to validation, boxes in
WIDER's convention, unlabelled faces marked as ignore regions), decoded into one ImageCache."""

import numpy as np

from picoface.data.convention import adjust_boxes
from picoface.train import samples as samples_mod
from picoface.train.image_cache import ImageCache


def load_train_cache(cfg, progress=True, log=print):
    """All training samples of cfg.data.train (or data.max_images of them), decoded into one ImageCache."""
    all_samples = train_samples(cfg)
    limit = cfg.data.max_images
    if limit and len(all_samples) > limit:
        rng = np.random.default_rng(cfg.seed)
        idx = rng.choice(len(all_samples), limit, replace=False)
        all_samples = [all_samples[i] for i in sorted(idx)]
    mark_unlabelled_faces(cfg, all_samples, progress, log)
    if cfg.model.classes > 1:
        from picoface.train.classes import attach_classes, describe

        for line in describe(attach_classes(cfg, all_samples), cfg.model.labels):
            log("classes: " + line)
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


def set_samples(cfg, name):
    """One set of the config's data: its samples with an image, ``source`` = ``name``, boxes in WIDER's
    convention (``data.box_adjust``). Training (``train_samples``) and validation on the held-out
    photos (``picoface.train.val``) read a set through this, then split it (``picoface.data.holdout``)."""
    from picoface.errors import PicofaceError
    from picoface.train.config import data_root

    folder = data_root(cfg) / name if not str(name).startswith("/") else name
    s = [x for x in samples_mod.load_samples(folder) if x.image_path.is_file()]
    if not s:
        raise PicofaceError("dataset %s has no readable images" % folder, "check data.root / data.train")
    adj = cfg.data.box_adjust.get(name)
    for x in s:
        x.source = name
        if adj:
            x.boxes = adjust_boxes(x.boxes, adj)
    return s


def train_samples(cfg):
    """The samples of cfg.data.train, without the photos ``data.holdout`` leaves to validation."""
    from picoface.data.holdout import split

    all_samples = []
    for name in cfg.data.train:
        s = set_samples(cfg, name)
        if name in cfg.data.holdout:
            s = split(s, cfg.data.holdout[name])[0]
        all_samples += s
    return all_samples
