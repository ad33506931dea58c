"""Throughput of a training config on this machine: cache, input pipeline, train step.

``profile(cfg, batches)`` -> dict with the image-cache decode time and size, the input
pipeline alone (augment + targets, one Python thread), the train step alone (fixed batch,
``train.threads`` TF threads; frozen blocks, optimizer and weight average as in training) and
both together through tf.data (what an epoch gets).
"""

import time

import numpy as np


def profile(cfg, batches=5, log=print):
    from picoface.train.feed import TrainData
    from picoface.train.loss import configured_loss
    from picoface.train.model import build_model
    from picoface.train.trainer import configure_threads, optimizer, set_seeds, train_step, weight_average
    from picoface.train.trainset import load_train_cache

    configure_threads(cfg.train.threads)
    set_seeds(cfg.seed)
    cache = load_train_cache(cfg, progress=False, log=lambda msg: None)
    out = {"images": len(cache), "cache_seconds": round(cache.seconds, 2), "cache_mb": round(cache.nbytes / 1e6, 1)}
    grid = (cfg.input.w // cfg.model.stride, cfg.input.h // cfg.model.stride)
    anchors = np.array(cfg.model.anchor_boxes or [[0.5, 0.6], [1.2, 1.5], [2.3, 3.0], [4.2, 5.4], [9.0, 11.0]],
                       np.float32)[:cfg.model.anchors]
    sizes = [(cfg.input.w, cfg.input.h)]
    if cfg.train.warm_size:
        sizes.insert(0, tuple(cfg.train.warm_size))
    model = build_model(cfg.model, cfg.input.w, cfg.input.h, dynamic=bool(cfg.train.warm_size), channels=cfg.input.channels)
    from picoface.train.pretrained import freeze, frozen_blocks

    if frozen_blocks(cfg.model):   # as in training: frozen blocks cost no gradients (weights do not matter here)
        freeze(model, frozen_blocks(cfg.model))
    step = train_step(model, optimizer(cfg), configured_loss(cfg, anchors), weight_average(cfg, model))

    bs = cfg.train.batch_size
    for w, h in sizes:
        key = "%dx%d" % (w, h)
        td = TrainData(cfg, cache, anchors, grid, seed=cfg.seed, size=(w, h))
        td.steps = batches
        t = time.time()
        data = list(td.batches(0))
        pipe = batches * bs / (time.time() - t)
        step(*data[0])  # trace
        t = time.time()
        for b in data:
            step(*b)
        stp = batches * bs / (time.time() - t)
        t = time.time()
        for b in td.dataset(1):
            step(*b)
        both = batches * bs / (time.time() - t)
        out[key] = {"pipeline_img_s": round(pipe, 1), "step_img_s": round(stp, 1), "epoch_img_s": round(both, 1)}
        log("%s: input pipeline %.0f img/s (1 thread), train step %.0f img/s, together %.0f img/s"
            % (key, pipe, stp, both))
    return out
