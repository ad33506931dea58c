"""Write artifacts atomically: a reader never sees a half-written file."""

import contextlib
import os
import tempfile
from pathlib import Path


@contextlib.contextmanager
def atomic_path(dest):
    """Yield a temporary path beside ``dest``; rename it over ``dest`` only on success."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + dest.name + ".", suffix=".tmp", dir=dest.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; artifacts get the usual file mode
    try:
        yield Path(tmp)
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_bytes(dest, data):
    with atomic_path(dest) as tmp:
        Path(tmp).write_bytes(data)


def write_text(dest, text):
    with atomic_path(dest) as tmp:
        Path(tmp).write_text(text)


def save_model(dest, model, weights_only=False):
    """A Keras model (or its weights) written atomically. Keras picks the format from the file name's
    extension, so it writes beside the temporary path with ".keras" / ".weights.h5" and the result is
    renamed over ``dest``."""
    ext = ".weights.h5" if weights_only else ".keras"
    with atomic_path(dest) as tmp:
        named = str(tmp) + ext
        try:
            (model.save_weights if weights_only else model.save)(named)
            os.replace(named, tmp)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(named)
