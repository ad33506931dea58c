"""Training of face / no-face classifiers: the TinyFace reference baseline and the gate.

* ``tinyface_squeezenet``: square grayscale crops around training faces (random margin and
  shift); negatives are random squares that overlap no face or ignore region (IoU < 0.1).
* ``gate``: frame-shaped crops (picoface.gate.crops), RGB or grayscale; the net's logit map is
  averaged into one logit; epochs are picked on the val crops' ROC AUC.

Validation uses the same recipe on the val set (deterministic crops); early stopping and the
budget work as for detectors. Writes log.csv, curves.png, ckpt/ and best.keras in the run dir.
"""

import json
import time

import numpy as np

from picoface import atomic


def _square(box, margin, shift, rng):
    x, y, w, h = box
    s = max(w, h) * (1.0 + margin)
    cx = x + w / 2 + rng.uniform(-shift, shift) * w
    cy = y + h / 2 + rng.uniform(-shift, shift) * h
    return cx - s / 2, cy - s / 2, s


def _crop(img, x0, y0, s, size):
    import cv2

    M = np.array([[size / s, 0, -x0 * size / s], [0, size / s, -y0 * size / s]], np.float32)
    out = cv2.warpAffine(img, M, (size, size), flags=cv2.INTER_AREA if s > size else cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REPLICATE)
    return cv2.cvtColor(out, cv2.COLOR_RGB2GRAY)


def _iou_sq(x0, y0, s, boxes):
    if not len(boxes):
        return 0.0
    from picoface.evaluate.ap import iou_matrix

    return float(iou_matrix(np.array([[x0, y0, s, s]], np.float32), boxes).max())


def make_crops(images, boxes, ignores, n, size, rng, min_face=12.0, train=True):
    """n grayscale crops (n, size, size, 1) uint8 and labels (n,) float32, half faces."""
    xs, ys = [], []
    idx = [i for i, b in enumerate(boxes) if len(b) and (b[:, 2:].min(axis=1) >= min_face).any()]
    if not idx:
        idx = list(range(len(images)))
    for k in range(n):
        pos = k % 2 == 0
        img = images[idx[int(rng.integers(len(idx)))]] if pos else images[int(rng.integers(len(images)))]
        H, W = img.shape[:2]
        if pos:
            i = idx[int(rng.integers(len(idx)))]
            img = images[i]
            b = boxes[i][boxes[i][:, 2:].min(axis=1) >= min_face]
            if not len(b):
                continue
            box = b[int(rng.integers(len(b)))]
            x0, y0, s = _square(box, rng.uniform(0.1, 0.4) if train else 0.25, 0.1 if train else 0.0, rng)
        else:
            i = int(rng.integers(len(images)))
            img = images[i]
            H, W = img.shape[:2]
            allb = np.concatenate([boxes[i], ignores[i]]).reshape(-1, 4)
            for _ in range(20):
                s = rng.uniform(min_face, max(min_face + 1, min(H, W)))
                x0, y0 = rng.uniform(0, max(1, W - s)), rng.uniform(0, max(1, H - s))
                if _iou_sq(x0, y0, s, allb) < 0.1:
                    break
            else:
                continue
        crop = _crop(img, x0, y0, s, size)
        if train and rng.random() < 0.5:
            crop = crop[:, ::-1]
        xs.append(crop[..., None])
        ys.append(1.0 if pos else 0.0)
    return np.stack(xs).astype(np.uint8), np.array(ys, np.float32)


