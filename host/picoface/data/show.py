"""Draw samples in a PNG grid: face boxes green, ignore regions grey."""

import numpy as np

GREEN = (40, 220, 40)
GREY = (150, 150, 150)
RED = (235, 40, 40)


def draw_sample(sample, tile=256, detections=None, min_score=0.0, image=None):
    """The sample's image scaled to fit ``tile`` x ``tile`` with its boxes drawn (RGB uint8):
    faces green, ignore regions grey, and ``detections`` ((N, 5), score >= min_score) red.
    ``image``: the image the boxes refer to (default: the sample's photo read from disk)."""
    import cv2

    from picoface.data.images import read_image

    img = read_image(sample.image_path) if image is None else image
    h, w = img.shape[:2]
    k = tile / max(w, h)
    img = cv2.resize(img, (max(1, round(w * k)), max(1, round(h * k))), interpolation=cv2.INTER_AREA)
    canvas = np.full((tile, tile, 3), 32, np.uint8)
    canvas[:img.shape[0], :img.shape[1]] = img
    for arr, color in ((sample.ignore, GREY), (sample.boxes, GREEN)):
        for x, y, bw, bh in arr:
            p1 = (int(round(x * k)), int(round(y * k)))
            p2 = (int(round((x + bw) * k)), int(round((y + bh) * k)))
            cv2.rectangle(canvas, p1, p2, color, 1 if color == GREY else 2)
    if detections is not None:
        for x, y, bw, bh, sc in np.asarray(detections, np.float32).reshape(-1, 5):
            if sc >= min_score:
                p1 = (int(round(x * k)), int(round(y * k)))
                cv2.rectangle(canvas, p1, (int(round((x + bw) * k)), int(round((y + bh) * k))), RED, 1)
                cv2.putText(canvas, "%.2f" % sc, (p1[0], max(8, p1[1] - 2)), cv2.FONT_HERSHEY_SIMPLEX, 0.3,
                            RED, 1, cv2.LINE_AA)
    label = "%s %s" % (sample.source, sample.image_path.name)
    cv2.putText(canvas, label[:40], (3, tile - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (255, 255, 0), 1,
                cv2.LINE_AA)
    return canvas


def grid_png(samples, png, cols=4, tile=256, detections=None, min_score=0.0, images=None):
    """Write a grid of the samples to ``png`` atomically; returns its (h, w).
    ``detections``: optional list (one (N, 5) array per sample) drawn in red; ``images``: the
    images the boxes refer to, one per sample (default: the photos read from disk)."""
    import cv2

    from picoface.atomic import write_bytes

    dets = detections if detections is not None else [None] * len(samples)
    imgs = images if images is not None else [None] * len(samples)
    tiles = [draw_sample(s, tile, d, min_score, im) for s, d, im in zip(samples, dets, imgs)]
    if not tiles:
        tiles = [np.zeros((tile, tile, 3), np.uint8)]
    cols = max(1, min(cols, len(tiles)))
    rows = -(-len(tiles) // cols)
    grid = np.zeros((rows * tile, cols * tile, 3), np.uint8)
    for i, t in enumerate(tiles):
        r, c = divmod(i, cols)
        grid[r * tile:(r + 1) * tile, c * tile:(c + 1) * tile] = t
    ok, buf = cv2.imencode(".png", cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
    write_bytes(png, buf.tobytes())
    return grid.shape[:2]
