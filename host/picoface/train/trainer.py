"""The training loop of a region detector: seeds, cache, anchors, steps, val AP, checkpoints.

``train(cfg, resume=False)`` -> ``TrainResult``. Run directory (``cfg.run_dir``):
``config.yaml`` (resolved), ``anchors.json``, ``log.csv``, ``curves.png``, ``ckpt/`` (last and
best weights, optimizer state, ``state.json`` for --resume), ``best.keras``.
The learning rate follows warmup + cosine over the run's progress, where progress is the larger
of epoch progress and wall-clock progress when ``train.budget_minutes`` is set, so a budgeted
run still anneals before it stops.
"""

import contextlib
import csv
import json
import math
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from picoface import atomic
from picoface.errors import PicofaceError
from picoface.paths import resolve_path, shared_path
from picoface.train.config import config_hash, resume_hash, save_config


@dataclass
class TrainResult:
    run_dir: Path
    model_path: Path
    best_ap: float
    best_epoch: int
    epochs_done: int
    seconds: float
    anchors: list
    stopped: str
    history: list = field(default_factory=list)
    throughput: dict = field(default_factory=dict)


def result_from_run(cfg):
    """A TrainResult rebuilt from a finished run directory (to ship again without training)."""
    run_dir = resolve_path(cfg.run_dir)
    sp = run_dir / "ckpt" / "state.json"
    if not sp.is_file() or not (run_dir / "best.keras").is_file():
        raise PicofaceError("no finished training run in %s" % run_dir, "train first (picoface train --config ...)")
    st = json.loads(sp.read_text())
    hist = st.get("history", [])
    ips = [h["img_per_s"] for h in hist if h.get("img_per_s")]
    best = st.get("best_ap", st.get("best_val_auc", st.get("best_val_acc", 0.0)))   # classifiers: AUC / accuracy
    return TrainResult(run_dir=run_dir, model_path=run_dir / "best.keras", best_ap=float(best),
                       best_epoch=int(st["best_epoch"]), epochs_done=len(hist),
                       seconds=float(hist[-1]["seconds"]) if hist else 0.0, anchors=st.get("anchors", []),
                       stopped=st.get("stopped", "?"), history=hist,
                       throughput=st.get("throughput", {"train_img_per_s": float(np.median(ips)) if ips else 0.0}))


def set_seeds(seed):
    import tensorflow as tf

    random.seed(seed)
    np.random.seed(seed)
    tf.random.set_seed(seed)
    os.environ.setdefault("PYTHONHASHSEED", str(seed))


def configure_threads(n):
    """TensorFlow's thread counts (``n`` intra-op, 1 inter-op) and malloc set for CPU training."""
    import tensorflow as tf

    from picoface.train.allocator import keep_freed_memory

    keep_freed_memory()
    if n and n > 0:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(n)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:
            pass  # already initialised in this process (tests): keep the current setting


def distribution_strategy():
    """A MirroredStrategy only when several accelerators exist; else the default (no-op)."""
    import tensorflow as tf

    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def _grid(cfg):
    return cfg.input.w // cfg.model.stride, cfg.input.h // cfg.model.stride


def _lr_at(cfg, progress, epoch_float):
    base = cfg.train.lr
    warm = cfg.train.warmup_epochs
    if warm > 0 and epoch_float < warm:
        return base * max(0.05, epoch_float / warm)
    return base * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def plot_curves(history, png):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ep = [h["epoch"] for h in history]
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.6))
    for k in ("loss", "xy", "wh", "obj", "noobj", "box", "cls"):
        if any(h.get(k) for h in history):
            ax[0].plot(ep, [h.get(k, 0.0) for h in history], label=k, lw=2 if k == "loss" else 1)
    ax[0].set_xlabel("epoch")
    ax[0].set_ylabel("train loss")
    ax[0].set_yscale("log")
    ax[0].legend(fontsize=8)
    ax[0].grid(alpha=0.3)
    vals = [(h["epoch"], h["val_ap"]) for h in history if h.get("val_ap") not in (None, "")]
    if vals:
        ax[1].plot([v[0] for v in vals], [v[1] for v in vals], marker="o")
    ax[1].set_xlabel("epoch")
    ax[1].set_ylabel("val AP@0.5")
    ax[1].grid(alpha=0.3)
    fig.tight_layout()
    with atomic.atomic_path(png) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)


def _write_csv(history, path):
    if not history:
        return
    keys = list(dict.fromkeys(k for h in history for k in h))   # runs resumed from before a new column
    import io

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=keys)
    w.writeheader()
    for h in history:
        w.writerow(h)
    atomic.write_text(path, buf.getvalue())


