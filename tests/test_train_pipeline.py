"""Anchors, geometry, augmentation, YOLOv2 targets, loss and AP on tiny synthetic data."""

import ctypes

import numpy as np
import pytest

from picoface.train.config import load_config


@pytest.fixture
def syn(tmp_path):
    from picoface.train.synthetic import make_dataset

    make_dataset(tmp_path / "syn", n=12, size=(96, 72), seed=3)
    return tmp_path / "syn"


def _cfg(syn, *extra):
    return load_config(None, ["data.root=%s" % syn.parent, "data.train=[%s]" % syn.name, "input.w=64",
                              "input.h=64", "model.stride=16", "data.cache_side=128", *extra])


def test_kmeans_finds_known_clusters():
    from picoface.train.anchors import kmeans_anchors, shape_iou

    rng = np.random.default_rng(0)
    centres = np.array([[1.0, 1.2], [3.0, 2.0], [6.0, 7.0]])
    wh = np.concatenate([c * rng.uniform(0.95, 1.05, (200, 2)) for c in centres])
    anchors, miou = kmeans_anchors(wh, k=3, seed=1)
    np.testing.assert_allclose(anchors, centres, rtol=0.06)
    assert miou > 0.9
    assert shape_iou([[2, 2]], [[2, 2], [4, 4]]).tolist() == [[1.0, 0.25]]


def test_kmeans_needs_enough_boxes():
    from picoface.errors import PicofaceError
    from picoface.train.anchors import kmeans_anchors

    with pytest.raises(PicofaceError, match="only 2 boxes"):
        kmeans_anchors([[1, 1], [2, 2]], k=5)


@pytest.mark.parametrize("mode", ["stretch", "crop", "letterbox"])
def test_geometry_affine_agrees_with_device_fit(mode):
    from picoface.train.geometry import fit_affine, make_fit

    fit = make_fit(320, 240, 128, 128, mode)
    M = fit_affine(fit, 128, 128)
    # a camera box mapped to the net by the affine comes back through the device's net_to_cam
    box = [100.0, 60.0, 40.0, 50.0]
    x0, y0 = M @ [box[0], box[1], 1.0]
    x1, y1 = M @ [box[0] + box[2], box[1] + box[3], 1.0]
    norm = [(x0 + x1) / 2 / 128, (y0 + y1) / 2 / 128, (x1 - x0) / 128, (y1 - y0) / 128]
    np.testing.assert_allclose(fit.net_to_cam(norm), box, atol=1e-3)


def test_preprocess_stretch_is_a_resize():
    from picoface.train.geometry import preprocess

    img = np.random.default_rng(0).integers(0, 255, (240, 320, 3), dtype=np.uint8)
    x, fit = preprocess(img, 160, 120, "stretch")
    assert x.shape == (120, 160, 3) and x.dtype == np.uint8
    assert fit.cam_rect() == (0, 0, 320, 240)


def test_augmented_frames_keep_boxes_valid(syn):
    from picoface.train import augment, trainset

    cfg = _cfg(syn, "augment.min_face=6")
    cache = trainset.load_train_cache(cfg, progress=False)
    assert len(cache) == 12
    aug = augment.Augmenter(cfg, train=True)
    rng = np.random.default_rng(0)
    n_faces = n_ign = 0
    for k in range(40):
        i = k % len(cache)
        img, b, ig = aug.frame(cache.images[i], cache.boxes[i], cache.ignore[i], rng)
        assert img.shape == (64, 64, 3) and img.dtype == np.uint8
        for box in b:
            assert box[0] >= 0 and box[1] >= 0 and box[0] + box[2] <= 64.01 and box[1] + box[3] <= 64.01
            assert min(box[2], box[3]) >= 6          # smaller faces became ignore regions
        n_faces += len(b)
        n_ign += len(ig)
    assert n_faces > 10 and n_ign > 0


def _pixels_in(img, box):
    x, y, w, h = [int(round(v)) for v in box]
    return img[y:y + h, x:x + w]


