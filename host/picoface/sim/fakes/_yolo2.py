"""The K210 firmwares' YOLOv2 region layer, re-implemented from its C semantics
(MaixPy sipeed_yolo2.c / CanMV yolo2_region_layer.c, KMODEL.md §1.5), independently of
pfcore.region so that tests compare two decoders.

C behaviour kept on purpose:
- input is float32 CHW; entry (a, e) of cell i sits at ``(a*(coords+1+classes) + e)*W*H + i``;
- ``classes = channels/5 - 5`` (the C code assumes 5 anchors whatever anchor_num says);
- sigmoid on tx, ty, obj; softmax over the class entries; prob = obj * class prob, zeroed when
  not > threshold;
- boxes in float32 arithmetic; NMS per class: sort by prob descending, zero any later box whose
  centre-form IoU > nms_value;
- output rectangles: x1 = x*img_w - w*img_w/2 converted to uint32 (the RISC-V conversion
  saturates negatives to 0, truncates toward zero), w = x2 - x1 (no clipping on the right).

Where the C code overflows or reads out of bounds (boards/firmware.toml via picoface.firmware), the
fakes call ``region_boxes`` / ``results`` / ``output_size`` below at the call where the firmware
would: they raise ``picoface.sim.world.FirmwareFault`` (the board would corrupt memory silently).
"""

import math

import numpy as np

f32 = np.float32


def _sigmoid(v):
    return f32(1.0) / (f32(1.0) + f32(math.exp(-float(v))))


def _u32(v):
    v = float(v)
    if v != v or v <= 0:
        return 0
    return min(int(v), 0xFFFFFFFF)


