"""Camera sources for the simulator: each yields RGB uint8 HxWx3 frames.

``open_source(spec, size=(w, h), frames=None)`` understands:

- ``webcam`` or ``webcam:N``  OpenCV capture device N (default 0)
- a video file                any container OpenCV reads (.mp4, .avi, ...)
- a folder of images          sorted by name, one frame per file (.jpg .jpeg .png .bmp); a file
                              that does not decode, or a JPEG cut short, is skipped (``skipped``,
                              and ``on_skip(path, reason)`` once per file)
- ``builtin``                 a moving scene made at run time from a photo that ships inside
                              an installed package (matplotlib's sample grace_hopper.jpg); no
                              third-party photo lives in this repository.

With ``size`` every frame is centre-cropped to that aspect ratio and resized, so faces keep
their shape. ``frames`` caps the count; the builtin scene and image folders are finite only when
capped or (folders) by their file count, video files end with the file, webcams never do.
"""

import math
import os
from pathlib import Path

import numpy as np

from picoface.errors import PicofaceError

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".webp")

# The builtin scene's photo: (module, relative path, face box x, y, w, h in its pixels).
# The face box of grace_hopper.jpg (512x600) was measured once by eye: brow to chin, ear to ear.
BUILTIN_PHOTO = ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg", (176, 168, 184, 214))


def _cv2():
    import cv2  # opencv-python-headless; imported lazily so `picoface monitor` never needs it

    return cv2


def fit_frame(rgb, size):
    """Centre-crop ``rgb`` to the aspect ratio of ``size`` (w, h) and resize to it."""
    if size is None:
        return np.ascontiguousarray(rgb)
    w, h = int(size[0]), int(size[1])
    ih, iw = rgb.shape[:2]
    if (iw, ih) == (w, h):
        return np.ascontiguousarray(rgb)
    scale = max(w / iw, h / ih)
    cw, ch = min(iw, int(round(w / scale))), min(ih, int(round(h / scale)))
    x0, y0 = (iw - cw) // 2, (ih - ch) // 2
    crop = rgb[y0:y0 + ch, x0:x0 + cw]
    cv2 = _cv2()
    interp = cv2.INTER_AREA if cw > w else cv2.INTER_LINEAR
    return np.ascontiguousarray(cv2.resize(crop, (w, h), interpolation=interp))


class Source:
    """Iterable of frames; ``name`` says what it is, ``close()`` frees devices."""

    name = "source"

    def __init__(self, size=None, frames=None):
        self.size = size
        self.frames = frames

    def _raw(self):  # pragma: no cover - overridden
        raise NotImplementedError

    def __iter__(self):
        n = 0
        try:
            for rgb in self._raw():
                if self.frames is not None and n >= self.frames:
                    break
                yield fit_frame(rgb, self.size)
                n += 1
        finally:
            self.close()

    def close(self):
        pass


class CaptureSource(Source):
    """An OpenCV VideoCapture: a webcam index or a video file."""

    def __init__(self, target, size=None, frames=None):
        super().__init__(size, frames)
        self.target = target
        self.name = ("webcam:%d" % target) if isinstance(target, int) else str(target)
        self._cap = None

    def _open(self):
        cv2 = _cv2()
        cap = cv2.VideoCapture(self.target)
        if not cap.isOpened():
            cap.release()
            if isinstance(self.target, int):
                raise PicofaceError("cannot open webcam %d" % self.target,
                                    "check it is plugged in and not used by another program, or use --source builtin")
            raise PicofaceError("cannot read video %s" % self.target, "check the file (OpenCV must know its codec)")
        if isinstance(self.target, int) and self.size:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.size[0])
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.size[1])
        return cap

    def _raw(self):
        cv2 = _cv2()
        self._cap = self._open()
        got = 0
        while True:
            ok, bgr = self._cap.read()
            if not ok:
                if got == 0:
                    raise PicofaceError("%s gave no frames" % self.name, "check the camera or the video file")
                return
            got += 1
            yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def close(self):
        if self._cap is not None:
            self._cap.release()
            self._cap = None


def jpeg_cut_short(data):
    """True when JPEG bytes end before their last scan does: no end-of-image marker (FF D9) after
    the last start-of-scan (FF DA). Bytes after the end marker (camera trailers) are fine. Inside
    a scan every FF data byte is stuffed (FF 00), so both markers are unambiguous there."""
    sos = data.rfind(b"\xff\xda")
    return sos < 0 or data.rfind(b"\xff\xd9") < sos


def read_frame(path):
    """(RGB uint8 image, None) or (None, why not) for one image file."""
    cv2 = _cv2()
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        return None, "cannot read it (%s)" % (e.strerror or e)
    if not data:
        return None, "empty file"
    if data[:2] == b"\xff\xd8" and jpeg_cut_short(data):  # checked first: libjpeg would decode the rest grey
        return None, "truncated JPEG (no end-of-image marker after its last scan)"
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        return None, "not a decodable image"
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), None