def test_mosaic_frames_tile_photos_and_carry_their_boxes(tmp_path):
    from picoface.train import augment, trainset
    from picoface.train.synthetic import make_dataset

    syn = make_dataset(tmp_path / "syn", n=8, size=(96, 72), seed=4)
    cfg = _cfg(syn, "input.w=128", "input.h=96", "augment.mosaic=1.0", "augment.mosaic_max=3",
               "augment.min_face=2", "augment.zoom_out=0", "augment.crop_min=1.0")
    cache = trainset.load_train_cache(cfg, progress=False)
    aug = augment.Augmenter(cfg, train=True)
    p = augment.source_probabilities(cfg, cache)
    rng = np.random.default_rng(0)
    plain = [len(aug.frame(cache.images[i], cache.boxes[i], cache.ignore[i], np.random.default_rng(i))[1])
             for i in range(len(cache))]
    counts = []
    for k in range(20):
        img, b, ig = augment.make_frame(aug, cache, p, k % len(cache), rng)
        assert img.shape == (96, 128, 3) and img.dtype == np.uint8
        for box in b:
            assert box[0] >= 0 and box[1] >= 0 and box[0] + box[2] <= 128.01 and box[1] + box[3] <= 96.01
            assert min(box[2], box[3]) >= 2
            # synthetic faces are drawn bright on a darker background: a box must sit on one
            assert _pixels_in(img, box).mean() > img.mean()
        counts.append(len(b))
    # 2x2..3x3 tiles of photos with about one face each: more faces per frame than one photo
    assert np.mean(counts) > 2 * np.mean(plain)


def test_mosaic_probability_zero_gives_plain_frames(syn):
    from picoface.train import augment, trainset

    cfg = _cfg(syn, "augment.mosaic=0")
    cache = trainset.load_train_cache(cfg, progress=False)
    aug = augment.Augmenter(cfg, train=True)
    p = augment.source_probabilities(cfg, cache)
    a = augment.make_frame(aug, cache, p, 3, np.random.default_rng(7))
    b = aug.frame(cache.images[3], cache.boxes[3], cache.ignore[3], np.random.default_rng(7))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


@pytest.mark.parametrize("mosaic", [0.0, 1.0])
def test_a_view_renders_the_window_of_the_full_frame(syn, mosaic):
    from picoface.train import augment, trainset

    cfg = _cfg(syn, "input.w=128", "input.h=96", "augment.mosaic=%g" % mosaic, "augment.brightness=0",
               "augment.contrast=0", "augment.saturation=0", "augment.grayscale=0", "augment.blur=0",
               "augment.noise=0", "augment.min_face=0.5")
    cache = trainset.load_train_cache(cfg, progress=False)
    aug = augment.Augmenter(cfg, train=True)
    p = augment.source_probabilities(cfg, cache)
    for k in range(8):
        img, b, ig = augment.make_frame(aug, cache, p, k, np.random.default_rng(k))
        view = (8 * k, 4 * k, 64, 48)
        win, wb, _ = augment.make_frame(aug, cache, p, k, np.random.default_rng(k), view)
        assert win.shape == (48, 64, 3)
        full = img[view[1]:view[1] + 48, view[0]:view[0] + 64].astype(int)
        assert np.abs(win.astype(int) - full).max() <= 2      # warpAffine's fixed-point rounding
        assert np.mean(win == full) > 0.98
        # the window's faces are the full frame's faces cut to the window, at the same pixel size
        cut, _ = augment.cut_boxes(b - np.array([view[0], view[1], 0, 0], np.float32), ig, 64, 48, 0.5)
        np.testing.assert_allclose(np.sort(wb, 0), np.sort(cut, 0), atol=1e-3)


