# Picks the hardware layer (HAL) of the firmware this board runs.
#
# select(cfg) probes hal_maixpy, hal_canmv, hal_openmv in that order (each probe() only tries
# the firmware's imports), builds the first that matches and calls its init(cfg), so the app
# gets a ready HAL whose .info names the firmware generation for the hello line.
#
# Every HAL (docs/ARCHITECTURE.md section 6) has:
#   init(cfg) -> info dict      camera, LCD, LED, watchdog; camera faults are retried later
#   load_model() -> info dict   (re)load the model of cfg["model"]; raises on failure
#   snapshot() -> img           one camera frame (raises on camera faults)
#   infer(img) -> faces         [[x, y, w, h, score], ...] in camera pixels, best first
#   show(img, faces, fps, message=None)   LCD (or frame buffer); img None -> message only
#   signal(state)               LED: "face" (green), "idle" (off), "error" (red)
#   send(line)                  one protocol line to the serial port
#   read_input() -> bytes       what the host sent since the last call (b"" when nothing), never waits
#   feed()                      watchdog
#   model_hash() -> hex         sha256 of the model bytes on the board (flash or file), for hello

FAMILIES = ("hal_maixpy", "hal_canmv", "hal_openmv")


def probe():
    """Name of the first HAL module whose firmware is present, or None."""
    for name in FAMILIES:
        try:
            mod = __import__(name)
        except ImportError:
            continue
        if mod.probe():
            return name
    return None


def select(cfg):
    name = probe()
    if name is None:
        raise OSError("no supported firmware (MaixPy, CanMV or OpenMV) found")
    h = __import__(name).Hal()
    h.init(cfg)
    return h
