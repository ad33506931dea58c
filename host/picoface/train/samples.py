"""Training and validation samples, read by ``picoface.data`` (ARCHITECTURE §8)."""


def load_samples(folder):
    """Samples of one dataset folder (``picoface.data.load_dataset``)."""
    from picoface.data import load_dataset

    return list(load_dataset(folder))


def load_eval_samples(folder, min_size=20.0, rule="geomean"):
    """WIDER-style evaluation set: invalid and < min_size faces (by ``rule``, see
    ``picoface.data.apply_min_size``) moved to ignore."""
    from picoface.data import widerface_eval_set

    return list(widerface_eval_set(folder, min_size=min_size, rule=rule))


def read_image(path):
    """RGB uint8 HxWx3 (``picoface.data.read_image``)."""
    from picoface.data import read_image as _read

    return _read(path)