class FolderSource(Source):
    """Every image in a folder, sorted by file name, one frame each. A file that does not give an
    image is skipped: ``skipped`` lists ``(path, reason)`` and ``on_skip(path, reason)`` is called
    once per file (the first time round when looping)."""

    def __init__(self, folder, size=None, frames=None, loop=False, on_skip=None):
        super().__init__(size, frames)
        self.folder = Path(folder)
        self.name = str(folder)
        self.loop = loop
        self.on_skip = on_skip
        self.skipped = []
        self.files = sorted(p for p in self.folder.iterdir() if p.suffix.lower() in IMAGE_EXTS)
        if not self.files:
            raise PicofaceError("no images in %s" % folder, "put .jpg/.png files there, or pick another --source")

    def _raw(self):
        bad = set()
        while True:
            for p in self.files:
                if p in bad:
                    continue
                rgb, why = read_frame(p)
                if rgb is None:
                    bad.add(p)
                    self.skipped.append((p, why))
                    if self.on_skip is not None:
                        self.on_skip(p, why)
                    continue
                yield rgb
            if not self.loop or len(bad) == len(self.files):
                return


def builtin_photo():
    """(RGB image, face box xywh) of the photo the builtin scene is made from."""
    import importlib.util

    module, rel, box = BUILTIN_PHOTO
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise PicofaceError("the builtin scene needs %s installed" % module, "run `make setup`, or pass --source")
    path = Path(list(spec.submodule_search_locations)[0]) / rel
    cv2 = _cv2()
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise PicofaceError("sample photo %s is missing" % path, "reinstall %s or pass --source" % module)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), box


