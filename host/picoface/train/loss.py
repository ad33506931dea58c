"""YOLOv2 region loss with ignore regions (and, for a multi-class model, a class term).

For the responsible (cell, anchor) of each face: squared error on sigmoid(tx), sigmoid(ty)
(centre offset in the cell) and on tw, th (log size relative to the anchor), weighted by
``2 - w*h`` (small faces count more), plus binary cross-entropy pushing objectness to 1 (or,
with ``rescore``, towards the IoU of the predicted box with the face, as darknet's region layer).
Every other prediction gets BCE towards 0 unless its decoded box overlaps a face with IoU >=
``loss.ignore_iou`` or its centre falls in an ignore region (dataset "ignore" boxes, faces too
small or cut off by the crop): there, no objectness loss. Sums are divided by the batch size.
With ``focal`` b > 0 each objectness BCE is scaled by |target - score|^b (quality focal loss, Li et
al. 2020): predictions already near their target count little, the confident mistakes count most.
With ``classes`` > 1 each responsible prediction of a face whose class is known (y's seventh
channel >= 0, picoface.train.classes) adds ``cls`` x the softmax cross-entropy of its class entries,
the softmax the firmware's region layers take over them; faces of no known class add nothing there.
"""


def decode_boxes(pred, anchors, grid_w, grid_h, offsets=False):
    """pred (B,gh,gw,A,>=4) raw -> normalised centre boxes (B,gh,gw,A,4). ``offsets``: x, y are
    already the offsets inside the cell (targets), not logits."""
    import tensorflow as tf

    cols = tf.cast(tf.range(grid_w), tf.float32)[None, None, :, None]
    rows = tf.cast(tf.range(grid_h), tf.float32)[None, :, None, None]
    ox, oy = (pred[..., 0], pred[..., 1]) if offsets else (tf.sigmoid(pred[..., 0]), tf.sigmoid(pred[..., 1]))
    cx = (cols + ox) / grid_w
    cy = (rows + oy) / grid_h
    aw = tf.constant(anchors[:, 0], tf.float32)
    ah = tf.constant(anchors[:, 1], tf.float32)
    w = tf.exp(tf.clip_by_value(pred[..., 2], -8.0, 8.0)) * aw / grid_w
    h = tf.exp(tf.clip_by_value(pred[..., 3], -8.0, 8.0)) * ah / grid_h
    return tf.stack([cx, cy, w, h], -1)


def _corners(b):
    """Centre boxes (..., 4) -> x0, y0, x1, y1."""
    return (b[..., 0] - b[..., 2] / 2, b[..., 1] - b[..., 3] / 2,
            b[..., 0] + b[..., 2] / 2, b[..., 1] + b[..., 3] / 2)


def _pair_iou(a, b):
    """IoU of centre boxes a, b (..., 4), element-wise (shapes broadcast)."""
    import tensorflow as tf

    ax0, ay0, ax1, ay1 = _corners(a)
    bx0, by0, bx1, by1 = _corners(b)
    iw = tf.maximum(tf.minimum(ax1, bx1) - tf.maximum(ax0, bx0), 0.0)
    ih = tf.maximum(tf.minimum(ay1, by1) - tf.maximum(ay0, by0), 0.0)
    inter = iw * ih
    return inter / tf.maximum(a[..., 2] * a[..., 3] + b[..., 2] * b[..., 3] - inter, 1e-9)


def _iou(a, b):
    """a (B,N,4) b (B,M,4) centre boxes -> IoU (B,N,M)."""
    return _pair_iou(a[:, :, None, :], b[:, None, :, :])


def _inside(points, boxes):
    """points (B,N,2) normalised, boxes (B,M,4) centre form -> (B,N) any point inside a box."""
    import tensorflow as tf

    p = points[:, :, None, :]
    b = boxes[:, None, :, :]
    x0, y0, x1, y1 = _corners(b)
    ok = (p[..., 0] >= x0) & (p[..., 0] <= x1) & (p[..., 1] >= y0) & (p[..., 1] <= y1) & (b[..., 2] > 0)
    return tf.reduce_any(ok, axis=2)


def _diou(a, b):
    """Element-wise distance-IoU of centre boxes: IoU minus the squared centre distance over the
    squared diagonal of the smallest box holding both (Zheng et al. 2020)."""
    import tensorflow as tf

    ax0, ay0, ax1, ay1 = _corners(a)
    bx0, by0, bx1, by1 = _corners(b)
    cw = tf.maximum(ax1, bx1) - tf.minimum(ax0, bx0)
    ch = tf.maximum(ay1, by1) - tf.minimum(ay0, by0)
    d2 = tf.square(a[..., 0] - b[..., 0]) + tf.square(a[..., 1] - b[..., 1])
    return _pair_iou(a, b) - d2 / tf.maximum(cw * cw + ch * ch, 1e-12)