def train_classifier(cfg, resume=False, progress=True, log=print):
    import keras
    import tensorflow as tf

    from picoface.errors import PicofaceError
    from picoface.paths import resolve_path
    from picoface.train.config import config_hash, save_config
    from picoface.train.model import build_model
    from picoface.train.trainer import TrainResult, _write_csv, configure_threads, set_seeds
    from picoface.train.trainset import load_train_cache
    from picoface.train.val import load_valset

    t0 = time.time()
    run_dir = resolve_path(cfg.run_dir)
    (run_dir / "ckpt").mkdir(parents=True, exist_ok=True)
    if resume:
        raise PicofaceError("--resume is not supported for the tinyface baseline", "start it again")
    save_config(cfg, run_dir / "config.yaml")
    configure_threads(cfg.train.threads)
    set_seeds(cfg.seed)
    gate = cfg.model.arch == "gate" or cfg.gate.frames
    size = cfg.input.w
    if not gate and cfg.input.h != size:
        raise PicofaceError("tinyface crops are square", "set input.w = input.h (e.g. 100)")
    crops = _crop_maker(cfg)
    cache = load_train_cache(cfg, progress=progress)
    vx = vy = None
    v = load_valset(cfg)
    if v is not None:
        vs = v.samples
        vx, vy = crops(v.images, [s.boxes for s in vs], [s.ignore for s in vs],
                       cfg.gate.val_crops if gate else 400, np.random.default_rng(12345), train=False)
    model = build_model(cfg.model, cfg.input.w, cfg.input.h, channels=cfg.input.channels)
    opt = keras.optimizers.Adam(cfg.train.lr)
    log("%s %s: %d params, %d cached images" % (cfg.model.arch, config_hash(cfg), model.count_params(), len(cache)))

    @tf.function(reduce_retracing=True)
    def step(x, y):
        x = tf.cast(x, tf.float32) / 255.0
        with tf.GradientTape() as tape:
            logit = logits(model(x, training=True))
            loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=logit))
        g = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(g, model.trainable_variables))
        return loss

    history, best, best_epoch, stopped = [], -1.0, 0, "epochs"
    budget = cfg.train.budget_minutes * 60
    steps = cfg.train.steps_per_epoch or max(1, len(cache) // cfg.train.batch_size)
    for epoch in range(cfg.train.epochs):
        rng = np.random.default_rng([cfg.seed, epoch])
        losses = []
        for _ in range(steps):
            x, y = crops(cache.images, cache.boxes, cache.ignore, cfg.train.batch_size, rng)
            losses.append(float(step(x, y)))
        acc = auc = ""
        if vx is not None:
            p = predict(model, vx)
            acc = round(float(((p > 0) == (vy > 0.5)).mean()), 4)
            if gate:
                from picoface.gate.metrics import auc as roc_auc

                auc = round(roc_auc(p, vy), 4)
        history.append({"epoch": epoch + 1, "loss": round(float(np.mean(losses)), 5), "val_acc": acc,
                        "val_auc": auc, "seconds": round(time.time() - t0, 1)})
        pick = auc if gate else acc
        if pick == "" or pick > best:
            best, best_epoch = (pick if pick != "" else best), epoch + 1
            model.save_weights(str(run_dir / "ckpt" / "best.weights.h5"))
        _write_csv(history, run_dir / "log.csv")
        _plot(history, run_dir / "curves.png")
        log("epoch %d: loss %.4f val accuracy %s%s" % (epoch + 1, history[-1]["loss"], acc,
                                                      " AUC %s" % auc if gate else ""))
        if budget and time.time() - t0 > budget:
            stopped = "budget"
            break
        if cfg.train.patience and epoch + 1 - best_epoch >= cfg.train.patience:
            stopped = "early-stop"
            break
    model.load_weights(str(run_dir / "ckpt" / "best.weights.h5"))
    model.save(str(run_dir / "best.keras"))
    atomic.write_text(run_dir / "ckpt" / "state.json",
                      json.dumps({"best_val_auc" if gate else "best_val_acc": best, "best_epoch": best_epoch}))
    return TrainResult(run_dir=run_dir, model_path=run_dir / "best.keras", best_ap=float(max(best, 0.0)),
                       best_epoch=best_epoch, epochs_done=len(history), seconds=time.time() - t0, anchors=[],
                       stopped=stopped, history=history)


def logits(out):
    """One logit per image: the tinyface head's, or the mean of the gate's logit map."""
    import tensorflow as tf

    if len(out.shape) == 4:
        out = tf.reduce_mean(out, axis=[1, 2])
    return out[:, 0]


def predict(model, x, batch=256):
    """Logits of uint8 crops (float net)."""
    return np.concatenate([logits(model(x[i:i + batch].astype(np.float32) / 255.0, training=False)).numpy()
                           for i in range(0, len(x), batch)])


def _crop_maker(cfg):
    """crops(images, boxes, ignores, n, rng, train) for the configured arch."""
    if cfg.model.arch == "gate" or cfg.gate.frames:
        from picoface.gate.crops import frame_crops

        def crops(images, boxes, ignores, n, rng, train=True):
            return frame_crops(images, boxes, ignores, n, cfg.input.w, cfg.input.h, rng, cfg.gate,
                               channels=cfg.input.channels, train=train)
        return crops

    def crops(images, boxes, ignores, n, rng, train=True):
        return make_crops(images, boxes, ignores, n, cfg.input.w, rng, train=train)
    return crops


def _plot(history, png):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(9, 3.4))
    ep = [h["epoch"] for h in history]
    ax[0].plot(ep, [h["loss"] for h in history])
    ax[0].set_xlabel("epoch")
    ax[0].set_ylabel("train BCE")
    v = [(h["epoch"], h["val_acc"]) for h in history if h["val_acc"] != ""]
    if v:
        ax[1].plot([a for a, _ in v], [b for _, b in v], marker="o")
    ax[1].set_xlabel("epoch")
    ax[1].set_ylabel("val accuracy")
    a = [(h["epoch"], h.get("val_auc", "")) for h in history if h.get("val_auc", "") != ""]
    if a:
        ax[1].plot([x for x, _ in a], [y for _, y in a], marker="s", label="val ROC AUC")
        ax[1].plot([x for x, _ in v], [y for _, y in v], marker="o", label="val accuracy")
        ax[1].legend()
    fig.tight_layout()
    with atomic.atomic_path(png) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)