class BuiltinScene(Source):
    """A room in which two people walk in, cross and leave, with empty stretches between.

    One cycle is ``period`` frames (default 120): empty, person A walks in from the left and
    crosses (growing as she comes closer), person B (mirrored, smaller) appears on the right
    for a while, both leave, empty again. So the app sees faces appear and vanish and reports
    enter/leave events. ``truth(i)`` gives the face boxes (xywh, camera pixels) of frame ``i``.
    The scene is deterministic: same ``seed`` and size, same pixels.
    """

    name = "builtin"

    def __init__(self, size=(320, 240), frames=None, period=120, seed=0, noise=2.0):
        super().__init__(None, frames)
        self.w, self.h = int(size[0]), int(size[1])
        self.period = int(period)
        self.noise = float(noise)
        self.rng = np.random.default_rng(seed)
        photo, face = builtin_photo()
        self._card, self._alpha, self._face = self._make_card(photo, face)
        self._bg = self._background()
        self._noise_bank = None

    # -- assets ---------------------------------------------------------------------------------
    @staticmethod
    def _make_card(photo, face):
        """Head-and-shoulders cut of the photo with a soft elliptical alpha mask."""
        fx, fy, fw, fh = face
        ih, iw = photo.shape[:2]
        x0, x1 = max(0, int(fx - 0.55 * fw)), min(iw, int(fx + 1.55 * fw))
        y0, y1 = max(0, int(fy - 0.45 * fh)), min(ih, int(fy + 1.6 * fh))
        card = photo[y0:y1, x0:x1].astype(np.float32)
        ch, cw = card.shape[:2]
        yy, xx = np.mgrid[0:ch, 0:cw].astype(np.float32)
        cx, cy = (fx + fw / 2 - x0), (fy + fh / 2 - y0 + 0.25 * fh)
        rx, ry = 0.5 * cw, 0.62 * ch
        d = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2
        alpha = np.clip((1.0 - d) / 0.25, 0.0, 1.0)[..., None]
        return card, alpha, (fx - x0, fy - y0, fw, fh)

    def _background(self):
        w, h = self.w, self.h
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        wall = np.stack([150 + 40 * xx / w, 160 + 20 * yy / h, 140 + 30 * (1 - xx / w)], -1)
        floor_y = int(h * 0.78)
        wall[floor_y:] = np.array([110, 90, 70], np.float32) * (0.8 + 0.2 * (yy[floor_y:, :, None] / h))
        # a window and a door frame, so the detector has edges that are not faces
        wall[int(h * .12):int(h * .45), int(w * .62):int(w * .9)] = (200, 220, 240)
        wall[int(h * .12):int(h * .45), int(w * .755):int(w * .765)] = (90, 80, 70)
        wall[int(h * .2):floor_y, int(w * .05):int(w * .2)] = (120, 95, 70)
        return wall

    # -- layout -----------------------------------------------------------------------------------
    def people(self, i):
        """[(card face height px, face centre x, face centre y, mirrored), ...] at frame ``i``."""
        t = (i % self.period) / self.period
        w, h = self.w, self.h
        out = []
        # A walks in at 12 % of the cycle, crosses, and is gone by 80 %.
        if 0.12 <= t < 0.80:
            u = (t - 0.12) / 0.68
            fh = h * (0.30 + 0.18 * math.sin(math.pi * u))
            out.append((fh, -0.15 * w + 1.3 * w * u, 0.42 * h + 0.03 * h * math.sin(6 * math.pi * u), False))
        # B shows up on the right between 22 % and 45 % and bobs a little.
        if 0.22 <= t < 0.45:
            u = (t - 0.22) / 0.23
            out.append((0.26 * h, 0.86 * w - 0.04 * w * u, 0.38 * h + 0.02 * h * math.sin(4 * math.pi * u), True))
        return out

    def _layers(self, i):
        """[(x, y, card, alpha, face box xywh), ...] back to front for frame ``i``."""
        cv2 = _cv2()
        card_h, card_w = self._card.shape[:2]
        fx, fy, fw, ffh = self._face
        out = []
        for fh, cx, cy, mirror in sorted(self.people(i), key=lambda p: p[0]):  # nearer (bigger) on top
            s = fh / ffh
            cw, ch = max(2, int(round(card_w * s))), max(2, int(round(card_h * s)))
            card = cv2.resize(self._card, (cw, ch), interpolation=cv2.INTER_AREA)
            alpha = cv2.resize(self._alpha, (cw, ch), interpolation=cv2.INTER_AREA).reshape(ch, cw, 1)
            if mirror:
                card, alpha = card[:, ::-1], alpha[:, ::-1]
            x = int(round(cx - (fx + fw / 2) * s))
            y = int(round(cy - (fy + ffh / 2) * s))
            out.append((x, y, card, alpha, (cx - fw * s / 2, cy - fh / 2, fw * s, fh)))
        return out

    def _paste(self, img, x, y, src):
        """Region of ``img`` and of ``src`` that overlap when ``src`` is put at (x, y)."""
        ch, cw = src.shape[:2]
        dx0, dy0, dx1, dy1 = max(0, x), max(0, y), min(self.w, x + cw), min(self.h, y + ch)
        if dx1 <= dx0 or dy1 <= dy0:
            return None, None
        sx0, sy0 = dx0 - x, dy0 - y
        return (slice(dy0, dy1), slice(dx0, dx1)), (slice(sy0, sy0 + dy1 - dy0), slice(sx0, sx0 + dx1 - dx0))

    def truth(self, i):
        """Face boxes [x, y, w, h] of frame ``i``: clipped to the frame, kept when at least half
        of the face is inside the frame and not hidden behind a nearer person."""
        layers = self._layers(i)
        cover = np.zeros((self.h, self.w), np.float32)  # alpha of everything drawn later
        boxes = []
        for x, y, card, alpha, (bx, by, bw, bh) in reversed(layers):
            x0, y0 = max(0, int(round(bx))), max(0, int(round(by)))
            x1, y1 = min(self.w, int(round(bx + bw))), min(self.h, int(round(by + bh)))
            if x1 > x0 and y1 > y0:
                visible = float(np.sum(1.0 - cover[y0:y1, x0:x1]))
                if visible >= 0.5 * bw * bh:
                    boxes.append([x0, y0, x1 - x0, y1 - y0])
            dst, src = self._paste(cover, x, y, alpha)
            if dst is not None:
                cover[dst] = np.maximum(cover[dst], alpha[src][..., 0])
        boxes.reverse()
        return np.asarray(boxes, np.float32).reshape(-1, 4)

    def render(self, i):
        img = self._bg.copy()
        for x, y, card, alpha, _ in self._layers(i):
            dst, src = self._paste(img, x, y, card)
            if dst is None:
                continue
            a = alpha[src]
            img[dst] = img[dst] * (1 - a) + card[src] * a
        if self.noise:
            # sensor noise from a small bank of precomputed fields (cheap, still deterministic)
            if self._noise_bank is None:
                self._noise_bank = [self.rng.normal(0.0, self.noise, img.shape).astype(np.float32) for _ in range(8)]
            img += self._noise_bank[int(self.rng.integers(len(self._noise_bank)))]
        return np.clip(img, 0, 255).astype(np.uint8)

    def _raw(self):
        i = 0
        while True:
            yield self.render(i)
            i += 1


def open_source(spec, size=None, frames=None, seed=0, on_skip=None):
    """A Source from a --source string (see the module docstring); ``on_skip(path, reason)``: a
    folder's unreadable files."""
    spec = str(spec or "builtin")
    if spec == "builtin":
        return BuiltinScene(size=size or (320, 240), frames=frames, seed=seed)
    if spec == "webcam" or spec.startswith("webcam:"):
        idx = spec.partition(":")[2] or "0"
        if not idx.isdigit():
            raise PicofaceError("bad webcam index in %r" % spec, "use webcam or webcam:N (N = 0, 1, ...)")
        return CaptureSource(int(idx), size=size, frames=frames)
    p = Path(os.path.expanduser(spec))
    if p.is_dir():
        return FolderSource(p, size=size, frames=frames, on_skip=on_skip)
    if p.is_file():
        if p.suffix.lower() in IMAGE_EXTS:
            raise PicofaceError("%s is a single image" % p, "put it in a folder and pass the folder as --source")
        return CaptureSource(str(p), size=size, frames=frames)
    raise PicofaceError("camera source %r not found" % spec,
                        "use webcam[:N], a video file, a folder of images, or builtin")