def configured_loss(cfg, anchors):
    """region_loss with the config's loss options: f(pred, y, gt, ignore) -> (total, parts)."""
    L = cfg.loss

    def f(pred, y, gt, ignore):
        return region_loss(pred, y, gt, ignore, anchors, cfg.model.classes, L.coord, L.obj, L.noobj, L.ignore_iou,
                           L.rescore, L.box, L.focal, L.cls)
    return f


def _packed(boxes):
    """Zero-padded box rows (B, M, 4), real ones first -> the first columns that hold any real box
    (at least one): padding overlaps nothing, and the IoU tables below grow with M."""
    import tensorflow as tf

    n = tf.reduce_max(tf.reduce_sum(tf.cast(boxes[..., 2] > 0, tf.int32), axis=1))
    return boxes[:, :tf.maximum(n, 1)]


def region_loss(pred, y, gt, ignore, anchors, classes=1, coord=1.0, obj=1.0, noobj=1.0, ignore_iou=0.5,
                rescore=0.0, box=0.0, focal=0.0, cls=1.0):
    """Total loss and its parts (dict of scalars). ``rescore`` r: a face's objectness target is
    (1 - r) + r * IoU(predicted box, face) instead of 1, so scores rank boxes by how well they fit.
    ``box``: weight of a 1 - DIoU term per face, a localisation error relative to the face's size.
    ``focal`` b: each objectness BCE times |target - score|^b (quality focal loss; 0 = plain BCE)."""
    import numpy as np
    import tensorflow as tf

    anchors = np.asarray(anchors, np.float32)
    A = len(anchors)
    shape = tf.shape(pred)
    B, gh, gw = shape[0], shape[1], shape[2]
    p = tf.reshape(pred, [B, gh, gw, A, 5 + classes])
    mask = y[..., 4]
    wscale = y[..., 5]
    bsz = tf.cast(B, tf.float32)

    pxy = tf.sigmoid(p[..., 0:2])
    l_xy = tf.reduce_sum(mask * wscale * tf.reduce_sum(tf.square(pxy - y[..., 0:2]), -1))
    l_wh = tf.reduce_sum(mask * wscale * tf.reduce_sum(tf.square(p[..., 2:4] - y[..., 2:4]), -1))

    boxes = decode_boxes(p, anchors, tf.cast(gw, tf.float32), tf.cast(gh, tf.float32))
    flat = tf.stop_gradient(tf.reshape(boxes, [B, -1, 4]))             # only decides where no-object applies
    best = tf.reduce_max(_iou(flat, _packed(gt)), axis=2)             # (B, gh*gw*A)
    in_ign = _inside(flat[..., :2], _packed(ignore))
    free = tf.cast(best < ignore_iou, tf.float32) * (1.0 - tf.cast(in_ign, tf.float32))
    free = tf.reshape(free, tf.shape(mask)) * (1.0 - mask)

    logits = p[..., 4]
    target = tf.ones_like(logits)
    l_box = tf.constant(0.0)
    if rescore > 0 or box > 0:
        truth = decode_boxes(y, anchors, tf.cast(gw, tf.float32), tf.cast(gh, tf.float32), offsets=True)
    if rescore > 0:
        target = (1.0 - rescore) + rescore * tf.stop_gradient(_pair_iou(boxes, truth))
    if box > 0:
        l_box = tf.reduce_sum(mask * (1.0 - _diou(boxes, truth)))
    bce_pos = tf.nn.sigmoid_cross_entropy_with_logits(labels=target, logits=logits)
    bce_neg = tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.zeros_like(logits), logits=logits)
    if focal > 0:
        score = tf.sigmoid(logits)
        bce_pos = bce_pos * tf.pow(tf.abs(target - score), focal)
        bce_neg = bce_neg * tf.pow(score, focal)
    l_obj = tf.reduce_sum(mask * bce_pos)
    l_noobj = tf.reduce_sum(free * bce_neg)

    parts = {"xy": coord * l_xy / bsz, "wh": coord * l_wh / bsz,
             "obj": obj * l_obj / bsz, "noobj": noobj * l_noobj / bsz, "box": box * l_box / bsz}
    total = parts["xy"] + parts["wh"] + parts["obj"] + parts["noobj"] + parts["box"]
    if classes > 1:
        label = y[..., 6]
        known = mask * tf.cast(label >= 0, tf.float32)
        ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.cast(tf.maximum(label, 0.0), tf.int32),
                                                            logits=p[..., 5:5 + classes])
        parts["cls"] = cls * tf.reduce_sum(known * ce) / bsz
        total = total + parts["cls"]
    return total, parts
