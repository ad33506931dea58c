"""K210 kmodel files: version detection, v3 read/write, v4/v5 container facts, KPU emulator.

- ``detect_version(data) -> 3 | 4 | 5``
- ``picoface.kmodel.v3``: parse/serialize/build kmodel v3 (the format MaixPy and CanMV load)
- ``picoface.kmodel.v4``: header and node list of nncase 0.2 ('KMDL' v4) files
- ``picoface.kmodel.emulator``: numpy KPU emulator for v3 models
- ``picoface.kmodel.info``: a human/JSON summary of any kmodel file
"""

import struct
from pathlib import Path

from picoface.errors import PicofaceError

# 'KMDL' as a little-endian u32 multi-char constant: the bytes on disk read "LDMK".
KMDL_IDENTIFIER = 0x4B4D444C

# Sipeed's stock MaixPy face model (facedetect.kmodel, ../shared/anchors/SOURCE.md): the anchors
# its demo passes to kpu.init_yolo2 (w, h pairs in grid cells of its 20x15 output). The one copy:
# the bench's stock row, `kmodel run` on a 5-anchor model without model.json, and the tests use it.
MAIXPY_FACE_ANCHORS = (1.889, 2.5245, 2.9465, 3.94056, 3.99987, 5.3658, 5.155437, 6.92275, 6.718375, 9.01025)
MAIXPY_FACE_ANCHOR_PAIRS = [list(MAIXPY_FACE_ANCHORS[i:i + 2]) for i in range(0, len(MAIXPY_FACE_ANCHORS), 2)]


def detect_version(data):
    """Return 3, 4 or 5 for a kmodel's bytes; raise PicofaceError for anything else."""
    data = bytes(data[:16])
    if len(data) >= 12:
        first, second, third = struct.unpack_from("<III", data, 0)
        if first == 3 and third == 0:
            return 3
        if first == KMDL_IDENTIFIER and second in (4, 5):
            return second
        if first == KMDL_IDENTIFIER:
            raise PicofaceError(
                "unsupported kmodel container version %d (magic 'KMDL')" % second,
                "picoface reads kmodel v3, v4 and v5 only",
            )
    raise PicofaceError(
        "not a kmodel (first bytes %s)" % (data[:8].hex(" ") or "<empty>"),
        "expected a v3 header (u32 3, flags, arch 0) or the 'KMDL' magic of v4/v5; check the file",
    )


def read_file(path):
    """Read a kmodel file's bytes with a clear error for a missing/unreadable path. The header is
    checked first (``detect_version``): a file that is no kmodel is refused after 16 bytes, not
    after reading all of it."""
    p = Path(path)
    try:
        with open(p, "rb") as f:
            head = f.read(16)
            detect_version(head)
            return head + f.read()
    except FileNotFoundError:
        raise PicofaceError("kmodel file %s does not exist" % p, "check the path") from None
    except IsADirectoryError:
        raise PicofaceError("%s is a directory, not a kmodel file" % p, "pass the .kmodel file") from None
    except OSError as e:
        raise PicofaceError("cannot read %s (%s)" % (p, e.strerror or e), "check permissions") from None


def load(path_or_bytes):
    """Load a v3 kmodel from a path or bytes into a ``v3.Model`` (v4/v5 raise PicofaceError)."""
    from picoface.kmodel import v3

    data = path_or_bytes if isinstance(path_or_bytes, (bytes, bytearray, memoryview)) else read_file(path_or_bytes)
    ver = detect_version(data)
    if ver != 3:
        raise PicofaceError(
            "this is a kmodel v%d file; picoface edits v3 and emulates v3 (and pure-KPU v4) files" % ver,
            "convert the model to v3 (`picoface kmodel convert`) or use a v3 model",
        )
    return v3.parse(data)