def _save_opt(opt, path):
    arrs = {"v%d" % i: v.numpy() for i, v in enumerate(opt.variables)}
    with atomic.atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrs)


def _load_opt(opt, variables, path):
    if not Path(path).is_file():
        raise PicofaceError("optimizer checkpoint %s is missing" % path, "start without --resume")
    opt.build(variables)
    data = np.load(path)
    if len(data.files) != len(opt.variables):
        raise PicofaceError("optimizer checkpoint %s does not match the model" % path,
                            "start without --resume or use the same config")
    for i, v in enumerate(opt.variables):
        v.assign(data["v%d" % i])


def _save_weights(model, path):
    atomic.save_model(path, model, weights_only=True)


def compute_anchors(cfg, cache):
    from picoface.train.anchors import anchors_for_training
    from picoface.train.augment import augmented_box_sizes

    if cfg.model.anchor_boxes:
        return np.asarray(cfg.model.anchor_boxes, np.float32), None
    sizes = augmented_box_sizes(cfg, cache, n=min(4000, max(200, 2 * len(cache))), seed=cfg.seed)
    return anchors_for_training(sizes, cfg.model.stride, k=cfg.model.anchors, seed=cfg.seed)


def optimizer(cfg):
    """The training optimizer: AdamW with the config's rate and weight decay, gradients clipped."""
    import keras

    return keras.optimizers.AdamW(learning_rate=cfg.train.lr, weight_decay=cfg.train.weight_decay, clipnorm=10.0)


def weight_average(cfg, model):
    """The moving average of the trainable weights (train.ema), or None; after any freeze()."""
    if not cfg.train.ema:
        return None
    from picoface.train.ema import WeightAverage

    return WeightAverage(model.trainable_variables, cfg.train.ema)


def train_step(model, opt, loss_fn, ema=None):
    """One optimizer step on a uint8 batch (a tf.function) -> (loss, loss parts)."""
    import tensorflow as tf

    @tf.function(reduce_retracing=True)
    def step(x, y, gt, ig):
        x = tf.cast(x, tf.float32) / 255.0
        with tf.GradientTape() as tape:
            loss, parts = loss_fn(model(x, training=True), y, gt, ig)
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))
        if ema is not None:
            ema.update()
        return loss, parts

    return step