def test_warm_crop_batches_are_windows_at_net_scale(syn):
    from picoface.train import feed, trainset

    cfg = _cfg(syn, "input.w=128", "input.h=96", "train.warm_size=[64, 48]", "train.warm_crop=true",
               "augment.zoom_out=0", "augment.crop_min=1.0", "augment.aspect_jitter=0", "augment.min_face=1")
    cache = trainset.load_train_cache(cfg, progress=False)
    anchors = np.array([[0.5, 0.5], [1, 1]], np.float32)
    full = feed.TrainData(cfg, cache, anchors, (8, 6))
    warm = feed.TrainData(cfg, cache, anchors, (8, 6), size=(64, 48), crop=True)
    shrunk = feed.TrainData(cfg, cache, anchors, (8, 6), size=(64, 48))
    assert warm.crop and not shrunk.crop
    x, y, gt, ig = warm.example(0, np.random.default_rng(1))
    assert x.shape == (48, 64, 3) and y.shape == (3, 4, 2, 6)

    def median_face(td):
        rng = np.random.default_rng(2)
        s = []
        for i in range(60):
            b = td.example(i % len(cache), rng)[2]
            s += list(b[b[:, 2] > 0, 2] * td.net_w)
        return np.median(s)

    # a window keeps the full frame's pixel scale; a resized warm frame halves the faces
    assert median_face(warm) == pytest.approx(median_face(full), rel=0.25)
    assert median_face(shrunk) == pytest.approx(median_face(full) / 2, rel=0.25)


def test_flip_mirrors_image_and_boxes(tmp_path):
    from picoface.train import augment, trainset
    from picoface.train.synthetic import make_dataset

    sq = make_dataset(tmp_path / "sq", n=4, size=(64, 64), seed=5)
    cfg = _cfg(sq, "augment.flip=1.0", "augment.crop_min=1.0", "augment.zoom_out=0", "augment.aspect_jitter=0",
               "augment.brightness=0", "augment.contrast=0", "augment.saturation=0", "augment.grayscale=0",
               "augment.blur=0", "augment.noise=0", "augment.min_face=0.5")
    cache = trainset.load_train_cache(cfg, progress=False)
    img, boxes, ign = cache.images[0], cache.boxes[0], cache.ignore[0]
    x, b, _ = augment.Augmenter(cfg, train=False).frame(img, boxes, ign, np.random.default_rng(0))
    xf, bf, _ = augment.Augmenter(cfg, train=True).frame(img, boxes, ign, np.random.default_rng(0))
    np.testing.assert_array_equal(x, img)                      # val: the image itself (64x64 net)
    assert np.abs(xf.astype(int) - x[:, ::-1].astype(int)).max() <= 1
    mirrored = b.copy()
    mirrored[:, 0] = 64 - b[:, 0] - b[:, 2]
    np.testing.assert_allclose(np.sort(bf, 0), np.sort(mirrored, 0), atol=1e-3)


def test_targets_round_trip_through_decode():
    from picoface.detect.region import decode
    from picoface.train.targets import encode_targets

    anchors = np.array([[0.5, 0.6], [1.2, 1.5], [2.3, 3.0], [4.2, 5.4], [9.9, 11.3]], np.float32)
    boxes = np.array([[10, 20, 30, 36], [200, 100, 80, 96], [150, 150, 8, 10]], np.float32)
    y = encode_targets(boxes, anchors, 20, 15, 320, 240)
    assert y[..., 4].sum() == 3
    out = np.full((15, 20, 5, 6), -30.0, np.float32)
    t = np.clip(y[..., 0:2], 1e-6, 1 - 1e-6)
    out[..., 0:2] = np.log(t / (1 - t))
    out[..., 2:4] = y[..., 2:4]
    out[..., 4] = np.where(y[..., 4] > 0, 30.0, -30.0)
    d = decode(out.reshape(-1), 20, 15, anchors.tolist(), layout="NHWC", threshold=0.5)
    got = np.stack([(d[:, 0] - d[:, 2] / 2) * 320, (d[:, 1] - d[:, 3] / 2) * 240, d[:, 2] * 320, d[:, 3] * 240], 1)
    order = np.argsort(got[:, 0])
    np.testing.assert_allclose(got[order], boxes[np.argsort(boxes[:, 0])], atol=1e-2)


