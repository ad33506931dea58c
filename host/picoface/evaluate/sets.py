"""Evaluation sets as the camera sees them, for ``picoface eval`` and ``picoface bench``.

- ``camera_set(spec, ...)``: a dataset, each photo framed to the camera's 4:3
  (``picoface.evaluate.regimes``), faces under a size rule moved to ignore (in photo pixels);
- ``holdout_set(config, ...)``: the photos a training config holds out of training
  (``data.holdout``), as its val sees them (``picoface.train.val.load_valset``): boxes in WIDER
  FACE's convention (``data.box_adjust``), framed by ``data.val_framing``, faces under 12 camera px
  ignored, images decoded once.
"""

from dataclasses import dataclass, field
from pathlib import Path

from picoface.errors import PicofaceError
from picoface.paths import REPO_ROOT, display_path
from picoface.train.val import HOLDOUT  # the data spec of a training config's held-out photos


@dataclass
class EvalSet:
    samples: list                 # framed samples (meta["framing"])
    framing: str
    images: list | None = None    # framed images, one per sample (None: read from disk when needed)
    note: str | None = None       # one line on what the set is
    info: dict = field(default_factory=dict)

    def faces(self):
        return int(sum(len(s.boxes) for s in self.samples))


def camera_set(spec, framing="letterbox", min_size=20.0, size_rule="min-side", limit=None, **options):
    """A dataset (``picoface.data.load_dataset(spec, **options)``), its first ``limit`` photos, faces
    under ``min_size`` px (``size_rule``) moved to ignore, each photo framed (``framing``)."""
    from picoface.data import apply_min_size, load_dataset
    from picoface.evaluate.regimes import frame_samples

    samples = load_dataset(spec, **options)
    if limit:
        samples = samples[:int(limit)]
    missing = [s for s in samples if not s.image_path.is_file()]
    if missing:
        raise PicofaceError("%d of %d images of %s are missing (e.g. %s)" % (
            len(missing), len(samples), spec, missing[0].image_path),
            "evaluation needs the photos: put them in place or pick a dataset with images")
    apply_min_size(samples, min_size, size_rule)
    return EvalSet(frame_samples(samples, framing), framing,
                   info={"data": str(spec), "min_size": min_size, "size_rule": size_rule})


def holdout_set(config, framing=None, limit=None):
    """The photos training config ``config`` holds out of training, as its val sees them;
    ``framing`` (default: the config's data.val_framing) and ``limit`` (first N photos) override it."""
    from picoface.train.config import load_config
    from picoface.train.val import load_valset

    cfg = load_config(config)
    if not cfg.data.holdout:
        raise PicofaceError("%s holds no photos out of training (data.holdout is empty)" % config,
                            "give a training config that has data.holdout, e.g. "
                            "models/picoface_k210_320x240/train.yaml")
    if framing:
        cfg.data.val_framing = framing
    if limit and (not cfg.data.val_max_images or limit < cfg.data.val_max_images):
        cfg.data.val_max_images = int(limit)
    vs = load_valset(cfg, HOLDOUT)
    shares = ", ".join("%g%% of %s" % (100 * v, k) for k, v in sorted(cfg.data.holdout.items()))
    try:
        label = Path(config).resolve().relative_to(REPO_ROOT)
    except ValueError:
        label = config
    note = ("Photos held out of training by %s (%s), boxes mapped to WIDER FACE's convention "
            "(data.box_adjust), faces under 12 camera px ignored" % (label, shares))
    return EvalSet(list(vs.samples), cfg.data.val_framing, list(vs.images), note,
                   info={"data": HOLDOUT, "config": display_path(config), "holdout": dict(cfg.data.holdout)})


def close_set(spec, config=None, framing=None, limit=None):
    """The bench's close-range set: ``holdout`` (of ``config``), or a dataset whose photos are framed
    (default letterbox) with the faces under 12 camera px ignored, as in the held-out set."""
    from picoface.evaluate.regimes import ignore_under

    if spec == HOLDOUT:
        if config is None or not Path(config).is_file():
            raise PicofaceError("the close-range set 'holdout' needs a training config (%s not found)" % config,
                                "pass --config TRAIN.yaml, or --no-close")
        return holdout_set(config, framing, limit)
    es = camera_set(spec, framing or "letterbox", None, limit=limit)
    ignore_under(es.samples)
    es.note = "%s, faces under 12 camera px ignored" % spec
    return es
