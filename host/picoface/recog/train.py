"""Training of the two recognition nets on the faces cache (``picoface.recog.faces``).

- ``embed``: distilled from the teacher (dlib's ResNet), its embeddings centred on their mean over
  the training faces (``views.centred``; ``centre=False`` for the raw ones): loss = 1 - cos(student, teacher) plus
  the squared difference of the batch's cosine-similarity matrices (the student learns how faces
  relate, not only where each lands). The epoch kept is the one with the best verification
  accuracy on pairs of held-out photos of the identity-labelled sources (``val_pairs``), or, when
  no source has identities, the best mean cosine to the teacher on held-out faces.
- ``landmarks``: L1 on the 5 points (fractions of the crop); the epoch kept has the lowest NME
  (mean point error / eye distance) on held-out faces.
No LFW image is read here (``picoface.recog.faces`` refuses LFW sets).
"""

import json
import sys
import time
from pathlib import Path

import numpy as np

from picoface import atomic
from picoface.recog import nets, views


def identities(data, roots):
    """Per cache row: "set/folder" for faces of a source whose photos sit in one folder per person
    (``roots``: {set name: its folder}), else ""."""
    names = [str(n) for n in data["source_names"]]
    out = []
    for img, si in zip(data["image"], data["source"]):
        root = roots.get(names[int(si)])
        rel = Path(str(img)).relative_to(root) if root else None
        out.append("%s/%s" % (names[int(si)], rel.parent.as_posix()) if rel is not None and len(rel.parts) > 1 else "")
    return np.array(out)


def val_pairs(ident, rows, seed=0):
    """(a, b, same) index arrays: every same-person pair among ``rows`` (identity known) and as many
    different-person pairs drawn with a fixed seed."""
    rng = np.random.default_rng(seed)
    rows = [r for r in rows if ident[r]]
    by = {}
    for r in rows:
        by.setdefault(ident[r], []).append(r)
    same = [(a, b) for g in by.values() for i, a in enumerate(g) for b in g[i + 1:]]
    diff = []
    while len(diff) < len(same) and len(by) > 1:
        a, b = rng.choice(rows, 2, replace=False)
        if ident[a] != ident[b]:
            diff.append((a, b))
    pairs = same + diff
    if not same:
        return None
    a, b = np.array(pairs).T
    return a, b, np.array([True] * len(same) + [False] * len(diff))


def best_accuracy(scores, same):
    """Best accuracy over thresholds (validation only: picks epochs, not the shipped threshold)."""
    from picoface.recog.protocol import best_threshold

    return best_threshold(scores, same)[1]


def nme(pred, true):
    eye = np.linalg.norm(true[:, 0] - true[:, 1], axis=1)
    return float((np.linalg.norm(pred - true, axis=2).mean(axis=1) / np.maximum(eye, 1e-6)).mean())


def _plot(history, key, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(9, 3.2))
    ep = [h["epoch"] for h in history]
    ax[0].plot(ep, [h["loss"] for h in history])
    ax[0].set_title("training loss")
    ax[1].plot(ep, [h[key] for h in history])
    ax[1].set_title("val " + key)
    for a in ax:
        a.set_xlabel("epoch")
        a.grid(alpha=0.3)
    fig.tight_layout()
    with atomic.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)


# landmarks: weight of the mean square of the whole output map in the loss. The readout picks 10 of
# the 160 channels at each position, but int8 (TFLite, KPU) quantises the map with one scale: channels
# left free grow and coarsen the picked ones (NME 0.10 float -> 0.25 int8 without it)
MAP_PENALTY = 0.05