def test_two_faces_in_one_cell_take_two_anchors():
    from picoface.train.targets import encode_targets

    anchors = np.array([[1, 1], [2, 2]], np.float32)
    boxes = np.array([[4, 4, 16, 16], [5, 5, 15, 15]], np.float32)   # same cell, same best anchor
    y = encode_targets(boxes, anchors, 4, 4, 64, 64)
    assert y[..., 4].sum() == 2


def test_extra_anchor_iou_trains_every_similar_anchor_of_the_cell():
    from picoface.train.anchors import shape_iou
    from picoface.train.targets import encode_targets

    anchors = np.array([[1, 1], [1.3, 1.3], [4, 4]], np.float32)
    face = np.array([[0, 0, 18, 18]], np.float32)                   # 1.125 cells: anchors 0, 1 similar, 2 not
    ious = shape_iou(np.array([[1.125, 1.125]]), anchors)[0]
    assert ious[0] > 0.6 and ious[1] > 0.6 and ious[2] < 0.1
    assert encode_targets(face, anchors, 4, 4, 64, 64)[..., 4].sum() == 1
    y = encode_targets(face, anchors, 4, 4, 64, 64, extra_iou=0.6)
    assert y[0, 0, :, 4].tolist() == [1, 1, 0]
    np.testing.assert_allclose(y[0, 0, 1, 2], np.log(1.125 / 1.3), rtol=1e-5)   # each slot relative to its anchor
    # the bigger face takes both similar anchors; the smaller one still gets a slot of its own
    two = np.array([[0, 0, 18, 18], [1, 1, 20, 20]], np.float32)
    y = encode_targets(two, anchors, 4, 4, 64, 64, extra_iou=0.6)
    assert y[0, 0, :, 4].tolist() == [1, 1, 1]
    np.testing.assert_allclose(y[0, 0, :2, 2], np.log(1.25 / anchors[:2, 0]), rtol=1e-5)


@pytest.mark.tf
def test_loss_decreases_on_a_tiny_synthetic_set(syn):
    import keras
    import tensorflow as tf

    from picoface.train import feed, trainset
    from picoface.train.loss import region_loss
    from picoface.train.model import build_model

    cfg = _cfg(syn, "train.batch_size=8", "augment.zoom_out=0", "augment.crop_min=0.8")
    cache = trainset.load_train_cache(cfg, progress=False)
    anchors = np.array([[0.8, 1.0], [1.2, 1.4], [1.6, 1.9], [2.0, 2.4], [2.6, 3.1]], np.float32)
    data = feed.TrainData(cfg, cache, anchors, (4, 4), seed=0)
    data.steps = 1
    x, y, gt, ig = next(data.batches(0))
    tf.random.set_seed(0)
    model = build_model(cfg.model, 64, 64)
    opt = keras.optimizers.Adam(3e-3)
    xs = tf.constant(x.astype(np.float32) / 255.0)

    def step():
        with tf.GradientTape() as tape:
            loss, parts = region_loss(model(xs, training=True), y, gt, ig, anchors)
        g = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(g, model.trainable_variables))
        return float(loss), parts

    first, parts = step()
    assert set(parts) == {"xy", "wh", "obj", "noobj", "box"}
    for _ in range(14):
        last, _ = step()
    assert np.isfinite(first) and last < 0.7 * first


