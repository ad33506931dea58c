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
#   infer(img) -> faces         [[x, y, w, h, score], ...] in camera pixels, best first; with a model
#                               of more than one class (cfg model.classes > 1) [x, y, w, h, score, class]
#                               (the class index, from every firmware path: docs/firmware.md
#                               "Detector classes"; NMS ignores the class)
#   show(img, faces, fps, message=None)   LCD (or frame buffer); img None -> message only; a face
#                               with a class in its class colour with its label (pfcore.signals.box)
#   signal(state)               LED: pfcore.signals (face/known green, stranger red+blue, enrol blue, error red,
#                               idle off; "class:<label>" the class colour)
#   send(line)                  one protocol line to the serial port
#   read_input() -> bytes       what the host sent since the last call (b"" when nothing), never waits
#   feed()                      watchdog
#   model_hash() -> hex         sha256 of the model bytes on the board (flash or file), for hello
#   pressed() -> bool           True once per press of the board's button (pfcore.button: edge,
#                               50 ms debounce), never waits, never raises; False on boards without
#                               one (docs/firmware.md, "The button")
# and for mode "recognise" (docs/firmware.md, "`mode: recognise`"):
#   load_recog()                (re)load the landmark and embedding nets of cfg["recog"]; raises on failure
#   landmarks(img, roi) -> flat the landmark net's output map for the frame region roi (x, y, w, h)
#   embed(img, m) -> flat       the embedding net's output map for the 64x64 face warped by m (2x3)
#   recog_chw                   True when those maps are planar (channel, position), False when
#                               position-major (HWC)

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


class Base:
    """What every HAL family shares. _open_button() -> a function giving True while the button is
    held, or None (this base: no button); the family HALs open their firmware's pin there."""

    def _draw_faces(self, img, faces, **text):
        # each face's box, in its class colour with its label above it for a multi-class model
        # (pfcore.signals.box); ``text``: the firmware's extra draw_string arguments
        from pfcore import signals
        labels = self.cfg["model"].get("labels")
        for f in faces:
            c, label = signals.box(f, labels)
            img.draw_rectangle(int(f[0]), int(f[1]), int(f[2]), int(f[3]), color=c, thickness=2)
            if label is not None:
                img.draw_string(int(f[0]), max(0, int(f[1]) - 12), label, color=c, **text)

    def pressed(self):
        b = getattr(self, "_button", None)
        if b is None:
            from pfcore import button, compat
            b = self._button = button.Button(self._open_button, compat.ticks_ms)
        return b.pressed()

    def _open_button(self):
        return None

    # mode recognise: the family HALs that can run the nets override these
    recog_chw = False

    def _recog_paths(self):
        r = self.cfg["recog"]
        for k in ("landmarks_path", "embed_path", "input"):
            if k not in r:
                raise ValueError("config recog lacks %s" % k)
        return r["landmarks_path"], r["embed_path"]

    def load_recog(self):
        raise OSError("mode recognise is not supported on %s" % getattr(self, "firmware", "this firmware"))

    def landmarks(self, img, roi):
        raise OSError("mode recognise is not supported on %s" % getattr(self, "firmware", "this firmware"))

    def embed(self, img, m):
        raise OSError("mode recognise is not supported on %s" % getattr(self, "firmware", "this firmware"))