def train(kind, data, out_dir, epochs=30, budget_min=None, batch=96, lr=2e-3, seed=0, ident=None,
          progress=True, log=print, init=None, map_penalty=MAP_PENALTY, centre=True):
    """Train ``kind`` ("embed" | "landmarks"); writes OUT/<kind>.keras (best epoch), <kind>_history.json
    and .png. Returns the history's best row."""
    import keras
    import tensorflow as tf

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    keras.utils.set_random_seed(seed)
    tr = np.flatnonzero(~data["val"])
    va = np.flatnonzero(data["val"])
    if kind == "landmarks":
        va = va[:2000]
    log("%s: %d training faces, %d held-out faces" % (kind, len(tr), len(va)))
    base = nets.build(kind)
    if init is not None:        # start from an earlier run's weights (same net)
        base.set_weights(keras.models.load_model(str(init), compile=False).get_weights())
        log("%s: starting from %s" % (kind, init))
    model = nets.training_model(kind, base)
    if kind == "landmarks":     # the raw map too, for MAP_PENALTY
        model = keras.Model(base.input, [model.output, base.output])
    steps = max(1, len(tr) // batch)
    opt = keras.optimizers.Adam(lr)
    planned = epochs
    pairs = val_pairs(ident, va) if (kind == "embed" and ident is not None) else None
    if kind == "embed":
        if centre:
            data = views.centred(data, tr)
        vx, vt = views.aligned(data, va, np.random.default_rng(1), train=False)
        key = "pair_acc" if pairs is not None else "teacher_cos"

        def loss_fn(t, s):
            cos = tf.reduce_sum(s * t, axis=1)
            rel = tf.reduce_mean(tf.square(tf.matmul(s, s, transpose_b=True) - tf.matmul(t, t, transpose_b=True)))
            return tf.reduce_mean(1.0 - cos) + 2.0 * rel
    else:
        vx, vt = views.landmark_crops(data, va, np.random.default_rng(1), train=False)
        key = "nme"

        def loss_fn(t, s):
            pts, raw = s
            return tf.reduce_mean(tf.abs(tf.reshape(t, (-1, 10)) - pts)) + map_penalty * tf.reduce_mean(tf.square(raw))

    @tf.function(reduce_retracing=True)
    def step(x, t):
        with tf.GradientTape() as tape:
            s = model(x, training=True)
            loss = loss_fn(t, s)
        g = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(g, model.trainable_variables))
        return loss

    def score():
        out = model.predict(vx.astype(np.float32) / 255.0, batch_size=256, verbose=0)
        if kind == "landmarks":
            return nme(out[0].reshape(-1, 5, 2), vt)
        if pairs is None:
            return float(np.mean(np.sum(out * vt, axis=1)))
        emb = {r: out[i] for i, r in enumerate(va)}
        a, b, same = pairs
        s = np.array([float(np.dot(emb[i], emb[j])) for i, j in zip(a, b)])
        return best_accuracy(s, same)

    better = (lambda a, b: a < b) if key == "nme" else (lambda a, b: a > b)
    history, best = [], None
    t0 = time.time()
    from tqdm import tqdm

    ep = 0
    while ep < planned:
        ep += 1
        # cosine decay over the planned epochs (fewer when the budget will not hold them all)
        opt.learning_rate.assign(lr * (0.01 + 0.99 * 0.5 * (1 + np.cos(np.pi * (ep - 1) / planned))))
        order = rng.permutation(tr)
        losses = []
        bar = tqdm(range(steps), desc="%s epoch %d/%d" % (kind, ep, planned), file=sys.stderr, leave=False,
                   disable=not progress)
        for k in bar:
            idx = order[k * batch:(k + 1) * batch]
            if kind == "embed":
                x, t = views.aligned(data, idx, rng)
            else:
                x, t = views.landmark_crops(data, idx, rng)
            losses.append(float(step(tf.constant(x, tf.float32) / 255.0, tf.constant(t, tf.float32))))
            if k % 20 == 0:
                bar.set_postfix(loss="%.4f" % np.mean(losses[-20:]))
        v = score()
        row = {"epoch": ep, "loss": float(np.mean(losses)), key: v, "minutes": round((time.time() - t0) / 60, 2)}
        history.append(row)
        log("epoch %d  loss %.4f  val %s %.4f  (%.1f min)" % (ep, row["loss"], key, v, row["minutes"]))
        if best is None or better(v, best[key]):
            best = row
            atomic.save_model(out_dir / ("%s.keras" % kind), base)
        atomic.write_text(out_dir / ("%s_history.json" % kind),
                          json.dumps({"key": key, "best": best, "history": history,
                                            **({"teacher_centred": bool(centre)} if kind == "embed" else {})},
                                           indent=2) + "\n")
        _plot(history, key, out_dir / ("%s_history.png" % kind))
        if budget_min and ep == 1:
            fit = max(1, int(budget_min / max(row["minutes"], 1e-3)))
            if fit < planned:
                planned = fit
                log("%s: %d epochs fit the %g-minute budget" % (kind, planned, budget_min))
    return best
