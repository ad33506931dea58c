"""YOLOv2 anchors: k-means on box shapes with the 1 - IoU distance (boxes share a centre)."""

import numpy as np


def shape_iou(wh, centroids):
    """IoU of (N,2) box shapes against (K,2) centroid shapes, all centred at one point."""
    wh = np.asarray(wh, np.float64)[:, None, :]
    c = np.asarray(centroids, np.float64)[None, :, :]
    inter = np.minimum(wh[..., 0], c[..., 0]) * np.minimum(wh[..., 1], c[..., 1])
    union = wh[..., 0] * wh[..., 1] + c[..., 0] * c[..., 1] - inter
    return inter / np.maximum(union, 1e-12)


def kmeans_anchors(wh, k=5, seed=0, iters=300):
    """Cluster (N,2) widths/heights into k anchors (sorted by area). Returns (anchors, mean IoU)."""
    from picoface.errors import PicofaceError

    wh = np.asarray(wh, np.float64).reshape(-1, 2)
    wh = wh[(wh[:, 0] > 0) & (wh[:, 1] > 0)]
    if len(wh) < k:
        raise PicofaceError("only %d boxes for %d anchors" % (len(wh), k), "add data or lower model.anchors")
    rng = np.random.default_rng(seed)
    # k-means++ style seeding with the IoU distance
    cent = [wh[rng.integers(len(wh))]]
    for _ in range(1, k):
        d = 1.0 - shape_iou(wh, np.array(cent)).max(axis=1)
        p = d ** 2
        p = p / p.sum() if p.sum() > 0 else None
        cent.append(wh[rng.choice(len(wh), p=p)])
    cent = np.array(cent)
    assign = None
    for _ in range(iters):
        new = np.argmax(shape_iou(wh, cent), axis=1)
        if assign is not None and np.array_equal(new, assign):
            break
        assign = new
        for j in range(k):
            members = wh[assign == j]
            if len(members):
                cent[j] = np.median(members, axis=0)
    cent = cent[np.argsort(cent[:, 0] * cent[:, 1])]
    mean_iou = float(shape_iou(wh, cent).max(axis=1).mean())
    return cent.astype(np.float32), mean_iou


def anchors_for_training(boxes_wh_net, stride, k=5, seed=0):
    """Anchors in grid-cell units from box sizes given in net-input pixels."""
    wh = np.asarray(boxes_wh_net, np.float64) / float(stride)
    return kmeans_anchors(wh, k=k, seed=seed)