@pytest.mark.tf
def test_ignore_regions_remove_objectness_loss():
    import tensorflow as tf

    from picoface.train.loss import region_loss

    anchors = np.array([[1.0, 1.0]], np.float32)
    pred = tf.zeros((1, 2, 2, 6))                 # every prediction at p = 0.5
    y = np.zeros((1, 2, 2, 1, 6), np.float32)
    gt = np.zeros((1, 4, 4), np.float32)
    no_ign = np.zeros((1, 4, 4), np.float32)
    _, a = region_loss(pred, y, gt, no_ign, anchors)
    ign = no_ign.copy()
    ign[0, 0] = [0.25, 0.25, 0.5, 0.5]           # covers the centre of cell (0, 0) only
    _, b = region_loss(pred, y, gt, ign, anchors)
    assert float(b["noobj"]) == pytest.approx(float(a["noobj"]) * 3 / 4, rel=1e-5)


@pytest.mark.tf
def test_no_object_loss_sees_every_real_box_whatever_the_padding():
    """The loss compares predictions only with the box rows some image of the batch uses: a face
    or ignore region in the last used row still frees its cell; padding changes nothing."""
    import tensorflow as tf

    from picoface.train.loss import region_loss

    anchors = np.array([[1.0, 1.0]], np.float32)
    pred = tf.zeros((2, 2, 2, 6))                 # every box: its cell, objectness 0.5
    y = np.zeros((2, 2, 2, 1, 6), np.float32)

    def noobj(pad, face_row, ign_row):
        gt = np.zeros((2, pad, 4), np.float32)
        ig = np.zeros((2, pad, 4), np.float32)
        gt[0, :face_row] = [0.1, 0.1, 0.01, 0.01]   # far from every predicted box
        gt[0, face_row] = [0.25, 0.25, 0.5, 0.5]    # exactly the box of cell (0, 0), image 0
        gt[1, 0] = [0.1, 0.1, 0.01, 0.01]
        ig[1, :ign_row] = [0.9, 0.1, 0.01, 0.01]    # covers no cell centre
        ig[1, ign_row] = [0.75, 0.75, 0.2, 0.2]     # covers the centre of cell (1, 1), image 1
        return float(region_loss(pred, y, gt, ig, anchors)[1]["noobj"])

    full = noobj(32, 2, 3)
    assert full == pytest.approx(8 * np.log(2.0) * 6 / 8 / 2, rel=1e-5)   # 6 of 8 cells, / batch
    assert noobj(4, 2, 3) == pytest.approx(full, rel=1e-6)
    assert noobj(64, 2, 3) == pytest.approx(full, rel=1e-6)


def _one_face_batch():
    """One 8x8 face centred in cell (0, 0) of a 2x2 grid over a 16x16 net, one anchor of the
    face's size: (anchors, targets, gt rows, no ignore rows)."""
    from picoface.train.targets import encode_targets

    anchors = np.array([[1.0, 1.0]], np.float32)
    y = encode_targets(np.array([[0.0, 0.0, 8.0, 8.0]], np.float32), anchors, 2, 2, 16, 16)[None]
    gt = np.zeros((1, 4, 4), np.float32)
    gt[0, 0] = [0.25, 0.25, 0.5, 0.5]
    return anchors, y, gt, np.zeros((1, 4, 4), np.float32)


@pytest.mark.tf
def test_rescore_targets_the_iou_of_the_predicted_box():
    """loss.rescore: a face's objectness target is (1 - r) + r * IoU(prediction, face), so the loss
    is lowest where the score equals that target — not at 1 — and a perfect box keeps target 1."""
    import math

    import tensorflow as tf

    from picoface.train.loss import region_loss

    anchors, y, gt, ign = _one_face_batch()

    def obj_loss(width_log, logit, r):
        pred = np.zeros((1, 2, 2, 6), np.float32)
        pred[0, 0, 0, 2] = pred[0, 0, 0, 3] = width_log     # box side x exp(width_log), same centre
        pred[0, 0, 0, 4] = logit
        return float(region_loss(tf.constant(pred), y, gt, ign, anchors, rescore=r)[1]["obj"])

    iou = 1.0 / math.exp(2 * math.log(2.0))                 # twice the side: IoU 1/4
    best = math.log((0.5 + 0.5 * iou) / (1 - (0.5 + 0.5 * iou)))   # logit of the target 0.625
    assert obj_loss(math.log(2.0), best, 0.5) < obj_loss(math.log(2.0), best + 0.3, 0.5)
    assert obj_loss(math.log(2.0), best, 0.5) < obj_loss(math.log(2.0), best - 0.3, 0.5)
    # without rescore the target is 1: a higher score always lowers the loss
    assert obj_loss(math.log(2.0), best + 0.3, 0.0) < obj_loss(math.log(2.0), best, 0.0)
    # a perfect box: target 1 whatever r
    assert obj_loss(0.0, 3.0, 0.5) < obj_loss(0.0, 2.0, 0.5)


