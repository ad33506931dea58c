"""How a camera frame becomes the net input ("fit"), and how net boxes map back.

Modes:
  stretch    the whole frame is resized to the net size (aspect ratio not kept)
  crop       the centred largest rectangle with the net's aspect ratio is cut out and resized
  letterbox  the whole frame is resized uniformly to fit inside the net and centred; the rest
             of the net input is padding (content_rect() says where the image lies)
All sizes are integers (rounded half up), so host preprocessing and device agree exactly.
"""

MODES = ("stretch", "crop", "letterbox")


def _clip(v, hi):
    if v < 0.0:
        return 0.0
    if v > hi:
        return float(hi)
    return v


def _div_round(a, b):
    return (2 * a + b) // (2 * b)


class Fit:
    def __init__(self, cam_w, cam_h, net_w, net_h, mode="stretch"):
        if mode not in MODES:
            raise ValueError("fit mode must be one of %s, not %r" % (", ".join(MODES), mode))
        if cam_w <= 0 or cam_h <= 0 or net_w <= 0 or net_h <= 0:
            raise ValueError("sizes must be positive")
        self.cam_w = cam_w
        self.cam_h = cam_h
        self.net_w = net_w
        self.net_h = net_h
        self.mode = mode
        self.net_size = (net_w, net_h)
        rect = (0, 0, cam_w, cam_h)          # camera pixels fed to the net
        content = (0, 0, net_w, net_h)       # where they land in the net input
        wider = cam_w * net_h > cam_h * net_w
        if mode == "crop":
            if wider:
                w = _div_round(cam_h * net_w, net_h)
                rect = ((cam_w - w) // 2, 0, w, cam_h)
            else:
                h = _div_round(cam_w * net_h, net_w)
                rect = (0, (cam_h - h) // 2, cam_w, h)
        elif mode == "letterbox":
            if wider:
                h = max(1, _div_round(cam_h * net_w, cam_w))
                content = (0, (net_h - h) // 2, net_w, h)
            else:
                w = max(1, _div_round(cam_w * net_h, cam_h))
                content = ((net_w - w) // 2, 0, w, net_h)
        self._rect = rect
        self._content = content
        # camera x = bx + ax * normalised net x (same for y)
        kx = rect[2] / content[2]
        ky = rect[3] / content[3]
        self.ax = net_w * kx
        self.ay = net_h * ky
        self.bx = rect[0] - content[0] * kx
        self.by = rect[1] - content[1] * ky

    def cam_rect(self):
        """(x, y, w, h): the camera rectangle fed to the net."""
        return self._rect

    def content_rect(self):
        """(x, y, w, h) in net pixels where cam_rect() is drawn (the rest is padding)."""
        return self._content

    def net_to_cam(self, box):
        """Normalised centre box [cx, cy, w, h, ...] -> camera pixels [x, y, w, h], clipped."""
        hw = box[2] * 0.5
        hh = box[3] * 0.5
        x1 = self.bx + (box[0] - hw) * self.ax
        x2 = self.bx + (box[0] + hw) * self.ax
        y1 = self.by + (box[1] - hh) * self.ay
        y2 = self.by + (box[1] + hh) * self.ay
        cw = self.cam_w
        ch = self.cam_h
        x1 = _clip(x1, cw)
        x2 = _clip(x2, cw)
        y1 = _clip(y1, ch)
        y2 = _clip(y2, ch)
        w = x2 - x1
        h = y2 - y1
        if not (w > 0.0):
            w = 0.0
        if not (h > 0.0):
            h = 0.0
        return [x1, y1, w, h]

    def cam_to_net(self, box):
        """Camera-pixel [x, y, w, h] -> normalised centre box [cx, cy, w, h] (not clipped)."""
        return [(box[0] + box[2] * 0.5 - self.bx) / self.ax,
                (box[1] + box[3] * 0.5 - self.by) / self.ay,
                box[2] / self.ax, box[3] / self.ay]

    def map(self, dets):
        """[[cx, cy, w, h, score, ...], ...] normalised -> [[x, y, w, h, score, ...], ...]
        camera pixels (items after the score, such as a class index, kept as they are); boxes
        left with no area after clipping are dropped."""
        out = []
        for d in dets:
            b = self.net_to_cam(d)
            if b[2] > 0.0 and b[3] > 0.0:
                for k in range(4, len(d)):
                    b.append(d[k])
                out.append(b)
        return out
