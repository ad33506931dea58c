"""Short fine-tuning of a study point (a BN-folded picoface net) on the training frames, for a fixed
time: the loss, data and optimiser step of ``picoface train`` (Adam at a tenth of ``train.lr``), the
config's frozen pretrained blocks kept frozen unless ``train_frozen``, and optional keep-masks re-applied
after every step so that pruned weights stay zero and only the others learn (the thesis's retraining of
pruned layers)."""

import time

import numpy as np


def finetune(ctx, model, seconds, masks=None, label="finetune", train_frozen=False):
    """Train ``model`` in place for ``seconds`` (stopping after the step that passes them; none when
    0) -> {"steps", "seconds", "loss"}. ``masks``: {layer name: keep-mask of its kernel}."""
    if seconds <= 0:
        return {"steps": 0, "seconds": 0.0, "loss": None}
    import sys

    import keras
    import tensorflow as tf
    from tqdm import tqdm

    from picoface.export.qat import CONV, frozen_layers
    from picoface.train.feed import TrainData
    from picoface.train.loss import configured_loss
    from picoface.train.trainer import train_step

    cfg = ctx.cfg
    frozen = set() if train_frozen else frozen_layers(cfg, model)
    for layer in model.layers:
        layer.trainable = layer.name not in frozen and layer.__class__.__name__ in CONV
    data = TrainData(cfg, ctx.train_cache(), ctx.anchors, ctx.grid, seed=cfg.seed + 104729)
    opt = keras.optimizers.Adam(learning_rate=cfg.train.lr * 0.1, clipnorm=10.0)
    step = train_step(model, opt, configured_loss(cfg, np.asarray(ctx.anchors, np.float32)))
    pinned = [(model.get_layer(name).kernel, tf.constant(m)) for name, m in (masks or {}).items()]
    t0 = time.monotonic()
    steps, losses, epoch = 0, [], 0
    with tqdm(total=int(seconds), desc=label, unit="s", leave=False, file=sys.stderr, disable=not ctx.progress) as bar:
        while time.monotonic() - t0 < seconds:
            for x, y, gt, ig in data.batches(epoch):
                loss, _ = step(tf.constant(x), tf.constant(y), tf.constant(gt), tf.constant(ig))
                for var, m in pinned:
                    var.assign(var * m)
                losses.append(float(loss))
                steps += 1
                bar.n = min(int(seconds), int(time.monotonic() - t0))
                bar.refresh()
                if time.monotonic() - t0 >= seconds:
                    break
            epoch += 1
    for layer in model.layers:
        layer.trainable = True
    if not np.all(np.isfinite(losses)):
        from picoface.errors import PicofaceError

        raise PicofaceError("fine-tuning diverged (loss %s)" % losses[-1], "lower train.lr in the --base config")
    return {"steps": steps, "seconds": round(time.monotonic() - t0, 1), "loss": round(float(np.mean(losses[-10:])), 4)}