@pytest.mark.tf
def test_focal_scales_objectness_by_the_distance_to_its_target():
    """loss.focal b: every objectness BCE is multiplied by |target - score|^b, so a confident
    mistake keeps nearly its whole loss and a prediction near its target nearly none."""
    import math

    import tensorflow as tf

    from picoface.train.loss import region_loss

    anchors, y, gt, ign = _one_face_batch()

    def parts(face_logit, empty_logit, b):
        pred = np.zeros((1, 2, 2, 6), np.float32)
        pred[..., 4] = empty_logit                 # the three cells without a face
        pred[0, 0, 0, 4] = face_logit              # the face's cell (box exact: target 1)
        p = region_loss(tf.constant(pred), y, gt, ign, anchors, focal=b)[1]
        return float(p["obj"]), float(p["noobj"])

    sig = lambda v: 1.0 / (1.0 + math.exp(-v))
    for logit in (-3.0, 0.0, 2.5):
        plain_obj, plain_noobj = parts(logit, logit, 0.0)
        obj, noobj = parts(logit, logit, 2.0)
        assert obj == pytest.approx(plain_obj * (1 - sig(logit)) ** 2, rel=1e-4)
        assert noobj == pytest.approx(plain_noobj * sig(logit) ** 2, rel=1e-4)
    # a sure negative costs next to nothing, a sure false positive almost its whole BCE
    assert parts(5.0, -5.0, 2.0)[1] < 1e-3 * parts(5.0, -5.0, 0.0)[1]
    assert parts(5.0, 5.0, 2.0)[1] > 0.98 * parts(5.0, 5.0, 0.0)[1]


@pytest.mark.tf
def test_box_term_is_zero_for_a_perfect_box_and_grows_with_the_error():
    import math

    import tensorflow as tf

    from picoface.train.loss import region_loss

    anchors, y, gt, ign = _one_face_batch()

    def box_loss(dx, wlog, weight=1.0):
        pred = np.zeros((1, 2, 2, 6), np.float32)
        pred[0, 0, 0, 0] = dx                     # logit of the x offset (0 = cell centre = the face's)
        pred[0, 0, 0, 2] = pred[0, 0, 0, 3] = wlog
        return float(region_loss(tf.constant(pred), y, gt, ign, anchors, box=weight)[1]["box"])

    assert box_loss(0.0, 0.0) == pytest.approx(0.0, abs=1e-6)
    assert 0 < box_loss(0.5, 0.0) < box_loss(1.0, 0.0)
    assert 0 < box_loss(0.0, math.log(1.2)) < box_loss(0.0, math.log(1.5))
    assert box_loss(1.0, 0.0, 3.0) == pytest.approx(3 * box_loss(1.0, 0.0), rel=1e-5)
    assert box_loss(1.0, 0.0, 0.0) == 0.0


def _face_mask(shape, boxes):
    m = np.zeros(shape[:2], bool)
    for x, y, w, h in np.asarray(boxes, np.float64):
        m[int(np.floor(y)):int(np.ceil(y + h)), int(np.floor(x)):int(np.ceil(x + w))] = True
    return m


