"""The work behind ``picoface recog eval`` and ``picoface recog bench``: landmarks, embeddings (cached
in the output folder, so an interrupted run resumes), verification and open-set results.

Cache files (``OUT/cache/``): ``landmarks-<source>.npz`` and ``emb-<embedder>-<source>.npz``, each
rewritten atomically every ``SAVE_EVERY`` images with the names done so far; entries are keyed by
image name, so a later run with more folds only computes the new images.
"""

import sys
import time

import numpy as np

from picoface.atomic import atomic_path
from picoface.recog import embedders, openset, protocol
from picoface.recog.landmarks import Landmarker
from picoface.recog.lfw import LFW

SAVE_EVERY = 256
BATCH = 32
CACHE_VERSION = 1
FARS = (1e-2, 1e-3)
DIR_FARS = (1e-2,)


def _bar(items, desc, progress):
    if not progress:
        return items
    from tqdm import tqdm

    return tqdm(items, desc=desc, unit="img", file=sys.stderr, leave=False)


def _load(path, key):
    if not path.is_file():
        return {}
    try:
        with np.load(path, allow_pickle=False) as z:
            if str(z["key"]) != key:
                return {}
            names = [str(n) for n in z["names"]]
            arrays = {k: z[k] for k in z.files if k not in ("key", "names")}
    except (OSError, ValueError, KeyError):
        return {}  # a damaged cache is recomputed
    return {n: {k: a[i] for k, a in arrays.items()} for i, n in enumerate(names)}


def _save(path, key, done):
    names = sorted(done)
    fields = sorted(next(iter(done.values()))) if done else []
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, key=np.array(key), names=np.array(names),
                     **{k: np.stack([done[n][k] for n in names]) for k in fields})


def landmarks(lfw, cache_dir, lm, progress=True):
    """{name: {"box", "points", "score", "found"}} for every image of ``lfw`` (``lm`` a Landmarker)."""
    source = lm.source
    path = cache_dir / ("landmarks-%s.npz" % source)
    key = "landmarks v%d %s" % (CACHE_VERSION, source)
    done = _load(path, key)
    todo = [n for n in lfw.images if n not in done]
    if todo:
        for i, name in enumerate(_bar(todo, "landmarks (%s)" % source, progress)):
            bgr = _read(lfw.path(name))
            box, pts, score, found = lm.find(bgr)
            done[name] = {"box": np.asarray(box, np.float32), "points": np.asarray(pts, np.float32),
                          "score": np.float32(score), "found": np.bool_(found)}
            if (i + 1) % SAVE_EVERY == 0:
                _save(path, key, done)
        _save(path, key, done)
    return {n: done[n] for n in lfw.images}


def _read(path):
    import cv2

    from picoface.errors import PicofaceError

    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise PicofaceError("cannot decode image %s" % path, "replace the file with a valid JPEG/PNG")
    return img


def embeddings(lfw, emb, marks, cache_dir, source, progress=True):
    """({name: (D,) float32}, ms per face) for every image; ms covers prepare + embed of the images
    computed in this run (or the run that cached them)."""
    import cv2

    path = cache_dir / ("emb-%s-%s.npz" % (emb.name, source))
    key = "emb v%d %s %s" % (CACHE_VERSION, emb.name, source)
    done = _load(path, key)
    todo = [n for n in lfw.images if n not in done]
    bar = _bar(todo, "embed %s" % emb.name, progress)
    it = iter(bar)
    pending = []
    since_save = 0
    while True:
        name = next(it, None)
        if name is not None:
            t0 = time.perf_counter()
            m = marks[name]
            rgb = cv2.cvtColor(_read(lfw.path(name)), cv2.COLOR_BGR2RGB)
            face = emb.prepare(rgb, m["box"], m["points"])
            pending.append((name, face, time.perf_counter() - t0))
        if pending and (len(pending) >= BATCH or name is None):
            t0 = time.perf_counter()
            vecs = emb.embed([f for _, f, _ in pending])
            share = (time.perf_counter() - t0) / len(pending)
            for (n, _, prep), v in zip(pending, vecs):
                done[n] = {"emb": np.asarray(v, np.float32), "sec": np.float32(prep + share)}
            since_save += len(pending)
            pending = []
            if since_save >= SAVE_EVERY:
                _save(path, key, done)
                since_save = 0
        if name is None:
            break
    if todo:
        _save(path, key, done)
    secs = [float(done[n]["sec"]) for n in lfw.images]
    return {n: done[n]["emb"] for n in lfw.images}, 1000.0 * float(np.median(secs))


def evaluate_one(lfw, emb, marks, cache_dir, source, seed=0, progress=True):
    """The result dict of one embedder (see ``picoface.recog.report`` for the files)."""
    vecs, ms = embeddings(lfw, emb, marks, cache_dir, source, progress)
    a = np.stack([vecs[p.a] for p in lfw.pairs])
    b = np.stack([vecs[p.b] for p in lfw.pairs])
    scores = protocol.cosine(a, b)
    same = np.array([p.same for p in lfw.pairs])
    folds = np.array([p.fold for p in lfw.pairs])
    res = {"name": emb.name, "format": emb.format, "bytes": int(emb.bytes), "input": emb.size,
           "describe": emb.describe, "dim": int(len(next(iter(vecs.values())))), "ms_per_face": ms}
    res["verification"] = protocol.verify(scores, same, folds, FARS)
    res["openset"] = openset.evaluate(vecs, lfw.people(), seed=seed, fars=DIR_FARS)
    far, tar, _ = protocol.roc(scores, same)
    res["_roc"] = (far, tar)
    return res


def run(data, names, out, limit_folds=None, source="yunet", yunet=None, seed=0, progress=True):
    """(lfw, landmark summary, [result per embedder]) for the embedders ``names``."""
    lfw = LFW(data, limit_folds)
    made = [embedders.make(n) for n in names]
    cache_dir = out / "cache"
    lm = Landmarker(source, yunet)
    marks = landmarks(lfw, cache_dir, lm, progress)
    found = sum(bool(m["found"]) for m in marks.values())
    summary = {"source": source, "images": len(marks), "found": found, "fallback": len(marks) - found,
               "describe": lm.describe}
    results = [evaluate_one(lfw, e, marks, cache_dir, source, seed, progress) for e in made]
    return lfw, summary, results