class RegionLayer:
    def __init__(self, anchors, anchor_num, threshold, nms_value, layer_w, layer_h, channels,
                 img_w, img_h, net_w=None, net_h=None):
        self.anchor_num = int(anchor_num)
        self.anchors = [f32(a) for a in anchors]
        if len(self.anchors) < 2 * self.anchor_num:
            raise ValueError("anchor list shorter than 2*anchor_num")
        self.threshold = f32(threshold)
        self.nms_value = f32(nms_value)
        self.lw, self.lh = int(layer_w), int(layer_h)
        self.classes = int(channels) // 5 - 5
        self.coords = 4
        self.img_w, self.img_h = int(img_w), int(img_h)
        self.net_w = int(net_w if net_w is not None else img_w)
        self.net_h = int(net_h if net_h is not None else img_h)

    def _index(self, n, entry, loc):
        wh = self.lw * self.lh
        return n * wh * (self.coords + self.classes + 1) + entry * wh + loc

    def run(self, output):
        """output: flat float32 CHW -> list of (x, y, w, h, class, prob) as the C code returns
        (boxes indexed anchor-major: index = anchor*W*H + cell, the C output order)."""
        wh = self.lw * self.lh
        ne = self.coords + 1 + self.classes
        x = np.asarray(output, dtype=f32).reshape(-1)[:self.anchor_num * ne * wh]
        x = x.reshape(self.anchor_num, ne, wh)
        one = f32(1.0)
        sig = lambda v: one / (one + np.exp(-v, dtype=f32))  # noqa: E731  (float32 like expf)
        cell = np.arange(wh)
        col = (cell % self.lw).astype(f32)
        row = (cell // self.lw).astype(f32)
        aw = np.array(self.anchors[0:2 * self.anchor_num:2], f32)[:, None]
        ah = np.array(self.anchors[1:2 * self.anchor_num:2], f32)[:, None]
        bx = (col[None] + sig(x[:, 0])) / f32(self.lw)
        by = (row[None] + sig(x[:, 1])) / f32(self.lh)
        bw = np.exp(x[:, 2], dtype=f32) * aw / f32(self.lw)
        bh = np.exp(x[:, 3], dtype=f32) * ah / f32(self.lh)
        obj = sig(x[:, 4])
        nclass = self.classes if self.classes > 0 else 1
        if self.classes > 0:
            logits = x[:, 5:5 + self.classes]                      # A, C, wh
            e = np.exp(logits - logits.max(axis=1, keepdims=True), dtype=f32)
            cls = e / e.sum(axis=1, keepdims=True, dtype=f32)
            probs = obj[:, None] * cls                              # A, C, wh
            probs = np.where(probs > self.threshold, probs, f32(0))
        else:
            probs = obj[:, None]
        probs = probs.transpose(0, 2, 1).reshape(-1, nclass).astype(f32)    # boxes x classes
        boxes = [tuple(b) for b in np.stack([bx, by, bw, bh], axis=-1).reshape(-1, 4)]
        boxes = self._correct(boxes)
        self._nms(boxes, probs, nclass)
        out = []
        for i in np.nonzero(probs.max(axis=1) > self.threshold)[0]:
            c = int(np.argmax(probs[i][:max(1, self.classes)]))
            prob = probs[i][c]
            if prob > self.threshold:
                bx, by, bw, bh = boxes[i]
                x1 = _u32(bx * f32(self.img_w) - bw * f32(self.img_w) / f32(2))
                y1 = _u32(by * f32(self.img_h) - bh * f32(self.img_h) / f32(2))
                x2 = _u32(bx * f32(self.img_w) + bw * f32(self.img_w) / f32(2))
                y2 = _u32(by * f32(self.img_h) + bh * f32(self.img_h) / f32(2))
                out.append((x1, y1, (x2 - x1) & 0xFFFFFFFF, (y2 - y1) & 0xFFFFFFFF, c, float(prob)))
        return out

    def _correct(self, boxes):
        nw, nh, iw, ih = self.net_w, self.net_h, self.img_w, self.img_h
        if float(nw) / iw < float(nh) / ih:
            new_w, new_h = nw, (ih * nw) // iw
        else:
            new_h, new_w = nh, (iw * nh) // ih
        if new_w == nw and new_h == nh:
            return boxes
        out = []
        for bx, by, bw, bh in boxes:
            bx = (bx - f32((nw - new_w) / 2.0 / nw)) / f32(float(new_w) / nw)
            by = (by - f32((nh - new_h) / 2.0 / nh)) / f32(float(new_h) / nh)
            out.append((bx, by, bw * f32(float(nw) / new_w), bh * f32(float(nh) / new_h)))
        return out

    @staticmethod
    def _iou(a, b):
        def overlap(x1, w1, x2, w2):
            left = max(x1 - w1 / 2, x2 - w2 / 2)
            right = min(x1 + w1 / 2, x2 + w2 / 2)
            return right - left

        w = overlap(a[0], a[2], b[0], b[2])
        h = overlap(a[1], a[3], b[1], b[3])
        inter = f32(0) if (w < 0 or h < 0) else f32(w * h)
        union = a[2] * a[3] + b[2] * b[3] - inter
        return inter / union if union > 0 else f32(0)

    def _nms(self, boxes, probs, nclass):
        # Boxes whose prob is 0 neither suppress nor can be suppressed: only the rest matter.
        for k in range(nclass):
            live = [int(i) for i in np.nonzero(probs[:, k])[0]]
            order = sorted(live, key=lambda i: -float(probs[i][k]))
            for ii in range(len(order)):
                i = order[ii]
                if probs[i][k] == 0:
                    continue
                for jj in range(ii + 1, len(order)):
                    j = order[jj]
                    if self._iou(boxes[i], boxes[j]) > self.nms_value:
                        probs[j][k] = f32(0)


# ---- where the firmware fails (limits from boards/firmware.toml) ---------------------------------
CORRUPTS = "corrupts memory silently"
READS_OUT = "reads out of bounds, or decodes the wrong values"


def _fault(family, call, key, found, effect=CORRUPTS, todo=None):
    from picoface import firmware
    from picoface.sim.world import FirmwareFault

    fam = firmware.family(family)
    lim = fam.limits[key]
    raise FirmwareFault("%s %s: %s; on the board this %s: %s (%s)" % (fam.title, call, found, effect, lim.why,
                                                                     lim.source), limit=lim, todo=todo or lim.todo)


def region_boxes(family, call, layer_w, layer_h, anchor_num):
    """The region layer's stack array: layer_w x layer_h x anchor_num boxes at most."""
    from picoface import firmware

    lim = firmware.family(family).limits["region_boxes"]
    n = int(layer_w) * int(layer_h) * int(anchor_num)
    if n > lim.value:
        _fault(family, call, "region_boxes", "%s %dx%dx%d = %d, more than %d"
               % (lim.what, layer_w, layer_h, anchor_num, n, lim.value))


def results(family, call, n):
    """MaixPy's static obj_info_t: at most ``value`` boxes after NMS."""
    from picoface import firmware

    lim = firmware.family(family).limits["results"]
    if n > lim.value:
        _fault(family, call, "results", "%d %s, more than %d" % (n, lim.what, lim.value),
               todo="keep at most %d faces above the score threshold in the scene, or raise the threshold "
                    "(docs/firmware.md)" % lim.value)


def output_size(family, call, layer_w, layer_h, anchor_num, classes, values):
    """CanMV's init_yolo2 figures against the model's real output size."""
    want = int(layer_w) * int(layer_h) * int(anchor_num) * (int(classes) + 5)
    if want != values:
        _fault(family, call, "output_size", "init_yolo2(layer_w=%d, layer_h=%d, anchor_num=%d, classes=%d) makes the "
               "region layer read %dx%dx%d x (%d + 5) = %d values, the model outputs %d"
               % (layer_w, layer_h, anchor_num, classes, layer_w, layer_h, anchor_num, classes, want, values),
               effect=READS_OUT)