def test_occluders_cover_part_of_each_face_and_nothing_else():
    from picoface.train.occlude import MIN_SIDE, occlude_faces

    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    boxes = np.array([[10, 10, 40, 48], [80, 20, 30, 36], [60, 90, 20, 24], [130, 100, 4, 5]], np.float32)
    covered = []
    for seed in range(40):
        x = img.copy()
        n = occlude_faces(x, boxes, np.random.default_rng(seed), 1.0)
        changed = np.any(x != img, axis=2)
        assert n == 3                                      # every face but the one under MIN_SIDE
        assert not changed[~_face_mask(img.shape, boxes[:3])].any()
        for b in boxes[:3]:
            x0, y0, w, h = b.astype(int)
            f = changed[y0:y0 + h, x0:x0 + w].mean()
            assert f <= 0.5                                # the face stays a face
            covered.append(f)
    assert boxes[3, 2] < MIN_SIDE
    assert np.mean(covered) > 0.15


def test_no_occluders_draw_nothing_from_the_generator():
    from picoface.train.occlude import occlude_faces

    img = np.full((32, 32, 3), 128, np.uint8)
    rng = np.random.default_rng(5)
    assert occlude_faces(img, np.array([[4, 4, 20, 20]], np.float32), rng, 0.0) == 0
    assert (img == 128).all()
    assert rng.random() == np.random.default_rng(5).random()


def test_occluded_frames_differ_from_plain_ones_only_on_faces(syn):
    from picoface.train import augment, trainset

    quiet = ["augment.brightness=0", "augment.contrast=0", "augment.saturation=0", "augment.grayscale=0",
             "augment.blur=0", "augment.noise=0", "augment.mosaic=0"]
    plain = augment.Augmenter(_cfg(syn, *quiet), train=True)
    cfg = _cfg(syn, "augment.occlude=1.0", *quiet)
    occl = augment.Augmenter(cfg, train=True)
    cache = trainset.load_train_cache(cfg, progress=False)
    hit = 0
    for i in range(len(cache)):
        a, ba, _ = plain.frame(cache.images[i], cache.boxes[i], cache.ignore[i], np.random.default_rng(i))
        b, bb, _ = occl.frame(cache.images[i], cache.boxes[i], cache.ignore[i], np.random.default_rng(i))
        np.testing.assert_array_equal(ba, bb)              # same faces, same labels
        changed = np.any(a != b, axis=2)
        assert not changed[~_face_mask(a.shape, ba)].any()
        hit += int(changed.any())
    assert hit >= len(cache) // 2


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]


def test_malloc_keeps_freed_buffers_on_glibc(monkeypatch):
    import platform

    from picoface.train import allocator

    if platform.libc_ver()[0] == "glibc":
        assert allocator.keep_freed_memory() is True
        libc = ctypes.CDLL(None)
        if hasattr(libc, "mallinfo2"):   # glibc >= 2.33: bytes held in mmapped chunks
            libc.mallinfo2.restype = _MallInfo2
            libc.malloc.restype = ctypes.c_void_p
            libc.free.argtypes = (ctypes.c_void_p,)
            mapped = libc.mallinfo2().hblkhd
            buf = libc.malloc(96 << 20)    # a 320x240 batch's activations: above any mmap threshold
            try:
                assert buf and libc.mallinfo2().hblkhd == mapped   # from the heap, kept when freed
            finally:
                libc.free(buf)
    monkeypatch.setattr(allocator.sys, "platform", "darwin")
    assert allocator.keep_freed_memory() is False


@pytest.mark.tf
def test_training_dataset_runs_without_tf_data_autotuning(syn):
    from picoface.train import feed, trainset

    cfg = _cfg(syn, "train.steps_per_epoch=2", "train.batch_size=3")
    cache = trainset.load_train_cache(cfg, progress=False)
    td = feed.TrainData(cfg, cache, np.array([[1, 1], [2, 2]], np.float32), (4, 4))
    ds = td.dataset(0)
    assert ds.options().autotune.enabled is False
    assert ds.options().threading.private_threadpool_size == 1
    batches = list(ds)
    assert len(batches) == 2 and batches[0][0].shape == (3, 64, 64, 3)