def train(cfg, resume=False, progress=True, log=print):
    """Train a region detector as configured. Returns a TrainResult."""
    from picoface.train import feed
    from picoface.train.loss import configured_loss
    from picoface.train.model import build_model, count_macs
    from picoface.train.pretrained import frozen_blocks, freeze
    from picoface.train.trainset import load_train_cache
    from picoface.train.val import load_valset, val_ap, val_contract

    if cfg.model.arch in ("tinyface_squeezenet", "gate"):
        from picoface.train.classifier import train_classifier

        return train_classifier(cfg, resume=resume, progress=progress, log=log)

    t_start = time.time()
    run_dir = resolve_path(cfg.run_dir)
    ckpt = run_dir / "ckpt"
    ckpt.mkdir(parents=True, exist_ok=True)
    state_path = ckpt / "state.json"
    chash = config_hash(cfg)
    rhash = resume_hash(cfg)
    state = None
    if resume:
        if not state_path.is_file():
            raise PicofaceError("nothing to resume in %s" % run_dir, "run without --resume first")
        state = json.loads(state_path.read_text())
        if state.get("resume_hash") != rhash and state.get("config_hash") != chash:
            raise PicofaceError("the checkpoint in %s was made with another config (hash %s, now %s)"
                                % (run_dir, state.get("resume_hash"), rhash),
                                "use the same config and overrides, or start without --resume")
    save_config(cfg, run_dir / "config.yaml")
    configure_threads(cfg.train.threads)
    set_seeds(cfg.seed)

    log("picoface train %s: config hash %s, run dir %s" % (cfg.name, chash, run_dir))
    cache = load_train_cache(cfg, progress=progress, log=log)
    log("cached %d training images (%.0f MB) in %.1f s" % (len(cache), cache.nbytes / 1e6, cache.seconds))

    if state is not None:
        anchors = np.asarray(state["anchors"], np.float32)
    else:
        anchors, miou = compute_anchors(cfg, cache)
        if miou is not None:
            log("anchors (k-means, IoU distance, grid units): %s  mean IoU %.3f"
                % (np.round(anchors.astype(float), 3).tolist(), miou))
    atomic.write_text(run_dir / "anchors.json", json.dumps(np.round(anchors, 4).tolist()))
    grid = _grid(cfg)

    strategy = distribution_strategy()
    with strategy.scope():
        warm = bool(cfg.train.warm_size)
        model = build_model(cfg.model, cfg.input.w, cfg.input.h, dynamic=warm, channels=cfg.input.channels)
        opt = optimizer(cfg)
    log("model %s: %d params, %.1f M MACs, grid %dx%d" % (
        model.name, model.count_params(),
        count_macs(build_model(cfg.model, cfg.input.w, cfg.input.h, channels=cfg.input.channels)) / 1e6, grid[0], grid[1]))

    if state is None and cfg.model.pretrained:
        from picoface.train.pretrained import load_backbone

        src = shared_path(cfg.model.pretrained)
        done = load_backbone(model, src, cfg.model.pretrained_blocks)
        log("backbone: stem + %d blocks (%d layers) start from %s%s" % (
            cfg.model.pretrained_blocks, len(done), cfg.model.pretrained,
            ", the first %d frozen" % frozen_blocks(cfg.model) if frozen_blocks(cfg.model) else ""))
    if frozen_blocks(cfg.model):
        freeze(model, frozen_blocks(cfg.model))

    data = feed.TrainData(cfg, cache, anchors, grid, seed=cfg.seed)
    warm_data = None
    if cfg.train.warm_size:
        warm_data = feed.TrainData(cfg, cache, anchors, grid, seed=cfg.seed, size=tuple(cfg.train.warm_size),
                                   crop=cfg.train.warm_crop)
        log("progressive resizing: %dx%d %s for the first %.0f%% of the run, then %dx%d" % (
            warm_data.net_w, warm_data.net_h, "windows of full-size frames" if warm_data.crop else "frames",
            100 * cfg.train.warm_fraction, cfg.input.w, cfg.input.h))
    if state is None and cfg.model.init:
        from picoface.train.pretrained import load_trained

        frames = np.concatenate([b[0] for b, _ in zip(data.batches(0), range(2))])
        done = load_trained(model, shared_path(cfg.model.init), cfg.model.anchors, cfg.model.classes, frames)
        log("init: %d layers start from %s" % (len(done), cfg.model.init))
    aug_ips = feed.profile(cfg, cache, anchors, grid, batches=2)
    log("input pipeline alone: %.0f img/s (one thread)" % aug_ips)

    val = load_valset(cfg)
    if val is not None:
        log("val set %s: %s%s" % (cfg.data.val, val.describe(),
                                  "; metric: mean AP@0.5 of the far/mid/close regimes" if val.metric == "regimes" else ""))

    loss_fn = configured_loss(cfg, anchors)
    lr_var = opt.learning_rate
    with strategy.scope():
        ema = weight_average(cfg, model)
    if ema is not None:
        log("val, best checkpoint and shipped model use a moving average of the weights (decay %g)" % cfg.train.ema)
    averaged = ema.applied if ema is not None else contextlib.nullcontext
    if val is not None:
        from picoface.detectors.keras_det import KerasDetector

        det = KerasDetector(None, val_contract(cfg, anchors, grid, macs=0), model=model)

    step = train_step(model, opt, loss_fn, ema)

    history, best_ap, best_epoch, start_epoch, elapsed0 = [], -1.0, 0, 0, 0.0
    if state is not None:
        model.load_weights(str(ckpt / "last.weights.h5"))
        _load_opt(opt, model.trainable_variables, ckpt / "last_opt.npz")
        if ema is not None:
            ema.load(ckpt / "last_ema.npz")
        history = state["history"]
        best_ap, best_epoch, start_epoch = state["best_ap"], state["best_epoch"], state["epoch"]
        elapsed0 = state.get("elapsed", 0.0)
        log("resumed at epoch %d (best val AP %.4f at epoch %d)" % (start_epoch, best_ap, best_epoch))

    budget = cfg.train.budget_minutes * 60.0
    t_run = time.time() - elapsed0
    stopped = "epochs"
    total_steps = cfg.train.epochs * data.steps
    ips_hist = []
    epoch = start_epoch
    for epoch in range(start_epoch, cfg.train.epochs):
        sums = {"loss": 0.0, "xy": 0.0, "wh": 0.0, "obj": 0.0, "noobj": 0.0, "box": 0.0}
        if cfg.model.classes > 1:
            sums["cls"] = 0.0
        n = 0
        t_ep = time.time()
        prog0 = epoch / max(1, cfg.train.epochs)
        if budget > 0:
            prog0 = max(prog0, (time.time() - t_run) / budget)
        cur = warm_data if (warm_data is not None and prog0 < cfg.train.warm_fraction) else data
        it = cur.dataset(epoch)
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=data.steps, desc="epoch %d/%d" % (epoch + 1, cfg.train.epochs), unit="step",
                       leave=False)
        out_of_time = False
        for s, (x, y, gt, ig) in enumerate(it):
            gstep = epoch * data.steps + s
            prog = gstep / max(1, total_steps)
            if budget > 0:
                prog = max(prog, (time.time() - t_run) / budget)
            lr_var.assign(_lr_at(cfg, prog, gstep / data.steps))
            loss, parts = step(x, y, gt, ig)
            sums["loss"] += float(loss)
            for k, v in parts.items():
                sums[k] += float(v)
            n += 1
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss="%.3f" % (sums["loss"] / n), lr="%.1e" % float(lr_var))
            if budget > 0 and time.time() - t_run > budget:
                out_of_time = True
                break
        if bar is not None:
            bar.close()
        dt = time.time() - t_ep
        ips = n * cfg.train.batch_size / max(dt, 1e-9)
        ips_hist.append(ips)
        row = {"epoch": epoch + 1, **{k: round(v / max(n, 1), 5) for k, v in sums.items()},
               "lr": float(lr_var), "img_per_s": round(ips, 1), "seconds": round(time.time() - t_run, 1),
               "size": "%dx%d" % (cur.net_w, cur.net_h), "val_ap": ""}
        last_epoch = epoch + 1 == cfg.train.epochs
        if val is not None and ((epoch + 1) % cfg.train.val_every == 0 or out_of_time or last_epoch):
            with averaged():
                row["val_ap"] = round(val_ap(det, val), 5)
        history.append(row)
        improved = row["val_ap"] != "" and row["val_ap"] > best_ap
        if improved or (val is None):
            best_ap = row["val_ap"] if row["val_ap"] != "" else best_ap
            best_epoch = epoch + 1
            with averaged():
                _save_weights(model, ckpt / "best.weights.h5")
        _save_weights(model, ckpt / "last.weights.h5")
        _save_opt(opt, ckpt / "last_opt.npz")
        if ema is not None:
            ema.save(ckpt / "last_ema.npz")
        atomic.write_text(state_path, json.dumps({
            "config_hash": chash, "resume_hash": rhash, "epoch": epoch + 1, "best_ap": best_ap, "best_epoch": best_epoch,
            "anchors": np.asarray(anchors).tolist(), "elapsed": time.time() - t_run, "history": history}))
        _write_csv(history, run_dir / "log.csv")
        plot_curves(history, run_dir / "curves.png")
        log("epoch %d: loss %.4f (xy %.3f wh %.3f obj %.3f noobj %.3f%s) %.0f img/s val AP %s%s" % (
            epoch + 1, row["loss"], row["xy"], row["wh"], row["obj"], row["noobj"],
            (" box %.3f" % row["box"] if row["box"] else "") + (" cls %.3f" % row["cls"] if "cls" in row else ""), ips,
            row["val_ap"], "  *best*" if improved else ""))
        if out_of_time:
            stopped = "budget"
            break
        if val is not None and cfg.train.patience and epoch + 1 - best_epoch >= cfg.train.patience:
            stopped = "early-stop"
            break
    else:
        epoch = cfg.train.epochs - 1 if cfg.train.epochs > start_epoch else start_epoch - 1

    if (ckpt / "best.weights.h5").is_file():
        model.load_weights(str(ckpt / "best.weights.h5"))
    if warm_data is not None:
        fixed = build_model(cfg.model, cfg.input.w, cfg.input.h, channels=cfg.input.channels)
        fixed.set_weights(model.get_weights())
        model = fixed
    best_path = run_dir / "best.keras"
    atomic.save_model(best_path, model)
    seconds = time.time() - t_start
    throughput = {"train_img_per_s": float(np.median(ips_hist)) if ips_hist else 0.0,
                  "pipeline_img_per_s": aug_ips, "cache_seconds": cache.seconds, "cache_mb": cache.nbytes / 1e6}
    st = json.loads(state_path.read_text()) if state_path.is_file() else {}
    st.update(stopped=stopped, throughput=throughput, seconds=seconds)
    atomic.write_text(state_path, json.dumps(st))
    log("done (%s): best val AP %.4f at epoch %d; %.1f min; model %s" % (
        stopped, best_ap, best_epoch, seconds / 60, best_path))
    return TrainResult(run_dir=run_dir, model_path=best_path, best_ap=float(best_ap), best_epoch=best_epoch,
                       epochs_done=len(history), seconds=seconds, anchors=np.asarray(anchors).tolist(),
                       stopped=stopped, history=history,
                       throughput=throughput)
