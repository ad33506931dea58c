"""The two recognition nets, KPU-friendly (3x3 depthwise and 1x1 convs, explicit padding before every
stride-2 conv, ReLU6, BatchNorm folded at export, no Add or other CPU op between layers), so nncase
1.9 puts each in one KPU program and picoface's v3 writer and emulator take them.

Both read a 64x64 RGB image (values 0..1) and end on a 4x4 map (64 -> 32 -> 16 -> 8 -> 4); the
last layer is a linear 1x1 conv. What turns the map into numbers is a readout on the CPU, the same
code on the host and the board (``pfcore.recognise``):

- ``embed``: 128 channels; the embedding is the mean of the 16 positions (a global average pool
  and a linear layer, in the other order), L2-normalised;
- ``landmarks``: 10 x 16 channels; coordinate k is the sum over the 16 positions p of channel
  k * 16 + p at p: a dense layer over the whole 4x4 map, done as a 1x1 conv plus a diagonal pick
  (160 additions on the CPU, where a global pool would lose where things are). The 10 numbers are
  the 5 points' x, y as fractions of the crop.
"""

import numpy as np

SIZE = 64
GRID = 4
EMBED_DIM = 128
POINTS = 5
# (channels, stride) after the 3x3/2 stem
EMBED_BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (384, 2), (384, 1))
LANDMARK_BLOCKS = ((32, 1), (64, 2), (64, 1), (96, 2), (96, 1), (128, 2), (128, 1))
STEM = {"embed": 32, "landmarks": 16}
HEAD = {"embed": EMBED_DIM, "landmarks": 2 * POINTS * GRID * GRID}
BLOCKS = {"embed": EMBED_BLOCKS, "landmarks": LANDMARK_BLOCKS}


def build(kind, use_bn=True, size=SIZE, width=1.0):
    """The export model of ``kind`` ("embed" or "landmarks"): image -> 4x4 map."""
    import keras

    from picoface.train.model import _conv_bn, _dw_bn

    inp = keras.Input((size, size, 3), name="image")
    x = _conv_bn(inp, int(STEM[kind] * width), 3, 2, "relu6", "stem", use_bn)
    for i, (ch, stride) in enumerate(BLOCKS[kind]):
        x = _dw_bn(x, stride, "relu6", "b%d_dw" % i, use_bn)
        x = _conv_bn(x, int(ch * width), 1, 1, "relu6", "b%d_pw" % i, use_bn)
    y = keras.layers.Conv2D(HEAD[kind], 1, padding="valid", use_bias=True, name="head")(x)
    return keras.Model(inp, y, name="picoface_" + kind)


def pick_mask():
    """(GRID, GRID, 160) 0/1: channel k*16+p is picked at position p."""
    m = np.zeros((GRID, GRID, HEAD["landmarks"]), np.float32)
    for k in range(2 * POINTS):
        for p in range(GRID * GRID):
            m[p // GRID, p % GRID, k * GRID * GRID + p] = 1.0
    return m


def readout_embed(maps):
    """(N, D) L2-normalised embeddings of (N, 4, 4, D) maps (numpy)."""
    e = np.asarray(maps, np.float32).reshape(len(maps), -1, maps.shape[-1]).mean(axis=1)
    return e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)


def readout_points(maps):
    """(N, 5, 2) points as fractions of the crop from (N, 4, 4, 160) maps (numpy)."""
    m = np.asarray(maps, np.float32) * pick_mask()
    v = m.sum(axis=(1, 2)).reshape(len(maps), 2 * POINTS, GRID * GRID).sum(axis=2)
    return v.reshape(len(maps), POINTS, 2)


def training_model(kind, base):
    """``base`` wrapped with its readout, for training (Keras)."""
    import keras
    import tensorflow as tf

    y = base.output
    if kind == "embed":
        y = keras.layers.GlobalAveragePooling2D(name="mean")(y)
        y = keras.layers.Lambda(lambda t: tf.math.l2_normalize(t, axis=1), name="l2")(y)
    else:
        mask = tf.constant(pick_mask())
        y = keras.layers.Lambda(lambda t: tf.reduce_sum(tf.reshape(tf.reduce_sum(t * mask, axis=(1, 2)),
                                                                   (-1, 2 * POINTS, GRID * GRID)), axis=2),
                                name="pick")(y)
    return keras.Model(base.input, y, name=base.name + "_train")


def fold(model, kind, width=1.0):
    """A copy of ``model`` with each BatchNorm folded into the conv before it."""
    from picoface.train.model import fold_into

    return fold_into(model, build(kind, use_bn=False, size=model.input_shape[1], width=width))
