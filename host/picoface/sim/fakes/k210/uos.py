"""Fake K210 `uos`: /flash and /sd map to the World's folders; uname() as moduos.c builds it
(sipeed/MaixPy-v1@v0.6.2 components/micropython/port/src/standard_lib/uos/moduos.c:62-86: release
MICROPY_VERSION_STRING, version MICROPY_GIT_TAG " on " MICROPY_BUILD_DATE, machine
MICROPY_HW_BOARD_NAME " with " MICROPY_HW_MCU_NAME); the version per generation."""
from collections import namedtuple as _nt

from picoface.sim.fakes._common import W, listdir, stat  # noqa: F401

_Uname = _nt("uname_result", "sysname nodename release version machine")


def uname():
    # sysname/nodename MICROPY_PY_SYS_PLATFORM, machine MICROPY_HW_BOARD_NAME (MaixPy v0.6.2
    # include/mpconfigport.h:434-436; CanMV v1.0.7 :459-461)
    fw = W().fw
    platform, board = ("CanMV", "CanMV_Board") if fw.family == "canmv" else ("MaixPy", "Sipeed_M1")
    return _Uname(platform, platform, "1.11.0", fw["uname_version"], board + " with kendryte-k210")
