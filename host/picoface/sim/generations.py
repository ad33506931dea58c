"""The firmware generations the simulator runs the app on: one record per generation, named by the
release whose source it mirrors (docs/firmware.md, "Firmware matrix", has every call with its source).

A generation is data: its family, the releases it stands for, the tag its source was read at, and
the features that differ between generations of its family. The fake firmware modules
(``picoface/sim/fakes/``) read the features of the running generation (``World.fw``) and behave
accordingly; there is one set of fakes per family, never one copy per generation. Two releases
whose source is the same for every call the app makes share one generation (the matrix says so).

Features (only what differs between generations of a family, each from the firmware's source):

maixpy / canmv (K210)
    ``wdt``                machine.WDT exists (MaixPy: machine_wdt.c and its entry in modmachine.c
                           arrive in v0.5.1)
    ``flash_read``         Maix.utils.flash_read exists (MaixPy Maix_utils.c, from v0.5.1)
    ``fmap_size_extra``    bytes kpu_fmap.size() reports beyond the output (MaixPy v0.5.0
                           Maix_kpu.c:1202 ``count + 1``; 0 from v0.5.1)
    ``forward_dma``        kpu.forward takes ``dma=`` (MaixPy from v0.5.1)
    ``sha256_length``      uhashlib.sha256 tells the K210 SHA engine the running length on every
                           update (MaixPy commit a4c31bece "fix sha256 bug", first in v0.6.0; before
                           it the engine is initialised for 0xffffffff bytes and its 16-bit block
                           count is wrong for any input longer than one block)
    ``uname_version``      uos.uname().version (MaixPy/CanMV moduos.c: MICROPY_GIT_TAG " on " date)
openmv
    ``camera``             "sensor": the sensor module only; "csi-module": csi is the sensor
                           module's API under a second name (v4.6.0 - v4.7.0, no CSI class);
                           "csi-class": csi.CSI() objects (v4.8.0+), sensor still registered
    ``model``              "tf" (tf.load / tf.classify / tf.segment, <= v4.5.5) or "ml"
    ``raw_to_postprocess`` ml: a post-processor (callback= or Model(postprocess=)) gets the raw
                           tensor in the model's dtype (v4.8.0+); before, the dequantised floats
    ``postprocess_kw``     ml.Model(postprocess=) reaches the C model (v4.8.0+; ignored before)
    ``postprocessing``     None, "module" (ml/postprocessing.py, v4.6.0 - v4.7.0) or "package"
                           (ml.postprocessing.<vendor>, v4.8.0+: darknet.YoloV2)
"""

from picoface.errors import PicofaceError


class Generation:
    def __init__(self, name, family, releases, source, features, banner=()):
        self.name = name
        self.family = family
        self.releases = releases       # the releases this generation stands for (same source)
        self.source = source           # repo@tag the features were read at
        self.features = dict(features)
        self.banner = tuple(banner)    # what the firmware prints on its serial port at boot

    def __getitem__(self, key):
        return self.features[key]

    def __repr__(self):
        return "<firmware generation %s>" % self.name


def _k210(version, date, board):
    return "MicroPython %s on %s; %s with kendryte-k210" % (version, date, board)


# Oldest first within a family: the last of a family is its default (the newest).
GENERATIONS = (
    Generation("maixpy-0.5.0", "maixpy", "v0.5.0", "sipeed/MaixPy-v1@v0.5.0",
               dict(wdt=False, flash_read=False, fmap_size_extra=1, forward_dma=False, sha256_length=False,
                    uname_version="v0.5.0 on 2019-11-29"),
               banner=("[MaixPy] init end", _k210("v0.5.0", "2019-11-29", "Sipeed_M1"))),
    Generation("maixpy-0.5.1", "maixpy", "v0.5.1", "sipeed/MaixPy-v1@v0.5.1",
               dict(wdt=True, flash_read=True, fmap_size_extra=0, forward_dma=True, sha256_length=False,
                    uname_version="v0.5.1 on 2020-08-19"),
               banner=("[MaixPy] init end", _k210("v0.5.1", "2020-08-19", "Sipeed_M1"))),
    Generation("maixpy-0.6.2", "maixpy", "v0.6.0 - v0.6.3", "sipeed/MaixPy-v1@v0.6.2",
               dict(wdt=True, flash_read=True, fmap_size_extra=0, forward_dma=True, sha256_length=True,
                    uname_version="v0.6.2 on 2020-12-16"),
               banner=("[MaixPy] init end", _k210("v0.6.2", "2020-12-16", "Sipeed_M1"))),
    Generation("canmv-1.0.7", "canmv", "v1.0.4 - v1.0.7", "kendryte/canmv@v1.0.7",
               dict(wdt=True, flash_read=True, fmap_size_extra=0, forward_dma=True, sha256_length=True,
                    uname_version="v1.0.7 on 2024-04-10"),
               banner=("[CanMV] init end", _k210("v1.0.7", "2024-04-10", "CanMV_Board"))),
    Generation("openmv-tf-4.5.5", "openmv", "<= v4.5.5", "openmv/openmv@v4.5.5",
               dict(camera="sensor", model="tf", raw_to_postprocess=False, postprocess_kw=False,
                    postprocessing=None)),
    Generation("openmv-ml-4.5.9", "openmv", "v4.5.6 - v4.5.9", "openmv/openmv@v4.5.9",
               dict(camera="sensor", model="ml", raw_to_postprocess=False, postprocess_kw=False,
                    postprocessing=None)),
    Generation("openmv-ml-4.7.0", "openmv", "v4.6.0 - v4.7.0", "openmv/openmv@v4.7.0",
               dict(camera="csi-module", model="ml", raw_to_postprocess=False, postprocess_kw=False,
                    postprocessing="module")),
    Generation("openmv-ml-4.8.0", "openmv", "v4.8.0 - v5.0.0", "openmv/openmv@v4.8.0",
               dict(camera="csi-class", model="ml", raw_to_postprocess=True, postprocess_kw=True,
                    postprocessing="package")),
)

FAMILIES = ("maixpy", "canmv", "openmv")
_BY_NAME = {g.name: g for g in GENERATIONS}


def names():
    return [g.name for g in GENERATIONS]


def of_family(family):
    return [g for g in GENERATIONS if g.family == family]


def default(family):
    """The newest generation of a family."""
    gens = of_family(family)
    if not gens:
        raise ValueError("unknown firmware family %r" % (family,))
    return gens[-1]


def get(name):
    """The generation called ``name``; a family name gives its newest. ValueError if unknown."""
    if name in _BY_NAME:
        return _BY_NAME[name]
    if name in FAMILIES:
        return default(name)
    raise ValueError("unknown firmware generation %r" % (name,))


def for_board(board, firmware=None):
    """The generation to simulate ``board`` with: ``firmware`` is a generation name, a family name
    (its newest generation) or None (the newest generation of the board's first family).
    PicofaceError when it is unknown or of a family the board does not run."""
    if firmware is None:
        return default(board.firmware[0])
    try:
        gen = get(firmware)
    except ValueError:
        raise PicofaceError("unknown firmware %r" % (firmware,),
                            "use one of: " + ", ".join(g.name for g in GENERATIONS if g.family in board.firmware)
                            + " (picoface sim --firmware list)") from None
    if gen.family not in board.firmware:
        raise PicofaceError("board %s does not run %s firmware (%s)" % (board.name, gen.family, gen.name),
                            "use one of: " + ", ".join(g.name for g in GENERATIONS if g.family in board.firmware))
    return gen
