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


_W = None


def _worker_init(name, model_dir):
    global _W
    import cv2

    cv2.setNumThreads(1)
    _W = embedders.make(name, model_dir)


def _worker_job(item):
    """(name, embedding, seconds, detector missed) of one image, in a worker process."""
    import cv2

    name, path, box, points = item
    t0 = time.perf_counter()
    rgb = cv2.cvtColor(_read(path), cv2.COLOR_BGR2RGB)
    before = getattr(_W, "missed", 0)
    v = _W.embed([_W.prepare(rgb, box, points)])[0]
    return name, np.asarray(v, np.float32), time.perf_counter() - t0, getattr(_W, "missed", 0) - before


def _parallel(lfw, emb, marks, todo, done, path, key, progress, workers):
    from multiprocessing import get_context

    items = [(n, str(lfw.path(n)), marks[n]["box"], marks[n]["points"]) for n in todo]
    since = 0
    with get_context("spawn").Pool(workers, initializer=_worker_init,
                                    initargs=(emb.name, getattr(emb, "model_dir", None))) as pool:
        for name, v, sec, missed in _bar(pool.imap(_worker_job, items, chunksize=8), "embed %s" % emb.name, progress):
            done[name] = {"emb": v, "sec": np.float32(sec)}
            if hasattr(emb, "missed"):      # only embedders with their own detector count misses
                done[name]["missed"] = np.bool_(missed > 0)
            since += 1
            if since >= SAVE_EVERY:
                _save(path, key, done)
                since = 0
    _save(path, key, done)


def embeddings(lfw, emb, marks, cache_dir, source, progress=True, workers=1):
    """({name: (D,) float32}, ms per face, faces the embedder's own detector missed or None) for every
    image; ms covers prepare + embed of the images computed in this run (or the run that cached them). An embedder with ``parallel`` set runs
    ``workers`` processes, one image at a time each."""
    import cv2

    path = cache_dir / ("emb-%s-%s.npz" % (emb.name, source))
    key = "emb v%d %s %s%s" % (CACHE_VERSION, emb.name, source, getattr(emb, "cache_tag", ""))
    done = _load(path, key)
    todo = [n for n in lfw.images if n not in done]
    if todo and getattr(emb, "parallel", False) and workers > 1:
        _parallel(lfw, emb, marks, todo, done, path, key, progress, workers)
        todo = []
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
            before = getattr(emb, "missed", 0)
            face = emb.prepare(rgb, m["box"], m["points"])
            pending.append((name, face, time.perf_counter() - t0, getattr(emb, "missed", 0) > before))
        if pending and (len(pending) >= BATCH or name is None):
            t0 = time.perf_counter()
            vecs = emb.embed([p[1] for p in pending])
            share = (time.perf_counter() - t0) / len(pending)
            for (n, _, prep, missed), v in zip(pending, vecs):
                done[n] = {"emb": np.asarray(v, np.float32), "sec": np.float32(prep + share)}
                if hasattr(emb, "missed"):
                    done[n]["missed"] = np.bool_(missed)
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
    missed = None
    if "missed" in next(iter(done.values())):
        missed = int(sum(bool(done[n]["missed"]) for n in lfw.images))
    return {n: done[n]["emb"] for n in lfw.images}, 1000.0 * float(np.median(secs)), missed


def evaluate_one(lfw, emb, marks, cache_dir, source, seed=0, progress=True, workers=1):
    """The result dict of one embedder (see ``picoface.recog.report`` for the files)."""
    vecs, ms, missed = embeddings(lfw, emb, marks, cache_dir, source, progress, workers)
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
    t = getattr(emb, "threshold", None)
    if t is not None:
        # the threshold the board ships with (model.json, chosen on held-out photos, not LFW)
        acc = scores > t
        res["fixed_threshold"] = {"threshold": float(t), "accuracy": float((acc == same).mean()),
                                  "tar": float(acc[same].mean()), "far": float(acc[~same].mean())}
    if missed is not None:
        res["detector_missed"] = missed
    return res


def run(data, names, out, limit_folds=None, source="yunet", yunet=None, seed=0, progress=True, workers=2,
        model_dir=None):
    """(lfw, landmark summary, [result per embedder]) for the embedders ``names``."""
    lfw = LFW(data, limit_folds)
    made = [embedders.make(n, model_dir) for n in names]
    cache_dir = out / "cache"
    lm = Landmarker(source, yunet)
    marks = landmarks(lfw, cache_dir, lm, progress)
    found = sum(bool(m["found"]) for m in marks.values())
    summary = {"source": source, "images": len(marks), "found": found, "fallback": len(marks) - found,
               "describe": lm.describe}
    results = [evaluate_one(lfw, e, marks, cache_dir, source, seed, progress, workers) for e in made]
    return lfw, summary, results
